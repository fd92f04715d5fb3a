import Foundation
import Testing
@testable import Expressions

/// Runs a program on named values; the scratch buffer is deliberately filled with garbage first so
/// the test catches programs that rely on anything but the variable slots.
private func run(_ program: CompiledProgram, _ variables: [String], _ values: [String: Double], outputCount: Int) -> [Double] {
    var registers = [Double](repeating: .nan, count: program.registerCount)
    for (index, name) in variables.enumerated() { registers[index] = values[name] ?? .nan }
    var outputs = [Double](repeating: -12345, count: outputCount)
    registers.withUnsafeMutableBufferPointer { r in
        outputs.withUnsafeMutableBufferPointer { o in
            if let rBase = r.baseAddress, let oBase = o.baseAddress {
                program.run(registers: rBase, outputs: oBase)
            }
        }
    }
    return outputs
}

struct CompilerTests {
    @Test func matchesEvaluateOnRandomTrees() throws {
        var rng = LCG(seed: 2024)
        let variables = ["t", "x", "y", "z"]
        for _ in 0..<300 {
            let outputs = (0..<4).map { _ in Trees.random(&rng, depth: 6) }
            let program = try CompiledProgram(variables: variables, outputs: outputs)
            #expect(program.registerCount >= program.variableCount)
            for _ in 0..<5 {
                let point = Trees.randomPoint(&rng, range: -3...3)
                let compiled = run(program, variables, point, outputCount: outputs.count)
                for (e, result) in zip(outputs, compiled) {
                    // The program runs the simplified tree; the same scalar semantics make it bit-exact.
                    let reference = try e.simplified().evaluate(point)
                    let same = reference.bitPattern == result.bitPattern || (reference.isNaN && result.isNaN)
                        || close(result, reference, relative: 1e-12)
                    #expect(same, "\(e) at \(point): compiled \(result), evaluate \(reference)\n\(program.dump())")
                    if !same { return }
                }
            }
        }
    }

    @Test func knownProgramValues() throws {
        let texts = ["hill(x, 2, 3)", "x^2 + x^3 + x^4", "1 / x^2 + x^-1", "if(x > 1, y, -y)", "min(x, y, 0.5)",
                     "max(x, y) + abs(x - 3) + sign(x - 3)", "pow(x, y) * log(y) - log10(x) + exp(-x) * sqrt(y)",
                     "(x < y) + (x <= y) * 2 + (x > y) * 4 + (x >= y) * 8 + (x == y) * 16 + (x != y) * 32",
                     "(x && 0) + (x || 0) * 2 + !x * 4", "hill(x, y, 2.5) + hill(y, 0.5, x)"]
        let outputs = try texts.map { try parse($0) }
        let program = try CompiledProgram(variables: ["x", "y"], outputs: outputs)
        for point in [["x": 1.5, "y": 2.0], ["x": 4.0, "y": 0.25], ["x": 2.0, "y": 2.0]] {
            let compiled = run(program, ["x", "y"], point, outputCount: texts.count)
            for (index, e) in outputs.enumerated() {
                let reference = try e.evaluate(point)
                #expect(close(compiled[index], reference, relative: 1e-14), "\(texts[index]) at \(point)")
            }
        }
    }

    @Test func commonSubexpressionsAreComputedOnce() throws {
        let e = try parse("exp(a*b) + exp(a*b)")
        let program = try CompiledProgram(variables: ["a", "b"], outputs: [e])
        // mul, exp, add, store — two separate exps would need at least 6.
        #expect(program.instructionCount == 4, "\(program.dump())")
        let twoOutputs = try CompiledProgram(variables: ["a", "b"], outputs: [try parse("exp(a*b)"), try parse("2 * exp(b*a)")])
        #expect(twoOutputs.instructionCount == 5, "\(twoOutputs.dump())")
    }

    @Test func repeatedSubtreeCompilesInLinearSize() throws {
        let inner = try parse("hill(x, K, 2) * exp(-k * t) / (1 + x^2 + y^3)")
        var sum = inner
        for index in 1..<1000 {
            // Vary the leaf so the sum itself cannot collapse, while `inner` repeats verbatim.
            sum = .binary(.add, sum, .binary(.multiply, inner, .constant(Double(index))))
        }
        let variables = ["t", "x", "y", "K", "k"]
        let program = try CompiledProgram(variables: variables, outputs: [sum])
        // Per repetition at most one multiply and one add beyond the shared inner program.
        #expect(program.instructionCount <= 2 * 1000 + 20, "\(program.instructionCount)")
        let point = ["t": 0.5, "x": 1.2, "y": 0.7, "K": 0.9, "k": 0.3]
        let result = run(program, variables, point, outputCount: 1)[0]
        #expect(close(result, try sum.evaluate(point), relative: 1e-12))
    }

    @Test func deepSharedDagCompilesWithoutBlowup() throws {
        // e_{k+1} = e_k * e_k + x: the tree doubles per level but has only a few distinct operations.
        var e = Expr.symbol("x")
        for _ in 0..<14 { e = .binary(.add, .binary(.multiply, e, e), .symbol("x")) }
        let program = try CompiledProgram(variables: ["x"], outputs: [e])
        #expect(program.instructionCount == 2 * 14 + 1)
    }

    @Test func destinationsScatter() throws {
        let outputs = [Expr.symbol("x"), .constant(7), .binary(.add, .symbol("x"), .symbol("y"))]
        let program = try CompiledProgram(variables: ["x", "y"], outputs: outputs, destinations: [4, 0, 2])
        let result = run(program, ["x", "y"], ["x": 1.5, "y": 2], outputCount: 5)
        #expect(result == [7, -12345, 3.5, -12345, 1.5])
    }

    @Test func integerPowersAndHillAvoidPow() throws {
        let program = try CompiledProgram(variables: ["x", "y"],
                                          outputs: [try parse("x^2 + x^3 + x^4 + y^-1 + y^-2 + hill(x, 2, 4) + hill(y, 3, 2)")])
        #expect(!program.dump().contains("pow"), "\(program.dump())")
        // K^n folds: 2^4 = 16 and 3^2 = 9 appear as constants, not as instructions.
        #expect(program.dump().contains("const 16.0"))
        #expect(program.dump().contains("const 9.0"))
        let general = try CompiledProgram(variables: ["x"], outputs: [try parse("hill(x, 2, 2.5)")])
        #expect(general.dump().components(separatedBy: " pow ").count - 1 == 1, "\(general.dump())")
    }

    @Test func constantsAreFoldedAndSelectsWithEqualBranchesVanish() throws {
        let program = try CompiledProgram(variables: ["x"], outputs: [try parse("(2 + 3) * exp(0) + if(x > 1, 1 + 1, 2)")])
        #expect(program.instructionCount == 1, "\(program.dump())")
        #expect(run(program, ["x"], ["x": 0], outputCount: 1) == [7])
    }

    @Test func derivativeProgramsAgreeWithEvaluate() throws {
        let e = try parse("hill(s, K, n) * exp(-k * t) / (1 + s^2) + min(s, K) * log10(s)")
        let variables = ["t", "s", "K", "n", "k"]
        let jacobian = variables.map { e.derivative(withRespectTo: $0) }
        let program = try CompiledProgram(variables: variables, outputs: jacobian)
        let point = ["t": 0.3, "s": 1.7, "K": 1.1, "n": 2.3, "k": 0.4]
        let compiled = run(program, variables, point, outputCount: jacobian.count)
        for (d, result) in zip(jacobian, compiled) {
            #expect(close(result, try d.evaluate(point), relative: 1e-12), "\(d)")
        }
    }
}
