import Expressions
import Foundation
import Integrator
import Models

/// One simulation's outputs over time.
public struct SimulationResult: Sendable {
    public var outputNames: [String]
    public var times: [Double]
    /// Row-major: `values[k * outputNames.count + j]` is output j at times[k].
    public var values: [Double]
    /// Outputs just before the reference dose (nil when there is no dose).
    public var preDose: [Double]?
    /// The first dose of the treatment drug (or of any drug when none is named): metrics start here.
    public var firstDoseTime: Double?
    public var failure: IntegrationError?
    public var statistics: SolverStatistics
    /// The model's time unit (hours for ketasim's own models; an imported SBML model's may differ).
    public var timeUnit: TimeUnit = .hours
    /// Rows at the extra times asked for (`run(_:outputs:detailTimes:)`), kept apart from the output grid
    /// so that metrics see the minutes after a dose however coarse the grid is. Same layout as `values`.
    public var detailTimes: [Double] = []
    public var detailValues: [Double] = []

    public var succeeded: Bool { failure == nil }

    public func series(_ name: String) -> [Double]? {
        guard let j = outputNames.firstIndex(of: name) else { return nil }
        let m = outputNames.count
        return (0..<times.count).map { values[$0 * m + j] }
    }

    public func value(_ name: String, at time: Double) -> Double? {
        guard let j = outputNames.firstIndex(of: name), let k = times.firstIndex(where: { abs($0 - time) <= 1e-9 * max(1, abs(time)) }) else { return nil }
        return values[k * outputNames.count + j]
    }
}

/// One output column: its name and what it computes, an expression over the model's states,
/// parameters, inputs and assignments (a bare name for a state or assignment).
public struct OutputColumn: Sendable, Hashable {
    public var name: String
    public var expression: Expr
    public init(name: String, expression: Expr) {
        self.name = name
        self.expression = expression
    }
}

/// A dose event in model units: what happens to the state or the infusion rates at one time.
struct DoseEvent {
    var time: Double
    var state: Int
    /// Amount added at once (bolus), in the state's unit.
    var bolus: Double
    /// Infusion slot and rate over [time, end).
    var infusionSlot: Int?
    var rate: Double
    var end: Double
}

/// Runs simulations of one compiled model, whatever file it came from (ketasim YAML or SBML, events
/// included): the one simulation path of ketasim. Owns its workspace and GSL integrator, so one
/// simulator serves one thread; a sweep gives each worker its own.
public final class Simulator {
    public let model: CompiledModel
    public let settings: SolverSettings
    let workspace: ModelWorkspace
    /// Nil for a model without states (an SBML model of rules alone): its outputs follow from t.
    let integrator: ODEIntegrator?
    private var steadyStateCache: [SteadyKey: [Double]] = [:]
    private var programs: [[OutputColumn]: CompiledProgram] = [:]

    private struct SteadyKey: Hashable {
        var parameters: [Double]
        var inputs: [Double]
    }

    public init(model: CompiledModel, settings: SolverSettings = SolverSettings()) throws(IntegrationError) {
        self.model = model
        self.settings = settings
        workspace = ModelWorkspace(model: model)
        integrator = model.stateCount == 0 ? nil : try ODEIntegrator(system: workspace, settings: settings)
    }

    /// Columns for states and assignments by name.
    public func columns(_ names: [String]) throws(SimulationError) -> [OutputColumn] {
        var result: [OutputColumn] = []
        for name in names {
            guard model.observableIndex(name) != nil else {
                throw .unknown(kind: "output", name: name, known: model.observableNames)
            }
            result.append(OutputColumn(name: name, expression: .symbol(name)))
        }
        return result
    }

