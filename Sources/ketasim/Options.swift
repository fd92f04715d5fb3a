import Foundation
import ArgumentParser
import Experiments
import Integrator
import Models

extension Stepper: ExpressibleByArgument {}
extension OutputMode: ExpressibleByArgument {}

/// Solver choices shared by the commands that integrate.
struct SolverOptions: ParsableArguments {
    @Option(help: "GSL stepper. msbdf (the default) is the fastest on these stiff, multi-timescale models; bsimp stalls on the ketamine model once stress is on (ever smaller steps; bound it with --max-steps).")
    var stepper: Stepper = .msbdf

    @Option(parsing: .unconditional, help: "Relative tolerance.")
    var rtol: Double = 1e-6

    @Option(parsing: .unconditional, help: "Absolute tolerance.")
    var atol: Double = 1e-9

    @Option(parsing: .unconditional, help: "Largest step, as a duration (e.g. 1h); none by default.")
    var maxStep: String?

    @Option(parsing: .unconditional, help: "Most steps the solver may take between two output times (or breakpoints).")
    var maxSteps: Int = 1_000_000

    @Option(help: "How output times are produced: driver stops at each; interpolate steps freely and interpolates; automatic interpolates for msbdf and msadams only.")
    var outputMode: OutputMode = .automatic

    /// `states`: the model's state count. An implicit stepper factorizes a dense Jacobian, so a model with
    /// thousands of states spends memory quadratic and time cubic in them per factorization: a 10,000-species
    /// chain held 1.7 GB and ran for minutes under msbdf, and took 1.9 s under rkf45. Say so before it starts.
    func settings(timeUnit: TimeUnit, states: Int = 0) throws -> SolverSettings {
        if stepper.usesJacobian && states >= 2_000 {
            let megabytes = Double(states) * Double(states) * 8 / 1e6
            printError("note: \(states) states: the \(stepper) stepper factorizes a dense \(states) x \(states) Jacobian (\(Int(megabytes.rounded())) MB a copy, time growing as the cube of the states); if the model is not stiff, --stepper rkf45 or rk8pd needs neither")
        }
        var s = SolverSettings(stepper: stepper, relativeTolerance: rtol, absoluteTolerance: atol, maxSteps: maxSteps, outputMode: outputMode)
        if let text = maxStep {
            switch timeUnit.value(text) {
            case .success(let h) where h > 0: s.maxStep = h
            case .success: throw ValidationError("--max-step must be positive")
            case .failure(let e): throw ValidationError("--max-step: \(e)")
            }
        }
        if let problem = s.problem() { throw ValidationError(problem) }
        return s
    }
}

func parseDuration(_ text: String, option: String, timeUnit: TimeUnit = .hours) throws -> Double {
    switch timeUnit.value(text) {
    case .success(let h): return h
    case .failure(let e): throw ValidationError("\(option): \(e)")
    }
}

/// `NAME=VALUE` with a numeric value.
func parseAssignment(_ text: String, option: String) throws -> (String, Double) {
    let parts = text.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
    guard parts.count == 2, !parts[0].isEmpty else { throw ValidationError("\(option) takes NAME=VALUE, got `\(text)`") }
    guard let v = Double(parts[1]), v.isFinite else { throw ValidationError("\(option) \(parts[0]): `\(parts[1])` is not a number") }
    return (parts[0], v)
}

/// Which model and scenario, and how the user changes it: shared by run, sweep and export.
struct ScenarioOptions: ParsableArguments {
    @Option(help: "Model file; the bundled models/ketamine_stress.yaml by default.")
    var model: String?

    @Option(help: "Scenario of the model to run (see `ketasim inspect`).")
    var scenario: String?

    @OptionGroup var changes: PlanChanges

    func validateValues() throws { try changes.validateValues() }

    func baseScenario(_ definition: ModelDefinition) throws -> SimulationPlan {
        if let name = scenario {
            guard let s = definition.scenario(named: name) else {
                let names = definition.scenarios.map(\.name)
                throw ValidationError("unknown scenario `\(name)`\(didYouMean(name, among: names)); the model has \(names.isEmpty ? "none" : names.joined(separator: ", "))")
            }
            return SimulationPlan(scenario: s)
        }
        if let first = definition.scenarios.first { return SimulationPlan(scenario: first) }
        return SimulationPlan(model: definition, tEnd: 24)
    }

    /// The scenario with every change the options ask for, checked against the model.
    func plan(_ definition: ModelDefinition) throws -> SimulationPlan {
        var plan = try baseScenario(definition)
        try changes.apply(to: &plan, definition)
        // Unnamed and changed, the plan is no longer the model's first scenario: say so in titles and sidecars.
        if scenario == nil && changes.changesScenario { plan.scenarioName += " (changed)" }
        return plan
    }
}

/// How the user changes a scenario: shared by run, sweep, compare and export.
struct PlanChanges: ParsableArguments {
    @Option(help: "Organism whose parameter set to use: mouse, rat or human.")
    var organism: String?

    @Option(name: .customLong("dose"), help: "Add a dose or regimen (repeatable), e.g. \"ketamine 10 mg/kg ip at 21d\".")
    var doses: [String] = []

    @Option(name: .customLong("doses"), help: "Add the doses of a NONMEM-style CSV table (time,drug,amount,unit,route,duration,ii,addl).")
    var doseTable: String?

    @Option(parsing: .unconditional, help: "Chronic stress intensity (0-1) for the scenario's stress periods.")
    var stress: Double?

    @Option(name: .customLong("set"), help: "Override a parameter: NAME=VALUE (repeatable).")
    var sets: [String] = []

    @Option(parsing: .unconditional, help: "End of the run (duration).")
    var tEnd: String?

