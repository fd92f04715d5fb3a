import Expressions
import Foundation

/// MathML content as read from the document, before translation to `Expr`. Kept separate because
/// function definitions must be inlined and initial values evaluated with MathML's own semantics
/// before anything is renamed for ketasim.
/// `rateOf(x)` is translated to the symbol `rateOfPrefix + x` until the importer replaces it by x's ODE.
let rateOfPrefix = "__rateOf_"

indirect enum MathNode: Sendable {
    case number(Double)
    case name(String)
    case time
    case apply(String, [MathNode])
    /// A call of a function definition, inlined before translation.
    case call(String, [MathNode])
    case piecewise([Piece], otherwise: MathNode?)

    struct Piece: Sendable {
        var value: MathNode
        var condition: MathNode
    }

    /// Names read by the expression (not `time`).
    var names: Set<String> {
        var result = Set<String>()
        collect(into: &result)
        return result
    }

    private func collect(into result: inout Set<String>) {
        switch self {
        case .number, .time: break
        case .name(let n): result.insert(n)
        case .apply(_, let args), .call(_, let args): for a in args { a.collect(into: &result) }
        case .piecewise(let pieces, let otherwise):
            for p in pieces { p.value.collect(into: &result); p.condition.collect(into: &result) }
            otherwise?.collect(into: &result)
        }
    }

    /// True when the expression applies the `rateOf` csymbol.
    var usesRateOf: Bool {
        switch self {
        case .number, .name, .time: return false
        case .apply(let op, let args): return op == "rateOf" || args.contains { $0.usesRateOf }
        case .call(_, let args): return args.contains { $0.usesRateOf }
        case .piecewise(let pieces, let otherwise):
            return pieces.contains { $0.value.usesRateOf || $0.condition.usesRateOf } || (otherwise?.usesRateOf ?? false)
        }
    }

    var usesTime: Bool {
        switch self {
        case .time: return true
        case .number, .name: return false
        case .apply(_, let args), .call(_, let args): return args.contains { $0.usesTime }
        case .piecewise(let pieces, let otherwise):
            return pieces.contains { $0.value.usesTime || $0.condition.usesTime } || (otherwise?.usesTime ?? false)
        }
    }

    func substituting(_ map: [String: MathNode]) -> MathNode {
        switch self {
        case .number, .time: return self
        case .name(let n): return map[n] ?? self
        case .apply(let op, let args): return .apply(op, args.map { $0.substituting(map) })
        case .call(let f, let args): return .call(f, args.map { $0.substituting(map) })
        case .piecewise(let pieces, let otherwise):
            return .piecewise(pieces.map { Piece(value: $0.value.substituting(map), condition: $0.condition.substituting(map)) },
                              otherwise: otherwise?.substituting(map))
        }
    }
}

/// Where a piece of math sits in the document, for error messages.
struct MathContext {
    var file: String
    var line: Int
    var element: String
    var id: String?
    var column = 0

    func error(_ kind: SBMLError.Kind, _ message: String) -> SBMLError {
        SBMLError(kind, file: file, line: line, column: column, element: element, id: id, message: message)
    }
}

enum MathML {
    static let avogadro = 6.02214179e23

    /// MathML operators with one `Expressions.Function` each (MathML name -> function).
    static let functions: [String: Function] = [
        "abs": .abs, "exp": .exp, "ln": .log, "floor": .floor, "ceiling": .ceil, "factorial": .factorial,
        "quotient": .quotient, "rem": .rem,
        "sin": .sin, "cos": .cos, "tan": .tan, "arcsin": .asin, "arccos": .acos, "arctan": .atan,
        "sinh": .sinh, "cosh": .cosh, "tanh": .tanh,
    ]
    /// Operators with no function of their own, rewritten in terms of others by `rewritten`.
    static let rewrites: Set<String> = [
        "sec", "csc", "cot", "sech", "csch", "coth", "arcsec", "arccsc", "arccot",
        "arcsinh", "arccosh", "arctanh", "arcsech", "arccsch", "arccoth",
    ]
    static let translatable: Set<String> = Set(functions.keys).union(rewrites).union([
        "plus", "minus", "times", "divide", "power", "root", "log",
        "eq", "neq", "gt", "lt", "geq", "leq", "and", "or", "xor", "not", "implies", "max", "min",
    ])

