import Foundation

public enum UnaryOperator: String, Sendable, Hashable {
    case negate, not
}

public enum BinaryOperator: String, Sendable, Hashable {
    case add, subtract, multiply, divide, power
    case less, lessEqual, greater, greaterEqual, equal, notEqual
    case and, or

    var token: String {
        switch self {
        case .add: "+"
        case .subtract: "-"
        case .multiply: "*"
        case .divide: "/"
        case .power: "^"
        case .less: "<"
        case .lessEqual: "<="
        case .greater: ">"
        case .greaterEqual: ">="
        case .equal: "=="
        case .notEqual: "!="
        case .and: "&&"
        case .or: "||"
        }
    }
}

public enum Function: String, Sendable, Hashable, CaseIterable {
    case exp, log, log10, sqrt, abs, min, max, pow, hill
    /// Produced by differentiating `abs`; also accepted in source text.
    case sign
    case floor, ceil
    case sin, cos, tan, asin, acos, atan, sinh, cosh, tanh
    /// Gamma(x + 1), so it is defined (and differentiable) between the integers too.
    case factorial
    /// Integer quotient truncated toward zero, and the matching remainder (sign of the dividend),
    /// as MathML's `quotient` and `rem`: rem(a, b) = a - b * quotient(a, b).
    case quotient, rem
    /// polygamma(n, x): n-th derivative of the digamma function (n = 0, 1, 2, ...). Produced by
    /// differentiating `factorial`; also accepted in source text.
    case polygamma

    /// Names other languages (MathML, C, spreadsheets) use for these functions; too far from ours in
    /// edit distance to be suggested otherwise.
    static let otherSpellings: [String: Function] = [
        "ceiling": .ceil, "arcsin": .asin, "arccos": .acos, "arctan": .atan, "ln": .log, "fmod": .rem,
        "mod": .rem, "digamma": .polygamma,
    ]

    func accepts(argumentCount count: Int) -> Bool {
        switch self {
        case .min, .max: count >= 2
        case .pow, .quotient, .rem, .polygamma: count == 2
        case .hill: count == 3
        case .exp, .log, .log10, .sqrt, .abs, .sign, .floor, .ceil, .sin, .cos, .tan, .asin, .acos, .atan,
             .sinh, .cosh, .tanh, .factorial: count == 1
        }
    }

    /// Phrase completing "`f` takes ..." in arity errors.
    var expectedArguments: String {
        switch self {
        case .min, .max: "at least 2 arguments"
        case .pow: "2 arguments (base, exponent)"
        case .quotient, .rem: "2 arguments (dividend, divisor)"
        case .polygamma: "2 arguments (order, x)"
        case .hill: "3 arguments (x, K, n)"
        case .exp, .log, .log10, .sqrt, .abs, .sign, .floor, .ceil, .sin, .cos, .tan, .asin, .acos, .atan,
             .sinh, .cosh, .tanh, .factorial: "1 argument"
        }
    }
}

