import Foundation
import Testing
@testable import Expressions

/// floor, ceil, trigonometric and hyperbolic functions, factorial, quotient, rem and polygamma.
struct FunctionTests {

    @Test func knownValues() throws {
        let eulerGamma = 0.57721566490153286061
        let apery = 1.2020569031595942854 // zeta(3)
        let cases: [(String, Double)] = [
            ("floor(2.7)", 2), ("floor(-2.2)", -3), ("ceil(2.2)", 3), ("ceil(-2.7)", -2), ("ceil(3)", 3),
            ("sin(0.5)", Foundation.sin(0.5)), ("cos(0.5)", Foundation.cos(0.5)), ("tan(0.5)", Foundation.tan(0.5)),
            ("asin(0.5)", Double.pi / 6), ("acos(0.5)", Double.pi / 3), ("atan(1)", Double.pi / 4),
            ("sinh(1)", Foundation.sinh(1)), ("cosh(1)", Foundation.cosh(1)), ("tanh(1)", Foundation.tanh(1)),
            ("tanh(800)", 1), ("factorial(0)", 1), ("factorial(5)", 120), ("factorial(0.5)", Double.pi.squareRoot() / 2),
            ("quotient(7, 2)", 3), ("quotient(-7, 2)", -3), ("quotient(7, -2)", -3), ("quotient(7.5, 2.5)", 3),
            ("rem(7, 2)", 1), ("rem(-7, 2)", -1), ("rem(7, -2)", 1), ("rem(5.5, 2)", 1.5),
            ("polygamma(0, 1)", -eulerGamma), ("polygamma(0, 0.5)", -eulerGamma - 2 * Foundation.log(2)),
            ("polygamma(1, 1)", Double.pi * Double.pi / 6), ("polygamma(2, 1)", -2 * apery),
            ("polygamma(3, 1)", Foundation.pow(Double.pi, 4) / 15), ("polygamma(1, 0.5)", Double.pi * Double.pi / 2),
            // psi(1 - x) - psi(x) = pi cot(pi x)
            ("polygamma(0, 0.7) - polygamma(0, -0.3)", -1 / 0.3),
            ("polygamma(0, -0.25) - polygamma(0, 1.25)", -Double.pi / Foundation.tan(-0.25 * Double.pi)),
            ("polygamma(0, 1e6)", Foundation.log(1e6) - 0.5e-6 - 1 / (12 * 1e12)),
        ]
        for (text, expected) in cases {
            let v = try value(text)
            #expect(close(v, expected, relative: 1e-13, absolute: 1e-15), "\(text) = \(v), expected \(expected)")
        }
    }

    @Test func undefinedValuesAreNaN() throws {
        for text in ["polygamma(0.5, 1)", "polygamma(-1, 1)", "polygamma(0, 0)", "polygamma(1, -3)",
                     "polygamma(0, -20000.5)", "asin(2)", "quotient(1, 0)", "rem(1, 0)", "factorial(-1)"] {
            let v = try value(text)
            #expect(v.isNaN || v.isInfinite, "\(text) = \(v)")
        }
        #expect(try value("polygamma(0, 1/0)") == .infinity)
        #expect(try value("polygamma(2, 1/0)") == 0)
    }

    static let differentiable: [(String, ClosedRange<Double>)] = [
        ("sin(x * y)", 0.3...2.7), ("cos(x^2 - y)", 0.3...2.7), ("tan(x / (y + 1))", 0.3...1.2),
        ("asin(x - y)", 0.1...0.8), ("acos(x * y)", 0.2...0.9), ("atan(x^2 / y)", 0.3...2.7),
        ("sinh(x - y^2)", 0.3...2.7), ("cosh(x * y)", 0.3...2.7), ("tanh(2 * x - y)", 0.3...2.7),
        ("factorial(x * y)", 0.3...2.7), ("factorial(x - 2 * y)", 0.3...2.7), ("rem(x^2 + 7, y)", 0.3...2.7),
        ("polygamma(0, x * y)", 0.3...2.7), ("polygamma(1, x + y)", 0.3...2.7), ("polygamma(2, x / y)", 0.3...2.7),
        ("polygamma(3, x - y)", 0.3...2.7), ("floor(x) * sin(y) + ceil(y) + quotient(x, 0.3)", 0.3...2.7),
    ]

