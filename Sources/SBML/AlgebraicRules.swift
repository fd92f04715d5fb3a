/// SBML algebraic rules 0 = f(...) turned into assignment rules.
///
/// Each rule determines one variable, found as SBML's "not overdetermined" check finds it (L3V2
/// section 4.11.5): a matching between the rules and the variables nothing else determines (not
/// constant, no assignment or rate rule, not a species that reactions change). Where a rule is linear
/// in its variable x, f = a + b x exactly with a and b free of x, it is solved, x = -a / b; a system
/// of such rules is solved by elimination in rule order (each solution substituted into the later
/// rules and back into the earlier solutions). Everything else (f not linear in x, a coupled system
/// whose elimination is not linear) is refused: ketasim does not run a Newton solve per evaluation.
///
/// Linearity is decided on the structure of f, not from df/dx: a derivative free of x misses x hidden
/// in a condition (x + piecewise(1, x > 0, 2) has derivative 1) or in a piecewise-constant function
/// (floor), and such a rule solved as linear would give a wrong run.
struct AlgebraicRule {
    var math: MathNode
    var line: Int
    /// The rule's `id` or `metaid`, to name it in messages.
    var label: String?
}

struct SolvedAlgebraicRule {
    var variable: String
    var math: MathNode
    var line: Int
    var label: String?
    /// b in f = a + b x: the rule determines x only where it is not 0 (checked on the initial values).
    var slope: MathNode
}

enum AlgebraicRules {
    /// - Parameters:
    ///   - candidates: the variables algebraic rules may determine, in document order.
    ///   - assignmentRules: math of the assignment rules by variable, expanded into f so that a rule
    ///     reaching x only through an assignment rule (0 = y - T with y = 2 x) still determines x.
    static func solve(_ rules: [AlgebraicRule], candidates: [String], assignmentRules: [String: MathNode],
                      file: String) throws(SBMLError) -> [SolvedAlgebraicRule] {
        if rules.isEmpty { return [] }
        let order = Dictionary(candidates.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
        let expander = Expander(rules: assignmentRules, free: Set(candidates))
        let expanded = rules.map { expander.expand($0.math) }
        let edges = expanded.map { $0.names.filter { order[$0] != nil }.sorted { order[$0, default: 0] < order[$1, default: 0] } }

        // Kuhn's augmenting paths: the rules are few, each search is linear in the edges.
        var owner: [String: Int] = [:]
        func augment(_ r: Int, _ seen: inout Set<String>) -> Bool {
            for v in edges[r] where seen.insert(v).inserted {
                if let other = owner[v] {
                    guard augment(other, &seen) else { continue }
                }
                owner[v] = r
                return true
            }
            return false
        }
        for r in rules.indices {
            var seen: Set<String> = []
            if !augment(r, &seen) {
                let rule = rules[r]
                let uses = edges[r].isEmpty ? "it uses no variable that nothing else determines (each is constant, or set by a rule or by reactions)"
                    : "the variables it could determine (\(edges[r].map { "`\($0)`" }.joined(separator: ", "))) are all determined by other algebraic rules"
                throw SBMLError(.invalid, file: file, line: rule.line, element: "algebraicRule", id: rule.label,
                                message: "the model is overdetermined: this algebraic rule determines no variable, since \(uses)")
            }
        }
        var variableOf = Array(repeating: "", count: rules.count)
        for (v, r) in owner { variableOf[r] = v }

        // Elimination in rule order.
        var solutions: [String: MathNode] = [:]
        var solved: [SolvedAlgebraicRule] = []
        for r in rules.indices {
            let x = variableOf[r]
            let f = expanded[r].substituting(solutions)
            guard let (a, b) = f.linearForm(in: x), !b.isZero else {
                let coupled = solved.isEmpty ? "" : " once the rules before it are solved"
                throw SBMLError(.unsupported, file: file, line: rules[r].line, element: "algebraicRule", id: rules[r].label,
                                message: "the algebraic rule determines `\(x)` but is not linear in it\(coupled) (f = a + b \(x) with a and b free of `\(x)`); "
                                + "ketasim solves linear algebraic rules only")
            }
            let value = MathNode.quotient(MathNode.negation(a), b)
            for k in solved.indices {
                solved[k].math = solved[k].math.substituting([x: value])
                solved[k].slope = solved[k].slope.substituting([x: value])
                solutions[solved[k].variable] = solved[k].math
            }
            solutions[x] = value
            solved.append(SolvedAlgebraicRule(variable: x, math: value, line: rules[r].line, label: rules[r].label, slope: b))
        }
        return solved
    }

    /// Substitutes assignment rules into f where they (transitively) reach a free variable, so the
    /// expression grows only where it must.
    private struct Expander {
        let rules: [String: MathNode]
        let reaching: Set<String>

        init(rules: [String: MathNode], free: Set<String>) {
            self.rules = rules
            var reaches: [String: Bool] = [:]
            var visiting: Set<String> = []
            // A cycle of assignment rules is refused later, with its own message; here it reaches nothing.
            func visit(_ v: String) -> Bool {
                if let known = reaches[v] { return known }
                guard let math = rules[v], visiting.insert(v).inserted else { return false }
                let result = math.names.contains { free.contains($0) || visit($0) }
                visiting.remove(v)
                reaches[v] = result
                return result
            }
            reaching = Set(rules.keys.filter(visit))
        }

        func expand(_ math: MathNode) -> MathNode {
            var m = math
            // Each pass replaces one level; `reaching` holds no cycle deeper than the rules are many.
            for _ in 0...rules.count {
                let hit = m.names.filter { reaching.contains($0) }
                if hit.isEmpty { return m }
                var map: [String: MathNode] = [:]
                for v in hit { map[v] = rules[v] }
                m = m.substituting(map)
            }
            return m
        }
    }
}

extension MathNode {
    var isZero: Bool { if case .number(0) = self { true } else { false } }
    var isOne: Bool { if case .number(1) = self { true } else { false } }

