import Expressions
import Integrator

/// A model turned into register programs for the right-hand side, the Jacobian, ∂f/∂t and the
/// observables. Immutable and shareable between threads; each thread evaluates through its own
/// `ModelWorkspace`.
///
/// Variable layout of every program: `t`, the states, the parameters, the inputs, then one
/// zero-order infusion rate per state that a drug route targets (umol/h, added to that state's ODE).
public final class CompiledModel: Sendable {
    public let definition: ModelDefinition
    public let variableNames: [String]
    public let stateCount: Int
    /// Index of each infusion slot's state, in slot order.
    public let infusionTargets: [Int]
    /// The right-hand side, its Jacobian and ∂f/∂t over every state.
    let derivatives: DerivativePrograms
    let observables: CompiledProgram
    /// Nil when the model has no events.
    let events: CompiledEvents?
    let registerCount: Int

    public var parameterOffset: Int { 1 + stateCount }
    public var inputOffset: Int { 1 + stateCount + definition.parameters.count }
    public var infusionOffset: Int { inputOffset + definition.inputs.count }
    public var observableNames: [String] { definition.observableNames }
    /// Position of each name in `observableNames`: a run of every output of an imported model with
    /// 20,000 assignments looked each up in a fresh array, 3 minutes before the first step.
    private let observableIndices: [String: Int]

    /// The right-hand side over the variables and the assignments (named in `graph`), infusions added.
    public let odes: [Expr]
    /// The assignments, each compiled once per program that needs it, and the derivatives of those
    /// the Jacobian goes through.
    public let graph: ExpressionGraph

    /// The right-hand side with assignments substituted in: trees that can be exponentially larger
    /// than the model (an assignment used twice by the next one doubles the tree per link). For tests
    /// and tools comparing against a plain tree walk; the programs never build them.
    public var expandedODEs: [Expr] { odes.map(graph.expanded) }

    /// The largest n whose n x n Jacobian indices fit in 32 bits.
    public static let maximumStates = 46_340

    /// Why a model with `n` states, more than `maximumStates`, is refused.
    static func tooManyStates(_ n: Int) -> String {
        "the model has \(n) states, more than \(maximumStates), ketasim's limit: its dense Jacobian of \(n) x \(n) entries would need \(Int((Double(n) * Double(n) * 8 / 1e9).rounded())) GB"
    }

