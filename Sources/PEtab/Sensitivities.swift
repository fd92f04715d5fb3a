import Experiments
import Expressions
import Models
import SBML

/// Derivatives of a PEtab evaluation by parameter-table ids, on the linear scale.
public struct PEtabGradient: Sendable {
    public var parameters: [String]
    /// d simulation / d id, row-major measurements x parameters.
    public var simulations: [Double]
    /// d sigma / d id, row-major measurements x parameters.
    public var sigmas: [Double]
}

/// How the ids being differentiated reach one problem's model: the model parameters they set (in the
/// parameter table or a condition's cells, and the parameters that stand for them in observable and
/// noise formulas, `PEtabProblem.formulaParameters`) and the states they start (initial assignments,
/// condition cells). Depends on the ids and which model parameter follows which id, not on the values:
/// `PEtabEvaluator` builds it once.
struct SensitivitySetup {
    let ids: [String]
    let slot: [String: Int]
    let baseSources: [String: String]
    /// Model parameters any id can act through, sorted: the sensitivity equations' parameters q.
    let parameters: [String]
    /// ∂x0_i/∂q_k of the states' initial values where not structurally zero, computed by one program
    /// over the model parameters (nil when it could not be compiled: every entry is then NaN).
    let initialProgram: CompiledProgram?
    /// (state, parameter slot) of the program's outputs, in order.
    let initialEntries: [(state: Int, slot: Int)]
    let stateNames: [String]
    let modelParameters: [(name: String, value: Double)]

    /// `definition` is the simulated model (`PEtabProblem.simulationDefinition`).
    init(problem: PEtabProblem, definition def: ModelDefinition, ids: [String], baseSources: [String: String]) {
        self.ids = ids
        slot = Dictionary(ids.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
        self.baseSources = baseSources
        let model = problem.model
        let parameterNames = Set(def.parameters.map(\.name))
        var q = Set<String>()
        for (name, id) in baseSources where slot[id] != nil { q.insert(name) }
        for c in problem.conditions.values {
            for (column, cell) in c.values {
                guard case .parameter(let id) = cell, slot[id] != nil else { continue }
                for name in [model.species[column]?.name, model.symbols[column]].compactMap({ $0 }) where parameterNames.contains(name) { q.insert(name) }
            }
        }
        parameters = q.sorted()
        stateNames = def.states.map(\.name)
        modelParameters = def.parameters.map { ($0.name, $0.value) }

        // Each state's initial value as an expression of parameters alone, as `initialStates` evaluates it:
        // the initial expressions and assignments it reads are names of an `ExpressionGraph`, defined once
        // each and differentiated by the chain rule, not substituted into each other (a chain of them
        // that uses each link twice would double the tree per link). `t` is 0; a name that is undefined,
        // or that a definition reaches again through itself, is NaN where it is read.
        let assignments = Dictionary(def.assignments.map { ($0.name, $0.expression) }, uniquingKeysWith: { a, _ in a })
        func definition(_ name: String) -> Expr? {
            parameterNames.contains(name) || name == "t" ? nil : model.initialExpressions[name] ?? assignments[name]
        }
        var graph = ExpressionGraph()
        enum Mark { case open, defined }
        var marks: [String: Mark] = [:]
        for root in def.states.map(\.name) where marks[root] == nil {
            guard let e = definition(root) else { continue }
            // Depth-first with an explicit stack: a chain of definitions can be thousands long.
            var stack: [(name: String, value: Expr, pending: [String], map: [String: Expr])] = [(root, e, e.symbols.sorted(), ["t": .constant(0)])]
            marks[root] = .open
            while let top = stack.last {
                guard let symbol = top.pending.last else {
                    stack.removeLast()
                    graph.define(top.name, as: top.value.substituting(top.map))
                    marks[top.name] = .defined
                    continue
                }
                stack[stack.count - 1].pending.removeLast()
                if parameterNames.contains(symbol) || symbol == "t" || marks[symbol] == .defined { continue }
                guard marks[symbol] == nil, let e = definition(symbol) else {
                    stack[stack.count - 1].map[symbol] = .constant(.nan)
                    continue
                }
                marks[symbol] = .open
                stack.append((symbol, e, e.symbols.sorted(), ["t": .constant(0)]))
            }
        }
        var outputs: [Expr] = [], entries: [(state: Int, slot: Int)] = []
        for (i, state) in def.states.enumerated() where marks[state.name] == .defined {
            let reached = graph.dependencies(of: .symbol(state.name))
            for (k, p) in parameters.enumerated() where reached.contains(p) {
                let d = graph.derivative(of: .symbol(state.name), withRespectTo: p)
                if case .constant(0) = d { continue }
                outputs.append(d)
                entries.append((i, k))
            }
        }
        initialProgram = try? CompiledProgram(variables: modelParameters.map(\.name), graph: graph, outputs: outputs)
        initialEntries = entries
    }

    /// The id each model parameter follows under a condition (a numeric cell follows none).
    func sources(_ effect: PEtabProblem.ConditionEffect) -> [String: String] {
        var sources = baseSources
        for name in effect.parameters.keys { sources[name] = effect.parameterSources[name] }
        return sources
    }

    /// M = ∂q/∂θ (parameters x ids, row-major): 1 where a model parameter is an id's value.
    func directions(_ sources: [String: String]) -> [Double] {
        let d = ids.count
        var m = [Double](repeating: 0, count: parameters.count * d)
        for (k, q) in parameters.enumerated() {
            if let id = sources[q], let j = slot[id] { m[k * d + j] = 1 }
        }
        return m
    }

    /// ∂x(0)/∂θ (states x ids, row-major): a state a condition sets follows its cell; the others their
    /// initial assignment, through the model parameters M maps.
    func initialSensitivities(parameters values: [String: Double], directions m: [Double], effect: PEtabProblem.ConditionEffect) -> [Double] {
        let d = ids.count
        var s = [Double](repeating: 0, count: stateNames.count * d)
        var partials = [Double](repeating: .nan, count: initialEntries.count)
        if let program = initialProgram, !initialEntries.isEmpty {
            var registers = [Double](repeating: 0, count: max(program.registerCount, modelParameters.count))
            for (k, p) in modelParameters.enumerated() { registers[k] = values[p.name] ?? p.value }
            registers.withUnsafeMutableBufferPointer { r in
                partials.withUnsafeMutableBufferPointer { out in
                    if let r = r.baseAddress, let out = out.baseAddress { program.run(registers: r, outputs: out) }
                }
            }
        }
        for (i, name) in stateNames.enumerated() where effect.states[name] != nil {
            if let source = effect.stateSources[name], let j = slot[source.id] { s[i * d + j] = source.factor }
        }
        for (e, entry) in initialEntries.enumerated() where effect.states[stateNames[entry.state]] == nil {
            let i = entry.state, k = entry.slot
            for j in 0..<d where m[k * d + j] != 0 { s[i * d + j] += partials[e] * m[k * d + j] }
        }
        return s
    }
}
