import Expressions
import Integrator
import Models

/// Everything that defines one simulation: a scenario of the model, as the model file states it and as
/// the user changed it (organism, extra doses, stress, parameters, duration, output times).
public struct SimulationPlan: Sendable, Equatable {
    public var scenarioName: String
    public var organism: String?
    /// End of the run, in the model's time unit.
    public var tEnd: Double
    /// Spacing of the uniform output grid from 0 to `tEnd`, unless `outputTimes` is given.
    public var outputEvery: Double
    /// Explicit output times (within [0, tEnd]) instead of the uniform grid.
    public var outputTimes: [Double]?
    /// Adds a per-minute trace of the 6 h after each dose starts (and after an infusion ends) to the
    /// uniform grid, so that what happens in minutes after a dose is not hidden between grid points.
    public var doseWindows = false
    public var start: Scenario.Start
    public var steadyStateInputs: [String: Double]
    public var inputs: [String: [InputPeriod]]
    public var parameters: [String: Double]
    /// States set to a value at the start, after the starting equilibrium (if any) is found.
    public var initialStates: [String: Double]
    /// Parameters of the starting equilibrium when they differ from the run's (PEtab's
    /// preequilibration condition); nil: `parameters`.
    public var equilibriumParameters: [String: Double]? = nil
    /// States set before the starting equilibrium is sought: where the search starts, and, with
    /// `.simulation`, the totals of conserved quantities it keeps.
    public var equilibriumStates: [String: Double] = [:]
    /// How the starting equilibrium is found.
    public var equilibriumMethod: SteadyStateSolver.Method = .rootFinding
    public var doses: [DoseRegimen]
    public var treatment: String?

    /// The scenario as written in the model.
    public init(scenario s: Scenario) {
        scenarioName = s.name
        organism = s.organism
        tEnd = s.tEnd
        outputEvery = s.outputEvery
        start = s.start
        steadyStateInputs = s.steadyStateInputs
        inputs = s.inputs
        parameters = s.parameters
        initialStates = [:]
        doses = s.doses
        treatment = s.treatment
    }

    /// No scenario: the model's own initial values, no doses, `tEnd` in the model's time unit.
    public init(model: ModelDefinition, tEnd: Double, outputEvery: Double = 1) {
        scenarioName = "default"
        organism = model.organisms.first?.name
        self.tEnd = tEnd
        self.outputEvery = outputEvery
        start = .initial
        steadyStateInputs = [:]
        inputs = [:]
        parameters = [:]
        initialStates = [:]
        doses = []
        treatment = nil
    }

    /// Time of the first dose, if any.
    public var firstDoseTime: Double? { doses.map(\.time).min() }

    /// Where metrics are measured from: the first dose of the treatment drug, so that a pretreatment
    /// (rapamycin 30 min before ketamine) does not shift `at_24h`; the first dose of any drug otherwise.
    public var referenceTime: Double? {
        if let drug = treatment, let t = doses.filter({ $0.drug == drug }).map(\.time).min() { return t }
        return firstDoseTime
    }

    /// The output times: `outputTimes` when given, else 0, `outputEvery`, ... and `tEnd` itself, with
    /// the dose windows when `doseWindows` is set and the time unit converts to minutes.
    public func grid(timeUnit: TimeUnit) -> [Double] {
        if let times = outputTimes { return Array(Set(times)).sorted() }
        let count = Int((tEnd / outputEvery).rounded(.down))
        var grid = (0...count).map { Double($0) * outputEvery }
        if let last = grid.last, tEnd - last > 1e-9 * tEnd { grid.append(tEnd) }
        if doseWindows, let hours = timeUnit.hours {
            let window = doseWindowTimes(minute: 1 / (60 * hours))
            if !window.isEmpty { grid = Array(Set(grid + window)).sorted() }
        }
        return grid
    }

    /// Every minute of the 6 h after each dose starts and after each infusion ends, within the run.
    public func doseWindowTimes(minute: Double) -> [Double] {
        var starts = Set<Double>()
        for d in doses {
            for t in d.times {
                starts.insert(t)
                if let duration = d.duration { starts.insert(t + duration) }
            }
        }
        var times: [Double] = []
        for s in starts { times += (0...360).map { s + Double($0) * minute } }
        return times.filter { $0 >= 0 && $0 <= tEnd }
    }

