import Experiments
import Foundation
import Integrator
import Models
@testable import SBML
import Testing

/// SBML Level 3 event priorities: events due at one time execute one at a time, highest priority first
/// (evaluated at each choice), events an execution triggers join those still due, a non-persistent one
/// whose trigger an execution turned false is dropped, and equal priorities go in a seeded random order.
@Suite struct EventPriorityTests {
    static let time = "<csymbol encoding=\"text\" definitionURL=\"http://www.sbml.org/sbml/symbols/time\">t</csymbol>"
    static let atOne = "<apply><geq/>\(time)<cn>1</cn></apply>"

    /// One event; math arguments are MathML content without the `<math>` wrapper. Values are computed
    /// at execution unless `fromTriggerTime`.
    static func event(_ id: String, trigger: String, priority: String?, persistent: Bool = true, fromTriggerTime: Bool = false,
                      delay: String? = nil, assign: [(String, String)]) -> String {
        func math(_ m: String) -> String { "<math xmlns=\"http://www.w3.org/1998/Math/MathML\">\(m)</math>" }
        var e = "<event id=\"\(id)\" useValuesFromTriggerTime=\"\(fromTriggerTime)\">"
        e += "<trigger initialValue=\"true\" persistent=\"\(persistent)\">\(math(trigger))</trigger>"
        if let priority { e += "<priority>\(math(priority))</priority>" }
        if let delay { e += "<delay>\(math(delay))</delay>" }
        e += "<listOfEventAssignments>"
        for (variable, value) in assign { e += "<eventAssignment variable=\"\(variable)\">\(math(value))</eventAssignment>" }
        return e + "</listOfEventAssignments></event>\n"
    }

    static func model(_ events: String...) -> String {
        document("""
            <listOfParameters>
              <parameter id="x" value="1" constant="false"/>
              <parameter id="flag" value="0" constant="false"/>
              <parameter id="y" value="0" constant="false"/>
            </listOfParameters>
            <listOfEvents>
            \(events.joined())
            </listOfEvents>
            """)
    }

    static func x(at t: Double, _ xml: String) throws -> Double {
        let model = try SBMLImporter.importModel(xml: xml, file: "priority.xml")
        let run = try model.simulate(times: [0, t], ids: ["x"])
        #expect(run.succeeded)
        return run.value(0, at: 1)
    }

    static func times10(priority: String?) -> String {
        event("times10", trigger: atOne, priority: priority, assign: [("x", "<apply><times/><ci>x</ci><cn>10</cn></apply>")])
    }
    static func plus1(priority: String?) -> String {
        event("plus1", trigger: atOne, priority: priority, assign: [("x", "<apply><plus/><ci>x</ci><cn>1</cn></apply>")])
    }
    static let minus3 = event("minus3", trigger: atOne, priority: nil, assign: [("x", "<apply><minus/><ci>x</ci><cn>3</cn></apply>")])

    /// Document order is the reverse of the priorities'; the event without a priority goes last.
    @Test func higherPriorityExecutesFirstAndNoPriorityLast() throws {
        #expect(try Self.x(at: 2, Self.model(Self.minus3, Self.plus1(priority: "<cn>1</cn>"), Self.times10(priority: "<cn>2</cn>"))) == 8)
        #expect(try Self.x(at: 2, Self.model(Self.minus3, Self.plus1(priority: "<cn>3</cn>"), Self.times10(priority: "<cn>2</cn>"))) == 17)
    }

    /// `raise` (priority 10) sets flag, which triggers `plus1` (priority 5) at the same time: it joins
    /// `times10` still due and runs before it when times10's priority is 1, after it when times10's
    /// priority, flag x 20, is evaluated after `raise` executed.
    @Test func eventsTriggeredByAnExecutionCompeteByPriorityEvaluatedAtEachChoice() throws {
        let raise = Self.event("raise", trigger: Self.atOne, priority: "<cn>10</cn>", assign: [("flag", "<cn>1</cn>")])
        let plus1 = Self.event("plus1", trigger: "<apply><gt/><ci>flag</ci><cn>0.5</cn></apply>", priority: "<cn>5</cn>",
                               assign: [("x", "<apply><plus/><ci>x</ci><cn>1</cn></apply>")])
        #expect(try Self.x(at: 2, Self.model(Self.times10(priority: "<cn>1</cn>"), plus1, raise)) == 20)
        #expect(try Self.x(at: 2, Self.model(Self.times10(priority: "<apply><times/><ci>flag</ci><cn>20</cn></apply>"), plus1, raise)) == 11)
    }

