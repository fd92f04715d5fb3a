import Foundation
import Models
@testable import SBML
import Testing

private let mathNS = "xmlns=\"http://www.w3.org/1998/Math/MathML\""
private func rateOf(_ x: String) -> String {
    "<apply><csymbol encoding=\"text\" definitionURL=\"http://www.sbml.org/sbml/symbols/rateOf\">rateOf</csymbol><ci>\(x)</ci></apply>"
}
private func math(_ content: String) -> String { "<math \(mathNS)>\(content)</math>" }

/// Parameters x0...x(n-1), one a line from line 5 (x_k on line 5 + k), with rate rules: x0's is 1, x_k's `rate(k)`.
private func rateChain(_ n: Int, _ rate: (Int) -> String) -> String {
    let parameters = (0..<n).map { "<parameter id=\"x\($0)\" value=\"0\" constant=\"false\"/>" }.joined(separator: "\n")
    let rules = (0..<n).map { k in "<rateRule variable=\"x\(k)\">\(math(k == 0 ? "<cn>1</cn>" : rate(k)))</rateRule>" }.joined(separator: "\n")
    return document("<listOfParameters>\n\(parameters)\n</listOfParameters>\n<listOfRules>\n\(rules)\n</listOfRules>")
}

/// rateOf, algebraic rules and the assignment rules they use are substituted into other math: each
/// substitution is measured before it is built, so a chain that doubles per link is refused at the
/// link that crosses the limit (it used to take time and memory exponential in its length), and a
/// long chain within the limits imports and runs.
@Suite("SBML substitution limits")
struct SubstitutionLimitTests {
    @Test func ratesThatEachUseThePreviousRateTwiceAreRefusedWhereTheyCrossTheLimit() {
        // x_k' = rateOf(x_(k-1)) * rateOf(x_(k-1)) + 1: 2^(k+2) - 3 terms once replaced, 524,285 at x17.
        let xml = rateChain(40) { k in "<apply><plus/><apply><times/>\(rateOf("x\(k - 1)"))\(rateOf("x\(k - 1)"))</apply><cn>1</cn></apply>" }
        let error = #expect(throws: SBMLError.self) { _ = try SBMLImporter.importModel(xml: xml, file: "rates.xml") }
        #expect(error?.description == "rates.xml:\(5 + 17): error: <parameter id=\"x17\">: not supported by ketasim's SBML import: the rate of `x17` has 524285 terms "
                + "once each rateOf is replaced by the rate it names, more than ketasim's limit of 500000: rates that use other rates several times multiply "
                + "at every link; name the rates it uses with assignment rules")
    }

    @Test func aChainOfRatesLongerThanThirtyTwoImportsAndEachIsTheRateItNames() throws {
        // x_k' = rateOf(x_(k-1)) + 1, so x_k' = k + 1; this was refused as a cycle beyond 32 links.
        let xml = rateChain(300) { k in "<apply><plus/>\(rateOf("x\(k - 1)"))<cn>1</cn></apply>" }
        let model = try SBMLImporter.importModel(xml: xml, file: "long.xml")
        let k = try #require(model.definition.states.firstIndex { $0.name == "x299" })
        #expect(try model.definition.odes[k].evaluate(["t": 0]) == 300)
        let run = try model.simulate(times: [0, 2], ids: ["x299"])
        #expect(abs(run.value(0, at: 1) - 600) < 1e-6)
    }

    @Test func aChainOfRatesDeeperThanTheLimitIsRefusedAtItsFirstTooDeepRate() {
        let xml = rateChain(700) { k in "<apply><plus/>\(rateOf("x\(k - 1)"))<cn>1</cn></apply>" }
        let error = #expect(throws: SBMLError.self) { _ = try SBMLImporter.importModel(xml: xml, file: "deep.xml") }
        #expect(error?.message == "the rate of `x500` is 501 levels deep once each rateOf is replaced by the rate it names, more than ketasim's limit of 500; "
                + "name the rates it uses with assignment rules")
        #expect(error?.line == 5 + 500)
    }

    @Test func ratesThatUseEachOtherAreRefusedWithTheirCycle() {
        let xml = rateChain(3) { k in rateOf(k == 1 ? "x2" : "x1") }
        let error = #expect(throws: SBMLError.self) { _ = try SBMLImporter.importModel(xml: xml, file: "cycle.xml") }
        #expect(error?.message.hasPrefix("rateOf csymbols that depend on each other in a cycle: the rate of `x") == true, "\(error?.message ?? "")")
        #expect(error?.message.contains("`x1` uses the rate of `x2`") == true || error?.message.contains("`x2` uses the rate of `x1`") == true)
    }

    @Test func anEventTriggerDeeperThanTheLimitOnceRatesAreReplacedIsRefusedAtTheEvent() throws {
        // x1's rate is 500 levels deep; rateOf(x1) > 0 puts it one level down: 501.
        let rate = String(repeating: "<apply><minus/>", count: 499) + "<ci>x1</ci>" + String(repeating: "</apply>", count: 499)
        let event = """
            <listOfEvents><event id="e">
            <trigger initialValue="false" persistent="true">\(math("<apply><gt/>\(rateOf("x1"))<cn>0</cn></apply>"))</trigger>
            <listOfEventAssignments><eventAssignment variable="x1">\(math("<cn>1</cn>"))</eventAssignment></listOfEventAssignments>
            </event></listOfEvents>
            """
        let xml = rateChain(2) { _ in rate }.replacingOccurrences(of: "\n  </model>", with: "\n\(event)\n  </model>")
        let error = #expect(throws: SBMLError.self) { _ = try SBMLImporter.importModel(xml: xml, file: "event.xml") }
        #expect(error?.description == "event.xml:12: error: <event id=\"e\">: not supported by ketasim's SBML import: the trigger is 501 levels deep "
                + "once each rateOf is replaced by the rate it names, more than ketasim's limit of 500; name the rates it uses with assignment rules")
    }

    /// Parameters x (free), T = 1024 and y1...y(n): y1 = x + x, y_k = y_(k-1) + y_(k-1), and 0 = y_n - T, which
    /// determines x through the whole chain: x = T / 2^n.
    private func assignmentChain(_ n: Int) -> String {
        let ys = (1...n).map { "<parameter id=\"y\($0)\" constant=\"false\"/>" }.joined()
        let rules = (1...n).map { k in
            let previous = k == 1 ? "x" : "y\(k - 1)"
            return "<assignmentRule variable=\"y\(k)\">\(math("<apply><plus/><ci>\(previous)</ci><ci>\(previous)</ci></apply>"))</assignmentRule>"
        }.joined(separator: "\n")
        return document("""
            <listOfParameters><parameter id="x" constant="false"/><parameter id="T" value="1024" constant="true"/>\(ys)</listOfParameters>
            <listOfRules>
            <algebraicRule metaid="conservation">\(math("<apply><minus/><ci>y\(n)</ci><ci>T</ci></apply>"))</algebraicRule>
            \(rules)
            </listOfRules>
            """)
    }

    @Test func assignmentRulesThatDoubleIntoAnAlgebraicRuleAreRefusedByTheirSizeBeforeTheyAreBuilt() throws {
        let error = #expect(throws: SBMLError.self) { _ = try SBMLImporter.importModel(xml: assignmentChain(60), file: "chain.xml") }
        #expect(error?.description == "chain.xml:6: error: <algebraicRule id=\"conservation\">: not supported by ketasim's SBML import: the rule, with the "
                + "assignment rules it uses substituted, has about 10^18 terms, more than ketasim's limit of 500000: rules that use the previous one several "
                + "times multiply at every link; write the solution as assignment rules")
        // Ten links are 2,049 terms: solved, x = T / 1024.
        let run = try SBMLImporter.importModel(xml: assignmentChain(10), file: "ten.xml").simulate(times: [0, 1], ids: ["x", "y10"])
        #expect(run.value(0, at: 0) == 1 && run.value(1, at: 1) == 1024)
    }

    /// Parameters x0...x(n-1), rule k on line 6 + k, rule 0: 0 = x0 - 1, rule k: 0 = x_k - x_(k-1) - x_(k-1), so x_k = 2^k.
    private func algebraicChain(_ n: Int) -> String {
        let xs = (0..<n).map { "<parameter id=\"x\($0)\" constant=\"false\"/>" }.joined()
        let rules = (0..<n).map { k in
            let f = k == 0 ? "<apply><minus/><ci>x0</ci><cn>1</cn></apply>"
                : "<apply><minus/><apply><minus/><ci>x\(k)</ci><ci>x\(k - 1)</ci></apply><ci>x\(k - 1)</ci></apply>"
            return "<algebraicRule metaid=\"r\(k)\">\(math(f))</algebraicRule>"
        }.joined(separator: "\n")
        return document("<listOfParameters>\(xs)</listOfParameters>\n<listOfRules>\n\(rules)\n</listOfRules>")
    }

    @Test func algebraicRulesWhoseSolutionsEachUseThePreviousTwiceAreRefusedWhereTheyCrossTheLimit() throws {
        let error = #expect(throws: SBMLError.self) { _ = try SBMLImporter.importModel(xml: algebraicChain(40), file: "rules.xml") }
        // x_k's solution, -(-x_(k-1) - x_(k-1)) with x_(k-1)'s substituted, has 5 2^(k-1) - 1 terms; rule k with
        // x_(k-1)'s substituted, 5 2^(k-1) + 1: 655,361 at rule 18.
        #expect(error?.description == "rules.xml:\(6 + 18): error: <algebraicRule id=\"r18\">: not supported by ketasim's SBML import: the rule, with the "
                + "solutions of the rules before it substituted, has 655361 terms, more than ketasim's limit of 500000: rules that use the previous one "
                + "several times multiply at every link; write the solution as assignment rules")
        let run = try SBMLImporter.importModel(xml: algebraicChain(10), file: "ten.xml").simulate(times: [0, 1], ids: ["x9"])
        #expect(run.value(0, at: 0) == 512 && run.value(0, at: 1) == 512)
    }

    /// Values that read each other in a chain are computed in order with an explicit stack: 20,000
    /// assignment rules p_k = p_(k-1) + 1 overflowed the stack, one level of recursion per link, on
    /// import and where a PEtab problem recomputes initial values (`initialStates`).
    @Test func aChainOfTwentyThousandAssignmentRulesImportsAndStartsItsSpecies() throws {
        let n = 20_000
        let parameters = (0..<n).map { "<parameter id=\"p\($0)\" value=\"0\" constant=\"\($0 == 0)\"/>" }.joined()
        let rules = (1..<n).map { k in
            "<assignmentRule variable=\"p\(k)\">\(math("<apply><plus/><ci>p\(k - 1)</ci><cn>1</cn></apply>"))</assignmentRule>"
        }.joined(separator: "\n")
        let xml = document("""
            <listOfCompartments><compartment id="c" size="1" constant="true"/></listOfCompartments>
            <listOfSpecies><species id="A" compartment="c" initialConcentration="1" hasOnlySubstanceUnits="false" boundaryCondition="false" constant="false"/></listOfSpecies>
            <listOfParameters>\(parameters)</listOfParameters>
            <listOfInitialAssignments><initialAssignment symbol="A">\(math("<ci>p\(n - 1)</ci>"))</initialAssignment></listOfInitialAssignments>
            <listOfRules>
            \(rules)
            </listOfRules>
            """)
        let model = try SBMLImporter.importModel(xml: xml, file: "chain.xml")
        #expect(model.definition.states.first?.initial == Double(n - 1))
        #expect(model.initialStates(parameters: ["p0": 1]) == ["A": Double(n)])
    }

    /// What the limits rest on: the depth and size `MathMeasure` predicts for a substitution are those
    /// of the tree it builds, on random trees with names used several times at different depths.
    @Test func aMeasuredSubstitutionIsTheTreeItBuilds() {
        var rng = SystemRandomNumberGenerator()
        func tree(_ depth: Int) -> MathNode {
            if depth == 0 || Int.random(in: 0..<4, using: &rng) == 0 {
                return [.name("a"), .name("b"), .name("c"), .number(2), .time][Int.random(in: 0..<5, using: &rng)]
            }
            switch Int.random(in: 0..<4, using: &rng) {
            case 0: return .apply("plus", (0..<Int.random(in: 2...4, using: &rng)).map { _ in tree(depth - 1) })
            case 1: return .apply("minus", [tree(depth - 1)])
            case 2: return .piecewise([.init(value: tree(depth - 1), condition: tree(depth - 1)), .init(value: tree(depth - 1), condition: tree(depth - 1))],
                                      otherwise: Bool.random(using: &rng) ? tree(depth - 1) : nil)
            default: return .apply("log", [tree(depth - 1), tree(depth - 1)])
            }
        }
        for _ in 0..<200 {
            let body = tree(6), a = tree(4), b = tree(3)
            let predicted = body.measure(open: ["a", "b"]).substituted([a, b].map { m in (m.measure(open: []).depth, m.measure(open: []).size) })
            let built = body.substituting(["a": a, "b": b]).measure(open: [])
            #expect(predicted.depth == built.depth && predicted.size == built.size)
        }
    }

    @Test func assignmentRulesInACycleAreNamedWhenAnAlgebraicRuleUsesThem() {
        let xml = document("""
            <listOfParameters><parameter id="x" constant="false"/><parameter id="a" constant="false"/><parameter id="b" constant="false"/></listOfParameters>
            <listOfRules>
            <algebraicRule>\(math("<apply><minus/><ci>a</ci><ci>x</ci></apply>"))</algebraicRule>
            <assignmentRule variable="a">\(math("<apply><plus/><ci>b</ci><ci>x</ci></apply>"))</assignmentRule>
            <assignmentRule variable="b">\(math("<apply><times/><ci>a</ci><cn>2</cn></apply>"))</assignmentRule>
            </listOfRules>
            """)
        let error = #expect(throws: SBMLError.self) { _ = try SBMLImporter.importModel(xml: xml, file: "cycle.xml") }
        #expect(error?.description == "cycle.xml:7: error: <assignmentRule id=\"a\">: assignment rules depend on each other in a cycle: `a` uses `b` uses `a`")
    }
}
