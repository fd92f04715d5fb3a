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

    /// Scalars are read as text (Yams's basic resolver, no tags) and numbers converted by the reader, as
    /// they were under the default resolver: what YAML 1.1 would type as a boolean, null or timestamp is
    /// text where text is wanted, and not a number where a number is.
    @Test func scalarsAreTextAndOnlyTheReaderMakesNumbersOfThem() throws {
        func tiny(value: String = "1", description: String = "d", initial: String = "1") -> String {
            """
            name: tiny
            description: \(description)
            time_unit: h
            parameters:
              k: {value: \(value), unit: 1/h, assumption: \(description)}
            states:
              x: {initial: \(initial), unit: 1, description: \(description)}
            odes:
              x: -k * x
            outputs: [x]
            """
        }
        for (text, number) in [("1e-3", 1e-3), ("+2.5", 2.5), (".5", 0.5), ("5.", 5), ("1E3", 1000), ("\" 3 \"", 3), ("'7'", 7), ("-0", 0)] {
            let def = try ModelLoader.parse(tiny(value: text, initial: text), file: "m.yaml")
            #expect(def.parameters[0].value == number && def.states[0].initial == number, "\(text)")
        }
        for text in ["yes", "true", "null", "~", "2001-12-14", "1:30", "0o17", "=", "<<"] {
            let def = try ModelLoader.parse(tiny(description: text), file: "m.yaml")
            #expect(def.description == text && def.states[0].description == text && def.parameters[0].provenance == .assumption(text))
        }
        for text in [".inf", "-.inf", ".nan", "yes", "~", "null", "1_000", "1:30", "2001-12-14", "\"\""] {
            let error = #expect(throws: ModelError.self) { _ = try ModelLoader.parse(tiny(value: text), file: "m.yaml") }
            let shown = text == "\"\"" ? "" : text
            #expect(error?.problems.map(\.message) == ["value of `k` must be a number, got `\(shown)`"], "\(text)")
        }
        // Keys are compared as text: quoting does not make a second `k`.
        for key in ["\"k\"", "'k'"] {
            let twice = tiny().replacingOccurrences(of: "  k: {value: 1", with: "  k: {value: 2, unit: 1, assumption: a}\n  \(key): {value: 1")
            let error = #expect(throws: ModelError.self) { _ = try ModelLoader.parse(twice, file: "m.yaml") }
            #expect(error?.problems.first?.message == "duplicate key `k` in the mapping that starts here", "\(key)")
        }
    }

    @Test func aFileWithWindowsLineEndingsEchoesTheLineAProblemIsOn() {
        let text = model(loss: "k * nope").replacingOccurrences(of: "\n", with: "\r\n")
        let error = #expect(throws: ModelError.self) { _ = try ModelLoader.parse(text, file: "m.yaml") }
        #expect(error?.problems.first?.location.line == 16)
        #expect(error?.problems.first?.sourceLine == "  loss: k * nope")
    }

    /// More states than a model can compile with are refused as soon as the file is parsed: the states
    /// here are not even mappings, and no problem is reported for any of them.
    @Test func tooManyStatesAreRefusedBeforeAnyIsRead() {
        var text = "name: big\ndescription: d\ntime_unit: h\nparameters: {}\nstates:\n"
        for i in 0...CompiledModel.maximumStates { text += "  s\(i): 0\n" }
        text += "odes: {}\noutputs: []\n"
        let error = #expect(throws: ModelError.self) { _ = try ModelLoader.parse(text, file: "big.yaml") }
        #expect(error?.problems.map(\.description) == ["""
            big.yaml:5:1: error: the model has 46341 states, more than 46340, ketasim's limit: its dense Jacobian of 46341 x 46341 entries would need 17 GB
              states:
              ^
            """])
    }

    @Test func aChainOfAssignmentsDeeperThanTheLimitOnceSubstitutedCompiles() throws {
        // Each assignment is 201 levels deep on its own; substituted, a3 would be 601, which the compiler
        // used to refuse. Assignments are compiled once each now, so only each one's own depth counts.
        let sum = { (name: String) in ([name] + Array(repeating: "k", count: 200)).joined(separator: " + ") }
        let chain = "  a1: \(sum("k"))\n  a2: \(sum("a1"))\n  a3: \(sum("a2"))"
        let compiled = try CompiledModel(try ModelLoader.parse(model(loss: "a3", extraAssignments: chain), file: "m.yaml"))
        // a3 = 601 k with k = 0.5; every partial sum is a multiple of 0.5 below 2^53, so exact.
        #expect(rhsAndJacobian(compiled, bdnf: 1) == (-300.5, 0))
    }

    @Test func anAssignmentDeeperThanTheLimitOnItsOwnIsRefusedByTheCompiler() throws {
        // The reader refuses such an expression in a file; the SBML importer can build one from parts.
        var definition = try ModelLoader.parse(model(loss: "k"), file: "m.yaml")
        let deep = (0..<600).reduce(Expr.symbol("k")) { e, _ in .binary(.add, e, .symbol("k")) }
        definition.assignments[0].expression = deep
        let error = #expect(throws: ModelError.self) { _ = try CompiledModel(definition) }
        #expect(error?.problems.first?.message == "`loss` is 601 levels deep, more than ketasim's limit of 500; split it into assignments, or long sums into balanced parts, e.g. (a + b) + (c + d)")
        #expect(error?.problems.first?.location.line == 16)
    }

    @Test func aChainOfAssignmentsThatDoublesAtEveryLinkCompilesOnceAndDifferentiatesByTheChainRule() throws {
        // Each link uses the previous one twice: substituted, a60 would be 2^61 - 1 terms (and its
        // derivative more), which ran out of memory and was then refused. Compiled once per link, it is
        // 60 multiplications. With bdnf = 1 every a_n is 1 and a_n = bdnf^(2^n), so d a_n/d bdnf =
        // 2^n bdnf^(2^n - 1) = 2^n: f = -k a60 = -0.5 and ∂f/∂bdnf = -0.5 * 2^60 = -2^59, both exact.
        let links = (1...60).map { "  a\($0): \($0 == 1 ? "bdnf" : "a\($0 - 1)") * \($0 == 1 ? "bdnf" : "a\($0 - 1)")" }
        let compiled = try CompiledModel(try ModelLoader.parse(model(loss: "k * a60", extraAssignments: links.joined(separator: "\n")), file: "m.yaml"))
        #expect(rhsAndJacobian(compiled, bdnf: 1) == (-0.5, -0x1p59))
        // One multiplication per link in the right-hand side, and the Jacobian stays linear too.
        #expect(compiled.hotInstructionCounts.rhs <= 64)
        #expect(compiled.hotInstructionCounts.jacobian <= 4 * 64)
        // ∂f/∂k = -a60 = -1 through the forward sensitivities, which differentiate through the same chain.
        let sensitivities = try CompiledSensitivities(model: compiled, parameters: ["k"])
        let base = ModelWorkspace(model: compiled)
        let system = SensitivityWorkspace(sensitivities: sensitivities, base: base, directionCount: 1)
        system.setDirections([1])
        var dydt: [Double] = [0, 0]
        system.evaluate(t: 0, y: [1, 0], dydt: &dydt)
        #expect(dydt == [-0.5, -1])
        // At bdnf = 0.5 the chain underflows to 0 (0.5^(2^60)), as substituting would have computed.
        #expect(rhsAndJacobian(compiled, bdnf: 0.5) == (0, 0))
    }
}

/// dbdnf/dt and its derivative by bdnf of a model whose only state is bdnf, at t = 0.
private func rhsAndJacobian(_ compiled: CompiledModel, bdnf: Double) -> (Double, Double) {
    let workspace = ModelWorkspace(model: compiled)
    var f = 0.0, j = 0.0, dt = 0.0
    var y = bdnf
    workspace.evaluate(t: 0, y: &y, dydt: &f)
    workspace.jacobian(t: 0, y: &y, dfdy: &j, dfdt: &dt)
    return (f, j)

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

@Suite("Warnings, provenance and file kinds")
struct ModelWarningTests {
    private let base = model(loss: "k * bdnf")

    @Test func unknownUnitsAreWarningsAtTheirValue() throws {
        let text = base.replacingOccurrences(of: "unit: 1/h", with: "unit: banana")
            .replacingOccurrences(of: "unit: \"1\"", with: "unit: umo/L")
        let m = try ModelLoader.parse(text, file: "m.yaml")
        #expect(m.warnings.map(\.message) == [
            "unknown unit `banana` of `k`; write units with SI symbols and prefixes, *, /, ^ and 1, e.g. umol/L/h or 1/h",
            "unknown unit `umo/L` of `bdnf` (`umo` is not a unit ketasim knows); write units with SI symbols and prefixes, *, /, ^ and 1, e.g. umol/L/h or 1/h",
        ])
        #expect(m.warnings.first?.location == SourceLocation(file: "m.yaml", line: 7, column: 11))
        #expect(m.warnings.first?.description.hasPrefix("m.yaml:7:11: warning: unknown unit `banana`") == true)
    }

    @Test(arguments: ["1", "umol", "uM", "h", "1/h", "L/kg", "L/h/kg", "kg", "L", "L/h", "mg/kg", "nmol/L", "mM", "fold",
                      "umol/(L*h)", "s^-1", "m^2", "ug/kg/h", "%", "1/min", "pmol/mL", "cells/uL"])
    func knownUnitsPass(unit: String) {
        #expect(UnitGrammar.unknownPart(of: unit) == nil)
    }

    @Test(arguments: [("banana", "banana"), ("mg/", "/"), ("umol//L", "/"), ("(L/h", "("), ("s^x", "x"), ("kgg", "kgg"), ("", "")])
    func unknownUnitsNameTheirPart(unit: String, part: String) {
        #expect(UnitGrammar.unknownPart(of: unit) == part)
    }

    @Test func aUserParameterWithoutSourceLoadsWithAWarning() throws {
        let text = base.replacingOccurrences(of: "    assumption: test value\n", with: "")
        let m = try ModelLoader.parse(text, file: "m.yaml")
        #expect(m.parameters.first?.provenance == .unstated)
        #expect(m.warnings.map(\.message) == ["parameter `k` names no `source` (citation with PMC id or DOI) or `assumption` (one-line rationale)"])
    }

    @Test func everyShippedModelNamesASourceOrAssumptionForEveryParameterAndUsesKnownUnits() throws {
        let directory = ModelFiles.path("models")
        // models/calibration holds calibration files (docs/CALIBRATION.md), not models.
        let files = (FileManager.default.enumerator(atPath: directory)?.compactMap { $0 as? String } ?? [])
            .filter { $0.hasSuffix(".yaml") && !$0.hasPrefix("calibration/") }
        #expect(files.count >= 2)
        for file in files {
            let m = try ModelLoader.load(path: directory + "/" + file)
            #expect(m.warnings.isEmpty, "\(file): \(m.warnings.map(\.description))")
            #expect(!m.parameters.contains { $0.provenance == .unstated }, "\(file)")
        }
    }

    @Test func aBinaryFileIsABadModelNotAnUnreadableOne() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("ketasim-binary-\(UUID().uuidString).yaml").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(FileManager.default.createFile(atPath: path, contents: Data("name: x\nab\u{7F}".utf8 + [0xFF, 0xFE, 0x00, 0x01])))
        let error = #expect(throws: ModelError.self) { _ = try ModelLoader.load(path: path) }
        #expect(error?.problems.first?.message == "byte 0xFF is not UTF-8 text; a model file is YAML text, not a binary file")
        #expect(error?.problems.first?.location == SourceLocation(file: path, line: 2, column: 4))
        #expect(ModelLoader.firstNonText(Data("é ok\n€".utf8)) == nil)
        #expect(ModelLoader.firstNonText(Data([0x61, 0x00])).map { $0.column } == 2)
    }

    @Test func anErrorOnAVeryLongLineEchoesAWindowAroundTheCaret() {
        // 200 KB on one line, the mistake in the middle.
        let filler = String(repeating: "k + ", count: 25_000)
        let problem = ModelProblem(location: SourceLocation(file: "m.yaml", line: 1, column: filler.count + 1),
                                   message: "bad", sourceLine: filler + "?" + filler)
        let lines = problem.description.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.count == 3)
        #expect(lines[1].count <= SourceExcerpt.width + 2 + 6 && lines[1].hasPrefix("  ...") && lines[1].hasSuffix("..."))
        // The caret still points at the `?`.
        let caret = lines[2].count - 1
        #expect(Array(lines[1])[caret] == "?")
        // Short lines are unchanged.
        #expect(SourceExcerpt.render(line: "a\tb", column: 3) == "a\tb\n \t^")
    }
}

@Suite("Event expressions are depth-checked")
struct EventDepthTests {
    @Test func anEventAssignmentDeeperThanTheLimitIsRefusedAtTheEvent() throws {
        var definition = try ModelLoader.parse(model(loss: "k * bdnf"), file: "m.yaml")
        let location = SourceLocation(file: "m.xml", line: 42, column: 3)
        let deep = (0..<600).reduce(Expr.symbol("bdnf")) { e, _ in .unary(.negate, e) }
        definition.events = [ModelEvent(id: "boost", trigger: .binary(.greater, .symbol("t"), .constant(1)),
                                        assignments: [.init(state: "bdnf", value: deep)], location: location)]
        let error = #expect(throws: ModelError.self) { _ = try CompiledModel(definition) }
        #expect(error?.problems.first?.description == "m.xml:42:3: error: the event `boost`'s assignment to `bdnf` is 601 levels deep, more than ketasim's limit of 500; split it into assignments, or long sums into balanced parts, e.g. (a + b) + (c + d)")
        // Within the limit, it compiles.
        definition.events[0].assignments[0].value = (0..<499).reduce(Expr.symbol("bdnf")) { e, _ in .unary(.negate, e) }
        #expect(throws: Never.self) { _ = try CompiledModel(definition) }
    }
}