public indirect enum Expr: Sendable, Hashable {
    case constant(Double)
    case symbol(String)
    case unary(UnaryOperator, Expr)
    case binary(BinaryOperator, Expr, Expr)
    case call(Function, [Expr])
    /// if(condition, then, else); nonzero conditions are true.
    case conditional(Expr, Expr, Expr)

    /// Free symbol names.
    public var symbols: Set<String> {
        var result = Set<String>()
        collectSymbols(into: &result)
        return result
    }

    private func collectSymbols(into result: inout Set<String>) {
        switch self {
        case .constant: break
        case .symbol(let name): result.insert(name)
        case .unary(_, let a): a.collectSymbols(into: &result)
        case .binary(_, let a, let b):
            a.collectSymbols(into: &result)
            b.collectSymbols(into: &result)
        case .call(_, let args):
            for arg in args { arg.collectSymbols(into: &result) }
        case .conditional(let c, let a, let b):
            c.collectSymbols(into: &result)
            a.collectSymbols(into: &result)
            b.collectSymbols(into: &result)
        }
    }

    /// Replaces symbols by expressions in one pass; replacements are not themselves substituted again.
    public func substituting(_ map: [String: Expr]) -> Expr {
        if map.isEmpty { return self }
        switch self {
        case .constant: return self
        case .symbol(let name): return map[name] ?? self
        case .unary(let op, let a): return .unary(op, a.substituting(map))
        case .binary(let op, let a, let b): return .binary(op, a.substituting(map), b.substituting(map))
        case .call(let f, let args): return .call(f, args.map { $0.substituting(map) })
        case .conditional(let c, let a, let b):
            return .conditional(c.substituting(map), a.substituting(map), b.substituting(map))
        }
    }

    /// Slow tree-walking reference evaluator for tests and tools. Uses exactly the same scalar
    /// semantics as `CompiledProgram`, so the two agree bit for bit on simplified expressions.
    public func evaluate(_ values: [String: Double]) throws(ExpressionError) -> Double {
        switch self {
        case .constant(let value):
            return value
        case .symbol(let name):
            guard let value = values[name] else {
                throw .unknownSymbol(name: name, suggestions: Suggestions.closest(to: name, in: values.keys),
                                     location: .compiled, sourceLine: "")
            }
            return value
        case .unary(let op, let a):
            return ExprMath.unary(op, try a.evaluate(values))
        case .binary(let op, let a, let b):
            let x = try a.evaluate(values)
            return ExprMath.binary(op, x, try b.evaluate(values))
        case .call(let f, let args):
            var xs: [Double] = []
            xs.reserveCapacity(args.count)
            for arg in args { xs.append(try arg.evaluate(values)) }
            return ExprMath.call(f, xs)
        case .conditional(let c, let a, let b):
            return ExprMath.isTrue(try c.evaluate(values)) ? try a.evaluate(values) : try b.evaluate(values)
        }
    }

    /// The deepest tree any reader builds or `CompiledModel` accepts (assignments are not substituted).
    /// simplify, derivative, printing and evaluation recurse once per level: at this depth the
    /// slowest of them (derivative, about 1.7 KB of stack per level in a debug build) needs under
    /// 1 MB of the 8 MB main-thread stack, and compiling (iterative) followed by its `simplified()`
    /// (about 0.5 KB per level) fits the 512 KB of a secondary thread. `ExpressionDepthTests` checks both.
    public static let maximumDepth = 500

    /// Levels from the root to the deepest leaf (a leaf alone is 1). Iterative, so it can measure a
    /// tree too deep for the recursive passes. A symbol found in `symbolDepths` counts as that many
    /// levels: the depth the tree would have once those symbols are substituted, without building it.
    public func depth(symbolDepths: [String: Int] = [:]) -> Int {
        var deepest = 0
        var pending: [(Expr, Int)] = [(self, 1)]
        while let (e, level) = pending.popLast() {
            switch e {
            case .constant:
                deepest = Swift.max(deepest, level)
            case .symbol(let name):
                deepest = Swift.max(deepest, level - 1 + (symbolDepths[name] ?? 1))
            case .unary(_, let a):
                pending.append((a, level + 1))
            case .binary(_, let a, let b):
                pending.append((a, level + 1))
                pending.append((b, level + 1))
            case .call(_, let args):
                deepest = Swift.max(deepest, level)
                for arg in args { pending.append((arg, level + 1)) }
            case .conditional(let c, let a, let b):
                pending.append((c, level + 1))
                pending.append((a, level + 1))
                pending.append((b, level + 1))
            }
        }
        return deepest
    }

    /// Nodes the tree would have once the symbols found in `symbolSizes` are replaced by trees of
    /// those sizes, counting a repeated subtree every time it occurs, as the recursive passes walk it;
    /// computed without building the tree (a size of 2^60 costs nothing). Iterative; saturates at
    /// `Double.greatestFiniteMagnitude` rather than overflowing.
    public func expandedSize(symbolSizes: [String: Double] = [:]) -> Double {
        var total = 0.0
        var pending: [Expr] = [self]
        while let e = pending.popLast() {
            switch e {
            case .constant:
                total += 1
            case .symbol(let name):
                total += symbolSizes[name] ?? 1
            case .unary(_, let a):
                total += 1
                pending.append(a)
            case .binary(_, let a, let b):
                total += 1
                pending.append(a)
                pending.append(b)
            case .call(_, let args):
                total += 1
                pending.append(contentsOf: args)
            case .conditional(let c, let a, let b):
                total += 1
                pending.append(c)
                pending.append(a)
                pending.append(b)
            }
        }
        return total.isFinite ? total : .greatestFiniteMagnitude
    }

    /// Number of nodes in the tree, counting repeated subtrees every time they occur.
    public var nodeCount: Int {
        switch self {
        case .constant, .symbol: 1
        case .unary(_, let a): 1 + a.nodeCount
        case .binary(_, let a, let b): 1 + a.nodeCount + b.nodeCount
        case .call(_, let args): args.reduce(1) { $0 + $1.nodeCount }
        case .conditional(let c, let a, let b): 1 + c.nodeCount + a.nodeCount + b.nodeCount
        }
    }
}

