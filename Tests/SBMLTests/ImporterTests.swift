import Expressions
import Foundation
import Integrator
import Models
@testable import SBML
import Testing

func document(_ body: String, extraNamespaces: String = "") -> String {
    """
    <?xml version="1.0" encoding="UTF-8"?>
    <sbml xmlns="http://www.sbml.org/sbml/level3/version2/core" \(extraNamespaces) level="3" version="2">
      <model id="test_model">
    \(body)
      </model>
    </sbml>
    """
}

func importError(_ xml: String) -> SBMLError? {
    do {
        _ = try SBMLImporter.importModel(xml: xml, file: "test.xml")
        return nil
    } catch {
        return error
    }
}

let decayBody = """
    <listOfCompartments><compartment id="cell" size="2" constant="true"/></listOfCompartments>
    <listOfSpecies>
      <species id="A" compartment="cell" initialConcentration="3" hasOnlySubstanceUnits="false" boundaryCondition="false" constant="false"/>
    </listOfSpecies>
    <listOfParameters><parameter id="k" value="0.5" constant="true"/></listOfParameters>
    <listOfReactions>
      <reaction id="r1" reversible="false">
        <listOfReactants><speciesReference species="A" stoichiometry="1" constant="true"/></listOfReactants>
        <kineticLaw><math xmlns="http://www.w3.org/1998/Math/MathML"><apply><times/><ci>k</ci><ci>A</ci><ci>cell</ci></apply></math></kineticLaw>
      </reaction>
    </listOfReactions>
    """

@Suite struct ImporterTests {
    @Test func reactionBecomesConcentrationODE() throws {
        let model = try SBMLImporter.importModel(xml: document(decayBody), file: "decay.xml")
        let d = model.definition
        #expect(d.states.map(\.name) == ["A"])
        #expect(d.states.first?.initial == 3)
        #expect(d.assignments.map(\.name) == ["r1"])
        #expect(d.parameters.map(\.name).sorted() == ["cell", "k"])
        // d[A]/dt = -(k [A] V) / V = -k [A]
        let rate = try d.odes[0].substituting(["r1": d.assignments[0].expression]).evaluate(["A": 3, "k": 0.5, "cell": 2])
        #expect(abs(rate - -1.5) < 1e-15)
        let run = try model.simulate(times: [0, 1, 2], ids: ["A"], amounts: ["A"])
        #expect(run.failure == nil)
        for (i, t) in [0.0, 1, 2].enumerated() {
            #expect(abs(run.value(0, at: i) - 6 * exp(-0.5 * t)) < 1e-8)
        }
    }

    @Test func functionDefinitionsLocalParametersAndTimeAreTranslated() throws {
        let body = """
            <listOfFunctionDefinitions>
              <functionDefinition id="twice"><math xmlns="http://www.w3.org/1998/Math/MathML">
                <lambda><bvar><ci>x</ci></bvar><apply><times/><cn type="integer">2</cn><ci>x</ci></apply></lambda></math></functionDefinition>
              <functionDefinition id="quad"><math xmlns="http://www.w3.org/1998/Math/MathML">
                <lambda><bvar><ci>x</ci></bvar><apply><ci>twice</ci><apply><ci>twice</ci><ci>x</ci></apply></apply></lambda></math></functionDefinition>
            </listOfFunctionDefinitions>
            <listOfParameters>
              <parameter id="p" value="0" constant="false"/>
              <parameter id="q" value="1" constant="false"/>
            </listOfParameters>
            <listOfRules>
              <assignmentRule variable="p"><math xmlns="http://www.w3.org/1998/Math/MathML">
                <apply><plus/><apply><ci>quad</ci><csymbol encoding="text" definitionURL="http://www.sbml.org/sbml/symbols/time">time</csymbol></apply>
                <apply><cosh/><cn>0</cn></apply></apply></math></assignmentRule>
              <rateRule variable="q"><math xmlns="http://www.w3.org/1998/Math/MathML"><apply><sinh/><ci>q</ci></apply></math></rateRule>
            </listOfRules>
            """
        let model = try SBMLImporter.importModel(xml: document(body), file: "f.xml")
        let p = try #require(model.definition.assignments.first { $0.name == "p" })
        #expect(try p.expression.evaluate(["t": 1.5]) == 7)
        let ode = try #require(model.definition.odes.first)
        #expect(abs(try ode.evaluate(["q": 0.7]) - sinh(0.7)) < 1e-15)
    }

