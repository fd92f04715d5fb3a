import ArgumentParser
import Experiments
import Foundation
import Integrator
import Models

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run one simulation and write its time courses as CSV.",
        discussion: """
        Writes `time_h` and then one column per output, to standard output or to -o FILE.
        Without --scenario the model's first scenario runs; a model without scenarios runs from its
        states' initial values for --t-end (default 24h).

        Durations: 30s, 30min, 2h, 21d, 1w, or a number of hours.
        Doses: "<drug> <amount> <unit> <route> [over <dur>] at <time> [every <dur> x<count>]", e.g.
          --dose "ketamine 10 mg/kg ip at 21d"
          --dose "ketamine 0.5 mg/kg iv over 40min at 0"
          --dose "esketamine 84 mg intranasal at 3.5d every 3.5d x8"
        """
    )

    @Argument(help: "Model file (same as --model).")
    var modelArgument: String?

    @Option(help: "Model file; the bundled models/ketamine_stress.yaml by default.")
    var model: String?

    @Option(help: "Scenario of the model to run (see `ketasim inspect`).")
    var scenario: String?

    @Option(help: "Organism whose parameter set to use: mouse, rat or human.")
    var organism: String?

    @Option(name: .customLong("dose"), help: "Add a dose or regimen (repeatable).")
    var doses: [String] = []

    @Option(help: "Chronic stress intensity (0-1) for the scenario's stress periods.")
    var stress: Double?

    @Option(name: .customLong("set"), help: "Override a parameter: NAME=VALUE (repeatable).")
    var sets: [String] = []

    @Option(help: "End of the run (duration).")
    var tEnd: String?

    @Option(help: "Output interval (duration).")
    var every: String?

    @Option(help: "Comma-separated outputs to write (states or assignments).")
    var outputs: String?

    @Flag(help: "Write every state and assignment, not only the model's outputs.")
    var all = false

    @Option(name: .shortAndLong, help: "Output CSV file; standard output when absent.")
    var output: String?

    @Flag(help: "Overwrite an existing output file.")
    var force = false

    @OptionGroup var solver: SolverOptions

    func validate() throws {
        if modelArgument != nil && model != nil { throw ValidationError("give the model either as an argument or with --model, not both") }
        if all && outputs != nil { throw ValidationError("--all and --outputs exclude each other") }
        if let s = stress, !(0...1).contains(s) { throw ValidationError("--stress must lie between 0 and 1, got \(s)") }
        if let o = output, FileManager.default.fileExists(atPath: o), !force {
            throw ValidationError("\(o) already exists; pass --force to overwrite it")
        }
    }

    func run() throws {
        let (_, definition) = try loadModel(modelArgument ?? model)
        let settings = try solver.settings()
        let plan = try buildPlan(definition)
        let compiled: CompiledModel
        do { compiled = try CompiledModel(definition) } catch {
            printStandardError(error.description)
            throw Exit.badModel
        }
        var names: [String]? = nil
        if all { names = compiled.observableNames }
        if let list = outputs { names = list.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
        let result: SimulationResult
        do {
            let simulator = try Simulator(model: compiled, settings: settings)
            result = try simulator.run(plan, outputs: names)
        } catch let error as SimulationError {
            if case .steadyState = error { printError(error.description); throw Exit.failedRun }
            throw ValidationError(error.description)
        } catch let error as IntegrationError {
            throw ValidationError(error.description)
        }
        let text = result.csv()
        if let path = output {
            do { try writeAtomically(text, to: path, force: force) } catch {
                printError(error.description)
                throw Exit.cannotWrite
            }
        } else {
            FileHandle.standardOutput.write(Data(text.utf8))
        }
        if let failure = result.failure {
            printError("simulation failed: \(failure); \(result.times.count) output rows before the failure were written")
            throw Exit.failedRun
        }
    }

    func buildPlan(_ definition: ModelDefinition) throws -> SimulationPlan {
        var plan: SimulationPlan
        if let name = scenario {
            guard let s = definition.scenario(named: name) else {
                let names = definition.scenarios.map(\.name)
                throw ValidationError("unknown scenario `\(name)`\(didYouMean(name, among: names)); the model has \(names.isEmpty ? "none" : names.joined(separator: ", "))")
            }
            plan = SimulationPlan(scenario: s)
        } else if let first = definition.scenarios.first {
            plan = SimulationPlan(scenario: first)
        } else {
            plan = SimulationPlan(model: definition, tEnd: 24)
        }
        if let o = organism {
            guard definition.organism(named: o) != nil else {
                let names = definition.organisms.map(\.name)
                throw ValidationError("unknown organism `\(o)`\(didYouMean(o, among: names)); the model has \(names.isEmpty ? "none" : names.joined(separator: ", "))")
            }
            plan.organism = o
        }
        if let t = tEnd {
            let h = try parseDuration(t, option: "--t-end")
            guard h > 0 else { throw ValidationError("--t-end must be positive") }
            plan.tEnd = h
        }
        if let e = every {
            let h = try parseDuration(e, option: "--every")
            guard h > 0 else { throw ValidationError("--every must be positive") }
            plan.outputEvery = h
        }
        for text in doses {
            switch DoseRegimen.parse(text) {
            case .failure(let e): throw ValidationError(e.description)
            case .success(let d):
                if let problem = definition.problem(with: d) { throw ValidationError("--dose \"\(text)\": \(problem)") }
                plan.doses.append(d)
            }
        }
        for text in sets {
            let (name, value) = try parseAssignment(text, option: "--set")
            guard definition.parameter(named: name) != nil else {
                throw ValidationError("--set: unknown parameter `\(name)`\(didYouMean(name, among: definition.parameters.map(\.name)))")
            }
            plan.parameters[name] = value
        }
        if let s = stress {
            guard definition.input(named: "stress") != nil else { throw ValidationError("--stress: this model has no `stress` input") }
            plan.setStress(s)
        }
        if let last = plan.doses.flatMap(\.times).max(), last >= plan.tEnd {
            throw ValidationError("the run ends at \(Duration.describe(plan.tEnd)), not after the last dose at \(Duration.describe(last)); extend it with --t-end")
        }
        return plan
    }
}