    /// The deepest expression a `<math>` element may hold, counted as the `Expr` it becomes: one
    /// level per element, and an n-ary `<plus/>`, `<times/>`, `<and/>`... with k arguments k - 1
    /// levels, since it becomes a chain of binary operations. The same limit as infix expressions.
    static let maximumDepth = Expr.maximumDepth

    /// Nodes of one expression once function definitions are inlined, rates substituted for rateOf or
    /// algebraic rules solved: each substitution shares the trees it copies, but everything after it
    /// (translation, simplify, derivative, compile) walks them as trees, counting a repeated subtree
    /// every time. Far beyond any written model (the bodies in the SBML Test Suite have tens), small
    /// enough that the largest accepted tree is built in about 3 s in a debug build.
    static let maximumSize = 500_000.0

    /// A size as a message gives it: exact below 10^15, else its order of magnitude.
    static func terms(_ size: Double) -> String {
        size < 1e15 ? String(Int(size)) : "about 10^\(Int(size.exponent) * 301 / 1000)"
    }

    /// Reads the single expression inside a `<math>` element.
    static func read(math: XMLNode, context: MathContext, functions: Set<String>) throws(SBMLError) -> MathNode {
        let content = math.children.filter { $0.name != "annotation" && $0.name != "annotation-xml" }
        guard content.count == 1, let first = content.first else {
            throw context.error(.malformed, "<math> must hold exactly one expression, found \(content.count)")
        }
        return try readNode(first, context: context, functions: functions).node
    }

    static func tooDeep(_ context: MathContext, _ node: XMLNode) -> SBMLError {
        var context = context
        context.column = node.column
        return context.error(.unsupported, "the math nests deeper than \(maximumDepth) levels (an n-ary operator with k arguments "
                             + "counts k - 1), ketasim's limit; define parts of it as assignment rules or parameters")
    }

    /// Operators read as a left fold of binary operations, one level per extra argument.
    static let chained: Set<String> = ["plus", "times", "and", "or", "xor", "eq", "gt", "lt", "geq", "leq"]

    /// Also returns the depth of the `Expr` the node becomes (at least), checked at every level so
    /// that nothing deeper than `maximumDepth` is built or recursed into.
    static func read(_ node: XMLNode, context: MathContext, functions: Set<String>) throws(SBMLError) -> MathNode {
        try readNode(node, context: context, functions: functions).node
    }

    static func readNode(_ node: XMLNode, context: MathContext, functions: Set<String>, level: Int = 1) throws(SBMLError) -> (node: MathNode, depth: Int) {
        var context = context
        if node.line > 0 { context.line = node.line }
        if level > maximumDepth { throw tooDeep(context, node) }
        func leaf(_ n: MathNode) -> (node: MathNode, depth: Int) { (n, 1) }
        switch node.name {
        case "cn": return leaf(.number(try number(node, context: context)))
        case "ci": return leaf(.name(node.text.trimmingCharacters(in: .whitespacesAndNewlines)))
        case "csymbol": return leaf(try csymbol(node, context: context))
        case "true": return leaf(.number(1))
        case "false": return leaf(.number(0))
        case "pi": return leaf(.number(Double.pi))
        case "exponentiale": return leaf(.number(M_E))
        case "notanumber": return leaf(.number(.nan))
        case "infinity": return leaf(.number(.infinity))
        case "semantics":
            guard let first = node.children.first else { throw context.error(.malformed, "empty <semantics>") }
            return try readNode(first, context: context, functions: functions, level: level)
        case "piecewise":
            // Each piece becomes one more nested `if` below the previous ones.
            var pieces: [MathNode.Piece] = []
            var otherwise: MathNode?
            var depth = 1
            let pieceCount = node.children.filter { $0.name == "piece" }.count
            if level + pieceCount > maximumDepth { throw tooDeep(context, node) }
            for child in node.children {
                if child.name == "piece" {
                    guard child.children.count == 2 else { throw context.error(.malformed, "<piece> needs a value and a condition") }
                    let value = try readNode(child.children[0], context: context, functions: functions, level: level + pieces.count + 1)
                    let condition = try readNode(child.children[1], context: context, functions: functions, level: level + pieces.count + 1)
                    depth = max(depth, pieces.count + 1 + max(value.depth, condition.depth))
                    pieces.append(.init(value: value.node, condition: condition.node))
                } else if child.name == "otherwise" {
                    guard let value = child.children.first else { throw context.error(.malformed, "empty <otherwise>") }
                    let inner = try readNode(value, context: context, functions: functions, level: level + pieceCount)
                    depth = max(depth, pieceCount + inner.depth)
                    otherwise = inner.node
                }
            }
            return (.piecewise(pieces, otherwise: otherwise), depth)
        case "apply":
            return try apply(node, context: context, functions: functions, level: level)
        default:
            throw context.error(.unsupported, "MathML element <\(node.name)>")
        }
    }