/// Scalar semantics shared by the reference evaluator, constant folding and the compiled program.
/// Keeping one definition is what makes compiled output reproducible against `evaluate`.
enum ExprMath {
    @inline(__always) static func isTrue(_ x: Double) -> Bool { x != 0 }
    @inline(__always) static func bool(_ b: Bool) -> Double { b ? 1 : 0 }

    /// Small integer exponents are expanded to multiplications because pow() is an order of magnitude
    /// slower; the compiler emits exactly these operation sequences for constant exponents.
    @inline(__always) static func power(_ x: Double, _ y: Double) -> Double {
        switch y {
        case 0: return 1
        case 1: return x
        case 2: return x * x
        case 3: return x * x * x
        case 4: let s = x * x; return s * s
        case -1: return 1 / x
        case -2: return 1 / (x * x)
        default: return Foundation.pow(x, y)
        }
    }

    @inline(__always) static func minimum(_ a: Double, _ b: Double) -> Double { b < a ? b : a }
    @inline(__always) static func maximum(_ a: Double, _ b: Double) -> Double { b > a ? b : a }
    @inline(__always) static func sign(_ x: Double) -> Double { x > 0 ? 1 : (x < 0 ? -1 : 0) }

    static func unary(_ op: UnaryOperator, _ x: Double) -> Double {
        switch op {
        case .negate: -x
        case .not: bool(!isTrue(x))
        }
    }

    static func binary(_ op: BinaryOperator, _ x: Double, _ y: Double) -> Double {
        switch op {
        case .add: x + y
        case .subtract: x - y
        case .multiply: x * y
        case .divide: x / y
        case .power: power(x, y)
        case .less: bool(x < y)
        case .lessEqual: bool(x <= y)
        case .greater: bool(x > y)
        case .greaterEqual: bool(x >= y)
        case .equal: bool(x == y)
        case .notEqual: bool(x != y)
        case .and: bool(isTrue(x) && isTrue(y))
        case .or: bool(isTrue(x) || isTrue(y))
        }
    }

    static func hill(_ x: Double, _ k: Double, _ n: Double) -> Double {
        let xn = power(x, n)
        return xn / (power(k, n) + xn)
    }

    @inline(__always) static func factorial(_ x: Double) -> Double { Foundation.tgamma(x + 1) }
    @inline(__always) static func quotient(_ a: Double, _ b: Double) -> Double { (a / b).rounded(.towardZero) }
    /// fmod is exact, unlike a - b * quotient(a, b), and takes the dividend's sign like the truncated quotient.
    @inline(__always) static func rem(_ a: Double, _ b: Double) -> Double { Foundation.fmod(a, b) }

