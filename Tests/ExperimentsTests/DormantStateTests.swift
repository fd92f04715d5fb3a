import Foundation
import Integrator
import Models
import Testing
@testable import Experiments

/// x decays into y; c fills towards 1 from 0 and feeds a chain q0 -> q1 (each waking only once the one
/// before it moves); b, a and h2 stay 0 unless b is dosed; hn's source b^n, with n a parameter, does
/// not fold to 0, so hn is integrated although it stays 0 too.
private let dormantModel = """
name: dormant
description: states that stay 0 unless dosed
time_unit: h
parameters:
  k: {value: 0.7, unit: 1/h, assumption: test}
  n: {value: 2, unit: "1", assumption: test}
states:
  x: {initial: 1, unit: umol}
  y: {initial: 0, unit: umol}
  c: {initial: 0, unit: umol}
  q0: {initial: 0, unit: umol}
  q1: {initial: 0, unit: umol}
  b: {initial: 0, unit: umol}
  a: {initial: 0, unit: umol}
  h2: {initial: 0, unit: umol}
  hn: {initial: 0, unit: umol}
assignments:
  fed: k * b
odes:
  x: -k * x
  y: k * x - k * y
  c: 1 - c
  q0: k * c - k * q0
  q1: k * q0 - k * q1
  b: -k * b
  a: fed - k * a
  h2: b^2 - k * h2
  hn: b^n - k * hn
outputs: [x, y, c, q0, q1, b, a, h2, hn]
drugs:
  drug:
    molar_mass: 1000
    routes:
      iv: {target: b}
      tissue: {target: a}
      top_up: {target: x}
scenarios:
  none:
    t_end: 10h
    output_every: 0.5h
    start: initial
  bolus:
    extends: none
    doses: ["drug 1 mg iv at 2h"]
  infusion:
    extends: none
    doses: ["drug 1 mg tissue over 3h at 1h"]
  top_up:
    extends: none
    doses: ["drug 1 mg top_up at 2h"]
"""

@Suite("States that stay 0 are not integrated")
struct DormantStateTests {
    let settings = SolverSettings(relativeTolerance: 1e-10, absoluteTolerance: 1e-12)

    private func model() throws -> CompiledModel { try CompiledModel(try ModelLoader.parse(dormantModel, file: "dormant.yaml")) }