    private static func number(_ node: XMLNode, context: MathContext) throws(SBMLError) -> Double {
        let parts = node.text.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" || $0 == "\r" }).map(String.init)
        func value(_ s: String) throws(SBMLError) -> Double {
            guard let v = Double(s) else { throw context.error(.malformed, "<cn> holds `\(s)`, not a number") }
            return v
        }
        switch node["type"] ?? "real" {
        case "integer", "real", "double":
            guard parts.count == 1 else { throw context.error(.malformed, "<cn> holds `\(node.text)`, not one number") }
            return try value(parts[0])
        case "e-notation":
            guard parts.count == 2 else { throw context.error(.malformed, "e-notation <cn> needs a mantissa and an exponent") }
            return try value(parts[0] + "e" + parts[1])
        case "rational":
            guard parts.count == 2 else { throw context.error(.malformed, "rational <cn> needs a numerator and a denominator") }
            return try value(parts[0]) / value(parts[1])
        case let other:
            throw context.error(.unsupported, "<cn type=\"\(other)\">")
        }
    }

    private static func csymbol(_ node: XMLNode, context: MathContext) throws(SBMLError) -> MathNode {
        let url = node["definitionURL"] ?? ""
        switch url {
        case "http://www.sbml.org/sbml/symbols/time": return .time
        case "http://www.sbml.org/sbml/symbols/avogadro": return .number(avogadro)
        case "http://www.sbml.org/sbml/symbols/delay": throw context.error(.unsupported, "the delay csymbol (delay differential equations)")
        case "http://www.sbml.org/sbml/symbols/rateOf": throw context.error(.unsupported, "the rateOf csymbol")
        default: throw context.error(.unsupported, "csymbol `\(url)`")
        }
    }

    private static func apply(_ node: XMLNode, context: MathContext, functions: Set<String>, level: Int) throws(SBMLError) -> (node: MathNode, depth: Int) {
        guard let head = node.children.first else { throw context.error(.malformed, "empty <apply>") }
        // A chained operator's first argument sits k - 1 levels further down than the apply itself.
        let extra = chained.contains(head.name) ? max(0, node.children.count - 2) : 0
        if level + extra > maximumDepth { throw tooDeep(context, node) }
        var args: [MathNode] = []
        var degree: MathNode?
        var logbase: MathNode?
        var deepest = 0
        for child in node.children.dropFirst() {
            switch child.name {
            case "degree", "logbase":
                guard let inner = child.children.first else { throw context.error(.malformed, "empty <\(child.name)>") }
                let value = try readNode(inner, context: context, functions: functions, level: level + 2)
                deepest = max(deepest, value.depth + 1)
                if child.name == "degree" { degree = value.node } else { logbase = value.node }
            case "bvar":
                throw context.error(.unsupported, "<bvar> outside a function definition")
            default:
                let arg = try readNode(child, context: context, functions: functions, level: level + 1 + extra)
                deepest = max(deepest, arg.depth)
                args.append(arg.node)
            }
        }
        // Rewritten operators (sec, arcsinh...) and log/root add at most 3 levels.
        let depth = deepest + 1 + extra + (rewrites.contains(head.name) || head.name == "log" || head.name == "root" ? 3 : 0)
        if depth > maximumDepth { throw tooDeep(context, node) }
        return (try applied(head, args: args, degree: degree, logbase: logbase, context: context, functions: functions), depth)
    }