    /// psi^(n)(x) by the recurrence psi^(n)(x) = psi^(n)(x + 1) - (-1)^n n! / x^(n+1) up to x >= 10 + n,
    /// then the asymptotic series with Bernoulli numbers up to B14 (truncation below 1e-16 relative there).
    /// NaN for non-integer or negative orders, orders above 100 (the series needs x far beyond any use),
    /// poles (x a non-positive integer) and x < -1e4, where the recurrence would take too many steps
    /// to stay cheap and accurate.
    static func polygamma(_ order: Double, _ x: Double) -> Double {
        guard order >= 0, order <= 100, order == order.rounded() else { return .nan }
        if x == .infinity { return order == 0 ? .infinity : 0 }
        guard x.isFinite, x >= -1e4, !(x <= 0 && x == x.rounded()) else { return .nan }
        let n = Int(order)
        var nFactorial = 1.0
        if n > 1 { for k in 2...n { nFactorial *= Double(k) } }
        let sign: Double = n % 2 == 0 ? 1 : -1
        var x = x
        var shift = 0.0
        while x < 10 + order {
            shift -= sign * nFactorial / Foundation.pow(x, order + 1)
            x += 1
        }
        let inverse = 1 / x
        let inverseSquare = inverse * inverse
        // A switch rather than an array literal: `run` must not allocate.
        func bernoulli(_ k: Int) -> Double {
            switch k {
            case 1: 1.0 / 6
            case 2: -1.0 / 30
            case 3: 1.0 / 42
            case 4: -1.0 / 30
            case 5: 5.0 / 66
            case 6: -691.0 / 2730
            default: 7.0 / 6
            }
        }
        if n == 0 {
            var series = 0.0
            var power = inverseSquare
            for k in 1...7 {
                series += bernoulli(k) / Double(2 * k) * power
                power *= inverseSquare
            }
            return Foundation.log(x) - 0.5 * inverse - series + shift
        }
        // (-1)^(n+1) [ (n-1)!/x^n + n!/(2 x^(n+1)) + sum_k B_2k (2k+n-1)!/(2k)! / x^(2k+n) ]
        let xn = Foundation.pow(x, order)
        var sum = nFactorial / order / xn + nFactorial / 2 / (xn * x)
        var power = inverseSquare / xn
        for k in 1...7 {
            var ratio = 1.0 // (2k+n-1)! / (2k)!
            if n > 1 { for j in (2 * k + 1)...(2 * k + n - 1) { ratio *= Double(j) } }
            sum += bernoulli(k) * ratio * power
            power *= inverseSquare
        }
        return -sign * sum + shift
    }

    /// Wrong argument counts (only possible for programmatically built trees) yield NaN rather than trapping.
    static func call(_ f: Function, _ xs: [Double]) -> Double {
        guard f.accepts(argumentCount: xs.count) else { return .nan }
        switch f {
        case .exp: return Foundation.exp(xs[0])
        case .log: return Foundation.log(xs[0])
        case .log10: return Foundation.log10(xs[0])
        case .sqrt: return xs[0].squareRoot()
        case .abs: return Swift.abs(xs[0])
        case .sign: return sign(xs[0])
        case .min: return xs.dropFirst().reduce(xs[0], minimum)
        case .max: return xs.dropFirst().reduce(xs[0], maximum)
        case .pow: return power(xs[0], xs[1])
        case .hill: return hill(xs[0], xs[1], xs[2])
        case .floor: return xs[0].rounded(.down)
        case .ceil: return xs[0].rounded(.up)
        case .sin: return Foundation.sin(xs[0])
        case .cos: return Foundation.cos(xs[0])
        case .tan: return Foundation.tan(xs[0])
        case .asin: return Foundation.asin(xs[0])
        case .acos: return Foundation.acos(xs[0])
        case .atan: return Foundation.atan(xs[0])
        case .sinh: return Foundation.sinh(xs[0])
        case .cosh: return Foundation.cosh(xs[0])
        case .tanh: return Foundation.tanh(xs[0])
        case .factorial: return factorial(xs[0])
        case .quotient: return quotient(xs[0], xs[1])
        case .rem: return rem(xs[0], xs[1])
        case .polygamma: return polygamma(xs[0], xs[1])
        }
    }
}
