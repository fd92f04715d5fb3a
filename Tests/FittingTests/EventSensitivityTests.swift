import Experiments
import Foundation
import Integrator
import Models
import SBML
import Testing

/// Small SBML models with events, their forward sensitivities against closed forms and against central
/// differences of the simulated outputs (the jump rule S+ = h_x S- + h_p + (h_x f- - f+) dt_e/dp).
enum EventModels {
    static func math(_ body: String) -> String { "<math xmlns=\"http://www.w3.org/1998/Math/MathML\">\(body)</math>" }

    /// A document of parameters (`id value constant`), rate rules and events.
    static func document(parameters: [(String, Double, Bool)], rates: [(String, String)], events: String) -> String {
        let ps = parameters.map { "<parameter id=\"\($0.0)\" value=\"\($0.1)\" constant=\"\($0.2)\"/>" }.joined(separator: "\n")
        let rs = rates.map { "<rateRule variable=\"\($0.0)\">\(math($0.1))</rateRule>" }.joined(separator: "\n")
        return """
        <?xml version="1.0" encoding="UTF-8"?>
        <sbml xmlns="http://www.sbml.org/sbml/level3/version2/core" level="3" version="2"><model id="m">
        <listOfParameters>\(ps)</listOfParameters>
        <listOfRules>\(rs)</listOfRules>
        <listOfEvents>\(events)</listOfEvents>
        </model></sbml>
        """
    }

    static func event(_ id: String, trigger: String, assignments: [(String, String)], delay: String? = nil, priority: String? = nil,
                      fromTrigger: Bool = true, initialValue: Bool = true) -> String {
        let a = assignments.map { "<eventAssignment variable=\"\($0.0)\">\(math($0.1))</eventAssignment>" }.joined()
        return """
        <event id="\(id)" useValuesFromTriggerTime="\(fromTrigger)">
        <trigger initialValue="\(initialValue)" persistent="true">\(math(trigger))</trigger>
        \(delay.map { "<delay>\(math($0))</delay>" } ?? "")\(priority.map { "<priority>\(math($0))</priority>" } ?? "")
        <listOfEventAssignments>\(a)</listOfEventAssignments></event>
        """
    }

    static func simulator(_ xml: String) throws -> Simulator {
        let model = try SBMLImporter.importModel(xml: xml, file: "events.xml")
        return try Simulator(model: try CompiledModel(model.definition), settings: SolverSettings(stepper: .msbdf, relativeTolerance: 1e-12, absoluteTolerance: 1e-14))
    }

    /// Sensitivities of `outputs` at `times` by `parameters` at `values`, and central differences of the
    /// plain runs (relative step `h`); the largest deviation relative to max(|difference|, 1e-3 of the
    /// largest difference).
    static func compare(_ simulator: Simulator, values: [String: Double], parameters: [String], outputs: [String], times: [Double],
                        h: Double = 1e-4) throws -> (worst: Double, sensitivities: SensitivityResult) {
        var plan = SimulationPlan(model: simulator.model.definition, tEnd: times.max() ?? 1)
        plan.outputTimes = times
        plan.parameters = values
        let columns = try simulator.columns(outputs)
        let run = try simulator.run(plan, columns: columns, sensitivities: SensitivityPlan(parameters: parameters, stateCount: simulator.model.stateCount))
        #expect(run.result.failure == nil)
        var pairs: [(got: Double, difference: Double)] = []
        for (j, p) in parameters.enumerated() {
            let step = h * max(abs(values[p] ?? 1), 1e-3)
            var up = plan, down = plan
            up.parameters[p] = (values[p] ?? 0) + step
            down.parameters[p] = (values[p] ?? 0) - step
            let a = try simulator.run(up, columns: columns), b = try simulator.run(down, columns: columns)
            for k in times.indices {
                for c in outputs.indices {
                    let difference = (a.values[k * outputs.count + c] - b.values[k * outputs.count + c]) / (2 * step)
                    pairs.append((run.gradient(time: k, output: c, direction: j), difference))
                }
            }
        }
        // Entries far below the largest are compared on its scale (as `SensitivityCheck.deviation`): a
        // difference of runs integrated to 1e-12 carries about 1e-8 of noise in absolute terms.
        let largest = pairs.map { abs($0.difference) }.max() ?? 0
        let worst = pairs.map { abs($0.got - $0.difference) / max(abs($0.difference), 1e-3 * largest, 1e-12) }.max() ?? .infinity
        return (worst, run)
    }
}

