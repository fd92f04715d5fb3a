/// Named expressions (a model's assignments), each over variables and names defined before it, that a
/// `CompiledProgram` computes once into a register of their own instead of having them substituted
/// wherever they are used. Substituting copies a name's tree into every use, so a chain in which each
/// name uses the previous one twice grows as 2^n and every pass over it (simplify, derivative,
/// lowering) with it; here the chain stays n small trees. Derivatives go through the names by the
/// chain rule: the derivative of `a` by x is itself a name (`∂a/∂x`), defined once and shared by every
/// expression that uses `a`, so a Jacobian is linear in the model too.
public struct ExpressionGraph: Sendable {
    private struct DerivativeKey: Hashable {
        var name: String
        var variable: String
    }

    /// Every name, in definition order (derived names included, after what they derive from).
    public private(set) var names: [String] = []
    /// Each name's value, resolved (see `resolved`).
    private var values: [String: Expr] = [:]
    private var order: [String: Int] = [:]
    /// Names whose value is a constant or a symbol: substituted rather than computed, so that what
    /// used to fold across an assignment (`n = 2` in `x^n`, `k = 0` in `k * x`) still folds.
    private var leaves: [String: Expr] = [:]
    /// The names each value uses, in definition order.
    private var uses: [String: [String]] = [:]
    /// The symbols other than names each name depends on, directly or through other names.
    private var reaches: [String: Set<String>] = [:]
    /// The derivative of a name by a variable: a constant, a symbol, or a derived name.
    private var derivatives: [DerivativeKey: Expr] = [:]

    public init() {}

    /// Definitions in dependency order: each value may use only the names before it.
    public init(_ definitions: [(name: String, value: Expr)]) {
        for d in definitions { define(d.name, as: d.value) }
    }

    /// Defines `name`; its value may use variables and names already defined.
    public mutating func define(_ name: String, as value: Expr) {
        let v = resolved(value)
        order[name] = names.count
        names.append(name)
        values[name] = v
        switch v {
        case .constant, .symbol: leaves[name] = v
        default: break
        }
        let symbols = v.symbols
        uses[name] = symbols.filter { values[$0] != nil && $0 != name }.sorted { (order[$0] ?? 0) < (order[$1] ?? 0) }
        reaches[name] = dependencies(of: symbols)
    }

    /// The value of a name, resolved; nil for anything else.
    public func value(of name: String) -> Expr? { values[name] }

    /// `e` with leaf names substituted, simplified: what programs compile.
    public func resolved(_ e: Expr) -> Expr {
        (leaves.isEmpty ? e : e.substituting(leaves)).simplified()
    }

    /// The symbols other than names that `e` depends on, directly or through names.
    public func dependencies(of e: Expr) -> Set<String> { dependencies(of: e.symbols) }

    private func dependencies(of symbols: Set<String>) -> Set<String> {
        var result = Set<String>()
        for s in symbols {
            if let through = reaches[s] { result.formUnion(through) } else if values[s] == nil { result.insert(s) }
        }
        return result
    }

    /// ∂e/∂variable, simplified, with every name in `e` that depends on `variable` differentiated through
    /// (the chain rule). Defines a name for each such name's derivative unless it is a constant or a symbol.
    /// `variable` must not be a name.
    public mutating func derivative(of e: Expr, withRespectTo variable: String) -> Expr {
        let e = resolved(e)
        let through = e.symbols.filter { reaches[$0]?.contains(variable) == true }.sorted { (order[$0] ?? 0) < (order[$1] ?? 0) }
        prepareDerivatives(of: through, withRespectTo: variable)
        return chainRule(e, through: through, variable)
    }

    /// The direct derivative plus ∂e/∂a · da/dvariable for each name a in `through`, whose derivatives
    /// must be known.
    private func chainRule(_ e: Expr, through: [String], _ variable: String) -> Expr {
        var result = e.derivative(withRespectTo: variable)
        for name in through {
            guard let inner = derivatives[DerivativeKey(name: name, variable: variable)], !inner.isConstant(0) else { continue }
            let outer = e.derivative(withRespectTo: name)
            result = Simplify.binary(.add, result, Simplify.binary(.multiply, outer, inner))
        }
        return result
    }

    /// Computes the derivatives of `start` and of every name they reach `variable` through, in
    /// definition order (each needs only earlier ones), so that a chain thousands of names long is a
    /// loop, not a recursion.
    private mutating func prepareDerivatives(of start: [String], withRespectTo variable: String) {
        var pending = start.filter { derivatives[DerivativeKey(name: $0, variable: variable)] == nil }
        var needed = Set(pending)
        while let name = pending.popLast() {
            for used in uses[name] ?? [] where reaches[used]?.contains(variable) == true
                && derivatives[DerivativeKey(name: used, variable: variable)] == nil && needed.insert(used).inserted {
                pending.append(used)
            }
        }
        for name in needed.sorted(by: { (order[$0] ?? 0) < (order[$1] ?? 0) }) {
            guard let value = values[name] else { continue }
            let through = (uses[name] ?? []).filter { reaches[$0]?.contains(variable) == true }
            let d = chainRule(value, through: through, variable)
            let key = DerivativeKey(name: name, variable: variable)
            switch d {
            case .constant, .symbol:
                derivatives[key] = d
            default:
                let derived = "∂\(name)/∂\(variable)"
                define(derived, as: d)
                derivatives[key] = .symbol(derived)
            }
        }
    }

    /// `e` with every name replaced by its value, recursively: the tree the names stand for. Its size
    /// can be exponential in the number of names; for tests and tools, never for compiling.
    public func expanded(_ e: Expr) -> Expr {
        var expansion: [String: Expr] = [:]
        let needed = dependencyClosure(of: e.symbols)
        for name in names where needed.contains(name) {
            if let value = values[name] { expansion[name] = value.substituting(expansion) }
        }
        return e.substituting(expansion)
    }

    private func dependencyClosure(of symbols: Set<String>) -> Set<String> {
        var result = Set<String>()
        var pending = symbols.filter { values[$0] != nil }
        while let name = pending.popFirst() {
            guard result.insert(name).inserted else { continue }
            for used in uses[name] ?? [] where !result.contains(used) { pending.insert(used) }
        }
        return result
    }
}