    private static func applied(_ head: XMLNode, args: [MathNode], degree: MathNode?, logbase: MathNode?, context: MathContext,
                                functions: Set<String>) throws(SBMLError) -> MathNode {
        switch head.name {
        case "ci":
            let name = head.text.trimmingCharacters(in: .whitespacesAndNewlines)
            guard functions.contains(name) else { throw context.error(.invalid, "`\(name)` is called like a function but no function definition has that id") }
            return .call(name, args)
        case "csymbol" where head["definitionURL"] == "http://www.sbml.org/sbml/symbols/rateOf":
            // The rate of one variable: the importer replaces it by that variable's ODE.
            guard args.count == 1, case .name = args[0] else {
                throw context.error(.unsupported, "the rateOf csymbol applied to anything but one variable")
            }
            return .apply("rateOf", args)
        case "csymbol":
            let symbol = try csymbol(head, context: context)
            throw context.error(.unsupported, "applying csymbol \(symbol)")
        case "root":
            return .apply("root", [degree ?? .number(2)] + args)
        case "log":
            return .apply("log", [logbase ?? .number(10)] + args)
        default:
            let op = head.name
            guard translatable.contains(op) else {
                throw context.error(.unsupported, "MathML operator <\(op)>")
            }
            return .apply(op, args)
        }
    }

    // MARK: evaluation (initial values)

    /// Full MathML semantics for initial values, computed before the model is translated to `Expr`.
    static func evaluate(_ node: MathNode, time: Double, value: (String) throws(SBMLError) -> Double) throws(SBMLError) -> Double {
        switch node {
        case .number(let v): return v
        case .time: return time
        case .name(let n): return try value(n)
        case .call: return .nan
        case .piecewise(let pieces, let otherwise):
            for p in pieces where try evaluate(p.condition, time: time, value: value) != 0 {
                return try evaluate(p.value, time: time, value: value)
            }
            return try otherwise.map { (o) throws(SBMLError) in try evaluate(o, time: time, value: value) } ?? .nan
        case .apply("rateOf", _):
            // Not known before the ODEs are; the importer refuses an initial value that needs it.
            return .nan
        case .apply(let op, let args):
            var x: [Double] = []
            for a in args { x.append(try evaluate(a, time: time, value: value)) }
            return apply(op, x)
        }
    }

    static func apply(_ op: String, _ x: [Double]) -> Double {
        func b(_ v: Bool) -> Double { v ? 1 : 0 }
        let a = x.first ?? .nan
        let c = x.count > 1 ? x[1] : .nan
        switch op {
        case "plus": return x.reduce(0, +)
        case "minus": return x.count == 1 ? -a : a - c
        case "times": return x.reduce(1, *)
        case "divide": return a / c
        case "power": return pow(a, c)
        case "root": return a == 2 ? c.squareRoot() : pow(c, 1 / a)
        case "abs": return Swift.abs(a)
        case "exp": return Foundation.exp(a)
        case "ln": return Foundation.log(a)
        case "log": return a == 10 ? Foundation.log10(c) : Foundation.log(c) / Foundation.log(a)
        case "floor": return a.rounded(.down)
        case "ceiling": return a.rounded(.up)
        case "factorial": return tgamma(a + 1)
        case "quotient": return (a / c).rounded(.towardZero)
        case "rem": return fmod(a, c)
        case "max": return x.max() ?? .nan
        case "min": return x.min() ?? .nan
        case "eq": return b(zip(x, x.dropFirst()).allSatisfy { $0 == $1 })
        case "neq": return b(a != c)
        case "gt": return b(zip(x, x.dropFirst()).allSatisfy { $0 > $1 })
        case "lt": return b(zip(x, x.dropFirst()).allSatisfy { $0 < $1 })
        case "geq": return b(zip(x, x.dropFirst()).allSatisfy { $0 >= $1 })
        case "leq": return b(zip(x, x.dropFirst()).allSatisfy { $0 <= $1 })
        case "and": return b(x.allSatisfy { $0 != 0 })
        case "or": return b(x.contains { $0 != 0 })
        case "xor": return b(x.filter { $0 != 0 }.count % 2 == 1)
        case "not": return b(a == 0)
        case "implies": return b(a == 0 || c != 0)
        case "sin": return sin(a)
        case "cos": return cos(a)
        case "tan": return tan(a)
        case "sec": return 1 / cos(a)
        case "csc": return 1 / sin(a)
        case "cot": return 1 / tan(a)
        case "sinh": return sinh(a)
        case "cosh": return cosh(a)
        case "tanh": return tanh(a)
        case "sech": return 1 / cosh(a)
        case "csch": return 1 / sinh(a)
        case "coth": return 1 / tanh(a)
        case "arcsin": return asin(a)
        case "arccos": return acos(a)
        case "arctan": return atan(a)
        case "arcsec": return acos(1 / a)
        case "arccsc": return asin(1 / a)
        case "arccot": return atan(1 / a)
        case "arcsinh": return asinh(a)
        case "arccosh": return acosh(a)
        case "arctanh": return atanh(a)
        case "arcsech": return acosh(1 / a)
        case "arccsch": return asinh(1 / a)
        case "arccoth": return atanh(1 / a)
        default: return .nan
        }
    }