    static func sum(_ a: MathNode, _ b: MathNode) -> MathNode {
        if a.isZero { return b }
        if b.isZero { return a }
        return .apply("plus", [a, b])
    }

    static func difference(_ a: MathNode, _ b: MathNode) -> MathNode {
        if b.isZero { return a }
        if a.isZero { return negation(b) }
        return .apply("minus", [a, b])
    }

    static func negation(_ a: MathNode) -> MathNode {
        if case .number(let v) = a { return .number(-v) }
        if case .apply("minus", let args) = a, args.count == 1 { return args[0] }
        return .apply("minus", [a])
    }

    static func product(_ a: MathNode, _ b: MathNode) -> MathNode {
        if a.isZero || b.isZero { return .number(0) }
        if a.isOne { return b }
        if b.isOne { return a }
        return .apply("times", [a, b])
    }

    static func quotient(_ a: MathNode, _ b: MathNode) -> MathNode {
        if b.isOne { return a }
        if a.isZero { return .number(0) }
        return .apply("divide", [a, b])
    }

    /// (a, b) with self = a + b x exactly and neither a nor b reading x; nil when x enters any other
    /// way (a product of two factors holding x, a denominator, a function, a condition, rateOf).
    func linearForm(in x: String) -> (offset: MathNode, slope: MathNode)? {
        if !names.contains(x) { return (self, .number(0)) }
        switch self {
        case .number, .time:
            return (self, .number(0))
        case .name:
            return (.number(0), .number(1))
        case .call:
            return nil
        case .piecewise(let pieces, let otherwise):
            if pieces.contains(where: { $0.condition.names.contains(x) }) { return nil }
            var offsets: [Piece] = []
            var slopes: [Piece] = []
            for p in pieces {
                guard let (a, b) = p.value.linearForm(in: x) else { return nil }
                offsets.append(Piece(value: a, condition: p.condition))
                slopes.append(Piece(value: b, condition: p.condition))
            }
            guard let o = otherwise else { return (.piecewise(offsets, otherwise: nil), .piecewise(slopes, otherwise: nil)) }
            guard let (a, b) = o.linearForm(in: x) else { return nil }
            return (.piecewise(offsets, otherwise: a), .piecewise(slopes, otherwise: b))
        case .apply(let op, let args):
            switch (op, args.count) {
            case ("plus", _):
                var offset = MathNode.number(0)
                var slope = MathNode.number(0)
                for arg in args {
                    guard let (a, b) = arg.linearForm(in: x) else { return nil }
                    offset = .sum(offset, a)
                    slope = .sum(slope, b)
                }
                return (offset, slope)
            case ("minus", 1):
                guard let (a, b) = args[0].linearForm(in: x) else { return nil }
                return (.negation(a), .negation(b))
            case ("minus", 2):
                guard let (a1, b1) = args[0].linearForm(in: x), let (a2, b2) = args[1].linearForm(in: x) else { return nil }
                return (.difference(a1, a2), .difference(b1, b2))
            case ("times", _):
                let holding = args.indices.filter { args[$0].names.contains(x) }
                guard holding.count == 1, let k = holding.first, let (a, b) = args[k].linearForm(in: x) else { return nil }
                var factor = MathNode.number(1)
                for j in args.indices where j != k { factor = .product(factor, args[j]) }
                return (.product(factor, a), .product(factor, b))
            case ("divide", 2):
                guard !args[1].names.contains(x), let (a, b) = args[0].linearForm(in: x) else { return nil }
                return (.quotient(a, args[1]), .quotient(b, args[1]))
            default:
                return nil
            }
        }
    }
}
