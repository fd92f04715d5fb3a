import Foundation
import Testing
@testable import SBML
import Models

/// Deeply nested documents are refused with their place, not by overflowing the stack.
@Suite("SBML nesting limits")
struct SBMLDepthTests {
    /// A one-species model whose rate rule is `math` (MathML content, no `<math>` wrapper).
    private func model(rateRule math: String) -> String {
        """
        <?xml version="1.0" encoding="UTF-8"?>
        <sbml xmlns="http://www.sbml.org/sbml/level3/version2/core" level="3" version="2">
          <model id="m">
            <listOfCompartments><compartment id="c" size="1" constant="true"/></listOfCompartments>
            <listOfParameters><parameter id="x" value="1" constant="false"/></listOfParameters>
            <listOfRules><rateRule variable="x"><math xmlns="http://www.w3.org/1998/Math/MathML">
        \(math)
            </math></rateRule></listOfRules>
          </model>
        </sbml>
        """
    }

    private func nestedApply(_ n: Int) -> String {
        String(repeating: "<apply><minus/>", count: n) + "<ci>x</ci>" + String(repeating: "</apply>", count: n)
    }

    @Test func nestedAppliesAreRefusedAtTheFirstTooDeep() {
        let error = #expect(throws: SBMLError.self) { _ = try SBMLImporter.importModel(xml: model(rateRule: nestedApply(1000)), file: "deep.xml") }
        #expect(error?.kind == .unsupported)
        #expect(error?.message == "the math nests deeper than 500 levels (an n-ary operator with k arguments counts k - 1), ketasim's limit; define parts of it as assignment rules or parameters")
        // Line 7, at the 501st <apply> (15 characters each, so it starts at column 7501; libxml2 counts to just after its name).
        #expect(error?.description.hasPrefix("deep.xml:7:7507: error: <rateRule id=\"x\">: not supported") == true, "\(error?.description ?? "")")
        // 5,000 (the issue's case) are refused too, by the XML reader's own limit.
        #expect(throws: SBMLError.self) { _ = try SBMLImporter.importModel(xml: model(rateRule: nestedApply(5000)), file: "deep.xml") }
    }

    @Test func theDeepestAcceptedMathImportsAndCompiles() throws {
        // 499 unary minus around x: an Expr of depth 500, within the limit.
        let sbml = try SBMLImporter.importModel(xml: model(rateRule: nestedApply(499)), file: "ok.xml")
        #expect(sbml.definition.odes.first?.depth() == 500)
        #expect(throws: Never.self) { _ = try CompiledModel(sbml.definition) }
    }

    @Test func aWidePlusCountsItsArgumentsAsLevels() {
        let terms = String(repeating: "<ci>x</ci>", count: 600)
        let error = #expect(throws: SBMLError.self) { _ = try SBMLImporter.importModel(xml: model(rateRule: "<apply><plus/>\(terms)</apply>"), file: "wide.xml") }
        #expect(error?.message.hasPrefix("the math nests deeper than 500 levels") == true)
    }

    @Test func fiftyThousandNestedElementsAreRefusedAndReleasedWithoutRecursion() {
        let depth = 50_000
        let xml = "<?xml version=\"1.0\"?>" + String(repeating: "<a>", count: depth) + String(repeating: "</a>", count: depth)
        let error = #expect(throws: SBMLError.self) { _ = try SBMLImporter.importModel(xml: xml, file: "deep.xml") }
        // The 2,001st <a> starts at column 6022; libxml2 reports the column after its name.
        #expect(error?.description == "deep.xml:1:6024: error: <a>: malformed SBML: elements nest deeper than 2000 levels, ketasim's limit")
        // A tree at the limit is read whole and released iteratively.
        let atLimit = "<?xml version=\"1.0\"?>" + String(repeating: "<a>", count: 2_000) + String(repeating: "</a>", count: 2_000)
        let root = try? XMLNode.parse(data: Data(atLimit.utf8), file: "ok.xml")
        var node = root, levels = 0
        while let n = node { levels += 1; node = n.children.first }
        #expect(levels == 2_000)
    }

    @Test func aTreeFarDeeperThanTheStackAllowsIsReleasedIteratively() {
        // Built by hand, as no document may be this deep. On a regression to recursive release this
        // overflows the stack and takes the test process down: there is no in-process way to check it
        // that would not.
        var root: XMLNode? = XMLNode(name: "a", namespace: "", attributes: [:], line: 1)
        var node = root ?? XMLNode(name: "a", namespace: "", attributes: [:], line: 1)
        for _ in 0..<200_000 {
            let child = XMLNode(name: "a", namespace: "", attributes: [:], line: 1)
            node.children = [child]
            node = child
        }
        weak var deepest = node
        node = XMLNode(name: "b", namespace: "", attributes: [:], line: 1)
        #expect(deepest != nil)
        root = nil
        #expect(root == nil && deepest == nil)
    }
}

/// Inputs the fuzzers found, kept as fixtures.
@Suite("SBML inputs found by fuzzing")
struct SBMLFuzzFindingTests {
    @Test func anAttributeNameThatIsNotUTF8IsAnErrorNotATrapInXMLParser() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/fuzz/invalid-utf8-attribute.xml")
        let data = try Data(contentsOf: url)
        let error = #expect(throws: SBMLError.self) { _ = try SBMLImporter.importModel(data: data, file: "f.xml") }
        #expect(error?.description == "f.xml:3:123: error: <xml>: malformed SBML: byte 0xFF is not UTF-8 text; SBML documents are UTF-8")
    }
}

extension SBMLFuzzFindingTests {
    @Test func aProcessingInstructionWithoutDataIsAnErrorNotACrashInXMLParser() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/fuzz/empty-processing-instruction.xml")
        let error = #expect(throws: SBMLError.self) { _ = try SBMLImporter.importModel(data: try Data(contentsOf: url), file: "f.xml") }
        #expect(error?.description == "f.xml:1:1: error: <xml>: malformed SBML: the processing instruction `<?x?>` has no data, which ketasim's XML reader cannot take; remove it")
        // One with data, as a stylesheet instruction, still reaches the parser.
        #expect(XMLNode.emptyProcessingInstruction(Data("<?xml version=\"1.0\"?>\n<?style href=\"a\"?><a/>".utf8)) == nil)
        #expect(XMLNode.emptyProcessingInstruction(Data("<a>\n  <?pi ?></a>".utf8)).map { "\($0.line):\($0.column)" } == "2:3")
    }
}
