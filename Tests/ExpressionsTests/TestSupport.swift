import Foundation
@testable import Expressions

/// Deterministic 64-bit LCG (Knuth MMIX constants) so failures reproduce exactly.
struct LCG {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return state
    }

    /// Uniform in [0, 1).
    mutating func unit() -> Double { Double(next() >> 11) / Double(UInt64(1) << 53) }

    mutating func uniform(_ low: Double, _ high: Double) -> Double { low + (high - low) * unit() }

    mutating func int(_ upperBound: Int) -> Int { Int((next() >> 33) % UInt64(upperBound)) }

    mutating func pick<T>(_ items: [T]) -> T { items[int(items.count)] }
}

enum Trees {
    static let names = ["x", "y", "z"]
    static let constants: [Double] = [0, 0.5, 1, 2, 3, 4, 0.25, 1.5e-3, 10, 2.5e4, -1, -2, -0.75]

    /// Random tree over every node kind, with correct arities.
    static func random(_ rng: inout LCG, depth: Int) -> Expr {
        if depth == 0 || rng.int(5) == 0 {
            return rng.int(2) == 0 ? .symbol(rng.pick(names)) : .constant(rng.pick(constants))
        }
        let sub = { (rng: inout LCG) in random(&rng, depth: depth - 1) }
        switch rng.int(10) {
        case 0:
            return .unary(rng.int(4) == 0 ? .not : .negate, sub(&rng))
        case 1, 2, 3, 4:
            let ops: [BinaryOperator] = [.add, .subtract, .multiply, .divide, .power, .less, .lessEqual, .greater,
                                         .greaterEqual, .equal, .notEqual, .and, .or, .add, .multiply, .subtract]
            return .binary(rng.pick(ops), sub(&rng), sub(&rng))
        case 5, 6, 7:
            let f = rng.pick(Function.allCases)
            let count: Int
            switch f {
            case .min, .max: count = 2 + rng.int(3)
            case .pow, .quotient, .rem, .polygamma: count = 2
            case .hill: count = 3
            default: count = 1
            }
            return .call(f, (0..<count).map { _ in sub(&rng) })
        case 8:
            return .conditional(sub(&rng), sub(&rng), sub(&rng))
        default:
            return .unary(.negate, .constant(rng.pick(constants)))
        }
    }

    /// Like `evaluate`, but nil when any intermediate value is NaN or infinite: simplification may
    /// legitimately change results that pass through undefined values.
    static func strictEvaluate(_ e: Expr, _ values: [String: Double]) -> Double? {
        func check(_ v: Double) -> Double? { v.isFinite ? v : nil }
        switch e {
        case .constant(let c): return check(c)
        case .symbol(let name): return values[name].flatMap(check)
        case .unary(let op, let a):
            guard let x = strictEvaluate(a, values) else { return nil }
            return check(ExprMath.unary(op, x))
        case .binary(let op, let a, let b):
            guard let x = strictEvaluate(a, values), let y = strictEvaluate(b, values) else { return nil }
            return check(ExprMath.binary(op, x, y))
        case .call(let f, let args):
            var xs: [Double] = []
            for arg in args {
                guard let x = strictEvaluate(arg, values) else { return nil }
                xs.append(x)
            }
            if f == .hill, let k = xs.dropFirst().first, !ExprMath.power(k, xs[2]).isFinite { return nil }
            if f == .hill, !ExprMath.power(xs[0], xs[2]).isFinite { return nil }
            return check(ExprMath.call(f, xs))
        case .conditional(let c, let a, let b):
            guard let x = strictEvaluate(c, values), let y = strictEvaluate(a, values),
                  let z = strictEvaluate(b, values) else { return nil }
            return x != 0 ? y : z
        }
    }

    static func randomPoint(_ rng: inout LCG, range: ClosedRange<Double> = 0.2...3) -> [String: Double] {
        Dictionary(uniqueKeysWithValues: names.map { ($0, rng.uniform(range.lowerBound, range.upperBound)) })
    }
}

/// Relative-or-absolute closeness; NaN matches NaN and infinities must match exactly.
func close(_ a: Double, _ b: Double, relative: Double, absolute: Double = 0) -> Bool {
    if a.isNaN || b.isNaN { return a.isNaN && b.isNaN }
    if a.isInfinite || b.isInfinite { return a == b }
    return Swift.abs(a - b) <= absolute + relative * Swift.max(Swift.abs(a), Swift.abs(b))
}

let testOrigin = SourceLocation(file: "model.yaml", line: 1, column: 1)

func parse(_ text: String) throws -> Expr {
    try ExpressionParser.parse(text, origin: testOrigin).expr
}

func value(_ text: String, _ values: [String: Double] = [:]) throws -> Double {
    try parse(text).evaluate(values)
}

/// The error thrown by parsing, or nil if parsing succeeded.
func parseError(_ text: String, origin: SourceLocation = testOrigin) -> ExpressionError? {
    do {
        _ = try ExpressionParser.parse(text, origin: origin)
        return nil
    } catch {
        return error
    }
}
