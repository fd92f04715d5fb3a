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
    /// d(bolus or rate)/d(model parameter), by parameter index: a bioavailability or body weight that a
    /// fit estimates moves the amount, and the sensitivities jump (or are forced) by it.
    var derivatives: [(parameter: Int, value: Double)] = []
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
    /// Where Newton's method looks for a starting equilibrium first (`SteadyStateSolver.hint`): a
    /// sweep's worker sets its base plan's equilibrium, which its samples' lie near.
    public var equilibriumHint: [Double]?
    private var programs: [[OutputColumn]: CompiledProgram] = [:]
    /// Whether a run integrates only the states that move (`DormantReduction`): on unless a test or a
    /// benchmark compares with the full system.
    public var reducesDormantStates = true
    /// Reduced systems by the states that start at 0 undosed (nil where none stays 0), each with its own
    /// integrator over the active states.
    private var reductions: [[Int]: (workspace: ReducedWorkspace, integrator: ODEIntegrator)?] = [:]
    /// Sensitivity systems by parameter list and number of directions, each with its own integrator
    /// over the augmented states (see `SensitivityRun.swift`).
    var sensitivitySystems: [SensitivityKey: (workspace: SensitivityWorkspace, integrator: ODEIntegrator)] = [:]
    var compiledSensitivities: [[String]: CompiledSensitivities] = [:]
    var outputGradients: [SensitivityGradientKey: OutputGradient] = [:]
    var equilibriumSensitivityCache: [EquilibriumSensitivityKey: [Double]] = [:]

    private struct SteadyKey: Hashable {
        var parameters: [Double]
        var inputs: [Double]
        /// The start matters when the equilibrium is found by integration (conserved totals).
        var start: [Double]
        var method: SteadyStateSolver.Method
        var hint: [Double]?
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
            var fIndex: Int?
            switch route.bioavailability {
            case .constant(let v): f = v
            case .parameter(let name):
                fIndex = model.parameterIndex(name)
                f = fIndex.map { parameters[$0] } ?? 1
            }
            let perDose = dose.micromolesPerDose(molarMass: drug.molarMass, bodyWeight: bodyWeight ?? 1)
            let amount = f * perDose
            // The amount is f times a dose linear in the body weight when it is per kg.
            var derivatives: [(parameter: Int, value: Double)] = []
            if let fIndex { derivatives.append((fIndex, perDose)) }
            if dose.unit.isPerKilogram, let w = model.parameterIndex("body_weight") {
                derivatives.append((w, f * dose.micromolesPerDose(molarMass: drug.molarMass, bodyWeight: 1)))
            }
            for time in dose.times {
                if let d = dose.duration {
                    events.append(DoseEvent(time: time, state: state, bolus: 0, infusionSlot: model.infusionSlot(forState: state), rate: amount / d, end: time + d,
                                            derivatives: derivatives.map { ($0.parameter, $0.value / d) }))
                } else {
                    events.append(DoseEvent(time: time, state: state, bolus: amount, infusionSlot: nil, rate: 0, end: time, derivatives: derivatives))
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
            for (name, value) in plan.equilibriumStates {
                if let k = model.stateIndex(name) { y[k] = value }
            }
            let parameters = def.parameterValues(organism: plan.organism, overrides: plan.equilibriumParameters ?? plan.parameters)
            workspace.setParameters(parameters)
            workspace.resetInputs()
            for (name, value) in plan.steadyStateInputs {
                if let k = model.inputIndex(name) { workspace.setInput(k, value) }
            }
            let key = SteadyKey(parameters: parameters, inputs: def.inputs.indices.map { workspace.input($0) }, start: y,
                                method: plan.equilibriumMethod, hint: equilibriumHint)
            if let cached = steadyStateCache[key] {
                y = cached
            } else {
                do {
                    var solver = SteadyStateSolver(settings: settings)
                    solver.method = plan.equilibriumMethod
                    solver.hint = equilibriumHint
                    y = try solver.solve(workspace, guess: y)
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

    func program(for columns: [OutputColumn]) throws(SimulationError) -> CompiledProgram {
        if let p = programs[columns] { return p }
        do {
            let p = try model.program(computing: columns.map(\.expression))
            // A PEtab problem asks for one set of columns per condition, for every evaluation of a fit.
            if programs.count >= 512 { programs.removeAll() }
            programs[columns] = p
            return p
        } catch {
            let name = columns.first { c in c.expression.symbols.contains { model.variableNames.firstIndex(of: $0) == nil && model.observableIndex($0) == nil } }?.name ?? "?"
            throw .unknown(kind: "output", name: name, known: model.observableNames)
        }
    }

    /// Simulates a plan and records `columns` on the plan's output times, and also at `detailTimes`
    /// (see `SimulationResult.detailTimes`).
    public func run(_ plan: SimulationPlan, columns: [OutputColumn], detailTimes: [Double] = []) throws(SimulationError) -> SimulationResult {
        try simulate(plan, columns: columns, detailTimes: detailTimes, sensitivities: nil).result
    }

    /// The one simulation path: the plan's start, doses, inputs and the model's events integrated to its
    /// end, `columns` observed on the grid and at `detailTimes`. With `sensitivities` the state is the
    /// augmented (x, S) of `SensitivityWorkspace`, S jumping at doses and events, and the result carries
    /// the columns' derivatives (see `run(_:columns:sensitivities:detailTimes:)`).
    func simulate(_ plan: SimulationPlan, columns: [OutputColumn], detailTimes: [Double], sensitivities s: SensitivityPlan?) throws(SimulationError) -> SensitivityResult {
        let def = model.definition
        try plan.validate(against: def)
        let program = try program(for: columns)
        var augmented: AugmentedStart?
        let y0: [Double]
        if let s {
            let start = try sensitivityStart(plan, columns: columns, s)
            augmented = start
            y0 = start.initial
        } else {
            y0 = try initialState(for: plan)
        }
        let parameters = def.parameterValues(organism: plan.organism, overrides: plan.parameters)
        workspace.setParameters(parameters)
        workspace.resetInputs()
        workspace.resetEvents()
        if let augmented, let s {
            augmented.workspace.resetEvents()
            augmented.workspace.resetInfusionDirections()
            augmented.workspace.setDirections(s.directions)
        }
        let doses = try events(for: plan, parameters: parameters)
        let doseSensitivities = augmented.map { DoseSensitivities(workspace: $0.workspace, model: model) }
        let grid = plan.grid(timeUnit: def.timeUnit)
        let onGrid = Set(grid)
        let extra = detailTimes.filter { $0 >= 0 && $0 <= plan.tEnd && !onGrid.contains($0) }
        var times = extra.isEmpty ? grid : Array(Set(grid + extra)).sorted()
        // The run goes to tEnd even when the last output is earlier.
        if (times.last ?? 0) < plan.tEnd { times.append(plan.tEnd) }

        let schedule = InputSchedule(plan: plan, model: model)
        let observer = Observer(workspace: workspace, program: program, count: columns.count)
        let m = columns.count, d = s?.directionCount ?? 0
        var preDose: [Double]?
        var preDoseGradient: [Double]?
        let onBreakpoint: (Double, UnsafeMutablePointer<Double>) -> Void = { t, y in
            if let first = plan.referenceTime, t == first, preDose == nil {
                preDose = observer.row(t: t, y: y)
                if let augmented {
                    var row = [Double](repeating: 0, count: m * d)
                    row.withUnsafeMutableBufferPointer { out in
                        if let o = out.baseAddress { augmented.workspace.outputSensitivities(augmented.gradient, t: t, y: y, into: o) }
                    }
                    preDoseGradient = row
                }
            }
            schedule.apply(at: t, to: self.workspace)
            self.applyDoses(doses, at: t, to: y, sensitivities: doseSensitivities)
        }
        let solution: Solution
        if let augmented {
            let sw = augmented.workspace
            solution = integrate(augmented.integrator, from: y0, times: times, breakpoints: Self.breakpoints(doses: doses, plan: plan),
                                 events: sw.eventWatch(), onBreakpoint: onBreakpoint, onEvent: { t, fired, y in sw.fireEvents(fired, at: t, state: y) })
            if let failure = sw.eventFailure { throw .sensitivitiesUnavailable(failure.description) }
        } else if let reduced = reducedSystem(start: y0, doses: doses) {
            solution = integrate(reduced, from: y0, times: times, breakpoints: Self.breakpoints(doses: doses, plan: plan), onBreakpoint: onBreakpoint)
        } else {
            let ws = workspace
            solution = integrate(integrator, from: y0, times: times, breakpoints: Self.breakpoints(doses: doses, plan: plan),
                                 events: ws.eventWatch(), onBreakpoint: onBreakpoint, onEvent: { t, fired, y in ws.fireEvents(fired, at: t, state: y) })
        }
        let values = observer.rows(of: solution, inputs: schedule)
        var gradients: [Double] = []
        if let augmented {
            gradients = [Double](repeating: 0, count: solution.count * m * d)
            solution.values.withUnsafeBufferPointer { states in
                gradients.withUnsafeMutableBufferPointer { out in
                    guard let y = states.baseAddress, let o = out.baseAddress else { return }
                    for k in 0..<solution.count {
                        schedule.apply(at: solution.times[k], to: workspace)
                        augmented.workspace.outputSensitivities(augmented.gradient, t: solution.times[k], y: y + k * solution.dimension, into: o + k * m * d)
                    }
                }
            }
        }
        var result = SimulationResult(
            outputNames: columns.map(\.name), times: [], values: [], preDose: preDose,
            firstDoseTime: plan.referenceTime, failure: solution.failure, statistics: solution.statistics, timeUnit: def.timeUnit)
        var sensitivity = SensitivityResult(result: result, gradients: [], directionCount: d, preDoseGradient: preDoseGradient)
        // Split the rows: the grid is what the user asked to see; the rest serves metrics.
        result.times.reserveCapacity(grid.count)
        result.values.reserveCapacity(grid.count * m)
        for k in 0..<solution.count {
            let row = values[(k * m)..<((k + 1) * m)]
            let slopes = gradients.isEmpty ? [] : gradients[(k * m * d)..<((k + 1) * m * d)]
            if onGrid.contains(solution.times[k]) {
                result.times.append(solution.times[k]); result.values.append(contentsOf: row)
                sensitivity.gradients.append(contentsOf: slopes)
            } else if !extra.isEmpty {
                result.detailTimes.append(solution.times[k]); result.detailValues.append(contentsOf: row)
                sensitivity.detailGradients.append(contentsOf: slopes)
            }
        }
        sensitivity.result = result
        return sensitivity
    }

    /// Every time the equations or the state jump: doses, infusion ends, input period edges.
    static func breakpoints(doses: [DoseEvent], plan: SimulationPlan) -> [Double] {
        var times: [Double] = [0]
        for e in doses { times.append(e.time); if e.infusionSlot != nil { times.append(e.end) } }
        for periods in plan.inputs.values {
            for p in periods { times.append(p.from); if p.to.isFinite { times.append(p.to) } }
        }
        return times
    }

    /// Infusion rates as they are from t on (recomputed from scratch, so overlapping infusions add up
    /// right), and the boluses given at t; with `sensitivities`, the rates' derivatives and the boluses'
    /// jumps of S (a dose at a fixed time: S+ = S- + d(amount)/dθ).
    func applyDoses(_ doses: [DoseEvent], at t: Double, to y: UnsafeMutablePointer<Double>, sensitivities: DoseSensitivities? = nil) {
        for slot in model.infusionTargets.indices { workspace.setInfusion(slot: slot, rate: 0) }
        sensitivities?.workspace.resetInfusionDirections()
        for e in doses {
            if let slot = e.infusionSlot {
                guard e.time <= t && t < e.end else { continue }
                workspace.setInfusion(slot: slot, rate: workspace.infusion(slot: slot) + e.rate)
                sensitivities?.each(e) { k, v in sensitivities?.workspace.addInfusionDirection(slot: slot, direction: k, v) }
            } else if e.time == t {
                y[e.state] += e.bolus
                if let s = sensitivities {
                    let n = model.stateCount
                    s.each(e) { k, v in y[n + k * n + e.state] += v }
                }
            }
        }
    }

    /// The system over the states that move when the run starts at `y0` with `doses`, if any state stays 0.
    func reducedSystem(start y0: [Double], doses: [DoseEvent]) -> (workspace: ReducedWorkspace, integrator: ODEIntegrator)? {
        guard reducesDormantStates, model.stateCount > 0 else { return nil }
        let dosed = Set(doses.map(\.state))
        let key = y0.indices.filter { y0[$0] == 0 && !dosed.contains($0) }
        if let cached = reductions[key] { return cached }
        var entry: (workspace: ReducedWorkspace, integrator: ODEIntegrator)?
        if let reduction = model.dormantReduction(start: y0, dosed: dosed) {
            let reduced = ReducedWorkspace(base: workspace, reduction: reduction)
            if let integrator = try? ODEIntegrator(system: reduced, settings: settings) { entry = (reduced, integrator) }
        }
        // A PEtab problem's conditions can start from as many patterns of zeros; each entry holds a GSL driver.
        if reductions.count >= 64 { reductions.removeAll() }
        reductions.updateValue(entry, forKey: key)
        return entry
    }

    /// The full states at `times`, integrating the active states only: the dormant ones are 0 in every
    /// row and in the state `onBreakpoint` sees (doses reach active states only, by construction).
    private func integrate(_ reduced: (workspace: ReducedWorkspace, integrator: ODEIntegrator), from y0: [Double], times: [Double], breakpoints: [Double],
                           onBreakpoint: (Double, UnsafeMutablePointer<Double>) -> Void) -> Solution {
        let w = reduced.workspace, m = w.dimension
        var full = y0
        let start = w.reduction.active.map { y0[$0] }
        let part = reduced.integrator.solve(from: 0, initial: start, outputTimes: times, breakpoints: breakpoints, onBreakpoint: { t, y in
            guard let y = y.baseAddress else { return }
            full.withUnsafeMutableBufferPointer { f in
                guard let f = f.baseAddress else { return }
                w.expand(y, into: f)
                onBreakpoint(t, f)
                assert(w.reduction.dormant.allSatisfy { f[$0] == 0 }, "a breakpoint wrote to a state the reduction leaves out")
                w.restrict(f, into: y)
            }
        })
        var solution = Solution(dimension: model.stateCount, reservingCapacity: part.count)
        var row = [Double](repeating: 0, count: model.stateCount)
        part.values.withUnsafeBufferPointer { values in
            row.withUnsafeMutableBufferPointer { r in
                guard let v = values.baseAddress, let r = r.baseAddress else { return }
                for k in 0..<part.count {
                    w.expand(v + k * m, into: r)
                    solution.append(time: part.times[k], state: r)
                }
            }
        }
        solution.statistics = part.statistics
        solution.failure = part.failure
        return solution
    }

    /// The states at `times`, with `events` and `onBreakpoint` applied at each breakpoint.
    private func integrate(_ integrator: ODEIntegrator?, from y0: [Double], times: [Double], breakpoints: [Double], events: EventWatch?,
                           onBreakpoint: (Double, UnsafeMutablePointer<Double>) -> Void,
                           onEvent: (Double, [Int], UnsafeMutableBufferPointer<Double>) -> Void) -> Solution {
        guard let integrator else {
            var solution = Solution(dimension: 0, reservingCapacity: times.count)
            var nothing = 0.0
            for t in times { solution.append(time: t, state: &nothing) }
            return solution
        }
        return integrator.solve(from: 0, initial: y0, outputTimes: times, breakpoints: breakpoints, events: events,
                                onBreakpoint: { t, y in if let base = y.baseAddress { onBreakpoint(t, base) } },
                                onEvent: onEvent)
    }
}

/// How doses move the sensitivities: the directions of the model parameters their amounts depend on.
struct DoseSensitivities {
    let workspace: SensitivityWorkspace
    /// Slot in the sensitivities' parameters of each model parameter index.
    let slots: [Int: Int]

    init(workspace: SensitivityWorkspace, model: CompiledModel) {
        self.workspace = workspace
        var slots: [Int: Int] = [:]
        for (slot, name) in workspace.sensitivities.parameters.enumerated() {
            if let q = model.parameterIndex(name) { slots[q] = slot }
        }
        self.slots = slots
    }

    /// Calls `body(k, d(amount or rate)/dθ_k)` for each direction the dose's amount moves with.
    func each(_ dose: DoseEvent, _ body: (Int, Double) -> Void) {
        for (q, v) in dose.derivatives {
            guard let slot = slots[q] else { continue }
            for k in 0..<workspace.directionCount {
                let w = workspace.direction(parameter: slot, k)
                if w != 0 { body(k, v * w) }
            }
        }
    }
}

/// The plan's input periods, applied to a workspace at any time (periods are [from, to): the value at
/// an edge is the new one).
struct InputSchedule {
    var entries: [(index: Int, periods: [InputPeriod], fallback: Double)]

    init(plan: SimulationPlan, model: CompiledModel) {
        entries = plan.inputs.compactMap { name, periods in
            guard let k = model.inputIndex(name) else { return nil }
            return (k, periods, model.definition.inputs[k].defaultValue)
        }
    }

    func apply(at t: Double, to workspace: ModelWorkspace) {
        for s in entries {
            var value = s.fallback
            for p in s.periods where p.from <= t && t < p.to { value = p.value }
            workspace.setInput(s.index, value)
        }
    }
}

/// Evaluates the output columns on states, with scratch registers of its own.
final class Observer {
    let workspace: ModelWorkspace
    let program: CompiledProgram
    let count: Int
    private let scratch: UnsafeMutablePointer<Double>

    init(workspace: ModelWorkspace, program: CompiledProgram, count: Int) {
        self.workspace = workspace
        self.program = program
        self.count = count
        scratch = .allocate(capacity: workspace.requiredScratch(for: program))
    }

    deinit { scratch.deallocate() }

    func row(t: Double, y: UnsafePointer<Double>) -> [Double] {
        var row = [Double](repeating: 0, count: count)
        row.withUnsafeMutableBufferPointer { out in
            if let o = out.baseAddress { workspace.observe(program, t: t, y: y, into: o, scratch: scratch) }
        }
        return row
    }

    /// Every row of a solution, row-major; assignments may read inputs, so each row is observed with
    /// the inputs of its own time.
    func rows(of solution: Solution, inputs: InputSchedule) -> [Double] {
        var values = [Double](repeating: 0, count: solution.count * count)
        solution.values.withUnsafeBufferPointer { states in
            values.withUnsafeMutableBufferPointer { out in
                guard let base = out.baseAddress else { return }
                // A model without states has no state rows to point at; its programs read only t.
                var none = 0.0
                withUnsafePointer(to: &none) { nothing in
                    let y = states.baseAddress ?? nothing
                    for k in 0..<solution.count {
                        inputs.apply(at: solution.times[k], to: workspace)
                        workspace.observe(program, t: solution.times[k], y: y + k * solution.dimension, into: base + k * count, scratch: scratch)
                    }
                }
            }
        }
        return values
    }
}