    /// Turns doses into events in the model's amounts and rates for this organism.
    func events(for plan: SimulationPlan, parameters: [Double]) throws(SimulationError) -> [DoseEvent] {
        let def = model.definition
        let bodyWeight = model.parameterIndex("body_weight").map { parameters[$0] }
        var events: [DoseEvent] = []
        for dose in plan.doses {
            guard let drug = def.drug(named: dose.drug), let route = drug.route(named: dose.route),
                  let state = model.stateIndex(route.target) else {
                throw .badDose(dose: dose.description, reason: "the model has no such drug, route or target state")
            }
            if dose.unit.isPerKilogram && bodyWeight == nil {
                throw .badDose(dose: dose.description, reason: "it is per kg but the model has no `body_weight` parameter")
            }
            let f: Double
            switch route.bioavailability {
            case .constant(let v): f = v
            case .parameter(let name): f = model.parameterIndex(name).map { parameters[$0] } ?? 1
            }
            let amount = f * dose.micromolesPerDose(molarMass: drug.molarMass, bodyWeight: bodyWeight ?? 1)
            for time in dose.times {
                if let d = dose.duration {
                    events.append(DoseEvent(time: time, state: state, bolus: 0, infusionSlot: model.infusionSlot(forState: state), rate: amount / d, end: time + d))
                } else {
                    events.append(DoseEvent(time: time, state: state, bolus: amount, infusionSlot: nil, rate: 0, end: time))
                }
            }
        }
        return events
    }

    /// The state the plan starts from: the model's initial values, or the equilibrium with no drug, the
    /// plan's parameters and its steady-state inputs; then the plan's `initialStates`.
    public func initialState(for plan: SimulationPlan) throws(SimulationError) -> [Double] {
        let def = model.definition
        var y = def.states.map(\.initial)
        if plan.start == .steadyState && !y.isEmpty {
            let parameters = def.parameterValues(organism: plan.organism, overrides: plan.parameters)
            workspace.setParameters(parameters)
            workspace.resetInputs()
            for (name, value) in plan.steadyStateInputs {
                if let k = model.inputIndex(name) { workspace.setInput(k, value) }
            }
            let key = SteadyKey(parameters: parameters, inputs: def.inputs.indices.map { workspace.input($0) })
            if let cached = steadyStateCache[key] {
                y = cached
            } else {
                do {
                    y = try SteadyStateSolver(settings: settings).solve(workspace, guess: y)
                } catch {
                    throw .steadyState(IntegrationErrorDescription(error.description))
                }
                if steadyStateCache.count > 64 { steadyStateCache.removeAll() }
                steadyStateCache[key] = y
            }
        }
        for (name, value) in plan.initialStates {
            if let k = model.stateIndex(name) { y[k] = value }
        }
        return y
    }

    /// Simulates a plan and records the named outputs (the model's default outputs when nil).
    public func run(_ plan: SimulationPlan, outputs names: [String]? = nil, detailTimes: [Double] = []) throws(SimulationError) -> SimulationResult {
        try run(plan, columns: columns(names ?? model.definition.outputs), detailTimes: detailTimes)
    }

    private func program(for columns: [OutputColumn]) throws(SimulationError) -> CompiledProgram {
        if let p = programs[columns] { return p }
        do {
            let p = try model.program(computing: columns.map(\.expression))
            if programs.count < 32 { programs[columns] = p }
            return p
        } catch {
            let name = columns.first { c in c.expression.symbols.contains { model.variableNames.firstIndex(of: $0) == nil && model.observableIndex($0) == nil } }?.name ?? "?"
            throw .unknown(kind: "output", name: name, known: model.observableNames)
        }
    }