    /// How the output times were chosen, for the sidecar.
    public func gridDescription(timeUnit: TimeUnit) -> String {
        if let times = outputTimes { return "\(times.count) listed times" }
        let base = "every \(timeUnit.describe(outputEvery)) from 0 to \(timeUnit.describe(tEnd))"
        return doseWindows && !doses.isEmpty && timeUnit.hours != nil ? base + ", and every minute for 6 h after each dose" : base
    }

    /// Sets the intensity of the `stress` input: every scheduled period and the starting equilibrium
    /// take the new value; a scenario without a stress schedule gets it over the whole run.
    public mutating func setStress(_ intensity: Double, input: String = "stress") {
        if let periods = inputs[input], !periods.isEmpty {
            inputs[input] = periods.map { InputPeriod(value: intensity, from: $0.from, to: $0.to) }
        } else {
            inputs[input] = [InputPeriod(value: intensity, from: 0, to: .infinity)]
        }
        if let s = steadyStateInputs[input], s != 0 { steadyStateInputs[input] = intensity }
    }

    /// Sets the amount of every dose of the treatment drug.
    public mutating func setTreatmentDose(_ amount: Double) {
        guard let drug = treatment else { return }
        doses = doses.map { d in var d = d; if d.drug == drug { d.amount = amount }; return d }
    }

    /// Moves the treatment drug's doses so the first is at `time`, keeping their spacing; doses of other
    /// drugs (a pretreatment, say) move with it so their offset is kept.
    public mutating func setTreatmentTime(_ time: Double) {
        guard let drug = treatment,
              let first = doses.filter({ $0.drug == drug }).map(\.time).min() else { return }
        let shift = time - first
        doses = doses.map { d in var d = d; d.time += shift; return d }
    }

    /// The most output times a run may ask for: beyond it a typo in a duration is the likelier cause.
    public static let maxOutputTimes = 10_000_000

    /// Checks the plan against the model: the one place where a plan is validated. Every command and
    /// every library caller goes through it (`Simulator.run` calls it), so messages are the same
    /// everywhere and name model quantities, never command-line options.
    public func validate(against model: ModelDefinition) throws(SimulationError) {
        let unit = model.timeUnit
        if !(tEnd > 0 && tEnd.isFinite) { throw .badEnd(tEnd, unit) }
        if let times = outputTimes {
            if let bad = times.first(where: { !($0 >= 0 && $0 <= tEnd) }) { throw .badOutputTime(bad, tEnd: tEnd, unit) }
            if times.count > Self.maxOutputTimes { throw .tooManyOutputTimes(times.count) }
        } else {
            if !(outputEvery > 0 && outputEvery.isFinite) { throw .badOutputInterval(outputEvery, unit) }
            if tEnd / outputEvery > Double(Self.maxOutputTimes) { throw .tooManyOutputTimes(Int(min(tEnd / outputEvery, 1e18))) }
        }
        if let o = organism, model.organism(named: o) == nil {
            throw .unknown(kind: "organism", name: o, known: model.organisms.map(\.name))
        }
        for (name, value) in parameters.sorted(by: { $0.key < $1.key }) {
            guard let p = model.parameter(named: name) else { throw .unknown(kind: "parameter", name: name, known: model.parameters.map(\.name)) }
            if !value.isFinite { throw .notFinite(kind: "parameter", name: name) }
            if let b = p.bounds, !b.contains(value) { throw .outsideBounds(parameter: name, value: value, bounds: b) }
        }
        for name in (Array(inputs.keys) + Array(steadyStateInputs.keys)).sorted() where model.input(named: name) == nil {
            throw .unknown(kind: "input", name: name, known: model.inputs.map(\.name))
        }
        for (name, value) in (equilibriumParameters ?? [:]).sorted(by: { $0.key < $1.key }) {
            if model.parameter(named: name) == nil { throw .unknown(kind: "parameter", name: name, known: model.parameters.map(\.name)) }
            if !value.isFinite { throw .notFinite(kind: "parameter", name: name) }
        }
        for (name, value) in (initialStates.merging(equilibriumStates) { a, _ in a }).sorted(by: { $0.key < $1.key }) {
            if model.state(named: name) == nil { throw .unknown(kind: "state", name: name, known: model.states.map(\.name)) }
            if !value.isFinite { throw .notFinite(kind: "state", name: name) }
        }
        for dose in doses {
            if let problem = model.problem(with: dose) { throw .badDose(dose: dose.description, reason: problem) }
            if dose.time < 0 { throw .doseBeforeStart(dose: dose.description) }
            let last = dose.time + Double(max(dose.count - 1, 0)) * (dose.interval ?? 0)
            if last >= tEnd { throw .doseAfterEnd(last: last, tEnd: tEnd, unit) }
        }
    }
}