@Suite struct EventSensitivityTests {
    /// x' = -k x from x0 = 2, set to a at t = tau (`time >= tau`): x = a e^(-k (t - tau)) after it, so
    /// dx/dk = -(t - tau) x, dx/da = e^(-k (t - tau)), dx/dtau = k x; before it x0 e^(-k t).
    @Test func aResetAtAParameterTimeMatchesItsClosedForm() throws {
        let xml = EventModels.document(parameters: [("x", 2, false), ("k", 0.7, true), ("a", 3, true), ("tau", 1.7, true)], rates: [("x", "<apply><times/><apply><minus/><ci>k</ci></apply><ci>x</ci></apply>")],
                                       events: EventModels.event("reset", trigger: "<apply><geq/><csymbol encoding=\"text\" definitionURL=\"http://www.sbml.org/sbml/symbols/time\">t</csymbol><ci>tau</ci></apply>",
                                                                 assignments: [("x", "<ci>a</ci>")]))
        let simulator = try EventModels.simulator(xml)
        let (k, a, tau, x0) = (0.7, 3.0, 1.7, 2.0)
        let times = [0.5, 1, 1.5, 2, 3, 4.5]
        let (worst, run) = try EventModels.compare(simulator, values: ["k": k, "a": a, "tau": tau], parameters: ["k", "a", "tau"], outputs: ["x"], times: times)
        #expect(worst < 1e-4, "central differences: \(worst)")
        var closed = 0.0
        for (i, t) in times.enumerated() {
            let expected: [Double]
            if t < tau {
                let x = x0 * exp(-k * t)
                expected = [-t * x, 0, 0]
            } else {
                let x = a * exp(-k * (t - tau))
                expected = [-(t - tau) * x, exp(-k * (t - tau)), k * x]
            }
            for j in 0..<3 {
                closed = max(closed, abs(run.gradient(time: i, output: 0, direction: j) - expected[j]) / max(abs(expected[j]), 1e-6))
            }
        }
        #expect(closed < 1e-6, "closed form: \(closed)")
        print("event sensitivities: reset at tau: closed form \(closed), central differences \(worst)")
    }

    /// x' = -k x from 1, x := x + a when x < thr (a state trigger, twice in the run), and z := z + b x
    /// when x > c, which the first event's jump triggers at the same time (a cascade sharing its time's
    /// derivative); z' = -k2 z.
    @Test func aStateTriggerWithAParameterThresholdAndACascadeMatchCentralDifferences() throws {
        let minusK = "<apply><times/><apply><minus/><ci>k</ci></apply><ci>x</ci></apply>"
        let events = EventModels.event("low", trigger: "<apply><lt/><ci>x</ci><ci>thr</ci></apply>", assignments: [("x", "<apply><plus/><ci>x</ci><ci>a</ci></apply>")])
            + EventModels.event("high", trigger: "<apply><gt/><ci>x</ci><ci>c</ci></apply>", assignments: [("z", "<apply><plus/><ci>z</ci><apply><times/><ci>b</ci><ci>x</ci></apply></apply>")])
        let xml = EventModels.document(parameters: [("x", 1, false), ("z", 0, false), ("k", 0.6, true), ("thr", 0.4, true), ("a", 0.5, true), ("c", 0.8, true), ("b", 2, true), ("k2", 0.3, true)],
                                       rates: [("x", minusK), ("z", "<apply><times/><apply><minus/><ci>k2</ci></apply><ci>z</ci></apply>")], events: events)
        let simulator = try EventModels.simulator(xml)
        let values = ["k": 0.6, "thr": 0.4, "a": 0.5, "c": 0.8, "b": 2, "k2": 0.3]
        let (worst, _) = try EventModels.compare(simulator, values: values, parameters: Array(values.keys).sorted(), outputs: ["x", "z"], times: [0.5, 1, 2, 3, 4, 5, 6])
        #expect(worst < 1e-4, "central differences: \(worst)")
        print("event sensitivities: state trigger and cascade: central differences \(worst)")
    }