    /// Simulates a plan and records `columns` on the plan's output times, and also at `detailTimes`
    /// (see `SimulationResult.detailTimes`).
    public func run(_ plan: SimulationPlan, columns: [OutputColumn], detailTimes: [Double] = []) throws(SimulationError) -> SimulationResult {
        let def = model.definition
        try plan.validate(against: def)
        let program = try program(for: columns)
        let y0 = try initialState(for: plan)
        let parameters = def.parameterValues(organism: plan.organism, overrides: plan.parameters)
        workspace.setParameters(parameters)
        workspace.resetInputs()
        workspace.resetEvents()
        let doseEvents = try events(for: plan, parameters: parameters)

        var breakpoints: [Double] = [0]
        for e in doseEvents { breakpoints.append(e.time); if e.infusionSlot != nil { breakpoints.append(e.end) } }
        for periods in plan.inputs.values {
            for p in periods { breakpoints.append(p.from); if p.to.isFinite { breakpoints.append(p.to) } }
        }
        let grid = plan.grid
        let onGrid = Set(grid)
        let extra = detailTimes.filter { $0 >= 0 && $0 <= plan.tEnd && !onGrid.contains($0) }
        var times = extra.isEmpty ? grid : Array(Set(grid + extra)).sorted()
        // The run goes to tEnd even when the last output is earlier.
        if (times.last ?? 0) < plan.tEnd { times.append(plan.tEnd) }

        let inputSchedules: [(index: Int, periods: [InputPeriod], fallback: Double)] = plan.inputs.compactMap { name, periods in
            guard let k = model.inputIndex(name) else { return nil }
            return (k, periods, def.inputs[k].defaultValue)
        }
        /// The scheduled inputs at time t (periods are [from, to): the value at an edge is the new one).
        func setInputs(at t: Double) {
            for s in inputSchedules {
                var value = s.fallback
                for p in s.periods where p.from <= t && t < p.to { value = p.value }
                workspace.setInput(s.index, value)
            }
        }
        let m = columns.count
        let scratch = UnsafeMutablePointer<Double>.allocate(capacity: workspace.requiredScratch(for: program))
        defer { scratch.deallocate() }
        let firstDose = plan.referenceTime
        var preDose: [Double]?
        let workspace = self.workspace
        func onBreakpoint(_ t: Double, _ y: UnsafeMutableBufferPointer<Double>) {
            guard let base = y.baseAddress else { return }
            if let first = firstDose, t == first, preDose == nil {
                var row = [Double](repeating: 0, count: m)
                row.withUnsafeMutableBufferPointer { out in
                    if let o = out.baseAddress { workspace.observe(program, t: t, y: base, into: o, scratch: scratch) }
                }
                preDose = row
            }
            // Inputs and infusion rates are recomputed from scratch at every breakpoint, so the
            // value at t is right however periods and infusions overlap.
            setInputs(at: t)
            for slot in model.infusionTargets.indices { workspace.setInfusion(slot: slot, rate: 0) }
            for e in doseEvents {
                if let slot = e.infusionSlot {
                    if e.time <= t && t < e.end { workspace.setInfusion(slot: slot, rate: workspace.infusion(slot: slot) + e.rate) }
                } else if e.time == t {
                    base[e.state] += e.bolus
                }
            }
        }
        var solution: Solution
        if let integrator {
            solution = integrator.solve(from: 0, initial: y0, outputTimes: times, breakpoints: breakpoints,
                                        events: workspace.eventWatch(), onBreakpoint: onBreakpoint) { t, fired, state in
                workspace.fireEvents(fired, at: t, state: state)
            }
        } else {
            solution = Solution(dimension: 0, reservingCapacity: times.count)
            var nothing = 0.0
            for t in times { solution.append(time: t, state: &nothing) }
        }
        var values = [Double](repeating: 0, count: solution.count * m)
        solution.values.withUnsafeBufferPointer { states in
            values.withUnsafeMutableBufferPointer { out in
                guard let base = out.baseAddress else { return }
                // A model without states has no state rows to point at; its programs read only t.
                var none = 0.0
                withUnsafePointer(to: &none) { nothing in
                    let y = states.baseAddress ?? nothing
                    for k in 0..<solution.count {
                        // Assignments may read inputs: observe each row with the inputs of its own time.
                        setInputs(at: solution.times[k])
                        workspace.observe(program, t: solution.times[k], y: y + k * solution.dimension, into: base + k * m, scratch: scratch)
                    }
                }
            }
        }
        var result = SimulationResult(
            outputNames: columns.map(\.name), times: [], values: [], preDose: preDose,
            firstDoseTime: firstDose, failure: solution.failure, statistics: solution.statistics, timeUnit: def.timeUnit)
        // Split the rows: the grid is what the user asked to see; the rest serves metrics.
        result.times.reserveCapacity(grid.count)
        result.values.reserveCapacity(grid.count * m)
        for k in 0..<solution.count {
            let row = values[(k * m)..<((k + 1) * m)]
            if onGrid.contains(solution.times[k]) {
                result.times.append(solution.times[k]); result.values.append(contentsOf: row)
            } else if !extra.isEmpty {
                result.detailTimes.append(solution.times[k]); result.detailValues.append(contentsOf: row)
            }
        }
        return result
    }
}
