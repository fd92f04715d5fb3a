import Foundation
@testable import SBML
import Testing

private let mathNS = "xmlns=\"http://www.w3.org/1998/Math/MathML\""
private let time = "<csymbol encoding=\"text\" definitionURL=\"http://www.sbml.org/sbml/symbols/time\">t</csymbol>"

private func algebraic(_ math: String, id: String? = nil) -> String {
    "<algebraicRule\(id.map { " metaid=\"\($0)\"" } ?? "")><math \(mathNS)>\(math)</math></algebraicRule>"
}

@Suite struct AlgebraicRuleTests {
    /// A decays (A = 3 exp(-t/2)); B takes part in no reaction, so 0 = A + B - T determines it:
    /// B = 10 - A at every time, and at t0 too (its own initial value, 0, is overridden).
    @Test func aConservationLawDeterminesTheFreeSpecies() throws {
        let body = decayBody
            .replacingOccurrences(of: "</listOfSpecies>", with: """
                <species id="B" compartment="cell" initialConcentration="0" hasOnlySubstanceUnits="false" boundaryCondition="false" constant="false"/>
                </listOfSpecies>
                """)
            .replacingOccurrences(of: "<parameter id=\"k\" value=\"0.5\" constant=\"true\"/>", with: """
                <parameter id="k" value="0.5" constant="true"/><parameter id="T" value="10" constant="true"/>
                """)
            .replacingOccurrences(of: "<listOfReactions>", with: """
                <listOfRules>\(algebraic("<apply><minus/><apply><plus/><ci>A</ci><ci>B</ci></apply><ci>T</ci></apply>"))</listOfRules>
                <listOfReactions>
                """)
        let model = try SBMLImporter.importModel(xml: document(body), file: "conservation.xml")
        #expect(model.definition.assignments.map(\.name).contains("B"))
        #expect(model.notes.contains { $0.contains("`B` is determined by the algebraic rule") })
        let run = try model.simulate(times: [0, 1, 2], ids: ["A", "B"])
        #expect(run.succeeded)
        for (row, t) in [0.0, 1, 2].enumerated() {
            #expect(abs(run.value(1, at: row) - (10 - 3 * exp(-0.5 * t))) < 1e-8)
        }
    }

    /// 0 = 3 y - t with y = 2 x: the rule reaches x only through the assignment rule, so x = t / 6.
    @Test func aRuleDeterminesAVariableThroughAnAssignmentRule() throws {
        let xml = document("""
            <listOfParameters><parameter id="x" constant="false"/><parameter id="y" constant="false"/></listOfParameters>
            <listOfRules>
              <assignmentRule variable="y"><math \(mathNS)><apply><times/><cn>2</cn><ci>x</ci></apply></math></assignmentRule>
              \(algebraic("<apply><minus/><apply><times/><cn>3</cn><ci>y</ci></apply>\(time)</apply>"))
            </listOfRules>
            """)
        let run = try SBMLImporter.importModel(xml: xml, file: "through.xml").simulate(times: [0, 3], ids: ["x", "y"])
        #expect(run.value(0, at: 1) == 0.5)
        #expect(run.value(1, at: 1) == 1)
    }

    /// 0 = x + y - 1 and 0 = x - y - t, coupled: solved by elimination, x = (1 + t) / 2, y = (1 - t) / 2.
    @Test func aLinearSystemIsSolvedByElimination() throws {
        let xml = document("""
            <listOfParameters><parameter id="x" constant="false"/><parameter id="y" constant="false"/></listOfParameters>
            <listOfRules>
              \(algebraic("<apply><minus/><apply><plus/><ci>x</ci><ci>y</ci></apply><cn>1</cn></apply>"))
              \(algebraic("<apply><minus/><apply><minus/><ci>x</ci><ci>y</ci></apply>\(time)</apply>"))
            </listOfRules>
            """)
        let run = try SBMLImporter.importModel(xml: xml, file: "system.xml").simulate(times: [0, 2], ids: ["x", "y"])
        #expect(run.value(0, at: 0) == 0.5 && run.value(1, at: 0) == 0.5)
        #expect(abs(run.value(0, at: 1) - 1.5) < 1e-12 && abs(run.value(1, at: 1) + 0.5) < 1e-12)
    }

    /// dA/dt = 1; an event resets A to 0 at t = 1; B = 5 - A is re-determined after it.
    @Test func anEventChangesWhatTheRuleDetermines() throws {
        let xml = document("""
            <listOfParameters><parameter id="A" value="0" constant="false"/><parameter id="B" constant="false"/></listOfParameters>
            <listOfRules>
              <rateRule variable="A"><math \(mathNS)><cn>1</cn></math></rateRule>
              \(algebraic("<apply><minus/><apply><plus/><ci>A</ci><ci>B</ci></apply><cn>5</cn></apply>"))
            </listOfRules>
            <listOfEvents><event id="reset" useValuesFromTriggerTime="true">
              <trigger initialValue="true" persistent="true"><math \(mathNS)><apply><geq/>\(time)<cn>1</cn></apply></math></trigger>
              <listOfEventAssignments><eventAssignment variable="A"><math \(mathNS)><cn>0</cn></math></eventAssignment></listOfEventAssignments>
            </event></listOfEvents>
            """)
        let run = try SBMLImporter.importModel(xml: xml, file: "event.xml").simulate(times: [0, 0.5, 1.5], ids: ["B"])
        #expect(run.value(0, at: 0) == 5)
        #expect(abs(run.value(0, at: 1) - 4.5) < 1e-9)
        #expect(abs(run.value(0, at: 2) - 4.5) < 1e-9)
    }