    // MARK: translation to Expr

    /// Reciprocal trigonometric and hyperbolic functions, their inverses, and the inverse hyperbolic
    /// functions, in terms of operators that have an `Expressions.Function`. The reciprocal forms match
    /// `apply`, so a rewritten expression computes what evaluation at import does.
    static func rewritten(_ op: String, _ args: [MathNode]) -> MathNode? {
        guard args.count == 1, rewrites.contains(op) else { return nil }
        let x = args[0]
        func ap(_ o: String, _ a: MathNode...) -> MathNode { .apply(o, a) }
        let one = MathNode.number(1), two = MathNode.number(2)
        switch op {
        case "sec": return ap("divide", one, ap("cos", x))
        case "csc": return ap("divide", one, ap("sin", x))
        case "cot": return ap("divide", one, ap("tan", x))
        case "sech": return ap("divide", one, ap("cosh", x))
        case "csch": return ap("divide", one, ap("sinh", x))
        case "coth": return ap("divide", one, ap("tanh", x))
        case "arcsec": return ap("arccos", ap("divide", one, x))
        case "arccsc": return ap("arcsin", ap("divide", one, x))
        case "arccot": return ap("arctan", ap("divide", one, x))
        case "arcsinh": return ap("ln", ap("plus", x, ap("root", two, ap("plus", ap("power", x, two), one))))
        case "arccosh": return ap("ln", ap("plus", x, ap("root", two, ap("minus", ap("power", x, two), one))))
        case "arctanh": return ap("times", .number(0.5), ap("ln", ap("divide", ap("plus", one, x), ap("minus", one, x))))
        case "arccoth": return ap("times", .number(0.5), ap("ln", ap("divide", ap("plus", x, one), ap("minus", x, one))))
        case "arcsech": return ap("ln", ap("divide", ap("plus", one, ap("root", two, ap("minus", one, ap("power", x, two)))), x))
        case "arccsch": return ap("ln", ap("plus", ap("divide", one, x), ap("root", two, ap("plus", ap("divide", one, ap("power", x, two)), one))))
        default: return nil
        }
    }