    public init(_ model: ModelDefinition) throws(ModelError) {
        definition = model
        let n = model.states.count
        stateCount = n
        let targets = Set(model.drugs.flatMap { $0.routes.map(\.target) })
        infusionTargets = model.states.indices.filter { targets.contains(model.states[$0].name) }
        let infusionNames = infusionTargets.map { "__infusion_" + model.states[$0].name }
        variableNames = ["t"] + model.states.map(\.name) + model.parameters.map(\.name) + model.inputs.map(\.name) + infusionNames

        // The Jacobian is dense: its n² entries are addressed with 32-bit indices, and at the limit it
        // would take 17 GB a copy. A 250,000-state file (48 MB) stopped on a precondition here.
        guard n <= Self.maximumStates else {
            throw .invalid([ModelProblem(location: SourceLocation(file: model.file, line: 1, column: 1), message: Self.tooManyStates(n))])
        }
        try Self.checkDepth(model, infusionTargets: Set(infusionTargets))
        // Assignments are named, not substituted (they are in dependency order): each program computes
        // one once, however often it is used, and the Jacobian differentiates through it by the chain rule.
        var graph = ExpressionGraph(model.assignments.map { ($0.name, $0.expression) })
        var odes = model.odes.map(graph.resolved)
        for (slot, state) in infusionTargets.enumerated() {
            odes[state] = .binary(.add, odes[state], .symbol(infusionNames[slot]))
        }

        self.odes = odes
        observableIndices = Dictionary(model.observableNames.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
        do {
            derivatives = try DerivativePrograms(odes: odes, states: model.states.map(\.name), graph: &graph, variables: variableNames, varying: 1 + n)
            let observableExprs = (model.states.map(\.name) + model.assignments.map(\.name)).map { Expr.symbol($0) }
            observables = try CompiledProgram(variables: variableNames, graph: graph, outputs: observableExprs)
        } catch {
            // Names were checked when the file was read; reaching this is a bug in the loader.
            throw .invalid([ModelProblem(location: SourceLocation(file: model.file, line: 1, column: 1), message: "internal: could not compile the model: \(error.message)")])
        }
        self.graph = graph
        events = model.events.isEmpty ? nil : try CompiledEvents(model.events, model: model, variables: variableNames, graph: graph)
        registerCount = max(derivatives.registerCount, observables.registerCount, events?.registerCount ?? 0)
    }

    /// Refuses a model with an ODE, assignment or event expression deeper than `Expr.maximumDepth`:
    /// simplify and derivative recurse once per level. The readers refuse deeper file expressions,
    /// but the SBML importer builds some (rateOf, algebraic rules, function definitions) from parts.
    /// Assignments are not substituted, so a chain of them adds nothing up.
    static func checkDepth(_ model: ModelDefinition, infusionTargets: Set<Int>) throws(ModelError) {
        func check(_ e: Expr, _ what: String, extra: Int = 0, at location: SourceLocation) throws(ModelError) {
            let depth = e.depth() + extra
            guard depth > Expr.maximumDepth else { return }
            throw .invalid([ModelProblem(location: location, message: "\(what) is \(depth) levels deep, more than ketasim's limit of \(Expr.maximumDepth); "
                + "split it into assignments, or long sums into balanced parts, e.g. (a + b) + (c + d)")])
        }
        for a in model.assignments { try check(a.expression, "`\(a.name)`", at: a.location) }
        for (i, ode) in model.odes.enumerated() {
            // An infusion adds one `+ rate` above the file's expression.
            try check(ode, "`d\(model.states[i].name)/dt`", extra: infusionTargets.contains(i) ? 1 : 0, at: model.states[i].location)
        }
        for event in model.events {
            let what = "the event" + (event.id.map { " `\($0)`" } ?? "")
            try check(event.trigger, what + "'s trigger", at: event.location)
            if let d = event.delay { try check(d, what + "'s delay", at: event.location) }
            if let p = event.priority { try check(p, what + "'s priority", at: event.location) }
            for a in event.assignments {
                try check(a.value, what + "'s assignment to `\(a.state)`", at: event.location)
                if let scale = a.scale { try check(scale, what + "'s assignment to `\(a.state)`", at: event.location) }
            }
        }
    }

    /// A program computing any expressions of the model (assignments may be named), over its variables.
    public func program(computing exprs: [Expr]) throws(ExpressionError) -> CompiledProgram {
        try CompiledProgram(variables: variableNames, graph: graph, outputs: exprs)
    }

    public func parameterIndex(_ name: String) -> Int? { definition.parameters.firstIndex { $0.name == name } }
    public func inputIndex(_ name: String) -> Int? { definition.inputs.firstIndex { $0.name == name } }
    public func stateIndex(_ name: String) -> Int? { definition.states.firstIndex { $0.name == name } }
    public func observableIndex(_ name: String) -> Int? { observableIndices[name] }
    /// Infusion slot of a state, if a route targets it.
    public func infusionSlot(forState state: Int) -> Int? { infusionTargets.firstIndex(of: state) }

    public var instructionCounts: (rhs: Int, jacobian: Int, observables: Int) {
        (derivatives.rhs.instructionCount, derivatives.jacobian.instructionCount, observables.instructionCount)
    }

    /// Instructions per call of the right-hand side and the Jacobian once parameter-only work is hoisted.
    public var hotInstructionCounts: (rhs: Int, jacobian: Int) {
        let (f, j) = (derivatives.rhs, derivatives.jacobian)
        return (f.instructionCount - f.invariantInstructionCount, j.instructionCount - j.invariantInstructionCount)
    }
}

/// The mutable half of a compiled model: register files holding parameters, inputs and infusion
/// rates for one simulation at a time, presented to the integrator as an `ODESystem`. Not
/// thread-safe; give every thread its own.
public final class ModelWorkspace: ODESystem {
    public let model: CompiledModel
    private let derivatives: DerivativeEvaluator
    /// The registers of observables, triggers and event programs (no prelude to keep).
    private let registers: UnsafeMutablePointer<Double>
    /// Trigger values of the events, one per event.
    private let eventScratch: UnsafeMutablePointer<Double>
    private let size: Int
    private let n: Int
    /// Delayed events triggered but not yet executed: part of the state a run continues from.
    var pendingEvents: [PendingEvent] = []
    var pendingCount = 0
    /// Events to execute at the current event time, one per round of the solve loop's cascade.
    var dueEvents: [PendingEvent] = []
    var tieBreak = EventTieBreak()
    /// Set when a parameter, input or infusion rate changes; the preludes run before the next call.
    private var stale = true
    /// Counts changes of parameters, inputs and infusion rates, so that a `SensitivityWorkspace` over
    /// this workspace knows when to re-run its own prelude.
    public private(set) var generation = 0