    /// `block` (priority 2) sets y = 1, which makes `guarded`'s trigger false before its turn.
    @Test func aNonPersistentEventIsDroppedWhenAHigherPriorityOneTurnsItsTriggerFalse() throws {
        let block = Self.event("block", trigger: Self.atOne, priority: "<cn>2</cn>", assign: [("y", "<cn>1</cn>")])
        func guarded(persistent: Bool) -> String {
            Self.event("guarded", trigger: "<apply><and/>\(Self.atOne)<apply><lt/><ci>y</ci><cn>0.5</cn></apply></apply>",
                       priority: "<cn>1</cn>", persistent: persistent, assign: [("x", "<cn>100</cn>")])
        }
        #expect(try Self.x(at: 2, Self.model(guarded(persistent: false), block)) == 1)
        #expect(try Self.x(at: 2, Self.model(guarded(persistent: true), block)) == 100)
    }

    /// Delayed events that come due at the same time compete by priority as well.
    @Test func delayedEventsDueTogetherExecuteByPriority() throws {
        func delayed(_ id: String, priority: String, assign value: String) -> String {
            Self.event(id, trigger: Self.atOne, priority: priority, delay: "<cn>0.5</cn>", assign: [("x", value)])
        }
        let times10 = delayed("times10", priority: "<cn>1</cn>", assign: "<apply><times/><ci>x</ci><cn>10</cn></apply>")
        let plus1 = delayed("plus1", priority: "<cn>2</cn>", assign: "<apply><plus/><ci>x</ci><cn>1</cn></apply>")
        #expect(try Self.x(at: 2, Self.model(times10, plus1)) == 20)
    }

    /// Two non-persistent events of equal priority re-armed every 0.01 by `reset` (the Test Suite's case
    /// 952): only the first chosen executes each time, since it turns the other's trigger false. A fixed
    /// order would count on one side only; the seeded random order splits the counts and repeats exactly.
    @Test func equalPrioritiesBreakTiesRandomlyButReproducibly() throws {
        let rearm = "<apply><geq/><apply><minus/>\(Self.time)<ci>y</ci></apply><cn>0.01</cn></apply>"
        func counter(_ id: String, _ variable: String) -> String {
            Self.event(id, trigger: rearm, priority: "<cn>1</cn>", persistent: false, fromTriggerTime: true,
                       assign: [("y", Self.time), (variable, "<apply><plus/><ci>\(variable)</ci><cn>1</cn></apply>")])
        }
        let xml = Self.model(counter("left", "x"), counter("right", "flag"))
        let model = try SBMLImporter.importModel(xml: xml, file: "ties.xml")
        let simulator = try Simulator(model: CompiledModel(model.definition), settings: SBMLTestSuite.solverSettings)
        var plan = SimulationPlan(model: model.definition, tEnd: 1)
        plan.outputTimes = [0, 1]
        let columns = try model.columns(ids: ["x", "flag"])
        let first = try simulator.run(plan, columns: columns)
        let second = try simulator.run(plan, columns: columns)
        #expect(first.succeeded)
        let left = first.value(0, at: 1) - 1, right = first.value(1, at: 1)
        #expect(abs(left + right - 100) <= 1, "one execution per 0.01: \(left) + \(right)")
        #expect(left > 25 && right > 25, "both orders happen: \(left) and \(right)")
        #expect(first.values == second.values)
    }