/// Why a plan cannot be simulated (as opposed to a numerical failure during the run). Each case prints
/// as one sentence in the model's own terms.
public enum SimulationError: Error, Sendable, Equatable, CustomStringConvertible {
    case badEnd(Double, TimeUnit)
    case badOutputInterval(Double, TimeUnit)
    case badOutputTime(Double, tEnd: Double, TimeUnit)
    case tooManyOutputTimes(Int)
    case unknown(kind: String, name: String, known: [String])
    case notFinite(kind: String, name: String)
    case outsideBounds(parameter: String, value: Double, bounds: ClosedRange<Double>)
    case badDose(dose: String, reason: String)
    case doseBeforeStart(dose: String)
    case doseAfterEnd(last: Double, tEnd: Double, TimeUnit)
    case steadyState(IntegrationErrorDescription)
    case badStress(Double)
    /// Forward sensitivities cannot be computed for this model or plan (the sentence says why).
    case sensitivitiesUnavailable(String)

    public var description: String {
        switch self {
        case let .badEnd(t, unit): return "the end time must be positive, got \(unit.describe(t))"
        case let .badOutputInterval(dt, unit): return "the output interval must be positive, got \(unit.describe(dt))"
        case let .badOutputTime(t, end, unit): return "output time \(formatNumber(t)) lies outside the run, which goes from 0 to \(unit.describe(end))"
        case let .tooManyOutputTimes(n): return "\(n) output times is more than \(SimulationPlan.maxOutputTimes); choose a longer output interval"
        case let .unknown(kind, name, known):
            let list = known.isEmpty ? "none" : known.count > 12 ? "\(known.count), see `ketasim inspect`" : known.joined(separator: ", ")
            return "unknown \(kind) `\(name)`\(didYouMean(name, among: known)); the model's \(kind)s: \(list)"
        case let .notFinite(kind, name): return "the \(kind) `\(name)` must be a finite number"
        case let .outsideBounds(p, v, b):
            return "\(p) = \(formatNumber(v)) lies outside its bounds [\(formatNumber(b.lowerBound)), \(formatNumber(b.upperBound))]"
        case let .badDose(dose, reason): return "dose `\(dose)`: \(reason)"
        case let .doseBeforeStart(dose): return "dose `\(dose)` is given before the run starts at t = 0"
        case let .doseAfterEnd(last, end, unit):
            return "the run ends at \(unit.describe(end)), not after the last dose at \(unit.describe(last))"
        case let .steadyState(e): return "cannot start from equilibrium: \(e.text)"
        case let .badStress(s): return "the stress intensity must lie between 0 and 1, got \(formatNumber(s))"
        case let .sensitivitiesUnavailable(reason): return reason
        }
    }
}

/// An `IntegrationError`'s sentence, so `SimulationError` stays `Equatable` without importing the
/// integrator into every caller.
public struct IntegrationErrorDescription: Sendable, Equatable {
    public var text: String
    public init(_ text: String) { self.text = text }
}

extension Scenario {
    /// A plan written back as a scenario of the model (what export needs): the named scenario's text
    /// and location, with everything the plan changed.
    public init(plan: SimulationPlan, model: ModelDefinition) {
        let base = model.scenario(named: plan.scenarioName)
        self.init(name: plan.scenarioName, description: base?.description ?? "", organism: plan.organism, tEnd: plan.tEnd,
                  outputEvery: plan.outputEvery, start: plan.start, steadyStateInputs: plan.steadyStateInputs,
                  inputs: plan.inputs.mapValues { $0.map { InputPeriod(value: $0.value, from: $0.from, to: $0.to.isFinite ? $0.to : plan.tEnd) } },
                  parameters: plan.parameters, doses: plan.doses, treatment: plan.treatment,
                  location: base?.location ?? SourceLocation(file: model.file, line: 1, column: 1))
    }
}
