import Expressions
import Integrator
import Models

/// What a run with forward sensitivities differentiates by: directions θ_k, each a combination of
/// model parameters (M = ∂q/∂θ), and the sensitivities of the start.
public struct SensitivityPlan: Sendable {
    /// Model parameters (by name) through which the directions act.
    public var parameters: [String]
    public var directionCount: Int
    /// M = ∂q/∂θ during the run, row-major parameters x directions.
    public var directions: [Double]
    /// M during the starting equilibrium (a PEtab preequilibration), when it differs from `directions`.
    public var equilibriumDirections: [Double]?
    /// ∂x(0)/∂θ, row-major states x directions. After a starting equilibrium only the rows of the states
    /// the plan sets (`initialStates`) are read; the others come from the equilibrium.
    public var initial: [Double]
    /// ∂x/∂θ where the search for the equilibrium starts (`equilibriumStates`), for a model whose
    /// Jacobian is singular there (a conserved total), whose equilibrium depends on its start; zero when nil.
    public var equilibriumInitial: [Double]?

    public init(parameters: [String], directionCount: Int, directions: [Double], initial: [Double]) {
        self.parameters = parameters
        self.directionCount = directionCount
        self.directions = directions
        self.initial = initial
    }

    /// Sensitivities to each of `parameters` itself (M the identity), starting from zero.
    public init(parameters: [String], stateCount: Int) {
        let p = parameters.count
        var m = [Double](repeating: 0, count: p * p)
        for k in 0..<p { m[k * p + k] = 1 }
        self.init(parameters: parameters, directionCount: p, directions: m, initial: [Double](repeating: 0, count: stateCount * p))
    }
}

/// A simulation's outputs and their derivatives by each direction.
public struct SensitivityResult: Sendable {
    public var result: SimulationResult
    /// d(output)/dθ, row-major times x outputs x directions (`result.times`, `result.outputNames`).
    public var gradients: [Double]
    public var directionCount: Int
    /// The same at `result.detailTimes`.
    public var detailGradients: [Double] = []
    /// d(output)/dθ just before the reference dose (outputs x directions), with `result.preDose`.
    public var preDoseGradient: [Double]?

    public init(result: SimulationResult, gradients: [Double], directionCount: Int, preDoseGradient: [Double]? = nil) {
        self.result = result
        self.gradients = gradients
        self.directionCount = directionCount
        self.preDoseGradient = preDoseGradient
    }

    public func gradient(time k: Int, output c: Int, direction j: Int) -> Double {
        gradients[(k * result.outputNames.count + c) * directionCount + j]
    }
}

struct SensitivityKey: Hashable {
    var parameters: [String]
    var directions: Int
}

/// What the sensitivities at an equilibrium depend on: the equilibrium, the parameters and inputs there,
/// the directions, and where the search started (for a singular Jacobian).
struct EquilibriumSensitivityKey: Hashable {
    var x: [Double]
    var parameters: [Double]
    var inputs: [Double]
    var names: [String]
    var directions: [Double]
    var start: [String: Double]
    var initial: [Double]?
}

struct SensitivityGradientKey: Hashable {
    var parameters: [String]
    var columns: [OutputColumn]
}

/// The augmented system a sensitivity run integrates, and where it starts.
struct AugmentedStart {
    var workspace: SensitivityWorkspace
    var integrator: ODEIntegrator
    var gradient: OutputGradient
    /// x(0) followed by S(0) column by column.
    var initial: [Double]
}

extension Simulator {
    /// Simulates a plan as `run(_:columns:detailTimes:)` does, through the same path, with the forward
    /// sensitivity equations integrated alongside the states by the same `ODEIntegrator.solve`, and
    /// returns d(column)/dθ at every output (and at `detailTimes`, and just before the reference dose).
    ///
    /// S jumps where the state does: a dose adds d(amount)/dθ (a bioavailability or body weight among
    /// the parameters), an infusion whose rate depends on one forces S while it runs, and an event
    /// applies the jump rule of `EventJumps` (trigger times that move with θ included). An event whose
    /// time has no derivative (a trigger reaching its threshold tangentially) is refused
    /// (`.sensitivitiesUnavailable`), as is a model without states.
    public func run(_ plan: SimulationPlan, columns: [OutputColumn], sensitivities s: SensitivityPlan, detailTimes: [Double] = []) throws(SimulationError) -> SensitivityResult {
        try simulate(plan, columns: columns, detailTimes: detailTimes, sensitivities: s)
    }

