import Expressions
import Integrator

/// Why forward sensitivities cannot be had for a model or a run; the caller falls back to finite
/// differences and says so.
public enum SensitivityError: Error, Sendable, Equatable, CustomStringConvertible {
    case unknownParameter(String)
    case unsupported(String)
    case compile(String)
    /// An event fired at a located crossing of a trigger that has no comparison whose zero is the
    /// crossing (a bare number as a condition), so the time's derivative is unknown.
    case eventWithoutThreshold(event: String, time: Double)
    /// An event's trigger reached its threshold with a zero rate of change (a tangent), so its time has
    /// no derivative by the parameters.
    case tangentTrigger(event: String, time: Double)

    public var description: String {
        switch self {
        case .unknownParameter(let name): return "`\(name)` is not a parameter of the model, so it has no sensitivity equations"
        case .unsupported(let reason): return "forward sensitivities are not available: \(reason)"
        case .compile(let message): return "the sensitivity equations could not be compiled: \(message)"
        case let .eventWithoutThreshold(event, t):
            return "forward sensitivities are not available: event \(event) fired at t = \(t) where its trigger turned true without a comparison crossing its threshold, so the derivative of its time is unknown"
        case let .tangentTrigger(event, t):
            return "forward sensitivities are not available: the trigger of event \(event) reached its threshold at t = \(t) without crossing it (its rate of change is 0 there), so its time has no derivative by the parameters"
        }
    }
}

/// The forward sensitivity equations of a compiled model with respect to some of its parameters q:
/// ```
/// dx/dt = f(t, x, q)          dS/dt = J(t, x, q) S + (∂f/∂q) M
/// ```
/// with S = dx/dθ (states x directions) and M = ∂q/∂θ (parameters x directions), the directions θ
/// being whatever the caller differentiates by (an estimated parameter that sets several model
/// parameters, or one parameter in a preequilibration and another after it). f, the structural
/// non-zeros of J = ∂f/∂x and of ∂f/∂q, and ∂f/∂t are one register program, derived symbolically
/// through the model's assignments (the chain rule, as for the Jacobian), so their common
/// subexpressions are computed once per call.
/// Immutable and shareable; each thread integrates through its own `SensitivityWorkspace`.
public final class CompiledSensitivities: Sendable {
    public let model: CompiledModel
    /// Model parameters, by name, that the sensitivities differentiate through.
    public let parameters: [String]
    let program: CompiledProgram
    /// (row, column) of each structural non-zero of J, in the program's output order after f.
    let jacobianRows: [Int]
    let jacobianColumns: [Int]
    /// (row, parameter slot) of each structural non-zero of ∂f/∂q, after J.
    let dfdqRows: [Int]
    let dfdqSlots: [Int]
    /// Rows with a non-zero ∂f/∂t, after ∂f/∂q.
    let dfdtRows: [Int]
    /// The derivatives of the model's event expressions; nil without events.
    let events: EventDerivatives?

    /// Partial derivatives, by the states, the parameters and t, of what decides an event's jump: the
    /// comparison sides of the triggers (whose zero is a trigger time) and, per event, its assigned
    /// values, then their scales (when any), then its delay (when it has one).
    struct EventDerivatives: Sendable {
        var sides: OutputGradient
        var assignments: [OutputGradient]
        /// Column of the first scale in `assignments[k]`, nil without scales.
        var scaleColumn: [Int?]
        /// Column of the delay in `assignments[k]`, nil without a delay.
        var delayColumn: [Int?]
        /// Largest column count of `sides` and `assignments`.
        var maximumColumns: Int
    }

