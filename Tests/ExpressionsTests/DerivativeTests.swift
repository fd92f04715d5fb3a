import Foundation
import Testing
@testable import Expressions

struct DerivativeTests {
    static let cases = [
        "x^3 + 2*x*y - y",
        "hill(x, 2, 3)",
        "hill(x, y, 2.5)",
        "hill(2, 1.5, x * y)",
        "x^y",
        "pow(y, x) + pow(x, 2)",
        "log10(x * y + 1)",
        "min(x, y, 1.5)",
        "max(x^2, y, 2 * x)",
        "if(x > y, x^2 * y, exp(-x))",
        "exp(-x / y) * sqrt(x + y)",
        "log(x) / (1 + x^2)",
        "abs(x - y) * x",
        "piecewise(x, x < 1, x^2, x < 2, 4 - x)",
        "x^-2 + 1/x - sqrt(x)^3 - x^4 / y^-1",
        "hill(exp(x) - 1, y, 4) * x^x",
        "(x < 1.5) * x + !(y > x) + (x && y) * y",
        "-x^2 / (y + 3 - x^0.5)",
    ]

    /// Central differences with a step scaled to the point; tolerance covers O(h^2) truncation
    /// plus rounding of ~eps/h relative to the function value.
    @Test(arguments: cases)
    func matchesFiniteDifferences(_ text: String) throws {
        let e = try parse(text)
        var rng = LCG(seed: UInt64(text.utf8.count) &* 7919)
        for variable in ["x", "y"] {
            let d = e.derivative(withRespectTo: variable)
            for _ in 0..<20 {
                var point = ["x": rng.uniform(0.3, 2.7), "y": rng.uniform(0.3, 2.7)]
                let center = point[variable] ?? 0
                let h = 1e-5 * Swift.max(1, Swift.abs(center))
                point[variable] = center + h
                let up = try e.evaluate(point)
                point[variable] = center - h
                let down = try e.evaluate(point)
                point[variable] = center
                let numeric = (up - down) / (2 * h)
                let symbolic = try d.evaluate(point)
                #expect(close(symbolic, numeric, relative: 1e-5, absolute: 1e-6),
                        "d/d\(variable) \(text) at \(point): symbolic \(symbolic) (\(d)), numeric \(numeric)")
            }
        }
    }

    @Test func exactSimpleResults() throws {
        let x = Expr.symbol("x")
        let cube = try parse("x^3").derivative(withRespectTo: "x")
        #expect(cube == .binary(.multiply, .constant(3), .binary(.power, x, .constant(2))))
        #expect(cube.description == "3 * x^2")
        #expect(try cube.evaluate(["x": 2]) == 12)
        #expect(try parse("x * y").derivative(withRespectTo: "x") == .symbol("y"))
        #expect(try parse("exp(x)").derivative(withRespectTo: "x") == .call(.exp, [x]))
        #expect(try parse("5 + y").derivative(withRespectTo: "x") == .constant(0))
        #expect(try parse("abs(x)").derivative(withRespectTo: "x") == .call(.sign, [x]))
        #expect(try parse("x^2").derivative(withRespectTo: "x") == (try parse("2 * x")))
        #expect(try parse("log10(x)").derivative(withRespectTo: "x")
                == .binary(.divide, .constant(1), .binary(.multiply, .constant(Foundation.log(10)), x)))
        #expect(try parse("min(x, y)").derivative(withRespectTo: "x")
                == .conditional(.binary(.lessEqual, x, .symbol("y")), .constant(1), .constant(0)))
        #expect(try parse("if(x > 1, x, 3 * x)").derivative(withRespectTo: "x")
                == (try parse("if(x > 1, 1, 3)")))
        #expect(try parse("x < 1").derivative(withRespectTo: "x") == .constant(0))
        #expect(try parse("2^x").derivative(withRespectTo: "x") == (try parse("2^x * log(2)").simplified()))
    }
}