    /// Translates to ketasim's expressions. `symbol` maps an SBML id to its ketasim name (throwing for
    /// unknown ids). Every operator translates, so nothing is folded at import: a folded constant
    /// parameter would not follow later changes of that parameter. `constant` is ignored; it remains
    /// only so existing callers compile and can be dropped from them.
    static func expr(_ node: MathNode, context: MathContext,
                     symbol: (String) throws(SBMLError) -> String,
                     constant: (String) -> Double? = { _ in nil }) throws(SBMLError) -> Expr {
        func go(_ n: MathNode) throws(SBMLError) -> Expr { try expr(n, context: context, symbol: symbol, constant: constant) }
        switch node {
        case .number(let v): return .constant(v)
        case .time: return .symbol("t")
        case .name(let n): return .symbol(try symbol(n))
        case .call(let f, _): throw context.error(.invalid, "function `\(f)` was not inlined")
        case .piecewise(let pieces, let otherwise):
            var result: Expr = try otherwise.map { (o) throws(SBMLError) in try go(o) } ?? .constant(.nan)
            for p in pieces.reversed() {
                result = .conditional(try go(p.condition), try go(p.value), result)
            }
            return result
        case .apply("rateOf", let argNodes):
            guard argNodes.count == 1, case .name(let n) = argNodes[0] else { throw context.error(.unsupported, "the rateOf csymbol applied to anything but one variable") }
            return .symbol(rateOfPrefix + (try symbol(n)))
        case .apply(let op, let argNodes):
            if let rewritten = rewritten(op, argNodes) { return try go(rewritten) }
            var args: [Expr] = []
            for a in argNodes { args.append(try go(a)) }
            func need(_ count: Int) throws(SBMLError) {
                guard args.count == count else { throw context.error(.malformed, "<\(op)> takes \(count) arguments, got \(args.count)") }
            }
            func chain(_ b: BinaryOperator) throws(SBMLError) -> Expr {
                guard args.count >= 2 else {
                    if args.count == 1 { return .constant(1) }
                    throw context.error(.malformed, "<\(op)> needs arguments")
                }
                var result: Expr = .binary(b, args[0], args[1])
                for k in 2..<max(2, args.count) { result = .binary(.and, result, .binary(b, args[k - 1], args[k])) }
                return result
            }
            switch op {
            case "plus":
                guard let first = args.first else { return .constant(0) }
                return args.dropFirst().reduce(first) { .binary(.add, $0, $1) }
            case "times":
                guard let first = args.first else { return .constant(1) }
                return args.dropFirst().reduce(first) { .binary(.multiply, $0, $1) }
            case "minus":
                if args.count == 1 { return .unary(.negate, args[0]) }
                try need(2)
                return .binary(.subtract, args[0], args[1])
            case "divide": try need(2); return .binary(.divide, args[0], args[1])
            case "power": try need(2); return .binary(.power, args[0], args[1])
            case "root":
                try need(2)
                if case .constant(2) = args[0] { return .call(.sqrt, [args[1]]) }
                return .binary(.power, args[1], .binary(.divide, .constant(1), args[0]))
            case "log":
                try need(2)
                if case .constant(10) = args[0] { return .call(.log10, [args[1]]) }
                return .binary(.divide, .call(.log, [args[1]]), .call(.log, [args[0]]))
            case "max", "min":
                guard let first = args.first else { throw context.error(.malformed, "<\(op)> needs arguments") }
                if args.count == 1 { return first }
                return .call(op == "max" ? .max : .min, args)
            case "eq": return try chain(.equal)
            case "gt": return try chain(.greater)
            case "lt": return try chain(.less)
            case "geq": return try chain(.greaterEqual)
            case "leq": return try chain(.lessEqual)
            case "neq": try need(2); return .binary(.notEqual, args[0], args[1])
            case "and":
                guard let first = args.first else { return .constant(1) }
                return args.dropFirst().reduce(.binary(.notEqual, first, .constant(0))) { .binary(.and, $0, $1) }
            case "or":
                guard let first = args.first else { return .constant(0) }
                return args.dropFirst().reduce(.binary(.notEqual, first, .constant(0))) { .binary(.or, $0, $1) }
            case "xor":
                // Parity of the true arguments: (a != 0) != (b != 0), chained.
                guard let first = args.first else { return .constant(0) }
                return args.dropFirst().reduce(.binary(.notEqual, first, .constant(0))) {
                    .binary(.notEqual, $0, .binary(.notEqual, $1, .constant(0)))
                }
            case "not": try need(1); return .unary(.not, args[0])
            case "implies": try need(2); return .binary(.or, .unary(.not, args[0]), args[1])
            default:
                guard let function = functions[op] else { throw context.error(.unsupported, "MathML operator <\(op)>") }
                try need(function == .quotient || function == .rem ? 2 : 1)
                return .call(function, args)
            }
        }
    }
}

/// Function definitions with their calls of each other inlined, and what lets a call be refused before
/// its inlined tree is built: inlining composes bodies, so a chain of definitions each within
/// `MathML.maximumDepth` can compose a tree thousands of levels deep (which the recursive passes over
/// it would overflow the stack on), and one that calls the previous definition twice doubles the
/// tree per link. Depth is counted as the reader counts it (an n-ary operator with k arguments k - 1
/// levels, a piecewise one level per piece).
struct FunctionDefinitions {
    struct Definition {
        var parameters: [String]
        /// Calls of other definitions inlined.
        var body: MathNode
        /// The body's, with the parameters open.
        var measure: MathMeasure
    }

