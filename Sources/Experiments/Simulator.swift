import Foundation
import Integrator
import Models

/// Why a simulation could not be set up (as opposed to a numerical failure during it).
public enum SimulationError: Error, Sendable, Equatable, CustomStringConvertible {
    case badDose(String)
    case badPlan(String)
    case steadyState(IntegrationError)

    public var description: String {
        switch self {
        case .badDose(let s), .badPlan(let s): return s
        case .steadyState(let e): return "cannot start from equilibrium: \(e)"
        }
    }
}

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
    /// The model's time unit (`h` for ketasim's own models; an imported SBML model's may differ).
    public var timeUnit: String = "h"
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

/// A dose event in model units: what happens to the state or the infusion rates at one time.
struct DoseEvent {
    var time: Double
    var state: Int
    /// umol added at once (bolus).
    var bolus: Double
    /// Infusion slot and rate (umol/h) over [time, end).
    var infusionSlot: Int?
    var rate: Double
    var end: Double
}

/// Runs simulations of one compiled model. Owns its workspace and GSL integrator, so one simulator
/// serves one thread; a sweep gives each worker its own.
public final class Simulator {
    public let model: CompiledModel
    public let settings: SolverSettings
    let workspace: ModelWorkspace
    /// Nil for a model without states (an SBML model of rules alone): its outputs follow from t.
    let integrator: ODEIntegrator?
    private var observed: [Double]
    private var steadyStateCache: [SteadyKey: [Double]] = [:]
    private var observationPrograms: [[Int]: ObservationProgram] = [:]

    private struct SteadyKey: Hashable {
        var parameters: [Double]
        var inputs: [Double]
    }

    public init(model: CompiledModel, settings: SolverSettings = SolverSettings()) throws(IntegrationError) {
        self.model = model
        self.settings = settings
        workspace = ModelWorkspace(model: model)
        integrator = model.stateCount == 0 ? nil : try ODEIntegrator(system: workspace, settings: settings)
        observed = [Double](repeating: 0, count: model.observableNames.count)
    }

