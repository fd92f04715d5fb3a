import Foundation
import Testing
@testable import Expressions

struct SimplifyTests {
    @Test(arguments: [
        ("x + 0", "x"), ("0 + x", "x"), ("x - 0", "x"), ("0 - x", "-x"), ("x * 1", "x"), ("1 * x", "x"),
        ("x * 0", "0"), ("0 * x", "0"), ("x / 1", "x"), ("0 / x", "0"), ("x ^ 1", "x"), ("x ^ 0", "1"),
        ("-(-x)", "x"), ("-(3)", "(-3)"), ("2 * 3 + x", "6 + x"), ("exp(0) * x", "x"), ("if(1, x, y)", "x"),
        ("if(0 > 1, x, y)", "y"), ("if(y, x + 0, x)", "x"), ("x * 2", "2 * x"), ("2 * (3 * x)", "6 * x"),
        ("pow(x, 1)", "x"), ("pow(x, y)", "x^y"), ("hill(2, 2, 1)", "0.5"), ("min(1, 2) + max(3, x)", "1 + max(3, x)"),
        ("1 ^ x", "1"), ("x * -1", "-x"), ("(1 < 2) + (3 == 4)", "1"), ("!0 && x", "1 && x"), ("abs(abs(x))", "abs(x)"),
        ("1 / 0 + x", "1 / 0 + x"), ("log(0) * 2", "2 * log(0)"), ("sqrt(-1)", "sqrt((-1))"),
    ])
    func identities(_ text: String, _ expected: String) throws {
        let simplified = try parse(text).simplified()
        #expect(simplified == (try parse(expected)), "\(text) → \(simplified)")
    }

    @Test func idempotentAndValuePreservingOnRandomTrees() throws {
        var rng = LCG(seed: 7)
        var compared = 0
        for _ in 0..<3000 {
            let e = Trees.random(&rng, depth: 5)
            let once = e.simplified()
            #expect(once.simplified() == once, "not idempotent: \(e) → \(once) → \(once.simplified())")
            for _ in 0..<3 {
                let point = Trees.randomPoint(&rng)
                // Only where the original is defined all the way through.
                guard let original = Trees.strictEvaluate(e, point) else { continue }
                let after = try once.evaluate(point)
                compared += 1
                #expect(close(after, original, relative: 1e-12, absolute: 1e-300), "\(e) → \(once) at \(point)")
            }
        }
        #expect(compared > 2000)
    }

    @Test func simplificationShrinksDerivativeNoise() throws {
        let d = try parse("3 * x + y * 0 + 4").derivative(withRespectTo: "x")
        #expect(d == .constant(3))
    }
}