    private(set) var definitions: [String: Definition] = [:]

    init() {}

    /// `raw` in document order; a definition may call any other but none may call itself, directly or not.
    init(_ raw: [(id: String, parameters: [String], body: MathNode, context: MathContext)]) throws(SBMLError) {
        let index = Dictionary(raw.enumerated().map { ($1.id, $0) }, uniquingKeysWith: { a, _ in a })
        // Depth-first over the calls with an explicit stack (a chain can be thousands of definitions
        // long): a definition is inlined once every definition it calls is.
        enum Mark { case visiting, done }
        var marks: [String: Mark] = [:]
        for root in raw.indices where marks[raw[root].id] == nil {
            var stack: [(index: Int, callees: [String])] = [(root, raw[root].body.callees)]
            marks[raw[root].id] = .visiting
            while let top = stack.last {
                if let callee = top.callees.last {
                    stack[stack.count - 1].callees.removeLast()
                    guard let k = index[callee] else { continue }
                    switch marks[callee] {
                    case .done: continue
                    case .visiting:
                        let path = stack.map { "`\(raw[$0.index].id)`" }.joined(separator: " calls ")
                        throw raw[top.index].context.error(.invalid, "function definitions call each other recursively: \(path) calls `\(callee)`")
                    case nil:
                        marks[callee] = .visiting
                        stack.append((k, raw[k].body.callees))
                    }
                } else {
                    stack.removeLast()
                    let f = raw[top.index]
                    let body = try inlined(f.body, context: f.context)
                    guard body.depth <= MathML.maximumDepth else {
                        throw f.context.error(.unsupported, "function `\(f.id)` is \(body.depth) levels deep once the functions it calls are inlined, "
                                              + "more than ketasim's limit of \(MathML.maximumDepth); define parts of it as assignment rules or parameters")
                    }
                    definitions[f.id] = Definition(parameters: f.parameters, body: body.node, measure: body.node.measure(open: f.parameters))
                    marks[f.id] = .done
                }
            }
        }
    }

    /// Replaces every call by the called body with the arguments in place of its parameters.
    func inline(_ node: MathNode, context: MathContext) throws(SBMLError) -> MathNode {
        try inlined(node, context: context).node
    }

    /// The inlined node with its depth and size, both known before anything is substituted. Recurses
    /// over `node` as read (within the reader's depth), never over an inlined body.
    private func inlined(_ node: MathNode, context: MathContext) throws(SBMLError) -> (node: MathNode, depth: Int, size: Double) {
        switch node {
        case .number, .name, .time:
            return (node, 1, 1)
        case .apply(let op, let args):
            var out: [MathNode] = [], depth = 0, size = 1.0
            for a in args {
                let r = try inlined(a, context: context)
                out.append(r.node); depth = max(depth, r.depth); size += r.size
            }
            return (.apply(op, out), depth + MathNode.levels(op, argumentCount: args.count), size)
        case .piecewise(let pieces, let otherwise):
            var out: [MathNode.Piece] = [], depth = 1, size = 1.0
            for (i, p) in pieces.enumerated() {
                let value = try inlined(p.value, context: context), condition = try inlined(p.condition, context: context)
                out.append(.init(value: value.node, condition: condition.node))
                depth = max(depth, i + 1 + max(value.depth, condition.depth)); size += value.size + condition.size
            }
            var o: MathNode?
            if let otherwise {
                let r = try inlined(otherwise, context: context)
                o = r.node; depth = max(depth, pieces.count + r.depth); size += r.size
            }
            return (.piecewise(out, otherwise: o), depth, size)
        case .call(let f, let args):
            guard let definition = definitions[f] else { throw context.error(.invalid, "unknown function `\(f)`") }
            guard definition.parameters.count == args.count else {
                throw context.error(.invalid, "function `\(f)` takes \(definition.parameters.count) arguments, got \(args.count)")
            }
            var map: [String: MathNode] = [:]
            var measures: [(depth: Int, size: Double)] = []
            for (p, a) in zip(definition.parameters, args) {
                let r = try inlined(a, context: context)
                map[p] = r.node
                measures.append((r.depth, r.size))
            }
            let (depth, size) = definition.measure.substituted(measures)
            if depth > MathML.maximumDepth {
                throw context.error(.unsupported, "the call of `\(f)` is \(depth) levels deep once function definitions are inlined, "
                                    + "more than ketasim's limit of \(MathML.maximumDepth); define parts of it as assignment rules or parameters")
            }
            if size > MathML.maximumSize {
                throw context.error(.unsupported, "the call of `\(f)` has \(MathML.terms(size)) terms once function definitions are inlined, "
                                    + "more than ketasim's limit of \(Int(MathML.maximumSize)): a function that uses its argument or calls another several times "
                                    + "multiplies the size at every level; define the repeated parts as assignment rules")
            }
            return (definition.body.substituting(map), depth, size)
        }
    }
}