    @Option(parsing: .unconditional, help: "Output interval (duration); without it, run and compare also sample every minute for 6 h after each dose.")
    var every: String?

    func validateValues() throws {
        if let s = stress, !(0...1).contains(s) { throw ValidationError("--stress must lie between 0 and 1, got \(s)") }
    }

    /// Whether any option changes what the scenario simulates (not only how long or how often).
    var changesScenario: Bool { organism != nil || !doses.isEmpty || doseTable != nil || stress != nil || !sets.isEmpty }

    /// The change the options describe, read and checked against nothing yet.
    func change(timeUnit: TimeUnit) throws -> PlanChange {
        var change = PlanChange(organism: organism, stress: stress)
        if let t = tEnd {
            change.tEnd = try parseDuration(t, option: "--t-end", timeUnit: timeUnit)
            guard change.tEnd ?? 0 > 0 else { throw ValidationError("--t-end must be positive") }
        }
        if let e = every {
            change.outputEvery = try parseDuration(e, option: "--every", timeUnit: timeUnit)
            guard change.outputEvery ?? 0 > 0 else { throw ValidationError("--every must be positive") }
        }
        for text in doses {
            switch DoseRegimen.parse(text) {
            case .failure(let e): throw ValidationError(e.description)
            case .success(let d): change.doses.append(d)
            }
        }
        if let table = doseTable {
            do { change.doses += try DosingTable.read(path: table) } catch { throw ValidationError("--doses \(error)") }
        }
        for text in sets {
            let (name, value) = try parseAssignment(text, option: "--set")
            change.parameters[name] = value
        }
        return change
    }

    /// Applies every change to `plan` and checks the result against the model.
    func apply(to plan: inout SimulationPlan, _ definition: ModelDefinition) throws {
        let change = try change(timeUnit: definition.timeUnit)
        do { try change.apply(to: &plan, model: definition) } catch { throw usageError(error) }
    }
}

/// A plan the library refused, as a usage error that names the option to change.
func usageError(_ error: SimulationError) -> ValidationError {
    switch error {
    case .doseAfterEnd: return ValidationError(error.description + "; extend it with --t-end")
    case .tooManyOutputTimes: return ValidationError(error.description + " (--every)")
    case .unknown(kind: "parameter", _, _), .outsideBounds: return ValidationError("--set: " + error.description)
    case .unknown(kind: "input", name: "stress", _): return ValidationError("--stress: this model has no `stress` input")
    case .badStress: return ValidationError("--stress: " + error.description)
    default: return ValidationError(error.description)
    }
}

/// Which outputs are summarised and at which times after the first dose: shared by sweep and compare.
struct MetricOptions: ParsableArguments {
    @Option(help: "Comma-separated outputs to summarise; the model's outputs by default.")
    var outputs: String?

    @OptionGroup var times: MetricTimes

    var at: String { times.at }

    func outputNames(_ definition: ModelDefinition) throws -> [String] {
        try parseOutputList(outputs) ?? definition.outputs
    }

    func spec(_ timeUnit: TimeUnit) throws -> MetricSpec { try times.spec(timeUnit) }
}

/// The times of the at_ and change_ metrics: shared by every command that computes metrics, including
/// sensitivity, which names its metrics itself instead of summarising outputs.
struct MetricTimes: ParsableArguments {
    @Option(help: "Comma-separated times after the first dose for at_ and change_ metrics.")
    var at: String = "2h,24h,7d"

    func spec(_ timeUnit: TimeUnit) throws -> MetricSpec { try metricSpec(at: at, timeUnit: timeUnit) }
}

/// Metrics with `at_` and `change_` at the comma-separated durations of `--at` (their text names the columns).
func metricSpec(at text: String, timeUnit: TimeUnit) throws -> MetricSpec {
    var offsets: [(label: String, hours: Double)] = []
    let labels = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
    if let twice = firstDuplicate(labels) { throw ValidationError("--at names `\(twice)` twice") }
    for label in labels {
        offsets.append((label, try parseDuration(label, option: "--at", timeUnit: timeUnit)))
    }
    return MetricSpec(offsets: offsets)
}

/// `--outputs a,b,c`: nil when absent; an empty list or a name given twice is a usage error.
func parseOutputList(_ text: String?) throws -> [String]? {
    guard let text else { return nil }
    let names = text.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
    if names.contains(where: \.isEmpty) { throw ValidationError("--outputs `\(text)` has an empty name; give outputs separated by commas") }
    if let twice = firstDuplicate(names) { throw ValidationError("--outputs names `\(twice)` twice") }
    return names
}

func firstDuplicate(_ names: [String]) -> String? {
    var seen = Set<String>()
    return names.first { !seen.insert($0).inserted }
}

/// Two outputs of one command must not be the same file: the second would overwrite the first.
func requireDistinctPaths(_ paths: [String?]) throws {
    let given = paths.compactMap { $0 }.map { URL(fileURLWithPath: $0).standardizedFileURL.path }
    if let twice = firstDuplicate(given) { throw ValidationError("\(twice) is given for two outputs; each output needs its own file") }
}

/// An `at_` time after the end of the run has no value (NaN in every row); say so rather than leave
/// the columns silently empty. The default offsets reach 7 d, past the end of short scenarios.
func warnAboutLateOffsets(_ metrics: MetricSpec, reference: Double, tEnd: Double, timeUnit: TimeUnit) {
    let late = metrics.offsets.filter { reference + $0.hours > tEnd * (1 + 1e-12) }.map(\.label)
    guard !late.isEmpty else { return }
    printError("note: " + late.map { "at_\($0)" }.joined(separator: ", ") + " fall\(late.count == 1 ? "s" : "") after the end of the run at \(timeUnit.describe(tEnd)); those columns are NaN (extend --t-end or change --at)")
}