    @Test func eventsFireAtTheirTimeAndAtStart() throws {
        // x' = rate (1), reset at x >= 2.5 counting in `hits`; `hits` set to 100 at the start.
        let body = EventModelTests.body
        let model = try SBMLImporter.importModel(xml: document(body), file: "e.xml")
        let run = try model.simulate(times: [0, 1, 3, 6], ids: ["x", "hits"])
        #expect(run.failure == nil)
        let x = (0..<4).map { run.value(0, at: $0) }
        let hits = (0..<4).map { run.value(1, at: $0) }
        #expect(hits == [100, 100, 101, 102])
        for (got, want) in zip(x, [0, 1, 0.5, 1.0]) { #expect(abs(got - want) < 1e-9) }
    }

    @Test func refusalsNameTheElementAndId() {
        let algebraic = importError(document("""
            <listOfParameters><parameter id="a" value="1" constant="false"/></listOfParameters>
            <listOfRules><algebraicRule><math xmlns="http://www.w3.org/1998/Math/MathML"><apply><exp/><ci>a</ci></apply></math></algebraicRule></listOfRules>
            """))
        #expect(algebraic?.kind == .unsupported)
        #expect(algebraic?.description.contains("<algebraicRule>") == true)
        #expect(algebraic?.description.contains("not linear") == true)

        let delayed = importError(document("""
            <listOfParameters><parameter id="a" value="1" constant="false"/></listOfParameters>
            <listOfEvents><event id="late" useValuesFromTriggerTime="true">
              <trigger initialValue="true" persistent="true"><math xmlns="http://www.w3.org/1998/Math/MathML"><true/></math></trigger>
              <priority><math xmlns="http://www.w3.org/1998/Math/MathML"><apply>
                <csymbol encoding="text" definitionURL="http://www.sbml.org/sbml/symbols/delay">delay</csymbol><ci>a</ci><cn>1</cn>
              </apply></math></priority>
            </event></listOfEvents>
            """))
        #expect(delayed?.kind == .unsupported)
        #expect(delayed?.description.contains("<priority id=\"late\">") == true)
        #expect(delayed?.description.contains("delay csymbol") == true)
        #expect(delayed?.description.contains("test.xml:") == true)

        let package = importError(document("""
            <fbc:listOfObjectives xmlns:fbc="http://www.sbml.org/sbml/level3/version1/fbc/version2"/>
            """, extraNamespaces: "xmlns:fbc=\"http://www.sbml.org/sbml/level3/version1/fbc/version2\" fbc:required=\"false\""))
        #expect(package?.kind == .unsupported)
        #expect(package?.description.contains("fbc") == true)

        let gcd = importError(document("""
            <listOfParameters><parameter id="a" value="1" constant="false"/></listOfParameters>
            <listOfRules><rateRule variable="a"><math xmlns="http://www.w3.org/1998/Math/MathML"><apply><gcd/><ci>a</ci><cn>4</cn></apply></math></rateRule></listOfRules>
            """))
        #expect(gcd?.description.contains("<rateRule id=\"a\">") == true)
        #expect(gcd?.description.contains("gcd") == true)

        let fast = importError(document(decayBody.replacingOccurrences(of: "reversible=\"false\"", with: "reversible=\"false\" fast=\"true\"")))
        #expect(fast?.description.contains("fast") == true)

        let unknown = importError(document("""
            <listOfParameters><parameter id="a" value="1" constant="false"/></listOfParameters>
            <listOfRules><rateRule variable="a"><math xmlns="http://www.w3.org/1998/Math/MathML"><ci>nothing</ci></math></rateRule></listOfRules>
            """))
        #expect(unknown?.kind == .invalid)
        #expect(unknown?.description.contains("nothing") == true)

        let broken = importError("<sbml><model>")
        #expect(broken?.kind == .malformed)
    }

    /// Not folded even though `k` is constant: a folded value would not follow a later change of `k`.
    @Test func trigonometryIsTranslated() throws {
        let model = try SBMLImporter.importModel(xml: document("""
            <listOfParameters><parameter id="k" value="0.5" constant="true"/><parameter id="a" value="1" constant="false"/></listOfParameters>
            <listOfRules><rateRule variable="a"><math xmlns="http://www.w3.org/1998/Math/MathML"><apply><times/><apply><sin/><ci>k</ci></apply><apply><sec/><ci>a</ci></apply></apply></math></rateRule></listOfRules>
            """), file: "trig.xml")
        #expect(model.definition.odes.first?.description == "sin(k) * (1 / cos(a))")
    }

    @Test func reservedIdsAreRenamed() throws {
        let model = try SBMLImporter.importModel(xml: document("""
            <listOfParameters><parameter id="t" value="2" constant="true"/><parameter id="exp" value="1" constant="false"/></listOfParameters>
            <listOfRules><rateRule variable="exp"><math xmlns="http://www.w3.org/1998/Math/MathML"><ci>t</ci></math></rateRule></listOfRules>
            """), file: "names.xml")
        #expect(model.symbols["t"] == "t_")
        #expect(model.symbols["exp"] == "exp_")
        #expect(model.definition.odes.first == .symbol("t_"))
        #expect(model.notes.count == 2)
    }
}

@Suite struct RateOfTests {
    /// `r = rateOf(A)` with dA/dt = -k A: r follows the ODE, not a finite difference, at every output.
    @Test func rateOfIsTheVariablesODE() throws {
        let xml = document(decayBody.replacingOccurrences(of: "<listOfParameters><parameter id=\"k\" value=\"0.5\" constant=\"true\"/></listOfParameters>", with: """
            <listOfParameters><parameter id="k" value="0.5" constant="true"/><parameter id="r" constant="false"/></listOfParameters>
            <listOfRules><assignmentRule variable="r"><math xmlns="http://www.w3.org/1998/Math/MathML">
              <apply><csymbol encoding="text" definitionURL="http://www.sbml.org/sbml/symbols/rateOf">rateOf</csymbol><ci>A</ci></apply>
            </math></assignmentRule></listOfRules>
            """))
        let model = try SBMLImporter.importModel(xml: xml, file: "rateof.xml")
        let run = try model.simulate(times: [0, 1, 2], ids: ["A", "r"])
        for row in 0..<3 {
            #expect(abs(run.value(1, at: row) + 0.5 * run.value(0, at: row)) <= 1e-9)
        }
        #expect(run.value(1, at: 0) == -1.5)
    }

