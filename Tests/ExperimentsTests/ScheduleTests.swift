import Foundation
import Integrator
import Models
import Testing
@testable import Experiments

/// x' = (stress - x)/tau from a steady state at the input's equilibrium value: the closed form
/// checks that input periods switch exactly at their edges and that scenarios start at equilibrium.
let relaxModel = """
name: relax
description: first-order relaxation towards an input
time_unit: h
parameters:
  tau: {value: 2, unit: h, assumption: test}
inputs:
  stress: {default: 0, unit: "1"}
states:
  x: {initial: 0.3, unit: "1"}
assignments:
  felt: 2 * stress + x
odes:
  x: (stress - x) / tau
outputs: [x, felt]
scenarios:
  pulse:
    t_end: 12h
    output_every: 0.5h
    steady_state_inputs: {stress: 0.5}
    inputs:
      stress: [{value: 1, from: 2h, to: 6h}]
  longer:
    extends: pulse
    t_end: 20h
"""

@Suite("Input schedules and steady-state starts")
struct ScheduleTests {
    @Test func inputPeriodSwitchesAtItsEdgesFromEquilibrium() throws {
        let model = try CompiledModel(try ModelLoader.parse(relaxModel, file: "relax.yaml"))
        let sim = try Simulator(model: model, settings: SolverSettings(relativeTolerance: 1e-10, absoluteTolerance: 1e-12))
        let result = try sim.run(SimulationPlan(scenario: try #require(model.definition.scenario(named: "pulse"))))
        let x = try #require(result.series("x"))
        // Starts at the equilibrium for stress 0.5, then stress is 0 outside the period and 1 within.
        #expect(abs(x[0] - 0.5) < 1e-10)
        for (k, t) in result.times.enumerated() {
            let expected: Double
            if t <= 2 { expected = 0.5 * exp(-t / 2) }
            else if t <= 6 { let x2 = 0.5 * exp(-1.0); expected = 1 + (x2 - 1) * exp(-(t - 2) / 2) }
            else { let x2 = 0.5 * exp(-1.0); let x6 = 1 + (x2 - 1) * exp(-2.0); expected = x6 * exp(-(t - 6) / 2) }
            #expect(abs(x[k] - expected) < 1e-8, "t=\(t)")
        }
    }

    @Test func assignmentsSeeTheInputsOfTheirOwnTime() throws {
        // `felt` reads the input directly: 2 x 1 + x inside the period [2, 6), 2 x 0 + x outside.
        let model = try CompiledModel(try ModelLoader.parse(relaxModel, file: "relax.yaml"))
        let result = try Simulator(model: model).run(SimulationPlan(scenario: try #require(model.definition.scenario(named: "pulse"))))
        let x = try #require(result.series("x")), felt = try #require(result.series("felt"))
        for (k, t) in result.times.enumerated() {
            let stress = t >= 2 && t < 6 ? 1.0 : 0.0
            #expect(abs(felt[k] - (2 * stress + x[k])) < 1e-12, "t=\(t)")
        }
    }

    @Test func stressOverrideScalesPeriodsAndEquilibrium() throws {
        let model = try CompiledModel(try ModelLoader.parse(relaxModel, file: "relax.yaml"))
        let sim = try Simulator(model: model)
        var plan = SimulationPlan(scenario: try #require(model.definition.scenario(named: "longer")))
        #expect(plan.tEnd == 20)
        plan.setStress(0.25)
        #expect(plan.inputs["stress"] == [InputPeriod(value: 0.25, from: 2, to: 6)])
        #expect(plan.steadyStateInputs["stress"] == 0.25)
        let result = try sim.run(plan)
        #expect(abs((result.value("x", at: 0) ?? 0) - 0.25) < 1e-9)
    }
}