    /// The augmented system for `s` and its start: the equilibrium (its sensitivities from
    /// J S = -(∂f/∂q) M), then the plan's states. Leaves the equilibrium's parameters in the workspace.
    func sensitivityStart(_ plan: SimulationPlan, columns: [OutputColumn], _ s: SensitivityPlan) throws(SimulationError) -> AugmentedStart {
        let n = model.stateCount, d = s.directionCount
        guard n > 0 else { throw .sensitivitiesUnavailable("the model has no states") }
        guard s.directions.count == s.parameters.count * d, s.initial.count == n * d else {
            throw .sensitivitiesUnavailable("internal: the sensitivity plan's matrices do not match \(s.parameters.count) parameters, \(n) states and \(d) directions")
        }
        // An implicit stepper factorizes the augmented system's Jacobian as a dense matrix n (1 + d) on a
        // side: the model's own limit holds for it, checked before GSL allocates it (a few copies of
        // 17 GB at the limit, more than the memory of most machines well before).
        let dimension = n * (1 + d)
        if settings.stepper.usesJacobian && dimension > CompiledModel.maximumStates {
            let gigabytes = Int((Double(dimension) * Double(dimension) * 8 / 1e9).rounded())
            throw .sensitivitiesUnavailable("the sensitivity equations of \(n) state\(n == 1 ? "" : "s") in \(d) direction\(d == 1 ? "" : "s") have \(dimension) states, more than "
                                            + "\(CompiledModel.maximumStates), ketasim's limit: the \(settings.stepper.rawValue) stepper's dense Jacobian "
                                            + "of them would need \(gigabytes) GB")
        }
        let (sw, integrator) = try sensitivitySystem(parameters: s.parameters, directions: d)
        let gradient = try outputGradient(parameters: s.parameters, columns: columns)
        sw.resetInfusionDirections()
        var x0: [Double]
        var s0 = s.initial
        if plan.start != .steadyState {
            x0 = try initialState(for: plan)
        } else {
            var start = plan
            start.initialStates = [:]
            x0 = try initialState(for: start)
            // `initialState` left the equilibrium's parameters and inputs in the workspace.
            sw.setDirections(s.equilibriumDirections ?? s.directions)
            s0 = try equilibriumSensitivities(sw, integrator, at: x0, plan: plan, s)
            for (name, value) in plan.initialStates {
                guard let i = model.stateIndex(name) else { continue }
                x0[i] = value
                for k in 0..<d { s0[i * d + k] = s.initial[i * d + k] }
            }
        }
        var y0 = x0 + [Double](repeating: 0, count: n * d)
        for i in 0..<n { for k in 0..<d { y0[n + k * n + i] = s0[i * d + k] } }
        return AugmentedStart(workspace: sw, integrator: integrator, gradient: gradient, initial: y0)
    }

    /// S at the equilibrium x: one LU solve of J S = -(∂f/∂q) M; where J is singular (a conserved total,
    /// whose equilibrium depends on where the flow starts) the augmented system is integrated from the
    /// search's start until its derivatives vanish, as the equilibrium itself was found.
    /// Cached as the equilibrium is: the experiments of a calibration mostly start from the same one.
    private func equilibriumSensitivities(_ sw: SensitivityWorkspace, _ integrator: ODEIntegrator, at x: [Double],
                                          plan: SimulationPlan, _ s: SensitivityPlan) throws(SimulationError) -> [Double] {
        let def = model.definition
        let key = EquilibriumSensitivityKey(
            x: x, parameters: def.parameters.indices.map { workspace.parameter($0) }, inputs: def.inputs.indices.map { workspace.input($0) },
            names: s.parameters, directions: s.equilibriumDirections ?? s.directions, start: plan.equilibriumStates, initial: s.equilibriumInitial)
        if let cached = equilibriumSensitivityCache[key] { return cached }
        let s0 = try solveEquilibriumSensitivities(sw, integrator, at: x, plan: plan, s)
        if equilibriumSensitivityCache.count > 64 { equilibriumSensitivityCache.removeAll() }
        equilibriumSensitivityCache[key] = s0
        return s0
    }

