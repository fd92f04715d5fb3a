import Experiments
import Foundation
import Integrator
import Models
@testable import SBML
import Testing

/// SBML events are part of the model, so the scenario machinery (`Simulator`, sweeps, export) runs them
/// as the SBML simulator does. The model: x' = rate, reset to 0 whenever x reaches 2.5 (counting resets
/// in `hits`), and `hits` set to 100 at the start. With rate r, resets happen at t = 2.5 k / r.
@Suite struct EventModelTests {
    static let body = """
        <listOfParameters>
          <parameter id="x" value="0" constant="false"/>
          <parameter id="hits" value="0" constant="false"/>
          <parameter id="rate" value="1" constant="true"/>
        </listOfParameters>
        <listOfRules>
          <rateRule variable="x"><math xmlns="http://www.w3.org/1998/Math/MathML"><ci>rate</ci></math></rateRule>
        </listOfRules>
        <listOfEvents>
          <event id="reset" useValuesFromTriggerTime="true">
            <trigger initialValue="true" persistent="true"><math xmlns="http://www.w3.org/1998/Math/MathML">
              <apply><geq/><ci>x</ci><cn>2.5</cn></apply></math></trigger>
            <listOfEventAssignments>
              <eventAssignment variable="x"><math xmlns="http://www.w3.org/1998/Math/MathML"><cn>0</cn></math></eventAssignment>
              <eventAssignment variable="hits"><math xmlns="http://www.w3.org/1998/Math/MathML"><apply><plus/><ci>hits</ci><cn>1</cn></apply></math></eventAssignment>
            </listOfEventAssignments>
          </event>
          <event id="start" useValuesFromTriggerTime="true">
            <trigger initialValue="false" persistent="true"><math xmlns="http://www.w3.org/1998/Math/MathML"><true/></math></trigger>
            <listOfEventAssignments>
              <eventAssignment variable="hits"><math xmlns="http://www.w3.org/1998/Math/MathML"><cn>100</cn></math></eventAssignment>
            </listOfEventAssignments>
          </event>
        </listOfEvents>
        """

    /// x and hits at the integer hours 0...6 for a given rate, from the closed form.
    static func expected(rate r: Double) -> (x: [Double], hits: [Double]) {
        let period = 2.5 / r
        let x = (0...6).map { t -> Double in
            let resets = (Double(t) / period + 1e-12).rounded(.down)
            return r * (Double(t) - resets * period)
        }
        let hits = (0...6).map { 100 + (Double($0) / period + 1e-12).rounded(.down) }
        return (x, hits)
    }

    func simulate(_ definition: ModelDefinition, rate: Double?) throws -> SimulationResult {
        var plan = SimulationPlan(model: definition, tEnd: 6, outputEvery: 1)
        if let rate { plan.parameters["rate"] = rate }
        let simulator = try Simulator(model: try CompiledModel(definition), settings: SolverSettings(relativeTolerance: 1e-10, absoluteTolerance: 1e-12))
        return try simulator.run(plan, outputs: ["x", "hits"])
    }

