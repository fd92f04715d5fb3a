import ArgumentParser
import Dispatch
import Experiments
import Foundation
import Integrator
import Models
import SBML

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run one simulation and write its time courses as CSV.",
        discussion: """
        Writes the time (`time_h`; an imported SBML model's own unit, e.g. `time_s`), then one \
        column per output, to standard output or to -o FILE (with a FILE.meta.json beside it \
        recording the model, its hash, doses, parameters and solver).

        Without --scenario the model's first scenario runs; a model without scenarios runs from \
        its states' initial values for --t-end (default 24h).

        Durations: 30s, 30min, 2h, 21d, 1w, or a number of hours.
        Doses: "<drug> <amount> <unit> <route> [over <dur>] at <time> [every <dur> x<count>]", e.g.
          --dose "ketamine 10 mg/kg ip at 21d"
          --dose "ketamine 0.5 mg/kg iv over 40min at 0"
          --dose "esketamine 84 mg intranasal at 3.5d every 3.5d x8"
        --doses FILE reads a NONMEM-style table: time,drug,amount,unit,route,duration,ii,addl.
        """
    )

    @Argument(help: "Model file (same as --model).")
    var modelArgument: String?

    @OptionGroup var scenario: ScenarioOptions

    @Option(help: "Comma-separated outputs to write (states or assignments).")
    var outputs: String?

    @Flag(help: "Write every state and assignment, not only the model's outputs.")
    var all = false

    @Option(name: .shortAndLong, help: "Output CSV file; standard output when absent.")
    var output: String?

    @Flag(help: "Overwrite existing output files.")
    var force = false

    @Option(help: "Also draw the time courses to this SVG file: per output the hours around the first treatment dose beside the whole course.")
    var plot: String?

    @Option(name: .customLong("repeat"), parsing: .unconditional, help: "Run the simulation N more times and print on standard error the median and minimum time per run and its work: steps, right-hand sides, Jacobians, restarts and the states integrated (the model is loaded and compiled once; output is written once).")
    var repeatCount: Int = 0

    @OptionGroup var solver: SolverOptions

    func validate() throws {
        if repeatCount < 0 { throw ValidationError("--repeat must be 0 or more") }
        if modelArgument != nil && scenario.model != nil { throw ValidationError("give the model either as an argument or with --model, not both") }
        if all && outputs != nil { throw ValidationError("--all and --outputs exclude each other") }
        try requireDistinctPaths([output, plot])
        try scenario.validateValues()
        for path in [output, plot].compactMap({ $0 }) where FileManager.default.fileExists(atPath: path) && !force {
            throw ValidationError("\(path) already exists; pass --force to overwrite it")
        }
    }

    func run() throws {
        let loaded = try loadModel(modelArgument ?? scenario.model)
        let (path, definition) = (loaded.path, loaded.definition)
        let locks = try lockOutputs([output, plot], inputs: [path, scenario.changes.doseTable])
        defer { withExtendedLifetime(locks) {} }
        let settings = try solver.settings(timeUnit: definition.timeUnit, states: definition.states.count)
        var plan = try scenario.plan(definition)
        // Without --every the grid is refined after each dose, so a 10-minute peak is in the file.
        plan.doseWindows = scenario.changes.every == nil
        let compiled = try compile(loaded)
        var names: [String]? = nil
        if all { names = compiled.observableNames }
        if let list = try parseOutputList(outputs) { names = list }
        // A plot draws the per-minute trace after each dose even on a coarse --every grid; the rows stay
        // out of the CSV, which keeps the grid the user asked for.
        let minute = definition.timeUnit.hours.map { 1 / (60 * $0) }
        let detail = plot == nil ? [] : minute.map { plan.doseWindowTimes(minute: $0) } ?? []
        let result = try simulate(compiled, plan: plan, settings: settings, outputs: names, detailTimes: detail)
        if repeatCount > 0 { try time(compiled, plan: plan, settings: settings, outputs: names) }
        let text = result.csv()
        // One record (it hashes the model file) for the CSV and the plot alike.
        var meta = RunMetadata(version: Ketasim.version, modelFile: path, plan: plan, model: definition, solver: settings)
        meta.describeColumns(result.outputNames, model: definition)
        meta.failure = result.failure.map { "failed after \(result.times.count) rows: \($0)" }
        let sidecar = output == nil && plot == nil ? "" : meta.json()
        if let file = output {
            try write(text, to: file, force: force)
            if !isSpecialFile(file) {
                try write(sidecar, to: file + ".meta.json", force: true)
            }
        } else {
            try writeStandardOutput(text)
        }
        if let file = plot {
            let panels = result.outputNames.map { name in
                let label = OutputLabel(name, model: definition)
                let fine = result.fineSeries(name)
                return PlotPanel(title: label.title, series: [PlotSeries(label: plan.scenarioName, times: fine?.times ?? [], values: fine?.values ?? [])],
                                 unit: label.unit, name: name)
            }
            let svg = SVGPlot.timeCourses(title: "\(definition.name): \(plan.scenarioName)", panels: panels, doseTimes: plan.doses.flatMap(\.times),
                                          timeUnit: definition.timeUnit, doseAt: plan.referenceTime)
            try write(svg, to: file, force: force)
            if !isSpecialFile(file) {
                try write(sidecar, to: file + ".meta.json", force: true)
            }
        }
        if let failure = result.failure {
            printError("simulation failed: \(failure); the \(result.times.count) output rows before the failure were written")
            throw Exit.failedRun
        }
    }
}

/// One simulation with the CLI's error mapping: bad plans are usage errors, failed starts exit 70.
func simulate(_ compiled: CompiledModel, plan: SimulationPlan, settings: SolverSettings, outputs: [String]?, detailTimes: [Double] = []) throws -> SimulationResult {
    do {
        let simulator = try Simulator(model: compiled, settings: settings)
        return try simulator.run(plan, outputs: outputs, detailTimes: detailTimes)
    } catch let error as SimulationError {
        if case .steadyState = error { printError(error.description); throw Exit.failedRun }
        throw usageError(error)
    } catch let error as IntegrationError {
        throw ValidationError(error.description)
    }
}

extension Run {
    /// Times `repeat` runs on one simulator: what a sweep worker pays per run, with the equilibrium
    /// cached after the first, as in a sweep.
    func time(_ compiled: CompiledModel, plan: SimulationPlan, settings: SolverSettings, outputs: [String]?) throws {
        let simulator: Simulator
        do { simulator = try Simulator(model: compiled, settings: settings) } catch { throw ValidationError(error.description) }
        _ = try? simulator.run(plan, outputs: outputs)
        var seconds: [Double] = []
        var steps = 0
        var evaluations = ""
        for _ in 0..<repeatCount {
            let start = DispatchTime.now().uptimeNanoseconds
            let r = try? simulator.run(plan, outputs: outputs)
            seconds.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
            steps = r?.statistics.steps ?? 0
            if let s = r?.statistics {
                evaluations = "\(s.rhsEvaluations) RHS, \(s.jacobianEvaluations) Jacobian evaluations, \(s.restarts) restarts, \(s.states) of \(compiled.stateCount) states integrated"
            }
        }
        seconds.sort()
        let median = seconds[seconds.count / 2]
        printStandardError(String(format: "timing: %d runs, median %.3f ms, min %.3f ms per run (%d steps, %@; %@)", repeatCount, median * 1e3, seconds[0] * 1e3, steps, settings.stepper.rawValue, evaluations))
    }
}