/// The depth and size of a tree with some names left open, and where and how often each occurs: what
/// substituting trees of known depth and size for those names would build, known before it is built.
/// Depth is counted as the reader counts it (an n-ary operator with k arguments k - 1 levels, a
/// piecewise one level per piece).
struct MathMeasure {
    /// The deepest level of a leaf that is not open (0 when every leaf is).
    var depth = 0
    /// Per open name, the levels above its deepest occurrence (nil when it does not occur): a tree of
    /// depth d in its place makes the whole offset + d deep there.
    var offsets: [Int?]
    /// Nodes that are not open names, and occurrences of each open name.
    var size = 0.0
    var occurrences: [Double]

    /// Depth and size once open name i is replaced by a tree of `replacements[i]`'s depth and size.
    func substituted(_ replacements: [(depth: Int, size: Double)]) -> (depth: Int, size: Double) {
        var depth = self.depth, size = self.size
        for (i, r) in replacements.enumerated() {
            if let offset = offsets[i] { depth = max(depth, offset + r.depth) }
            size += occurrences[i] * r.size
        }
        return (depth, size.isFinite ? size : .greatestFiniteMagnitude)
    }
}

extension MathNode {
    /// Measured with `open` names left open, in one walk with an explicit stack.
    func measure(open: [String]) -> MathMeasure {
        let slot = Dictionary(open.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
        var result = MathMeasure(offsets: Array(repeating: nil, count: open.count), occurrences: Array(repeating: 0, count: open.count))
        var pending: [(MathNode, Int)] = [(self, 0)]
        while let (node, offset) = pending.popLast() {
            switch node {
            case .name(let n) where slot[n] != nil:
                guard let i = slot[n] else { continue }
                result.offsets[i] = max(result.offsets[i] ?? 0, offset)
                result.occurrences[i] += 1
                continue
            case .number, .name, .time:
                result.depth = max(result.depth, offset + 1)
            case .apply(let op, let args), .call(let op, let args):
                let below = offset + MathNode.levels(op, argumentCount: args.count)
                for a in args { pending.append((a, below)) }
            case .piecewise(let pieces, let otherwise):
                for (i, p) in pieces.enumerated() { pending.append((p.value, offset + i + 1)); pending.append((p.condition, offset + i + 1)) }
                if let otherwise { pending.append((otherwise, offset + pieces.count)) }
            }
            result.size += 1
        }
        return result
    }
}

extension MathNode {
    /// Levels an operator adds above its deepest argument, as `MathML.readNode` counts them: one, an
    /// n-ary operator's extra arguments, and the operators rewritten into several (log, root, sec...).
    static func levels(_ op: String, argumentCount: Int) -> Int {
        let extra = MathML.chained.contains(op) ? max(0, argumentCount - 1) : 0
        return 1 + extra + (MathML.rewrites.contains(op) || op == "log" || op == "root" ? 3 : 0)
    }

    /// Ids of the function definitions the expression calls.
    var callees: [String] {
        var result: [String] = []
        var pending = [self]
        while let node = pending.popLast() {
            switch node {
            case .number, .name, .time: break
            case .apply(_, let args): pending += args
            case .call(let f, let args):
                result.append(f)
                pending += args
            case .piecewise(let pieces, let otherwise):
                for p in pieces { pending += [p.value, p.condition] }
                if let otherwise { pending.append(otherwise) }
            }
        }
        return result
    }
}
