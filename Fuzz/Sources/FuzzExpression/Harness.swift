import Expressions
import Foundation

/// One infix expression: parse, then every pass a model applies to it. A parsed expression must
/// print back to an equal tree.
func fuzzExpression(_ input: UnsafeBufferPointer<UInt8>) {
    let text = String(decoding: input, as: UTF8.self)
    let origin = SourceLocation(file: "fuzz", line: 1, column: 1)
    guard let parsed = try? ExpressionParser.parse(text, origin: origin) else {
        do { _ = try ExpressionParser.parse(text, origin: origin) } catch { _ = error.description }
        return
    }
    let e = parsed.expr
    let printed = e.description
    guard let again = try? ExpressionParser.parse(printed, origin: origin).expr, again == e else {
        fatalError("round trip changed `\(text)` into `\(printed)`")
    }
    let variables = ["t"] + e.symbols.sorted()
    let simplified = e.simplified()
    let derivative = e.derivative(withRespectTo: variables.last ?? "t")
    if let program = try? CompiledProgram(variables: variables, outputs: [simplified, derivative]) {
        var registers = [Double](repeating: 0.5, count: program.registerCount)
        var out = [0.0, 0.0]
        program.run(registers: &registers, outputs: &out)
    }
}