    private func solveEquilibriumSensitivities(_ sw: SensitivityWorkspace, _ integrator: ODEIntegrator, at x: [Double],
                                               plan: SimulationPlan, _ s: SensitivityPlan) throws(SimulationError) -> [Double] {
        let n = model.stateCount, d = s.directionCount
        let (jacobian, forcing) = sw.linearization(t: 0, x: x)
        if let solved = solveLinearSystem(jacobian, n: n, forcing.map { -$0 }, columns: d) { return solved }
        var y = model.definition.states.map(\.initial)
        for (name, value) in plan.equilibriumStates { if let k = model.stateIndex(name) { y[k] = value } }
        y += [Double](repeating: 0, count: n * d)
        if let s0 = s.equilibriumInitial, s0.count == n * d {
            for i in 0..<n { for k in 0..<d { y[n + k * n + i] = s0[i * d + k] } }
        }
        var t = 0.0, horizon = 10.0
        var slope = [Double](repeating: 0, count: y.count)
        while t < 1e7 {
            let run = integrator.solve(from: t, initial: y, outputTimes: [t + horizon])
            if let failure = run.failure { throw .steadyState(IntegrationErrorDescription("the sensitivities at equilibrium: \(failure.description)")) }
            y = Array(run.state(at: run.count - 1))
            t += horizon
            y.withUnsafeBufferPointer { yb in slope.withUnsafeMutableBufferPointer { sb in
                if let yp = yb.baseAddress, let sp = sb.baseAddress { sw.evaluate(t: 0, y: yp, dydt: sp) }
            } }
            if zip(slope, y).allSatisfy({ abs($0) <= 1e-10 * max(1, abs($1)) }) { break }
            horizon *= 4
        }
        var result = [Double](repeating: 0, count: n * d)
        for i in 0..<n { for k in 0..<d { result[i * d + k] = y[n + k * n + i] } }
        return result
    }

    func sensitivitySystem(parameters: [String], directions: Int) throws(SimulationError) -> (workspace: SensitivityWorkspace, integrator: ODEIntegrator) {
        let key = SensitivityKey(parameters: parameters, directions: directions)
        if let system = sensitivitySystems[key] { return system }
        let compiled = try sensitivities(parameters)
        let sw = SensitivityWorkspace(sensitivities: compiled, base: workspace, directionCount: directions)
        let integrator: ODEIntegrator
        // S is controlled to relative 1e-8, absolute 1e-12 (AMICI's default relative tolerance), or the
        // run's own tolerances where those are looser: a fit's Jacobian needs no more, and x keeps the run's
        // (PEtab's 1e-10 and 1e-14). Controlled to x's tolerances, S took Boehm_JProteomeRes2014 2,742 steps
        // where x alone takes about 1,100; at these 1,725 (docs/PERFORMANCE.md), the Jacobians unchanged to
        // the central differences' accuracy (SensitivityTests). The settings may loosen them further
        // (a calibration file's, docs/CALIBRATION.md).
        let split = ODEIntegrator.ToleranceSplit(from: model.stateCount,
                                                 relative: max(settings.relativeTolerance, settings.sensitivityRelativeTolerance ?? 1e-8),
                                                 absolute: max(settings.absoluteTolerance, settings.sensitivityAbsoluteTolerance ?? 1e-12))
        do { integrator = try ODEIntegrator(system: sw, settings: settings, split: split) } catch {
            throw .sensitivitiesUnavailable("cannot set up the integrator of the sensitivity equations: \(error.description)")
        }
        if sensitivitySystems.count > 8 { sensitivitySystems.removeAll() }
        sensitivitySystems[key] = (sw, integrator)
        return (sw, integrator)
    }

    func sensitivities(_ parameters: [String]) throws(SimulationError) -> CompiledSensitivities {
        if let c = compiledSensitivities[parameters] { return c }
        do {
            let c = try CompiledSensitivities(model: model, parameters: parameters)
            if compiledSensitivities.count > 8 { compiledSensitivities.removeAll() }
            compiledSensitivities[parameters] = c
            return c
        } catch {
            throw .sensitivitiesUnavailable(error.description)
        }
    }

    func outputGradient(parameters: [String], columns: [OutputColumn]) throws(SimulationError) -> OutputGradient {
        let key = SensitivityGradientKey(parameters: parameters, columns: columns)
        if let g = outputGradients[key] { return g }
        let compiled = try sensitivities(parameters)
        let g: OutputGradient
        do { g = try compiled.outputGradient(columns.map(\.expression)) } catch {
            throw .sensitivitiesUnavailable(error.description)
        }
        if outputGradients.count >= 512 { outputGradients.removeAll() }
        outputGradients[key] = g
        return g
    }
}
