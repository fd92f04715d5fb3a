import Foundation
import Testing
@testable import SBML
import Models

/// Function definitions compose when inlined: chains of them are refused by what they would build, at
/// their place, before it is built.
@Suite("SBML function definition limits")
struct FunctionDefinitionDepthTests {
    /// A one-parameter model whose rate rule is `math`, with `functions` (each a whole
    /// `<functionDefinition>`, one per line, starting on line 5).
    private func model(functions: [String], rateRule math: String) -> String {
        """
        <?xml version="1.0" encoding="UTF-8"?>
        <sbml xmlns="http://www.sbml.org/sbml/level3/version2/core" level="3" version="2">
          <model id="m">
            <listOfFunctionDefinitions>
        \(functions.joined(separator: "\n"))
            </listOfFunctionDefinitions>
            <listOfCompartments><compartment id="c" size="1" constant="true"/></listOfCompartments>
            <listOfParameters><parameter id="x" value="1" constant="false"/></listOfParameters>
            <listOfRules><rateRule variable="x"><math xmlns="http://www.w3.org/1998/Math/MathML">
        \(math)
            </math></rateRule></listOfRules>
          </model>
        </sbml>
        """
    }

    private func function(_ id: String, _ body: String) -> String {
        "<functionDefinition id=\"\(id)\"><math xmlns=\"http://www.w3.org/1998/Math/MathML\"><lambda><bvar><ci>y</ci></bvar>\(body)</lambda></math></functionDefinition>"
    }

    private func call(_ f: String, _ argument: String) -> String { "<apply><ci>\(f)</ci>\(argument)</apply>" }

    @Test func aChainOfThreeThousandDefinitionsIsRefusedAtTheFirstThatIsTooDeep() throws {
        // f_k(y) = f_(k-1)(y) + 1: each body is 3 levels deep as the reader counts them (a <plus/> counts
        // one level more than the binary + it becomes), f_k 2k + 1 once inlined. Written
        // last to first (Level 3 lets a definition call a later one), so inlining walks the whole chain first.
        let functions = (1...3000).reversed().map { k in
            function("f\(k)", "<apply><plus/>\(k == 1 ? "<ci>y</ci>" : call("f\(k - 1)", "<ci>y</ci>"))<cn>1</cn></apply>")
        }
        let error = #expect(throws: SBMLError.self) {
            _ = try SBMLImporter.importModel(xml: model(functions: functions, rateRule: call("f3000", "<ci>x</ci>")), file: "chain.xml")
        }
        #expect(error?.kind == .unsupported)
        #expect(error?.message == "function `f250` is 501 levels deep once the functions it calls are inlined, more than ketasim's limit of 500; define parts of it as assignment rules or parameters")
        // f3000 is on line 5, f250 on line 5 + 2750.
        #expect(error?.description.hasPrefix("chain.xml:2755:") == true, "\(error?.description ?? "")")
        // The chain within the limit imports: f249(x) = x + 249, 499 levels as read, 250 as an `Expr`.
        let short = (1...249).map { k in function("f\(k)", "<apply><plus/>\(k == 1 ? "<ci>y</ci>" : call("f\(k - 1)", "<ci>y</ci>"))<cn>1</cn></apply>") }
        let sbml = try? SBMLImporter.importModel(xml: model(functions: short, rateRule: call("f249", "<ci>x</ci>")), file: "ok.xml")
        #expect(sbml?.definition.odes.first?.depth() == 250)
        #expect(try sbml?.definition.odes.first?.evaluate(["x": 1, "t": 0]) == 250)
    }

    @Test func aCallWhoseArgumentMakesTheBodyTooDeepIsRefusedWhereItIsCalled() {
        // f's body is y under 399 minus signs (400 levels); f(f(x)) puts 400 levels where y was, 799 in all.
        let body = String(repeating: "<apply><minus/>", count: 399) + "<ci>y</ci>" + String(repeating: "</apply>", count: 399)
        let error = #expect(throws: SBMLError.self) {
            _ = try SBMLImporter.importModel(xml: model(functions: [function("f", body)], rateRule: call("f", call("f", "<ci>x</ci>"))), file: "call.xml")
        }
        #expect(error?.message == "the call of `f` is 799 levels deep once function definitions are inlined, more than ketasim's limit of 500; define parts of it as assignment rules or parameters")
        #expect(error?.description.hasPrefix("call.xml:9:") == true, "\(error?.description ?? "")")
        // One call is 400 levels: fine.
        #expect(throws: Never.self) {
            _ = try SBMLImporter.importModel(xml: model(functions: [function("f", body)], rateRule: call("f", "<ci>x</ci>")), file: "ok.xml")
        }
    }

    @Test func aChainThatUsesThePreviousDefinitionTwiceIsRefusedByItsSizeBeforeItIsBuilt() {
        // f_k(y) = f_(k-1)(y) * f_(k-1)(y): f_k inlined has 2^(k+1) - 1 nodes, 2^61 - 1 at f60; only 121
        // levels deep. f18 (524,287 nodes) is the first over the limit, refused where f19 calls it.
        let functions = (1...60).map { k in
            let inner = k == 1 ? "<ci>y</ci>" : call("f\(k - 1)", "<ci>y</ci>")
            return function("f\(k)", "<apply><times/>\(inner)\(inner)</apply>")
        }
        let error = #expect(throws: SBMLError.self) {
            _ = try SBMLImporter.importModel(xml: model(functions: functions, rateRule: call("f60", "<ci>x</ci>")), file: "wide.xml")
        }
        #expect(error?.message.hasPrefix("the call of `f18` has 524287 terms once function definitions are inlined, more than ketasim's limit of 500000") == true,
                "\(error?.message ?? "")")
        #expect(error?.description.hasPrefix("wide.xml:\(5 + 18):") == true, "\(error?.description ?? "")")
    }

    @Test func definitionsThatCallEachOtherAreRefusedWithTheCycle() {
        let functions = [function("f", call("g", "<ci>y</ci>")), function("g", call("h", "<ci>y</ci>")), function("h", call("f", "<ci>y</ci>"))]
        let error = #expect(throws: SBMLError.self) {
            _ = try SBMLImporter.importModel(xml: model(functions: functions, rateRule: call("f", "<ci>x</ci>")), file: "cycle.xml")
        }
        #expect(error?.message == "function definitions call each other recursively: `f` calls `g` calls `h` calls `f`")
    }
}