    public var dimension: Int { n }
    public let stateNames: [String]

    public init(model: CompiledModel, organism: String? = nil, parameters overrides: [String: Double] = [:]) {
        self.model = model
        n = model.stateCount
        stateNames = model.definition.states.map(\.name)
        size = max(model.registerCount, model.variableNames.count)
        derivatives = DerivativeEvaluator(model.derivatives, variableCount: model.variableNames.count, stateCount: n, states: nil)
        registers = .allocate(capacity: size)
        registers.initialize(repeating: 0, count: size)
        let eventCount = max(1, model.events?.initialValues.count ?? 0)
        eventScratch = .allocate(capacity: eventCount)
        eventScratch.initialize(repeating: 0, count: eventCount)
        setParameters(model.definition.parameterValues(organism: organism, overrides: overrides))
        resetInputs()
    }

    deinit {
        registers.deallocate()
        eventScratch.deallocate()
    }

    @inline(__always)
    private func setVariable(_ index: Int, _ value: Double) {
        derivatives.setVariable(index, value)
        registers[index] = value
        stale = true
        generation &+= 1
    }

    /// Copies t, the states, parameters, inputs and infusion rates into another register file.
    func copyVariables(into target: UnsafeMutablePointer<Double>) {
        target.update(from: registers, count: model.variableNames.count)
    }

    /// Copies the parameters, inputs and infusion rates (and t and the states) into another evaluator.
    func copyVariables(into target: DerivativeEvaluator) {
        target.copyVariables(from: registers, count: model.variableNames.count)
    }

    public func setParameters(_ values: [Double]) {
        precondition(values.count == model.definition.parameters.count)
        for (k, v) in values.enumerated() { setVariable(model.parameterOffset + k, v) }
    }

    public func setParameter(_ index: Int, _ value: Double) { setVariable(model.parameterOffset + index, value) }
    public func parameter(_ index: Int) -> Double { registers[model.parameterOffset + index] }
    public func setInput(_ index: Int, _ value: Double) { setVariable(model.inputOffset + index, value) }
    public func input(_ index: Int) -> Double { registers[model.inputOffset + index] }
    public func setInfusion(slot: Int, rate: Double) { setVariable(model.infusionOffset + slot, rate) }
    public func infusion(slot: Int) -> Double { registers[model.infusionOffset + slot] }

    /// Inputs back to their defaults and every infusion off.
    public func resetInputs() {
        for (k, input) in model.definition.inputs.enumerated() { setVariable(model.inputOffset + k, input.defaultValue) }
        for k in model.infusionTargets.indices { setVariable(model.infusionOffset + k, 0) }
    }

    @inline(__always)
    private func refresh() {
        guard stale else { return }
        derivatives.prepare()
        stale = false
    }

    @inline(__always)
    private func load(_ buffer: UnsafeMutablePointer<Double>, t: Double, y: UnsafePointer<Double>) {
        buffer[0] = t
        (buffer + 1).update(from: y, count: n)
    }

    public func evaluate(t: Double, y: UnsafePointer<Double>, dydt: UnsafeMutablePointer<Double>) {
        refresh()
        derivatives.evaluate(t: t, y: y, dydt: dydt)
    }

