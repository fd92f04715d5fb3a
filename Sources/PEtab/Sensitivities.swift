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
    /// ∂x0_i/∂q_k of each state's initial value (nil where it is zero).
    let initialDerivatives: [[Expr?]]
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

        // Each state's initial value as an expression of parameters alone, as `initialStates` evaluates it.
        let assignments = Dictionary(def.assignments.map { ($0.name, $0.expression) }, uniquingKeysWith: { a, _ in a })
        var memo: [String: Expr] = [:]
        var visiting: Set<String> = []
        func resolve(_ name: String) -> Expr {
            if parameterNames.contains(name) { return .symbol(name) }
            if name == "t" { return .constant(0) }
            if let e = memo[name] { return e }
            guard let e = model.initialExpressions[name] ?? assignments[name], visiting.insert(name).inserted else { return .constant(.nan) }
            var map: [String: Expr] = [:]
            for s in e.symbols { map[s] = resolve(s) }
            visiting.remove(name)
            let r = e.substituting(map)
            memo[name] = r
            return r
        }
        let qs = parameters
        initialDerivatives = def.states.map { state in
            let x0 = resolve(state.name)
            let symbols = x0.symbols
            return qs.map { p -> Expr? in
                guard symbols.contains(p) else { return nil }
                let d = x0.derivative(withRespectTo: p)
                if case .constant(0) = d { return nil }
                return d
            }
        }
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
        var env: [String: Double] = [:]
        for p in modelParameters { env[p.name] = values[p.name] ?? p.value }
        for (i, name) in stateNames.enumerated() {
            if effect.states[name] != nil {
                if let source = effect.stateSources[name], let j = slot[source.id] { s[i * d + j] = source.factor }
                continue
            }
            for (k, e) in initialDerivatives[i].enumerated() {
                guard let e else { continue }
                let v = (try? e.evaluate(env)) ?? .nan
                for j in 0..<d where m[k * d + j] != 0 { s[i * d + j] += v * m[k * d + j] }
            }
        }
        return s
    }
}