    /// Turns doses into events in umol and umol/h for this model and organism.
    func events(for plan: SimulationPlan, parameters: [Double]) throws(SimulationError) -> [DoseEvent] {
        let def = model.definition
        let bodyWeight = model.parameterIndex("body_weight").map { parameters[$0] }
        var events: [DoseEvent] = []
        for dose in plan.doses {
            if let problem = def.problem(with: dose) { throw .badDose(problem) }
            guard let drug = def.drug(named: dose.drug), let route = drug.route(named: dose.route),
                  let state = model.stateIndex(route.target) else { throw .badDose("bad dose \(dose)") }
            if dose.unit.isPerKilogram && bodyWeight == nil {
                throw .badDose("dose `\(dose)` is per kg but the model has no `body_weight` parameter")
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

    func checkPlan(_ plan: SimulationPlan) throws(SimulationError) {
        let def = model.definition
        if !(plan.tEnd > 0) { throw .badPlan("the end time must be positive, got \(plan.tEnd) h") }
        if !(plan.outputEvery > 0) { throw .badPlan("the output interval must be positive, got \(plan.outputEvery) h") }
        if plan.tEnd / plan.outputEvery > 10_000_000 { throw .badPlan("\(Int(plan.tEnd / plan.outputEvery)) output times is more than 10 million; choose a longer output interval") }
        if let last = plan.doses.flatMap(\.times).max(), last >= plan.tEnd {
            throw .badPlan("the run ends at \(Duration.describe(plan.tEnd)), not after the last dose at \(Duration.describe(last)); extend it with --t-end")
        }
        if let o = plan.organism, def.organism(named: o) == nil {
            throw .badPlan("unknown organism `\(o)`\(didYouMean(o, among: def.organisms.map(\.name))); the model has \(def.organisms.map(\.name).joined(separator: ", "))")
        }
        for name in plan.parameters.keys where model.parameterIndex(name) == nil {
            throw .badPlan("unknown parameter `\(name)`\(didYouMean(name, among: def.parameters.map(\.name)))")
        }
        for name in Array(plan.inputs.keys) + Array(plan.steadyStateInputs.keys) where model.inputIndex(name) == nil {
            throw .badPlan("unknown input `\(name)`\(didYouMean(name, among: def.inputs.map(\.name)))")
        }
    }

    /// The equilibrium the plan starts from: no drug, the plan's parameters, its steady-state inputs.
    public func initialState(for plan: SimulationPlan) throws(SimulationError) -> [Double] {
        let def = model.definition
        let initial = def.states.map(\.initial)
        if plan.start == .initial || initial.isEmpty { return initial }
        let parameters = def.parameterValues(organism: plan.organism, overrides: plan.parameters)
        workspace.setParameters(parameters)
        workspace.resetInputs()
        for (name, value) in plan.steadyStateInputs {
            if let k = model.inputIndex(name) { workspace.setInput(k, value) }
        }
        let key = SteadyKey(parameters: parameters, inputs: def.inputs.indices.map { workspace.input($0) })
        if let cached = steadyStateCache[key] { return cached }
        do {
            let y = try SteadyStateSolver().solve(workspace, guess: initial)
            if steadyStateCache.count > 64 { steadyStateCache.removeAll() }
            steadyStateCache[key] = y
            return y
        } catch {
            throw .steadyState(error)
        }
    }

    /// Simulates a plan and records the named outputs (the model's default outputs when nil) on the
    /// plan's grid, and also at `detailTimes` (see `SimulationResult.detailTimes`).
    public func run(_ plan: SimulationPlan, outputs requested: [String]? = nil, detailTimes: [Double] = []) throws(SimulationError) -> SimulationResult {
        try checkPlan(plan)
        let def = model.definition
        let outputNames = requested ?? def.outputs
        var outputIndices: [Int] = []
        for name in outputNames {
            guard let k = model.observableIndex(name) else {
                throw .badPlan("unknown output `\(name)`\(didYouMean(name, among: model.observableNames))")
            }
            outputIndices.append(k)
        }
        let y0 = try initialState(for: plan)
        let parameters = def.parameterValues(organism: plan.organism, overrides: plan.parameters)
        workspace.setParameters(parameters)
        workspace.resetInputs()
        let doseEvents = try events(for: plan, parameters: parameters)

        var breakpoints: [Double] = [0]
        for e in doseEvents { breakpoints.append(e.time); if e.infusionSlot != nil { breakpoints.append(e.end) } }
        for periods in plan.inputs.values {
            for p in periods { breakpoints.append(p.from); if p.to.isFinite { breakpoints.append(p.to) } }
        }
        let count = Int((plan.tEnd / plan.outputEvery).rounded(.down))
        var grid = (0...count).map { Double($0) * plan.outputEvery }
        if let last = grid.last, plan.tEnd - last > 1e-9 * plan.tEnd { grid.append(plan.tEnd) }
        let onGrid = Set(grid)
        let extra = detailTimes.filter { $0 >= 0 && $0 <= plan.tEnd && !onGrid.contains($0) }
        let times = extra.isEmpty ? grid : Array(Set(grid + extra)).sorted()

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
        let firstDose = plan.referenceTime
        var preDose: [Double]?
        let workspace = self.workspace
        let m = outputIndices.count
        func onBreakpoint(_ t: Double, _ y: UnsafeMutableBufferPointer<Double>) {
            guard let base = y.baseAddress else { return }
            if let first = firstDose, t == first, preDose == nil {
                observed.withUnsafeMutableBufferPointer { workspace.observe(t: t, y: base, into: $0.baseAddress!) }
                preDose = outputIndices.map { observed[$0] }
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
        if let integrator = integrator, let watch = workspace.eventWatch() {
            solution = integrator.solve(from: 0, initial: y0, outputTimes: times, breakpoints: breakpoints, events: watch,
                                        onBreakpoint: onBreakpoint) { t, fired, state in
                workspace.fireEvents(fired, at: t, state: state)
            }
        } else if let integrator {
            solution = integrator.solve(from: 0, initial: y0, outputTimes: times, breakpoints: breakpoints, onBreakpoint: onBreakpoint)
        } else {
            solution = Solution(dimension: 0, reservingCapacity: times.count)
            var nothing = 0.0
            for t in times { solution.append(time: t, state: &nothing) }
        }
        var values = [Double](repeating: 0, count: solution.count * m)
        let program = observationPrograms[outputIndices] ?? model.observationProgram(outputIndices)
        if let program, observationPrograms.count < 32 { observationPrograms[outputIndices] = program }
        solution.values.withUnsafeBufferPointer { states in
            values.withUnsafeMutableBufferPointer { out in
                guard let program, let base = out.baseAddress else { return }
                // A model without states has no state rows to point at; its programs read only t.
                let none = UnsafeMutablePointer<Double>.allocate(capacity: 1)
                none.initialize(to: 0)
                defer { none.deallocate() }
                let y = states.baseAddress ?? UnsafePointer(none)
                let scratch = UnsafeMutablePointer<Double>.allocate(capacity: workspace.requiredScratch(for: program))
                defer { scratch.deallocate() }
                for k in 0..<solution.count {
                    // Assignments may read inputs: observe each row with the inputs of its own time.
                    setInputs(at: solution.times[k])
                    workspace.observe(program, t: solution.times[k], y: y + k * solution.dimension, into: base + k * m, scratch: scratch)
                }
            }
        }
        var result = SimulationResult(
            outputNames: outputNames, times: solution.times, values: values, preDose: preDose,
            firstDoseTime: firstDose, failure: solution.failure, statistics: solution.statistics, timeUnit: def.timeUnit)
        if !extra.isEmpty {
            // Split the rows: the grid is what the user asked to see; the rest serves metrics.
            var gridTimes: [Double] = [], gridValues: [Double] = []
            gridTimes.reserveCapacity(grid.count)
            gridValues.reserveCapacity(grid.count * m)
            for k in 0..<solution.count {
                let row = values[(k * m)..<((k + 1) * m)]
                if onGrid.contains(solution.times[k]) {
                    gridTimes.append(solution.times[k]); gridValues.append(contentsOf: row)
                } else {
                    result.detailTimes.append(solution.times[k]); result.detailValues.append(contentsOf: row)
                }
            }
            result.times = gridTimes
            result.values = gridValues
        }
        return result
    }
}
