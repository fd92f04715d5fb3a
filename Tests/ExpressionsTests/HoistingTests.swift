import Testing
@testable import Expressions

@Suite("Hoisting invariant work")
struct HoistingTests {
    @Test func parameterOnlyWorkMovesToThePreludeAndResultsAgree() throws {
        // x varies; k and K do not: hill(1, K, n)-style normalisations and k^2 are invariant.
        let e = try ExpressionParser.parse("k^2 * x / (K^3 + x^3) * (K^3 + 1) + exp(k) * x", origin: .init(file: "t", line: 1, column: 1)).expr
        let program = try CompiledProgram(variables: ["x", "k", "K"], outputs: [e], varyingVariables: 1)
        #expect(program.invariantInstructionCount >= 4)
        var registers = [Double](repeating: 0, count: program.registerCount)
        var full = [0.0], hoisted = [0.0]
        for (x, k, K) in [(0.5, 2.0, 0.7), (1.5, 2.0, 0.7), (3.0, 2.0, 0.7)] {
            registers[0] = x; registers[1] = k; registers[2] = K
            registers.withUnsafeMutableBufferPointer { r in full.withUnsafeMutableBufferPointer { program.run(registers: r.baseAddress!, outputs: $0.baseAddress!) } }
            let expected = try e.evaluate(["x": x, "k": k, "K": K])
            #expect(full[0] == expected)
        }
        // Prepare once for (k, K), then only x changes: the varying part alone gives the same numbers.
        registers[1] = 2.0; registers[2] = 0.7
        registers.withUnsafeMutableBufferPointer { program.prepare(registers: $0.baseAddress!) }
        for x in [0.25, 1.0, 4.0] {
            registers[0] = x
            registers.withUnsafeMutableBufferPointer { r in hoisted.withUnsafeMutableBufferPointer { program.runPrepared(registers: r.baseAddress!, outputs: $0.baseAddress!) } }
            #expect(hoisted[0] == (try e.evaluate(["x": x, "k": 2.0, "K": 0.7])))
        }
    }

    @Test func withoutAVaryingCountNothingIsAssumedInvariant() throws {
        let e = try ExpressionParser.parse("k^2 * x", origin: .init(file: "t", line: 1, column: 1)).expr
        let program = try CompiledProgram(variables: ["x", "k"], outputs: [e])
        #expect(program.invariantInstructionCount == 0)
    }
}