    /// Export writes `<priority>` and `<delay>` back: the round trip keeps them and simulates alike.
    @Test func exportKeepsPrioritiesAndDelays() throws {
        let raise = Self.event("raise", trigger: Self.atOne, priority: "<cn>10</cn>", assign: [("flag", "<cn>1</cn>")])
        let plus1 = Self.event("plus1", trigger: "<apply><gt/><ci>flag</ci><cn>0.5</cn></apply>", priority: "<cn>5</cn>",
                               assign: [("x", "<apply><plus/><ci>x</ci><cn>1</cn></apply>")])
        let later = Self.event("later", trigger: Self.atOne, priority: nil, delay: "<apply><divide/><cn>1</cn><cn>2</cn></apply>",
                               assign: [("y", "<ci>x</ci>")])
        let xml = Self.model(Self.times10(priority: "<apply><times/><ci>flag</ci><cn>20</cn></apply>"), plus1, raise, later)
        let model = try SBMLImporter.importModel(xml: xml, file: "priority.xml")
        let exported = try SBMLExporter.export(model.definition)
        let back = try SBMLImporter.importModel(xml: exported, file: "exported.xml")
        #expect(back.events.map { $0.priority != nil } == [true, true, true, false])
        #expect(back.events.map { $0.delay != nil } == [false, false, false, true])
        let times = [0, 1.2, 1.6, 2]
        let before = try model.simulate(times: times, ids: ["x", "flag", "y"])
        let after = try back.simulate(times: times, ids: ["x", "flag", "y"])
        #expect(before.succeeded && after.succeeded)
        #expect(before.values == after.values)
        #expect(before.value(0, at: 3) == 11 && before.value(2, at: 1) == 0 && before.value(2, at: 2) == 11)
    }
}

@Suite struct TriggerLocationTests {
    static let time = EventPriorityTests.time
    static func math(_ m: String) -> String { "<math xmlns=\"http://www.w3.org/1998/Math/MathML\">\(m)</math>" }

    /// x' = 1 and a trigger true only while 0.45 < x < 0.451: outputs at 0 and 1 only, so the stepper's
    /// steps are far longer than the window, which is false at both ends of the step that contains it.
    @Test func aTriggerTrueOnlyInsideOneStepFires() throws {
        let xml = document("""
            <listOfParameters>
              <parameter id="x" value="0" constant="false"/>
              <parameter id="y" value="0" constant="false"/>
            </listOfParameters>
            <listOfRules><rateRule variable="x">\(Self.math("<cn>1</cn>"))</rateRule></listOfRules>
            <listOfEvents><event id="pulse" useValuesFromTriggerTime="true">
              <trigger initialValue="true" persistent="true">\(Self.math("<apply><and/><apply><gt/><ci>x</ci><cn>0.45</cn></apply><apply><lt/><ci>x</ci><cn>0.451</cn></apply></apply>"))</trigger>
              <listOfEventAssignments><eventAssignment variable="y">\(Self.math(Self.time))</eventAssignment></listOfEventAssignments>
            </event></listOfEvents>
            """)
        let model = try SBMLImporter.importModel(xml: xml, file: "pulse.xml")
        let run = try model.simulate(times: [0, 1], ids: ["y"])
        #expect(run.succeeded)
        #expect(abs(run.value(0, at: 1) - 0.45) < 1e-9)
    }

    /// C grows from 0.5 at 0.2 per unit time; S (a concentration, so held as an amount) is set to 2 by an
    /// event triggered at t = 1 and executed at 1.5: the amount is 2 x C(1.5) = 1.6, kept as C grows.
    @Test func aDelayedEventSetsAConcentrationWithTheSizeAtExecution() throws {
        let xml = document("""
            <listOfCompartments><compartment id="C" size="0.5" constant="false"/></listOfCompartments>
            <listOfSpecies><species id="S" compartment="C" initialConcentration="0" hasOnlySubstanceUnits="false" boundaryCondition="false" constant="false"/></listOfSpecies>
            <listOfRules><rateRule variable="C">\(Self.math("<cn>0.2</cn>"))</rateRule></listOfRules>
            <listOfEvents><event id="set" useValuesFromTriggerTime="true">
              <trigger initialValue="true" persistent="true">\(Self.math("<apply><geq/>\(Self.time)<cn>1</cn></apply>"))</trigger>
              <delay>\(Self.math("<cn>0.5</cn>"))</delay>
              <listOfEventAssignments><eventAssignment variable="S">\(Self.math("<cn>2</cn>"))</eventAssignment></listOfEventAssignments>
            </event></listOfEvents>
            """)
        let model = try SBMLImporter.importModel(xml: xml, file: "resize.xml")
        let amount = try model.simulate(times: [0, 1.4, 2], ids: ["S"], amounts: ["S"])
        let concentration = try model.simulate(times: [0, 1.4, 2], ids: ["S"])
        #expect(amount.succeeded && concentration.succeeded)
        #expect(amount.value(0, at: 1) == 0)
        #expect(abs(amount.value(0, at: 2) - 1.6) < 1e-9)
        #expect(abs(concentration.value(0, at: 2) - 1.6 / 0.9) < 1e-9)
    }
}