    public func jacobian(t: Double, y: UnsafePointer<Double>, dfdy: UnsafeMutablePointer<Double>, dfdt: UnsafeMutablePointer<Double>) {
        refresh()
        derivatives.jacobian(t: t, y: y, dfdy: dfdy, dfdt: dfdt)
    }

    /// Writes the chosen observables at (t, y) into `out`, using `scratch` (at least
    /// `requiredScratch(for:)` doubles) as its registers.
    public func observe(_ p: CompiledProgram, t: Double, y: UnsafePointer<Double>, into out: UnsafeMutablePointer<Double>, scratch: UnsafeMutablePointer<Double>) {
        load(registers, t: t, y: y)
        scratch.update(from: registers, count: model.variableNames.count)
        p.run(registers: scratch, outputs: out)
    }

    public func requiredScratch(for p: CompiledProgram) -> Int { max(p.registerCount, model.variableNames.count) }

    /// Writes every observable (states, then assignments) at (t, y) into `out`.
    public func observe(t: Double, y: UnsafePointer<Double>, into out: UnsafeMutablePointer<Double>) {
        load(registers, t: t, y: y)
        model.observables.run(registers: registers, outputs: out)
    }

    /// Writes whether each event's trigger holds at (t, y). Allocates nothing: it runs while the
    /// integrator looks for a crossing.
    func evaluateTriggers(_ events: CompiledEvents, t: Double, y: UnsafePointer<Double>, into truth: UnsafeMutableBufferPointer<Bool>) {
        load(registers, t: t, y: y)
        events.triggers.run(registers: registers, outputs: eventScratch)
        for k in truth.indices { truth[k] = eventScratch[k] != 0 }
    }

    /// Writes the triggers' comparison sides at (t, y); allocates nothing, like `evaluateTriggers`.
    func evaluateComparisons(_ program: CompiledProgram, t: Double, y: UnsafePointer<Double>, into out: UnsafeMutablePointer<Double>) {
        load(registers, t: t, y: y)
        program.run(registers: registers, outputs: out)
    }

    /// Runs an event program at (t, y) and returns its `count` results.
    func evaluate(_ program: CompiledProgram, t: Double, y: UnsafePointer<Double>, count: Int) -> [Double] {
        load(registers, t: t, y: y)
        var out = [Double](repeating: 0, count: count)
        out.withUnsafeMutableBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return }
            program.run(registers: registers, outputs: base)
        }
        return out
    }
}

/// The right-hand side, Jacobian and ∂f/∂t programs over some of a model's states, each with a register
/// file of its own that keeps its hoisted, parameter-only results between calls. The variables are the
/// model's (t, every state, parameters, inputs, infusion rates); `states` says where the integrator's
/// state vector goes (nil: all states, in order). Allocates nothing after `init`.
final class DerivativeEvaluator {
    let programs: DerivativePrograms
    private let rhsRegisters: UnsafeMutablePointer<Double>
    private let jacobianRegisters: UnsafeMutablePointer<Double>
    private let timeRegisters: UnsafeMutablePointer<Double>
    private let states: UnsafeMutablePointer<Int>?
    /// Length of the integrator's state vector.
    let dimension: Int

    init(_ programs: DerivativePrograms, variableCount: Int, stateCount: Int, states: [Int]?) {
        self.programs = programs
        let size = max(programs.registerCount, variableCount)
        rhsRegisters = .allocate(capacity: size)
        jacobianRegisters = .allocate(capacity: size)
        timeRegisters = .allocate(capacity: size)
        rhsRegisters.initialize(repeating: 0, count: size)
        jacobianRegisters.initialize(repeating: 0, count: size)
        timeRegisters.initialize(repeating: 0, count: size)
        if let states {
            let p = UnsafeMutablePointer<Int>.allocate(capacity: max(1, states.count))
            p.initialize(from: states, count: states.count)
            self.states = p
            dimension = states.count
        } else {
            self.states = nil
            dimension = stateCount
        }
    }

    deinit {
        rhsRegisters.deallocate()
        jacobianRegisters.deallocate()
        timeRegisters.deallocate()
        states?.deallocate()
    }