    public init(model: CompiledModel, parameters: [String]) throws(SensitivityError) {
        self.model = model
        self.parameters = parameters
        let def = model.definition
        for name in parameters where def.parameter(named: name) == nil { throw .unknownParameter(name) }
        let n = model.stateCount
        let odes = model.odes
        var graph = model.graph
        var outputs = odes
        var jr: [Int] = [], jc: [Int] = [], qr: [Int] = [], qs: [Int] = [], tr: [Int] = []
        var jacobian: [Expr] = [], dfdq: [Expr] = [], dfdt: [Expr] = []
        let stateIndex = Dictionary(def.states.enumerated().map { ($1.name, $0) }, uniquingKeysWith: { a, _ in a })
        let slot = Dictionary(parameters.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
        for (i, f) in odes.enumerated() {
            // An ODE's own dependencies pick its candidates, as for the model's Jacobian.
            let symbols = graph.dependencies(of: f)
            for j in symbols.compactMap({ stateIndex[$0] }).sorted() {
                let d = graph.derivative(of: f, withRespectTo: def.states[j].name)
                if case .constant(0) = d { continue }
                jacobian.append(d); jr.append(i); jc.append(j)
            }
            for s in symbols.compactMap({ slot[$0] }).sorted() {
                let d = graph.derivative(of: f, withRespectTo: parameters[s])
                if case .constant(0) = d { continue }
                dfdq.append(d); qr.append(i); qs.append(s)
            }
            if symbols.contains("t") {
                let d = graph.derivative(of: f, withRespectTo: "t")
                if case .constant(0) = d {} else { dfdt.append(d); tr.append(i) }
            }
        }
        outputs += jacobian + dfdq + dfdt
        do {
            program = try CompiledProgram(variables: model.variableNames, graph: graph, outputs: outputs, varyingVariables: 1 + n)
        } catch {
            throw .compile(error.message)
        }
        jacobianRows = jr; jacobianColumns = jc; dfdqRows = qr; dfdqSlots = qs; dfdtRows = tr
        if let compiled = model.events {
            let definitions = def.events
            var assignments: [OutputGradient] = [], scaleColumn: [Int?] = [], delayColumn: [Int?] = []
            for e in definitions {
                var exprs = e.assignments.map(\.value)
                let scales = e.assignments.contains { $0.scale != nil }
                scaleColumn.append(scales ? exprs.count : nil)
                if scales { exprs += e.assignments.map { $0.scale ?? .constant(1) } }
                delayColumn.append(e.delay.map { _ in exprs.count })
                if let d = e.delay { exprs.append(d) }
                assignments.append(try Self.gradient(model: model, parameters: parameters, exprs, time: true))
            }
            let sides = try Self.gradient(model: model, parameters: parameters, compiled.sides, time: true)
            events = EventDerivatives(sides: sides, assignments: assignments, scaleColumn: scaleColumn, delayColumn: delayColumn,
                                      maximumColumns: max(sides.columns, assignments.map(\.columns).max() ?? 0))
        } else {
            events = nil
        }
    }

    public var stateCount: Int { model.stateCount }

    /// The partial derivatives of output expressions (over the model's variables and assignments) by
    /// the states and by `parameters`, to turn S into d(output)/dθ.
    public func outputGradient(_ exprs: [Expr]) throws(SensitivityError) -> OutputGradient {
        try Self.gradient(model: model, parameters: parameters, exprs, time: false)
    }

    /// ∂h/∂x and ∂h/∂q of `exprs`, and ∂h/∂t with `time` (an event's threshold and values move with
    /// its time).
    static func gradient(model: CompiledModel, parameters: [String], _ exprs: [Expr], time: Bool) throws(SensitivityError) -> OutputGradient {
        let def = model.definition
        let stateIndex = Dictionary(def.states.enumerated().map { ($1.name, $0) }, uniquingKeysWith: { a, _ in a })
        let slot = Dictionary(parameters.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
        var outputs: [Expr] = []
        var entries: [OutputGradient.Entry] = []
        var graph = model.graph
        for (c, h) in exprs.enumerated() {
            let symbols = graph.dependencies(of: h)
            for i in symbols.compactMap({ stateIndex[$0] }).sorted() {
                let d = graph.derivative(of: h, withRespectTo: def.states[i].name)
                if case .constant(0) = d { continue }
                outputs.append(d); entries.append(.init(column: c, state: i, slot: -1))
            }
            for s in symbols.compactMap({ slot[$0] }).sorted() {
                let d = graph.derivative(of: h, withRespectTo: parameters[s])
                if case .constant(0) = d { continue }
                outputs.append(d); entries.append(.init(column: c, state: -1, slot: s))
            }
            if time && symbols.contains("t") {
                let d = graph.derivative(of: h, withRespectTo: "t")
                if case .constant(0) = d {} else { outputs.append(d); entries.append(.init(column: c, state: -1, slot: -1)) }
            }
        }
        do {
            return OutputGradient(program: try CompiledProgram(variables: model.variableNames, graph: graph, outputs: outputs), entries: entries, columns: exprs.count)
        } catch {
            throw .compile(error.message)
        }
    }
}

/// ∂h/∂x and ∂h/∂q of output columns h, compiled; `SensitivityWorkspace.outputSensitivities` combines
/// them with S and M.
public struct OutputGradient: Sendable {
    struct Entry: Sendable {
        var column: Int
        /// A state index, or -1 when the entry is a parameter's or t's.
        var state: Int
        /// A parameter slot, or -1 when the entry is a state's or (with state -1) t's.
        var slot: Int
    }
    let program: CompiledProgram
    let entries: [Entry]
    public let columns: Int
}

/// The augmented system (x, S) of n (1 + directions) states, as the one integrator sees it: the state
/// vector is x followed by S column by column (the sensitivities to direction k at n (1 + k)).
///
/// Its Jacobian is the block-diagonal approximation: J on every diagonal block. The exact one has
/// off-diagonal blocks ∂(J S_k + (∂f/∂q) M_k)/∂x, second derivatives of f. As in CVODES' simultaneous
/// corrector, the Jacobian only forms the Newton matrix of the implicit stepper's corrector: a cruder
/// matrix changes how fast Newton's iteration converges (and so the step sizes), not the solution it
/// converges to, whose error is still controlled on x and S alike. The tests compare msbdf's sensitivities
/// with those of an explicit stepper (which uses no Jacobian) and with central differences.
///
/// Wraps the simulator's `ModelWorkspace`: parameters, inputs and infusion rates are set there, and
/// this system notices a change through the workspace's generation count. Not thread-safe.
public final class SensitivityWorkspace: ODESystem {
    public let sensitivities: CompiledSensitivities
    public let base: ModelWorkspace
    public let directionCount: Int
    public let dimension: Int
    public let stateNames: [String]
    let n: Int
    private let registers: UnsafeMutablePointer<Double>
    private let registerSize: Int
    /// The program's outputs: f, J's non-zeros, ∂f/∂q's, ∂f/∂t's.
    private let values: UnsafeMutablePointer<Double>
    /// M = ∂q/∂θ, row-major parameters x directions.
    private let directions: UnsafeMutablePointer<Double>
    private let jacobianOffset: Int
    private let dfdqOffset: Int
    private let dfdtOffset: Int
    private var generation = -1
    private var gradientScratch: UnsafeMutablePointer<Double>?
    private var gradientScratchSize = 0
    /// d(infusion rate)/dθ, slots x directions: a rate that depends on a parameter (a bioavailability)
    /// forces the sensitivities of the state it enters, whose ODE adds the rate with coefficient 1.
    private let infusionDirections: UnsafeMutablePointer<Double>
    private var infusionForcing = false
    let jumps: EventJumps?
    /// Why the last run's sensitivities are wrong at an event (nil when they are right); set while
    /// integrating, where nothing can throw.
    public var eventFailure: SensitivityError? { jumps?.failure }

    public init(sensitivities: CompiledSensitivities, base: ModelWorkspace, directionCount: Int) {
        precondition(base.model === sensitivities.model, "the workspace must be of the same compiled model")
        self.sensitivities = sensitivities
        self.base = base
        self.directionCount = directionCount
        n = sensitivities.stateCount
        dimension = n * (1 + directionCount)
        var names = base.stateNames
        for k in 0..<directionCount { names += base.stateNames.map { "d\($0)/dθ\(k + 1)" } }
        stateNames = names
        registerSize = max(sensitivities.program.registerCount, sensitivities.model.variableNames.count)
        registers = .allocate(capacity: registerSize)
        registers.initialize(repeating: 0, count: registerSize)
        jacobianOffset = n
        dfdqOffset = n + sensitivities.jacobianRows.count
        dfdtOffset = dfdqOffset + sensitivities.dfdqRows.count
        let count = max(1, dfdtOffset + sensitivities.dfdtRows.count)
        values = .allocate(capacity: count)
        values.initialize(repeating: 0, count: count)
        let m = max(1, sensitivities.parameters.count * directionCount)
        directions = .allocate(capacity: m)
        directions.initialize(repeating: 0, count: m)
        let slots = max(1, sensitivities.model.infusionTargets.count * directionCount)
        infusionDirections = .allocate(capacity: slots)
        infusionDirections.initialize(repeating: 0, count: slots)
        let states = n
        jumps = sensitivities.events.map { EventJumps($0, stateCount: states, directions: directionCount) }
    }

    deinit {
        registers.deallocate()
        values.deallocate()
        directions.deallocate()
        infusionDirections.deallocate()
        gradientScratch?.deallocate()
    }

    /// Every infusion rate back to one that no parameter changes.
    public func resetInfusionDirections() {
        infusionDirections.update(repeating: 0, count: sensitivities.model.infusionTargets.count * directionCount)
        infusionForcing = false
    }

    /// Adds `value` to d(rate of infusion slot `slot`)/dθ_k.
    public func addInfusionDirection(slot: Int, direction k: Int, _ value: Double) {
        guard value != 0 else { return }
        infusionDirections[slot * directionCount + k] += value
        infusionForcing = true
    }

    /// Sets M = ∂q/∂θ (row-major parameters x directions).
    public func setDirections(_ m: [Double]) {
        precondition(m.count == sensitivities.parameters.count * directionCount)
        for (k, v) in m.enumerated() { directions[k] = v }
    }

    public func direction(parameter q: Int, _ k: Int) -> Double { directions[q * directionCount + k] }

    /// Runs the program at (t, x): f, J, ∂f/∂q and ∂f/∂t into `values`. The parameter-only prelude
    /// re-runs only after the base workspace's parameters, inputs or infusion rates changed.
    @inline(__always)
    private func run(t: Double, x: UnsafePointer<Double>) {
        if generation != base.generation {
            base.copyVariables(into: registers)
            sensitivities.program.prepare(registers: registers)
            generation = base.generation
        }
        registers[0] = t
        (registers + 1).update(from: x, count: n)
        sensitivities.program.runPrepared(registers: registers, outputs: values)
    }

    public func evaluate(t: Double, y: UnsafePointer<Double>, dydt: UnsafeMutablePointer<Double>) {
        run(t: t, x: y)
        dydt.update(from: values, count: n)
        let d = directionCount
        (dydt + n).update(repeating: 0, count: n * d)
        let s = sensitivities
        for e in 0..<s.jacobianRows.count {
            let v = values[jacobianOffset + e]
            let i = n + s.jacobianRows[e], j = n + s.jacobianColumns[e]
            for k in 0..<d { dydt[i + k * n] += v * y[j + k * n] }
        }
        for e in 0..<s.dfdqRows.count {
            let v = values[dfdqOffset + e]
            let i = n + s.dfdqRows[e], row = s.dfdqSlots[e] * d
            for k in 0..<d {
                let w = directions[row + k]
                if w != 0 { dydt[i + k * n] += v * w }
            }
        }
        if infusionForcing {
            for (slot, state) in s.model.infusionTargets.enumerated() {
                for k in 0..<d { dydt[n + k * n + state] += infusionDirections[slot * d + k] }
            }
        }
    }

    public func jacobian(t: Double, y: UnsafePointer<Double>, dfdy: UnsafeMutablePointer<Double>, dfdt: UnsafeMutablePointer<Double>) {
        run(t: t, x: y)
        let size = dimension
        dfdy.update(repeating: 0, count: size * size)
        dfdt.update(repeating: 0, count: size)
        let s = sensitivities
        for e in 0..<s.jacobianRows.count {
            let v = values[jacobianOffset + e]
            let i = s.jacobianRows[e], j = s.jacobianColumns[e]
            for b in 0...directionCount {
                let o = b * n
                dfdy[(o + i) * size + o + j] = v
            }
        }
        // ∂f/∂t of x only: the S blocks' would be second derivatives, left out as the off-diagonal
        // blocks are (GSL's msbdf does not read dfdt; bsimp would only converge more slowly).
        for e in 0..<s.dfdtRows.count { dfdt[s.dfdtRows[e]] = values[dfdtOffset + e] }
    }

    /// J (n x n, row-major) and (∂f/∂q) M (n x directions, row-major) at (t, x), for the steady state's
    /// sensitivities J S = -(∂f/∂q) M.
    public func linearization(t: Double, x: [Double]) -> (jacobian: [Double], forcing: [Double]) {
        x.withUnsafeBufferPointer { buffer in
            if let p = buffer.baseAddress { run(t: t, x: p) }
        }
        let d = directionCount
        var jac = [Double](repeating: 0, count: n * n)
        var forcing = [Double](repeating: 0, count: n * d)
        let s = sensitivities
        for e in 0..<s.jacobianRows.count { jac[s.jacobianRows[e] * n + s.jacobianColumns[e]] = values[jacobianOffset + e] }
        for e in 0..<s.dfdqRows.count {
            for k in 0..<d { forcing[s.dfdqRows[e] * d + k] += values[dfdqOffset + e] * directions[s.dfdqSlots[e] * d + k] }
        }
        return (jac, forcing)
    }

    /// The entries of `g` (its partial derivatives) at (t, x), in scratch that lives until the next call.
    private func partials(_ g: OutputGradient, t: Double, x: UnsafePointer<Double>) -> UnsafeMutablePointer<Double>? {
        let need = max(base.requiredScratch(for: g.program), g.entries.count)
        if gradientScratchSize < need {
            gradientScratch?.deallocate()
            gradientScratch = .allocate(capacity: 2 * need)
            gradientScratchSize = need
        }
        guard let scratch = gradientScratch else { return nil }
        let partials = scratch + gradientScratchSize
        base.observe(g.program, t: t, y: x, into: partials, scratch: scratch)
        return partials
    }

    /// d(output c)/dθ_k = Σ_i ∂h_c/∂x_i S_ik + Σ_q ∂h_c/∂q M_qk (+ ∂h_c/∂t τ_k with `tau`, for `g` made with
    /// its t derivatives) at one augmented state, written into `out` (columns x directions, row-major).
    /// Reads the base workspace's current parameters and inputs.
    public func outputSensitivities(_ g: OutputGradient, t: Double, y: UnsafePointer<Double>, into out: UnsafeMutablePointer<Double>) {
        outputSensitivities(g, t: t, y: y, tau: nil, into: out)
    }

    func outputSensitivities(_ g: OutputGradient, t: Double, y: UnsafePointer<Double>, tau: UnsafePointer<Double>?, into out: UnsafeMutablePointer<Double>) {
        guard let partials = partials(g, t: t, x: y) else { return }
        let d = directionCount
        out.update(repeating: 0, count: g.columns * d)
        for (e, entry) in g.entries.enumerated() {
            let v = partials[e]
            let row = entry.column * d
            if entry.state >= 0 {
                for k in 0..<d { out[row + k] += v * y[n + k * n + entry.state] }
            } else if entry.slot >= 0 {
                for k in 0..<d { out[row + k] += v * directions[entry.slot * d + k] }
            } else if let tau {
                for k in 0..<d { out[row + k] += v * tau[k] }
            }
        }
    }

    /// dh_c/dt along the flow, Σ_i ∂h_c/∂x_i f_i + ∂h_c/∂t, at (t, x) into `out` (one per column).
    func rates(_ g: OutputGradient, t: Double, x: UnsafePointer<Double>, f: UnsafePointer<Double>, into out: UnsafeMutablePointer<Double>) {
        guard let partials = partials(g, t: t, x: x) else { return }
        out.update(repeating: 0, count: g.columns)
        for (e, entry) in g.entries.enumerated() {
            if entry.state >= 0 { out[entry.column] += partials[e] * f[entry.state] } else if entry.slot < 0 { out[entry.column] += partials[e] }
        }
    }
}
