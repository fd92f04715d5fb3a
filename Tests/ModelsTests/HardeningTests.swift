import Expressions
import Foundation
import Testing
@testable import Models

/// A valid model whose `loss` assignment is `expression` (indented as a YAML scalar on line 17).
private func model(loss expression: String, extraAssignments: String = "") -> String {
    """
    name: tiny
    description: a tiny model
    time_unit: h
    parameters:
      k:
        value: 0.5
        unit: 1/h
        description: decay rate
        assumption: test value
    states:
      bdnf:
        initial: 1
        unit: "1"
    assignments:
    \(extraAssignments)
      loss: \(expression)
    odes:
      bdnf: -loss
    outputs: [bdnf, loss]
    """
}

@Suite("Model reader hardening")
struct ModelHardeningTests {
    @Test func fourThousandParenthesesInAModelAreOneProblemAtTheirColumn() {
        let deep = String(repeating: "(", count: 4000) + "k" + String(repeating: ")", count: 4000)
        let error = #expect(throws: ModelError.self) { _ = try ModelLoader.parse(model(loss: deep), file: "m.yaml") }
        #expect(error?.problems.count == 1, "\(error?.problems.map(\.message) ?? [])")
        #expect(error?.problems.first?.message == "expression nests deeper than 500 levels, ketasim's limit; split it into assignments or flatten the nesting")
        #expect(error?.problems.first?.location == SourceLocation(file: "m.yaml", line: 16, column: 9 + 500))
    }

    @Test func aChainOfAssignmentsDeeperThanTheLimitOnceSubstitutedIsRefusedByTheCompiler() throws {
        // Each assignment is 201 levels deep on its own, fine; substituted, a3 is 601.
        let sum = { (name: String) in ([name] + Array(repeating: "k", count: 200)).joined(separator: " + ") }
        let chain = "  a1: \(sum("k"))\n  a2: \(sum("a1"))\n  a3: \(sum("a2"))"
        let definition = try ModelLoader.parse(model(loss: "a3", extraAssignments: chain), file: "m.yaml")
        let error = #expect(throws: ModelError.self) { _ = try CompiledModel(definition) }
        #expect(error?.problems.first?.message == "`a3` is 601 levels deep once the assignments it uses are substituted, more than ketasim's limit of 500; split long sums into balanced parts, e.g. (a + b) + (c + d)")
        #expect(error?.problems.first?.location.line == 17)
    }
}

@Suite("One mistake, one problem")
struct OneProblemTests {
    @Test func aNaNInitialValueIsReportedOnce() throws {
        let text = try String(contentsOfFile: ModelFiles.path("models/ketamine_stress.yaml"), encoding: .utf8)
        // The first state's initial value, whatever it is, becomes .nan.
        guard let range = text.range(of: #"initial: [^\n]+"#, options: .regularExpression) else {
            Issue.record("no initial value in the model"); return
        }
        let broken = text.replacingCharacters(in: range, with: "initial: .nan")
        let error = #expect(throws: ModelError.self) { _ = try ModelLoader.parse(broken, file: "m.yaml") }
        #expect(error?.problems.count == 1, "\(error?.problems.map(\.message) ?? [])")
        #expect(error?.problems.first?.message.hasPrefix("initial value of") == true)
    }
}

/// Paths of files in the repository, found from this source file.
enum ModelFiles {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static func path(_ relative: String) -> String { root.appendingPathComponent(relative).path }
}
