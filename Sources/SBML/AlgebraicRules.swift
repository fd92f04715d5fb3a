import Models

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
    ///   - assignmentRules: math and line of the assignment rules by variable, expanded into f so that a
    ///     rule reaching x only through an assignment rule (0 = y - T with y = 2 x) still determines x.
    ///
    /// Substituting shares the trees it copies, but every pass after it (linearity, translation,
    /// simplify, compile) walks them as trees: assignment rules that each use the previous one twice,
    /// or rules whose solutions each use the previous solution twice, double the tree per link. So
    /// every substitution is measured before it is built and refused beyond `MathML.maximumDepth` or
    /// `MathML.maximumSize`, at the rule it would build.
    static func solve(_ rules: [AlgebraicRule], candidates: [String], assignmentRules: [String: (math: MathNode, line: Int)],
                      file: String) throws(SBMLError) -> [SolvedAlgebraicRule] {
        if rules.isEmpty { return [] }
        let order = Dictionary(candidates.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
        let expander = try Expander(rules: assignmentRules, free: Set(candidates), file: file)
        func check(_ measure: (depth: Int, size: Double), _ rule: (line: Int, label: String?), _ what: String) throws(SBMLError) {
            if measure.depth > MathML.maximumDepth {
                throw SBMLError(.unsupported, file: file, line: rule.line, element: "algebraicRule", id: rule.label,
                                message: "\(what) is \(measure.depth) levels deep (an n-ary operator with k arguments counts k - 1), "
                                + "more than ketasim's limit of \(MathML.maximumDepth); write the solution as assignment rules")
            }
            if measure.size > MathML.maximumSize {
                throw SBMLError(.unsupported, file: file, line: rule.line, element: "algebraicRule", id: rule.label,
                                message: "\(what) has \(MathML.terms(measure.size)) terms, more than ketasim's limit of \(Int(MathML.maximumSize)): "
                                + "rules that use the previous one several times multiply at every link; write the solution as assignment rules")
            }
        }
        var expanded: [MathNode] = []
        for rule in rules {
            let (node, measure) = expander.expand(rule.math)
            try check(measure, (rule.line, rule.label), "the rule, with the assignment rules it uses substituted,")
            expanded.append(node)
        }
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
        var measures: [String: (depth: Int, size: Double)] = [:]
        var solved: [SolvedAlgebraicRule] = []
        /// `node` with the solutions it names substituted, if that is within the limits.
        func substitutingSolutions(_ node: MathNode, _ rule: AlgebraicRule, _ what: String) throws(SBMLError) -> MathNode {
            let open = node.names.filter { solutions[$0] != nil }.sorted()
            if open.isEmpty { return node }
            try check(node.measure(open: open).substituted(open.map { measures[$0] ?? (1, 1) }), (rule.line, rule.label), what)
            return node.substituting(solutions)
        }
        for r in rules.indices {
            let x = variableOf[r]
            let f = try substitutingSolutions(expanded[r], rules[r], "the rule, with the solutions of the rules before it substituted,")
            guard let (a, b) = f.linearForm(in: x), !b.isZero else {
                let coupled = solved.isEmpty ? "" : " once the rules before it are solved"
                throw SBMLError(.unsupported, file: file, line: rules[r].line, element: "algebraicRule", id: rules[r].label,
                                message: "the algebraic rule determines `\(x)` but is not linear in it\(coupled) (f = a + b \(x) with a and b free of `\(x)`); "
                                + "ketasim solves linear algebraic rules only")
            }
            let value = MathNode.quotient(MathNode.negation(a), b)
            let measure = value.measure(open: [])
            try check((measure.depth, measure.size), (rules[r].line, rules[r].label), "the solution for `\(x)`")
            // Back into the earlier solutions (and their slopes), each measured before it is built.
            for k in solved.indices {
                let earlier = (solved[k].line, solved[k].label)
                let what = "the solution for `\(solved[k].variable)`, with the solution for `\(x)` (line \(rules[r].line)) substituted,"
                let m = solved[k].math.measure(open: [x]), slope = solved[k].slope.measure(open: [x])
                let substituted = m.substituted([(measure.depth, measure.size)])
                try check(substituted, earlier, what)
                try check(slope.substituted([(measure.depth, measure.size)]), earlier, what)
                if m.occurrences[0] > 0 { solved[k].math = solved[k].math.substituting([x: value]) }
                if slope.occurrences[0] > 0 { solved[k].slope = solved[k].slope.substituting([x: value]) }
                measures[solved[k].variable] = substituted
                solutions[solved[k].variable] = solved[k].math
            }
            solutions[x] = value
            measures[x] = (measure.depth, measure.size)
            solved.append(SolvedAlgebraicRule(variable: x, math: value, line: rules[r].line, label: rules[r].label, slope: b))
        }
        return solved
    }

    /// Substitutes assignment rules into f where they (transitively) reach a free variable, so the
    /// expression grows only where it must. Each rule that reaches one is expanded once, after the rules
    /// it uses (an iterative walk, so a chain of thousands is no recursion), and measured first: one too
    /// large is not built, and whatever uses it is refused by its measure.
    private struct Expander {
        /// Per rule that reaches a free variable: its math with such rules substituted (nil when too
        /// large to build) and that tree's depth and size.
        private var expanded: [String: (node: MathNode?, depth: Int, size: Double)] = [:]

        init(rules: [String: (math: MathNode, line: Int)], free: Set<String>, file: String) throws(SBMLError) {
            let ids = rules.keys.sorted()
            let index = Dictionary(ids.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
            let uses = ids.map { id in (rules[id]?.math.names ?? []).compactMap { index[$0] }.sorted() }
            let order: [Int]
            switch dependencyOrder(count: ids.count, dependencies: { uses[$0] }) {
            case .success(let o): order = o
            case .failure(let cycle):
                let first = ids[cycle.members[0]]
                throw SBMLError(.invalid, file: file, line: rules[first]?.line ?? 0, element: "assignmentRule", id: first,
                                message: "assignment rules depend on each other in a cycle: " + cycle.members.map { "`\(ids[$0])`" }.joined(separator: " uses "))
            }
            for k in order {
                guard let math = rules[ids[k]]?.math else { continue }
                let through = uses[k].map { ids[$0] }.filter { expanded[$0] != nil }
                guard !through.isEmpty || !math.names.isDisjoint(with: free) else { continue }
                expanded[ids[k]] = expand(math, through: through)
            }
        }

        /// `math` with the rules it uses that reach a free variable expanded, and the result's depth and size.
        func expand(_ math: MathNode) -> (node: MathNode, measure: (depth: Int, size: Double)) {
            let through = math.names.filter { expanded[$0] != nil }.sorted()
            let e = expand(math, through: through)
            return (e.node ?? math, (e.depth, e.size))
        }

        private func expand(_ math: MathNode, through: [String]) -> (node: MathNode?, depth: Int, size: Double) {
            let measure = math.measure(open: through)
            let (depth, size) = measure.substituted(through.map { (expanded[$0]?.depth ?? 1, expanded[$0]?.size ?? 1) })
            guard depth <= MathML.maximumDepth && size <= MathML.maximumSize else { return (nil, depth, size) }
            var map: [String: MathNode] = [:]
            for name in through { map[name] = expanded[name]?.node }
            return (through.isEmpty ? math : math.substituting(map), depth, size)
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