    private static let params = """
        <listOfParameters><parameter id="x" value="1" constant="false"/><parameter id="k" value="0" constant="true"/>
        <parameter id="r" value="0" constant="false"/></listOfParameters>
        """

    private static func rules(_ rules: String, events: String = "") -> String {
        document(params + "<listOfRules><rateRule variable=\"r\"><math \(mathNS)><cn>1</cn></math></rateRule>\(rules)</listOfRules>" + events)
    }

    @Test func aRuleNotLinearInItsVariableIsRefusedByName() {
        let square = importError(Self.rules(algebraic("<apply><minus/><apply><times/><ci>x</ci><ci>x</ci></apply><cn>2</cn></apply>", id: "sq")))
        #expect(square?.kind == .unsupported)
        #expect(square?.description.contains("<algebraicRule id=\"sq\">") == true)
        #expect(square?.description.contains("not linear in it") == true)
        // x + (1 if x > 0 else 2) - 3 has derivative 1 everywhere, yet is not linear in x.
        let hidden = importError(Self.rules(algebraic("""
            <apply><minus/><apply><plus/><ci>x</ci><piecewise><piece><cn>1</cn><apply><gt/><ci>x</ci><cn>0</cn></apply></piece>
            <otherwise><cn>2</cn></otherwise></piecewise></apply><cn>3</cn></apply>
            """)))
        #expect(hidden?.kind == .unsupported)
    }

    @Test func anOverdeterminedModelIsInvalid() {
        // r has a rate rule and k is constant: nothing is left for the rule to determine.
        let none = importError(Self.rules(algebraic("<apply><minus/><ci>r</ci><ci>k</ci></apply>", id: "over")))
        #expect(none?.kind == .invalid)
        #expect(none?.description.contains("<algebraicRule id=\"over\">") == true)
        #expect(none?.description.contains("overdetermined") == true)
        // Two rules, one free variable.
        let two = importError(Self.rules(algebraic("<apply><minus/><ci>x</ci><cn>1</cn></apply>")
                                         + algebraic("<apply><minus/><ci>x</ci><cn>2</cn></apply>", id: "second")))
        #expect(two?.description.contains("<algebraicRule id=\"second\">") == true)
        #expect(two?.description.contains("determined by other algebraic rules") == true)
    }

    @Test func aZeroCoefficientAndAnEventOnTheVariableAreRefused() {
        let singular = importError(Self.rules(algebraic("<apply><minus/><apply><times/><ci>k</ci><ci>x</ci></apply><cn>1</cn></apply>")))
        #expect(singular?.kind == .invalid)
        #expect(singular?.description.contains("coefficient of `x` is 0") == true)
        let assigned = importError(Self.rules(algebraic("<apply><minus/><ci>x</ci><ci>r</ci></apply>"), events: """
            <listOfEvents><event useValuesFromTriggerTime="true">
              <trigger initialValue="true" persistent="true"><math \(mathNS)><apply><geq/>\(time)<cn>1</cn></apply></math></trigger>
              <listOfEventAssignments><eventAssignment variable="x"><math \(mathNS)><cn>0</cn></math></eventAssignment></listOfEventAssignments>
            </event></listOfEvents>
            """))
        #expect(assigned?.kind == .unsupported)
        #expect(assigned?.description.contains("<eventAssignment id=\"x\">") == true)
    }
}

@Suite struct CompositeTriggerTests {
    /// p = t; the trigger p > 2.5 && p < 3 holds for half a time unit, inside one step of a solver that
    /// only has to stop at t = 5: each relation is watched, so its crossing at 2.5 is a stop and q is set.
    @Test func aTriggerTrueForLessThanAStepFires() throws {
        let xml = document("""
            <listOfParameters><parameter id="p" value="0" constant="false"/><parameter id="q" value="0" constant="false"/></listOfParameters>
            <listOfRules><rateRule variable="p"><math \(mathNS)><cn>1</cn></math></rateRule></listOfRules>
            <listOfEvents><event id="window" useValuesFromTriggerTime="true">
              <trigger initialValue="true" persistent="true"><math \(mathNS)>
                <apply><and/><apply><gt/><ci>p</ci><cn>2.5</cn></apply><apply><lt/><ci>p</ci><cn>3</cn></apply></apply>
              </math></trigger>
              <listOfEventAssignments><eventAssignment variable="q"><math \(mathNS)><ci>p</ci></math></eventAssignment></listOfEventAssignments>
            </event></listOfEvents>
            """)
        let run = try SBMLImporter.importModel(xml: xml, file: "window.xml").simulate(times: [0, 5], ids: ["q"])
        #expect(run.succeeded)
        #expect(abs(run.value(0, at: 1) - 2.5) < 1e-9)
    }
}