    @Test func anInitialValueThatNeedsARateIsRefusedByName() {
        let xml = document(decayBody.replacingOccurrences(of: "<listOfParameters><parameter id=\"k\" value=\"0.5\" constant=\"true\"/></listOfParameters>", with: """
            <listOfParameters><parameter id="k" value="0.5" constant="true"/><parameter id="p" constant="true"/></listOfParameters>
            <listOfInitialAssignments><initialAssignment symbol="p"><math xmlns="http://www.w3.org/1998/Math/MathML">
              <apply><csymbol encoding="text" definitionURL="http://www.sbml.org/sbml/symbols/rateOf">rateOf</csymbol><ci>A</ci></apply>
            </math></initialAssignment></listOfInitialAssignments>
            """))
        let error = importError(xml)
        #expect(error?.kind == .unsupported && error?.id == "p")
    }
}

@Suite struct DelayedEventTests {
    /// p is set 0.5 after `time >= 1` becomes true; a non-persistent twin whose trigger turns false
    /// (at 1.2) before its execution time (1.5) is cancelled.
    static func model(persistent: Bool) -> String {
        document("""
            <listOfParameters><parameter id="p" value="0" constant="false"/></listOfParameters>
            <listOfEvents><event id="E" useValuesFromTriggerTime="true">
              <trigger initialValue="true" persistent="\(persistent)"><math xmlns="http://www.w3.org/1998/Math/MathML">
                <apply><and/>
                  <apply><geq/><csymbol encoding="text" definitionURL="http://www.sbml.org/sbml/symbols/time">t</csymbol><cn>1</cn></apply>
                  <apply><lt/><csymbol encoding="text" definitionURL="http://www.sbml.org/sbml/symbols/time">t</csymbol><cn>1.2</cn></apply>
                </apply></math></trigger>
              <delay><math xmlns="http://www.w3.org/1998/Math/MathML"><cn>0.5</cn></math></delay>
              <listOfEventAssignments><eventAssignment variable="p"><math xmlns="http://www.w3.org/1998/Math/MathML"><cn>5</cn></math></eventAssignment></listOfEventAssignments>
            </event></listOfEvents>
            """)
    }

    /// Every 0.1: steps are cut at outputs, so the 0.2-long trigger pulse is seen.
    static let times = (0...20).map { Double($0) / 10 }

    @Test func aDelayedEventExecutesAtTriggerPlusDelay() throws {
        let model = try SBMLImporter.importModel(xml: Self.model(persistent: true), file: "delay.xml")
        let run = try model.simulate(times: Self.times, ids: ["p"])
        #expect(run.succeeded)
        #expect(run.value(0, at: 14) == 0)
        #expect(run.value(0, at: 16) == 5)
        #expect(run.value(0, at: 20) == 5)
    }

    @Test func aNonPersistentDelayedEventIsCancelledWhenItsTriggerTurnsFalse() throws {
        let model = try SBMLImporter.importModel(xml: Self.model(persistent: false), file: "delay.xml")
        let run = try model.simulate(times: Self.times, ids: ["p"])
        #expect(run.value(0, at: 20) == 0)
    }
}
