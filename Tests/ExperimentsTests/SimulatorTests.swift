import Foundation
import Integrator
import Models
import Testing
@testable import Experiments

let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

func loadExample(_ name: String) throws -> CompiledModel {
    try CompiledModel(try ModelLoader.load(path: repositoryRoot.appendingPathComponent("models/examples/\(name).yaml").path))
}

/// Oral one-compartment model: C(t) = F D ka / (V (ka - ke)) (e^{-ke t} - e^{-ka t}) (Bateman).
func bateman(_ t: Double, dose: Double, f: Double = 0.5, ka: Double = 1.5, ke: Double = 0.3, v: Double = 10) -> Double {
    t < 0 ? 0 : f * dose * ka / (v * (ka - ke)) * (exp(-ke * t) - exp(-ka * t))
}

@Suite("Scenarios against closed forms")
struct SimulatorTests {
    let settings = SolverSettings(relativeTolerance: 1e-10, absoluteTolerance: 1e-12)

    @Test(arguments: OutputMode.allCases)
    func oralDoseFollowsTheBatemanFunction(mode: OutputMode) throws {
        let model = try loadExample("two_compartment")
        var s = settings
        s.outputMode = mode
        let sim = try Simulator(model: model, settings: s)
        let plan = SimulationPlan(scenario: try #require(model.definition.scenario(named: "single_oral")))
        let result = try sim.run(plan)
        #expect(result.succeeded)
        let c = try #require(result.series("concentration"))
        // 250 mg / 250 g/mol = 1000 umol
        for (k, t) in result.times.enumerated() {
            #expect(abs(c[k] - bateman(t, dose: 1000)) <= 1e-7 * max(1, bateman(t, dose: 1000)), "t=\(t)")
        }
    }

    /// On the scenario's 1-h grid the Bateman peak (t = ln(ka/ke)/(ka-ke) = 1.341 h) falls between two rows;
    /// the detail rows (every minute for 6 h after the dose) let max, t_max and auc see it anyway.
    @Test func metricsResolveAPeakBetweenGridPoints() throws {
        let model = try loadExample("two_compartment")
        let sim = try Simulator(model: model, settings: settings)
        let plan = SimulationPlan(scenario: try #require(model.definition.scenario(named: "single_oral")))
        let spec = MetricSpec(offsets: [("80min", 4.0 / 3)])
        let result = try sim.run(plan, outputs: ["concentration"], detailTimes: spec.detailTimes(for: plan))
        #expect(result.times == (0...24).map(Double.init), "the grid rows are the scenario's, the detail is kept apart")
        #expect(result.detailTimes.count == 361 - 7)  // minutes 0...360, less the 7 whole hours on the grid
        let metrics = Dictionary(uniqueKeysWithValues: zip(spec.names, spec.evaluate(result)))
        let tPeak = log(1.5 / 0.3) / 1.2
        #expect(abs(try #require(metrics["t_max"]) - tPeak) <= 1.0 / 120)
        #expect(abs(try #require(metrics["max"]) / bateman(tPeak, dose: 1000) - 1) < 1e-4)
        #expect(abs(try #require(metrics["at_80min"]) / bateman(4.0 / 3, dose: 1000) - 1) < 1e-7)
        // ∫0^24 of the Bateman function, against trapezoids (minutes for 6 h, hours after).
        let auc = 0.5 * 1000 * 1.5 / (10 * 1.2) * ((1 - exp(-0.3 * 24)) / 0.3 - (1 - exp(-1.5 * 24)) / 1.5)
        #expect(abs(try #require(metrics["auc"]) / auc - 1) < 0.005)
        // The grid alone puts the peak at a grid hour.
        let coarse = Dictionary(uniqueKeysWithValues: zip(spec.names, spec.evaluate(try sim.run(plan, outputs: ["concentration"]))))
        #expect(coarse["t_max"] == 1)
    }

    @Test func repeatedDosesSuperpose() throws {
        let model = try loadExample("two_compartment")
        let sim = try Simulator(model: model, settings: settings)
        var plan = SimulationPlan(scenario: try #require(model.definition.scenario(named: "single_oral")))
        plan.doses = [try DoseRegimen.parse("drug 250 mg oral at 2h every 6h x3").get()]
        plan.tEnd = 30
        let result = try sim.run(plan)
        let c = try #require(result.series("concentration"))
        for (k, t) in result.times.enumerated() {
            let expected = [2.0, 8, 14].map { bateman(t - $0, dose: 1000) }.reduce(0, +)
            #expect(abs(c[k] - expected) <= 1e-7 * max(1, expected), "t=\(t)")
        }
        #expect(result.preDose?[0] == 0)
        #expect(result.firstDoseTime == 2)
    }

    @Test func intravenousInfusionRisesAndDecaysAnalytically() throws {
        // Zero-order input R over [0, T): C = R/(ke V) (1 - e^{-ke t}), then decays with ke.
        let model = try loadExample("two_compartment")
        let sim = try Simulator(model: model, settings: settings)
        var plan = SimulationPlan(scenario: try #require(model.definition.scenario(named: "single_oral")))
        plan.doses = [try DoseRegimen.parse("drug 2 mg/kg/h iv over 3h at 0").get()]
        plan.outputEvery = 0.5
        let result = try sim.run(plan)
        let c = try #require(result.series("concentration"))
        let rate = 2.0 * 70 * 1000 / 250  // umol/h
        let ke = 0.3, v = 10.0
        for (k, t) in result.times.enumerated() {
            let plateau = rate / (ke * v)
            let expected = t <= 3 ? plateau * (1 - exp(-ke * t)) : plateau * (1 - exp(-ke * 3)) * exp(-ke * (t - 3))
            #expect(abs(c[k] - expected) <= 1e-7 * max(1, expected), "t=\(t)")
        }
    }

    @Test func badDosesAndPlansAreRefusedWithASentence() throws {
        let model = try loadExample("two_compartment")
        let sim = try Simulator(model: model)
        var plan = SimulationPlan(scenario: try #require(model.definition.scenario(named: "single_oral")))
        plan.doses = [try DoseRegimen.parse("drug 1 mg sc at 0").get()]
        #expect(throws: SimulationError.badDose(dose: plan.doses[0].description, reason: "drug has no route `sc`; routes: oral, iv")) { try sim.run(plan) }
        plan.doses = [try DoseRegimen.parse("drug 1 mg oral at 30h").get()]
        #expect(throws: SimulationError.self) { try sim.run(plan) }
        plan.doses = []
        do {
            _ = try sim.run(plan, outputs: ["concentratoin"])
            Issue.record("a misspelt output was accepted")
        } catch {
            #expect(error.description.hasPrefix("unknown output `concentratoin`; did you mean `concentration`?"))
        }
    }
}