    /// Central differences, as in DerivativeTests; points within 1e-3 of a jump of floor, ceil,
    /// quotient or rem (or of a pole) are skipped because the difference quotient spans the jump there.
    @Test(arguments: differentiable)
    func derivativesMatchFiniteDifferences(_ text: String, _ range: ClosedRange<Double>) throws {
        let e = try parse(text)
        var rng = LCG(seed: UInt64(text.utf8.count) &* 104_729)
        var compared = 0
        for variable in ["x", "y"] {
            let d = e.derivative(withRespectTo: variable)
            for _ in 0..<30 {
                var point = ["x": rng.uniform(range.lowerBound, range.upperBound),
                             "y": rng.uniform(range.lowerBound, range.upperBound)]
                let center = point[variable] ?? 0
                let h = 1e-5 * Swift.max(1, Swift.abs(center))
                point[variable] = center + 1e-3
                let farUp = try e.evaluate(point)
                point[variable] = center - 1e-3
                let farDown = try e.evaluate(point)
                point[variable] = center + h
                let up = try e.evaluate(point)
                point[variable] = center - h
                let down = try e.evaluate(point)
                point[variable] = center
                let mid = try e.evaluate(point)
                guard [farUp, farDown, up, down, mid].allSatisfy(\.isFinite) else { continue }
                // A jump shows as a second difference far larger than smooth curvature allows.
                if Swift.abs(farUp - 2 * mid + farDown) > 1e-2 * Swift.max(1, Swift.abs(mid)) { continue }
                let numeric = (up - down) / (2 * h)
                let symbolic = try d.evaluate(point)
                compared += 1
                #expect(close(symbolic, numeric, relative: 1e-5, absolute: 1e-6),
                        "d/d\(variable) \(text) at \(point): symbolic \(symbolic) (\(d)), numeric \(numeric)")
            }
        }
        #expect(compared >= 30, "only \(compared) points compared for \(text)")
    }

    @Test func exactDerivatives() throws {
        let x = Expr.symbol("x")
        #expect(try parse("floor(x) + ceil(x) + quotient(x, 3)").derivative(withRespectTo: "x") == .constant(0))
        #expect(try parse("sin(x)").derivative(withRespectTo: "x") == .call(.cos, [x]))
        #expect(try parse("cos(x)").derivative(withRespectTo: "x") == .unary(.negate, .call(.sin, [x])))
        #expect(try parse("rem(x, y)").derivative(withRespectTo: "x") == .constant(1))
        #expect(try parse("rem(x, y)").derivative(withRespectTo: "y") == (try parse("-quotient(x, y)")))
        #expect(try parse("factorial(x)").derivative(withRespectTo: "x") == (try parse("factorial(x) * polygamma(0, x + 1)")))
        #expect(try parse("polygamma(1, x)").derivative(withRespectTo: "x") == (try parse("polygamma(2, x)")))
        #expect(try parse("polygamma(x, 2)").derivative(withRespectTo: "x") == .constant(0))
    }

    @Test func foldedBySimplification() throws {
        let cases: [(String, String)] = [
            ("sin(0) + x", "x"), ("floor(2.5) * x", "2 * x"), ("factorial(3) + x", "6 + x"), ("quotient(7, 2) * x", "3 * x"),
            ("rem(7, 2) * x", "x"), ("ceil(0.2) * cosh(0) * x", "x"), ("polygamma(0, 0) + x", "polygamma(0, 0) + x"),
            ("asin(2)", "asin(2)"),
        ]
        for (text, expected) in cases {
            let simplified = try parse(text).simplified()
            #expect(simplified == (try parse(expected)), "\(text) → \(simplified)")
        }
    }

    @Test func printingRoundTrips() throws {
        for f in Function.allCases {
            let count = f.accepts(argumentCount: 1) ? 1 : (f.accepts(argumentCount: 2) ? 2 : 3)
            let args = (0..<count).map { k -> Expr in k == 0 ? .binary(.add, .symbol("x"), .constant(-1.5)) : .symbol("y") }
            let e = Expr.call(f, args)
            #expect(try parse(e.description) == e, "\(e.description)")
        }
    }

    @Test func arityAndSuggestions() {
        #expect(parseError("sin(x, y)")?.message == "`sin` takes 1 argument, got 2")
        #expect(parseError("rem(x)")?.message == "`rem` takes 2 arguments (dividend, divisor), got 1")
        #expect(parseError("polygamma(x)")?.message == "`polygamma` takes 2 arguments (order, x), got 1")
        #expect(parseError("ceiling(x)")?.message == "unknown function `ceiling`; did you mean `ceil`?")
        #expect(parseError("arcsin(x)")?.message == "unknown function `arcsin`; did you mean `asin`?")
        #expect(parseError("ln(x)")?.message == "unknown function `ln`; did you mean `log`?")
    }

    /// Every new opcode against the reference evaluator, bit for bit, including arguments outside
    /// the domain and at jumps.
    @Test func compiledMatchesEvaluate() throws {
        let texts = ["floor(x)", "ceil(x)", "sin(x)", "cos(x)", "tan(x)", "asin(x)", "acos(x)", "atan(x)",
                     "sinh(x)", "cosh(x)", "tanh(x)", "factorial(x)", "quotient(x, y)", "rem(x, y)",
                     "polygamma(y, x)", "polygamma(0, x)", "factorial(x) * polygamma(0, x + 1)"]
        let outputs = try texts.map { try parse($0) }
        let program = try CompiledProgram(variables: ["x", "y"], outputs: outputs)
        var rng = LCG(seed: 99)
        var points: [[String: Double]] = [["x": 3, "y": 2], ["x": -3, "y": 2], ["x": 0.5, "y": 0], ["x": -0.5, "y": 1],
                                          ["x": 0, "y": 3], ["x": 12.25, "y": -2]]
        for _ in 0..<50 { points.append(["x": rng.uniform(-4, 15), "y": Double(rng.int(4))]) }
        var registers = [Double](repeating: .nan, count: program.registerCount)
        var results = [Double](repeating: 0, count: texts.count)
        for point in points {
            registers[0] = point["x"] ?? .nan
            registers[1] = point["y"] ?? .nan
            registers.withUnsafeMutableBufferPointer { r in
                results.withUnsafeMutableBufferPointer { o in
                    if let rBase = r.baseAddress, let oBase = o.baseAddress { program.run(registers: rBase, outputs: oBase) }
                }
            }
            for (index, e) in outputs.enumerated() {
                let reference = try e.evaluate(point)
                let same = reference.bitPattern == results[index].bitPattern || (reference.isNaN && results[index].isNaN)
                #expect(same, "\(texts[index]) at \(point): compiled \(results[index]), evaluate \(reference)")
            }
        }
    }
}