    /// A delayed event whose delay depends on a parameter and whose value is taken at the trigger: when
    /// x falls below thr, y := y + a x (x as at the trigger) after dl; with a priority between two events
    /// due together.
    @Test func aDelayedEventWithAParameterDelayMatchesCentralDifferences() throws {
        let events = EventModels.event("late", trigger: "<apply><lt/><ci>x</ci><ci>thr</ci></apply>", assignments: [("y", "<apply><plus/><ci>y</ci><apply><times/><ci>a</ci><ci>x</ci></apply></apply>")],
                                       delay: "<apply><times/><ci>dl</ci><cn>1</cn></apply>", priority: "<cn>2</cn>")
            + EventModels.event("second", trigger: "<apply><lt/><ci>x</ci><ci>thr</ci></apply>", assignments: [("y", "<apply><times/><ci>y</ci><cn>0.5</cn></apply>")],
                                delay: "<ci>dl</ci>", priority: "<cn>1</cn>", fromTrigger: false)
        let xml = EventModels.document(parameters: [("x", 1, false), ("y", 0.2, false), ("k", 0.5, true), ("thr", 0.5, true), ("a", 3, true), ("dl", 0.9, true), ("ky", 0.4, true)],
                                       rates: [("x", "<apply><times/><apply><minus/><ci>k</ci></apply><ci>x</ci></apply>"),
                                               ("y", "<apply><minus/><apply><times/><ci>k</ci><ci>x</ci></apply><apply><times/><ci>ky</ci><ci>y</ci></apply></apply>")],
                                       events: events)
        let simulator = try EventModels.simulator(xml)
        let values = ["k": 0.5, "thr": 0.5, "a": 3, "dl": 0.9, "ky": 0.4]
        let (worst, _) = try EventModels.compare(simulator, values: values, parameters: Array(values.keys).sorted(), outputs: ["x", "y"], times: [0.5, 1, 2, 3, 4])
        #expect(worst < 1e-4, "central differences: \(worst)")
        print("event sensitivities: delayed event: central differences \(worst)")
    }
}

extension EventSensitivityTests {
    /// A trigger of two comparisons, `time > t0 and x < thr`: the time side turns true first, the state
    /// side crosses later and fires the event, and its time's derivative is that side's.
    @Test func theSideThatCrossedGivesTheTimesDerivative() throws {
        let time = "<csymbol encoding=\"text\" definitionURL=\"http://www.sbml.org/sbml/symbols/time\">t</csymbol>"
        let trigger = "<apply><and/><apply><gt/>\(time)<ci>t0</ci></apply><apply><lt/><ci>x</ci><ci>thr</ci></apply></apply>"
        let xml = EventModels.document(parameters: [("x", 1, false), ("k", 0.5, true), ("thr", 0.5, true), ("a", 0.8, true), ("t0", 0.3, true)],
                                       rates: [("x", "<apply><times/><apply><minus/><ci>k</ci></apply><ci>x</ci></apply>")],
                                       events: EventModels.event("both", trigger: trigger, assignments: [("x", "<apply><plus/><ci>x</ci><ci>a</ci></apply>")]))
        let values = ["k": 0.5, "thr": 0.5, "a": 0.8, "t0": 0.3]
        let (worst, _) = try EventModels.compare(try EventModels.simulator(xml), values: values, parameters: Array(values.keys).sorted(), outputs: ["x"], times: [1, 2, 3, 4])
        #expect(worst < 1e-4, "central differences: \(worst)")
    }

    /// A trigger that turns true at a located time without a comparison (a bare state as condition)
    /// gives no threshold to differentiate: the run is refused by event and time, not differentiated
    /// wrongly; the plain run is unaffected.
    @Test func aTriggerWithoutAComparisonIsRefusedByName() throws {
        let xml = EventModels.document(parameters: [("x", 0, false), ("y", 1, false), ("k", 0.5, true)],
                                       rates: [("x", "<ci>k</ci>"), ("y", "<apply><times/><apply><minus/><ci>k</ci></apply><ci>y</ci></apply>")],
                                       events: EventModels.event("bare", trigger: "<ci>x</ci>", assignments: [("y", "<cn>5</cn>")]))
        let simulator = try EventModels.simulator(xml)
        var plan = SimulationPlan(model: simulator.model.definition, tEnd: 2)
        plan.outputTimes = [1, 2]
        let columns = try simulator.columns(["y"])
        #expect(try simulator.run(plan, columns: columns).failure == nil)
        #expect {
            _ = try simulator.run(plan, columns: columns, sensitivities: SensitivityPlan(parameters: ["k"], stateCount: 2))
        } throws: { error in
            guard case .sensitivitiesUnavailable(let reason) = error as? SimulationError else { return false }
            return reason.contains("event `bare`") && reason.contains("without a comparison")
        }
    }
}