    // Rates whose resets miss the output hours: at an exact tie the trigger may hold a few ulps either side.
    @Test(arguments: [0.9, 1.6, 0.7])
    func scenarioSimulatorRunsEventsWithTheRunsParameters(rate: Double) throws {
        let model = try SBMLImporter.importModel(xml: document(Self.body), file: "e.xml")
        #expect(model.definition.events.count == 2)
        let result = try simulate(model.definition, rate: rate)
        #expect(result.failure == nil)
        let want = Self.expected(rate: rate)
        #expect(try #require(result.series("hits")) == want.hits)
        for (got, w) in zip(try #require(result.series("x")), want.x) { #expect(abs(got - w) < 1e-7) }
    }

    /// `hits` starts at 0 and its ODE is 0: only the events move it. A model with events is never reduced
    /// (`CompiledModel.dormantReduction`); without them the same state would be left out, so the guard is
    /// what keeps it integrated.
    @Test func aStateThatOnlyEventsMoveIsNotLeftOut() throws {
        let model = try SBMLImporter.importModel(xml: document(Self.body), file: "e.xml")
        let start = model.definition.states.map(\.initial)
        #expect(try CompiledModel(model.definition).dormantReduction(start: start, dosed: []) == nil)
        var noEvents = model.definition
        noEvents.events = []
        let reduction = try #require(try CompiledModel(noEvents).dormantReduction(start: start, dosed: []))
        #expect(reduction.dormant.map { noEvents.states[$0].name } == ["hits"])
        let hits = try #require(try simulate(model.definition, rate: 1).series("hits"))
        #expect(hits.last == 102)
    }

    @Test func sweepOverAParameterOfAnEventModel() throws {
        let model = try SBMLImporter.importModel(xml: document(Self.body), file: "e.xml")
        let axis = try SweepAxis.parse("rate=0.9,1.6", model: model.definition).get()
        let runner = SweepRunner(
            model: try CompiledModel(model.definition), settings: SolverSettings(relativeTolerance: 1e-10, absoluteTolerance: 1e-12),
            base: SimulationPlan(model: model.definition, tEnd: 6, outputEvery: 1), design: SweepDesign(grid: [axis]),
            outputs: ["hits"], metrics: MetricSpec(offsets: []), jobs: 2, runIDs: .all(2), keepSeries: true)
        var finals: [Double] = []
        try runner.run { row in
            #expect(row.succeeded, "\(row.message)")
            finals.append(try #require(row.result?.series("hits")?.last))
        }
        #expect(finals == [Self.expected(rate: 0.9).hits[6], Self.expected(rate: 1.6).hits[6]])
        #expect(finals == [102, 103])
    }

    @Test func exportedEventsRoundTrip() throws {
        let model = try SBMLImporter.importModel(xml: document(Self.body), file: "e.xml")
        let xml = try SBMLExporter.export(model.definition, parameters: ["rate": 1.6])
        #expect(xml.contains("<event id=\"reset\""))
        #expect(xml.contains("<trigger initialValue=\"false\" persistent=\"true\">"))
        let again = try SBMLImporter.importModel(xml: xml, file: "again.xml")
        #expect(again.definition.events.count == 2)
        let run = try again.simulate(times: (0...6).map(Double.init), ids: ["x", "hits"])
        #expect(run.failure == nil)
        let want = Self.expected(rate: 1.6)
        #expect((0..<7).map { run.value(1, at: $0) } == want.hits)
        for k in 0..<7 { #expect(abs(run.value(0, at: k) - want.x[k]) < 1e-7) }
    }

    @Test(arguments: [
        ("", ""),
        (" timeUnits=\"second\"", "s"),
        (" timeUnits=\"per_hour\"", "h"),
        (" timeUnits=\"fortnight\"", "fortnight"),
    ])
    func timeUnitIsRead(attribute: String, unit: String) throws {
        let units = """
            <listOfUnitDefinitions>
              <unitDefinition id="per_hour"><listOfUnits><unit kind="second" exponent="1" scale="0" multiplier="3600"/></listOfUnits></unitDefinition>
              <unitDefinition id="fortnight"><listOfUnits><unit kind="second" exponent="1" scale="0" multiplier="1209600"/></listOfUnits></unitDefinition>
            </listOfUnitDefinitions>
            """
        let xml = document(units + Self.body).replacingOccurrences(of: "<model id=\"test_model\">", with: "<model id=\"test_model\"\(attribute)>")
        let model = try SBMLImporter.importModel(xml: xml, file: "u.xml")
        #expect(model.definition.timeUnit.symbol == unit)
        // Export keeps a unit it can write; one it cannot scale is left out, with a note.
        let exported = try SBMLExporter.exportDocument(model.definition)
        let again = try SBMLImporter.importModel(xml: exported.xml, file: "again.xml")
        #expect(again.definition.timeUnit.symbol == (unit == "fortnight" ? "" : unit))
        #expect(exported.notes.contains { $0.contains("unit `fortnight` of time") } == (unit == "fortnight"))
    }

    /// A model of rules alone (no state: Test Suite cases like 00029) runs through the scenario
    /// machinery too: y = 2 t + k at every output time.
    @Test func aModelWithoutStatesRuns() throws {
        let body = """
            <listOfParameters>
              <parameter id="k" value="3" constant="true"/>
              <parameter id="y" constant="false"/>
            </listOfParameters>
            <listOfRules>
              <assignmentRule variable="y"><math xmlns="http://www.w3.org/1998/Math/MathML">
                <apply><plus/><apply><times/><cn>2</cn><csymbol encoding="text" definitionURL="http://www.sbml.org/sbml/symbols/time">t</csymbol></apply><ci>k</ci></apply>
              </math></assignmentRule>
            </listOfRules>
            """
        let model = try SBMLImporter.importModel(xml: document(body), file: "rules.xml")
        #expect(model.definition.states.isEmpty)
        let simulator = try Simulator(model: try CompiledModel(model.definition))
        var plan = SimulationPlan(model: model.definition, tEnd: 4, outputEvery: 1)
        plan.parameters["k"] = 5
        let result = try simulator.run(plan, outputs: ["y"])
        #expect(result.failure == nil)
        #expect(result.series("y") == [5, 7, 9, 11, 13])
    }
}