    @Test func theSearchFindsTheGreatestSetThatStaysZero() throws {
        let model = try model()
        let names = model.definition.states.map(\.name)
        let start = model.definition.states.map(\.initial)
        let index = { (name: String) in try #require(model.stateIndex(name)) }
        // q0 and q1 look dormant in the first round (their sources are 0 when c is), and leave in the second and third.
        let reduction = try #require(model.dormantReduction(start: start, dosed: []))
        #expect(reduction.dormant.map { names[$0] } == ["b", "a", "h2"])
        #expect(reduction.active.map { names[$0] } == ["x", "y", "c", "q0", "q1", "hn"])
        // A dose on b wakes b, what it feeds (a through an assignment, h2) and nothing else stays 0.
        #expect(model.dormantReduction(start: start, dosed: [try index("b")]) == nil)
        // An infusion into a leaves b and h2 at 0: 2 of 9 states, still worth it.
        let infused = try #require(model.dormantReduction(start: start, dosed: [try index("a")]))
        #expect(infused.dormant.map { names[$0] } == ["b", "h2"])
        // A state that does not start at 0 is not dormant, whatever its equations.
        var moved = start
        moved[try index("b")] = 1e-300
        #expect(model.dormantReduction(start: moved, dosed: []) == nil)
    }

    /// Each scenario at two rate constants on one pair of simulators (a sweep reuses its reduced system
    /// with new parameters), against the full system and the closed forms.
    @Test(arguments: [("none", 6), ("bolus", nil), ("infusion", 7), ("top_up", 6)] as [(String, Int?)])
    func reducedAndFullRunsAgree(scenario: String, integrated: Int?) throws {
        let model = try model()
        let reduced = try Simulator(model: model, settings: settings)
        let full = try Simulator(model: model, settings: settings)
        full.reducesDormantStates = false
        for k in [0.7, 0.3] {
            var plan = SimulationPlan(scenario: try #require(model.definition.scenario(named: scenario)))
            plan.parameters["k"] = k
            let r = try reduced.run(plan), f = try full.run(plan)
            #expect(r.succeeded && f.succeeded)
            #expect(r.times == f.times)
            for name in r.outputNames {
                let a = try #require(r.series(name)), b = try #require(f.series(name))
                for i in a.indices { #expect(abs(a[i] - b[i]) <= 1e-8 * max(1, abs(b[i])), "\(scenario), k = \(k): \(name) at \(r.times[i]) h") }
            }
            let doses = try reduced.events(for: plan, parameters: model.definition.parameterValues(organism: nil, overrides: plan.parameters))
            #expect(reduced.reducedSystem(start: try reduced.initialState(for: plan), doses: doses)?.workspace.dimension == integrated)
            // Closed forms of the active part (global error at rtol 1e-10 up to about 2e-9): x = e^-kt (plus 1 umol from 2 h with the top-up), y = k t e^-kt
            // without it, c = 1 - e^-t.
            let x = try #require(r.series("x")), y = try #require(r.series("y")), c = try #require(r.series("c"))
            for (i, t) in r.times.enumerated() {
                let topUp = scenario == "top_up" && t >= 2 ? exp(-k * (t - 2)) : 0
                #expect(abs(x[i] - exp(-k * t) - topUp) < 1e-8)
                if scenario != "top_up" { #expect(abs(y[i] - k * t * exp(-k * t)) < 1e-8) }
                #expect(abs(c[i] - (1 - exp(-t))) < 1e-8)
            }
            if scenario == "none" || scenario == "top_up" {
                for name in ["b", "a", "h2", "hn"] { #expect(try #require(r.series(name)).allSatisfy { $0 == 0 }, "\(name)") }
            }
            if scenario == "bolus" {
                // 1 mg of a 1000 g/mol drug is 1 umol into b at 2 h: b = e^-k(t-2) after it.
                let b = try #require(r.series("b"))
                for (i, t) in r.times.enumerated() where t > 2 { #expect(abs(b[i] - exp(-k * (t - 2))) < 1e-8) }
            }
        }
    }

    /// The bundled model knows nine drugs; a scenario gives one or two. Every compartment a drug that is
    /// not given would reach stays 0 and out of the integration, and every output is the full system's.
    @Test func everyScenarioOfTheBundledModelMatchesTheFullSystem() throws {
        let model = try CompiledModel(try ModelLoader.load(path: repositoryRoot.appendingPathComponent("models/ketamine_stress.yaml").path))
        let def = model.definition
        var reducedSomewhere = false
        for scenario in def.scenarios {
            let plan = SimulationPlan(scenario: scenario)
            let reduced = try Simulator(model: model, settings: settings)
            let full = try Simulator(model: model, settings: settings)
            full.reducesDormantStates = false
            let r = try reduced.run(plan), f = try full.run(plan)
            #expect(r.succeeded == f.succeeded, "\(scenario.name)")
            guard r.succeeded && f.succeeded else { continue }
            for j in r.outputNames.indices {
                let a = (0..<r.times.count).map { r.values[$0 * r.outputNames.count + j] }
                let b = (0..<f.times.count).map { f.values[$0 * f.outputNames.count + j] }
                let scale = b.map(abs).max() ?? 0
                let worst = zip(a, b).map { abs($0 - $1) }.max() ?? 0
                #expect(worst <= 1e-7 * scale + 1e-12, "\(scenario.name): \(r.outputNames[j]) differs by \(worst) (largest value \(scale))")
            }
            let y0 = try reduced.initialState(for: plan)
            let doses = try reduced.events(for: plan, parameters: def.parameterValues(organism: plan.organism, overrides: plan.parameters))
            guard let system = reduced.reducedSystem(start: y0, doses: doses) else { continue }
            reducedSomewhere = true
            let given = Set(plan.doses.map(\.drug))
            let dormant = Set(system.workspace.reduction.dormant.map { def.states[$0].name })
            for drug in def.drugs where !given.contains(drug.name) {
                for route in drug.routes { #expect(dormant.contains(route.target), "\(scenario.name): \(route.target) of \(drug.name) is integrated") }
            }
        }
        #expect(reducedSomewhere)
    }
}
