import Foundation
import Testing
@testable import Expressions

struct ParserTests {
    @Test(arguments: [
        ("2 + 3 * 4", 14.0),
        ("(2 + 3) * 4", 20),
        ("10 - 4 - 3", 3),
        ("64 / 4 / 2", 8),
        ("2 ^ 3 ^ 2", 512),
        ("-2 ^ 2", -4),
        ("(-2) ^ 2", 4),
        ("2 ^ -1", 0.5),
        ("2 ^ -1 * 4", 2),
        ("-3 * -2", 6),
        ("2 * -3", -6),
        ("- - 2", 2),
        ("+2 - +3", -1),
        ("2 * 3 ^ 2", 18),
        ("1 + 2 < 4", 1),
        ("1 + 2 >= 4", 0),
        ("3 == 3", 1),
        ("3 != 3", 0),
        ("2 <= 2", 1),
        ("2 > 2", 0),
        ("1 < 2 && 3 > 4 || 1", 1),
        ("1 || 0 && 0", 1),
        ("(1 || 0) && 0", 0),
        ("!0", 1),
        ("!5", 0),
        ("!1 + 1", 1),
        ("!(1 + 1)", 0),
        ("0.5 && -3", 1),
        ("1 - 2 + 3", 2),
        ("2 * 3 / 4", 1.5),
    ])
    func precedenceAndAssociativity(_ text: String, _ expected: Double) throws {
        #expect(try value(text) == expected, "\(text)")
    }

    @Test func unaryMinusBindsLooserThanPower() throws {
        #expect(try value("-x^2", ["x": 3]) == -9)
        #expect(try parse("-x^2") == .unary(.negate, .binary(.power, .symbol("x"), .constant(2))))
        #expect(try parse("a^b^c") == .binary(.power, .symbol("a"), .binary(.power, .symbol("b"), .symbol("c"))))
    }

    @Test(arguments: [
        ("1", 1.0), ("1.5", 1.5), (".5", 0.5), ("1e-3", 0.001), ("2.5E+4", 25000), ("3.", 3),
        ("1E2", 100), ("0.125e1", 1.25), ("007", 7), ("6.02e23", 6.02e23),
    ])
    func numbers(_ text: String, _ expected: Double) throws {
        #expect(try parse(text) == .constant(expected))
    }

    @Test(arguments: [
        ("exp(1)", M_E),
        ("log(exp(2))", 2),
        ("log10(1000)", 3),
        ("sqrt(16)", 4),
        ("abs(-3)", 3),
        ("sign(-3) + sign(0) * 10 + sign(2) * 100", 99),
        ("min(3, 1, 2)", 1),
        ("max(3, 1, 2, 7)", 7),
        ("min(4, 5)", 4),
        ("pow(2, 10)", 1024),
        ("pow(9, 0.5)", 3),
        ("hill(2, 2, 3)", 0.5),
        ("hill(3, 1, 2)", 0.9),
        ("if(1 < 2, 10, 20)", 10),
        ("if(0, 10, 20)", 20),
    ])
    func functions(_ text: String, _ expected: Double) throws {
        let result = try value(text)
        #expect(close(result, expected, relative: 1e-15), "\(text) = \(result)")
    }

    @Test func piecewiseIsFirstTrueCondition() throws {
        let e = try parse("piecewise(1, t < 1, 2, t < 2, 3)")
        #expect(e == .conditional(.binary(.less, .symbol("t"), .constant(1)), .constant(1),
                                  .conditional(.binary(.less, .symbol("t"), .constant(2)), .constant(2), .constant(3))))
        #expect(try e.evaluate(["t": 0.5]) == 1)
        #expect(try e.evaluate(["t": 1.5]) == 2)
        #expect(try e.evaluate(["t": 2.5]) == 3)
        #expect(try parse("piecewise(7, x > 0, 8)").evaluate(["x": -1]) == 8)
    }

    @Test func symbolsAndLocations() throws {
        let parsed = try ExpressionParser.parse("k1 * S / (Km + S)", origin: SourceLocation(file: "m.yaml", line: 4, column: 10))
        #expect(parsed.expr.symbols == ["k1", "S", "Km"])
        #expect(parsed.symbolLocations.map(\.name) == ["k1", "S", "Km", "S"])
        #expect(parsed.symbolLocations.map(\.location.column) == [10, 15, 20, 25])
        #expect(parsed.symbolLocations.allSatisfy { $0.location.line == 4 && $0.location.file == "m.yaml" })
        #expect(try parse("if(x, y, z) + piecewise(a, b, c)").symbols == ["x", "y", "z", "a", "b", "c"])
    }

    @Test func substitution() throws {
        let e = try parse("a * b + a")
        let s = e.substituting(["a": try parse("x + 1"), "b": .symbol("a")])
        #expect(s == (try parse("(x + 1) * a + (x + 1)")))
    }

    @Test(arguments: [
        "x + y * z", "(x + y) * z", "x - (y - z)", "x - y - z", "x / (y / z)", "x / y / z",
        "x ^ y ^ z", "(x ^ y) ^ z", "-x ^ 2", "(-x) ^ 2", "x ^ -y", "x ^ -2", "2 ^ -1",
        "-(2)", "(-2)", "(-2) ^ x", "-(-2)", "- -x", "!x && !(y || z)", "(x < y) < z", "x < (y < z)",
        "x == (y != z)", "!(x < y)", "-(x + y)", "-(x * y)", "hill(x, 2, 3) * min(x, y, z)",
        "if(x > 1 && y < 2, pow(x, y), max(1, z))", "1.5e-7 * x", "2.5e+40 + x", "0.1 + 0.2",
        "exp(-x) - log10(x) / sqrt(abs(y))", "sign(x) * 3",
    ])
    func roundTripOfWrittenExpressions(_ text: String) throws {
        let e = try parse(text)
        #expect(try parse(e.description) == e, "\(text) printed as \(e.description)")
    }

    @Test func roundTripOfRandomTrees() throws {
        var rng = LCG(seed: 42)
        for _ in 0..<2000 {
            let e = Trees.random(&rng, depth: 5)
            let text = e.description
            let back = try parse(text)
            #expect(back == e, "\(text)")
            if back != e { return }
        }
    }

    @Test func negativeConstantsRoundTripStructurally() throws {
        for e: Expr in [.constant(-2), .unary(.negate, .constant(2)), .unary(.negate, .constant(-2)),
                        .binary(.power, .constant(-2), .constant(2)), .binary(.power, .unary(.negate, .constant(2)), .constant(2)),
                        .binary(.subtract, .constant(1), .constant(-1e-300)), .constant(Double.leastNonzeroMagnitude), .constant(1.7976931348623157e308)] {
            #expect(try parse(e.description) == e, "\(e.description)")
        }
        #expect(Expr.binary(.power, .constant(-2), .constant(2)).description == "(-2)^2")
        #expect(Expr.unary(.negate, .constant(2)).description == "-(2)")
    }

    @Test func nonFiniteConstantsPrintAsEquivalentExpressions() throws {
        #expect(try parse(Expr.constant(.infinity).description).evaluate([:]) == .infinity)
        #expect(try parse(Expr.constant(-.infinity).description).evaluate([:]) == -.infinity)
        #expect(try parse(Expr.constant(.nan).description).evaluate([:]).isNaN)
    }

    @Test func evaluateReportsUnknownSymbols() {
        #expect(throws: ExpressionError.unknownSymbol(name: "bndf", suggestions: ["bdnf"], location: SourceLocation.compiled, sourceLine: "")) {
            try Expr.symbol("bndf").evaluate(["bdnf": 1, "other": 2])
        }
    }
}