    @inline(__always)
    func setVariable(_ index: Int, _ value: Double) {
        rhsRegisters[index] = value
        jacobianRegisters[index] = value
        timeRegisters[index] = value
    }

    /// Copies the first `count` variables of another register file.
    func copyVariables(from source: UnsafePointer<Double>, count: Int) {
        rhsRegisters.update(from: source, count: count)
        jacobianRegisters.update(from: source, count: count)
        timeRegisters.update(from: source, count: count)
    }

    /// Runs the preludes: after any parameter, input or infusion rate changed.
    func prepare() {
        programs.rhs.prepare(registers: rhsRegisters)
        programs.jacobian.prepare(registers: jacobianRegisters)
        programs.timeDerivative.prepare(registers: timeRegisters)
    }

    @inline(__always)
    private func load(_ buffer: UnsafeMutablePointer<Double>, t: Double, y: UnsafePointer<Double>) {
        buffer[0] = t
        if let states {
            for k in 0..<dimension { buffer[1 + states[k]] = y[k] }
        } else {
            (buffer + 1).update(from: y, count: dimension)
        }
    }

    @inline(__always)
    func evaluate(t: Double, y: UnsafePointer<Double>, dydt: UnsafeMutablePointer<Double>) {
        load(rhsRegisters, t: t, y: y)
        programs.rhs.runPrepared(registers: rhsRegisters, outputs: dydt)
    }

    @inline(__always)
    func jacobian(t: Double, y: UnsafePointer<Double>, dfdy: UnsafeMutablePointer<Double>, dfdt: UnsafeMutablePointer<Double>) {
        load(jacobianRegisters, t: t, y: y)
        load(timeRegisters, t: t, y: y)
        dfdy.update(repeating: 0, count: dimension * dimension)
        dfdt.update(repeating: 0, count: dimension)
        programs.jacobian.runPrepared(registers: jacobianRegisters, outputs: dfdy)
        programs.timeDerivative.runPrepared(registers: timeRegisters, outputs: dfdt)
    }
}

/// The right-hand side over some states (one ODE per state), its Jacobian by those states (structural
/// non-zeros only, row-major) and ∂f/∂t, as programs over a model's variables, of which the first
/// `varying` (t and the states) change between calls.
struct DerivativePrograms: Sendable {
    let rhs: CompiledProgram
    let jacobian: CompiledProgram
    let timeDerivative: CompiledProgram

    var registerCount: Int { max(rhs.registerCount, jacobian.registerCount, timeDerivative.registerCount) }

    init(odes: [Expr], states: [String], graph: inout ExpressionGraph, variables: [String], varying: Int) throws(ExpressionError) {
        let n = states.count
        var entries: [Expr] = []
        var destinations: [Int] = []
        var dt: [Expr] = []
        var dtDestinations: [Int] = []
        // Each ODE's own dependencies pick its Jacobian row's candidates: scanning every state for every
        // ODE would make compiling quadratic in the number of states.
        let stateIndex = Dictionary(states.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
        for (i, f) in odes.enumerated() {
            let dependencies = graph.dependencies(of: f)
            for j in dependencies.compactMap({ stateIndex[$0] }).sorted() {
                let d = graph.derivative(of: f, withRespectTo: states[j])
                if case .constant(0) = d { continue }
                entries.append(d)
                destinations.append(i * n + j)
            }
            if dependencies.contains("t") {
                let d = graph.derivative(of: f, withRespectTo: "t")
                if case .constant(0) = d { continue }
                dt.append(d)
                dtDestinations.append(i)
            }
        }
        // Only t and the states vary between calls inside the integrator: what depends on
        // parameters, inputs and infusion rates alone is hoisted into each program's prelude.
        rhs = try CompiledProgram(variables: variables, graph: graph, outputs: odes, varyingVariables: varying)
        jacobian = try CompiledProgram(variables: variables, graph: graph, outputs: entries, destinations: destinations, varyingVariables: varying)
        timeDerivative = try CompiledProgram(variables: variables, graph: graph, outputs: dt, destinations: dtDestinations, varyingVariables: varying)
    }
}
