import Foundation
import Integrator
import Models
import Testing
@testable import Experiments

/// Counts a user writes are checked against their caps before anything is expanded: each of these
/// asked for gigabytes before it was refused.
@Suite("Counts checked before expansion")
struct ExpansionLimitTests {
    @Test func aRegimenOfABillionDosesIsRefusedWithTheCap() {
        guard case .failure(let e) = DoseRegimen.parse("ketamine 10 mg/kg ip at 0 every 1h x1000000000") else {
            Issue.record("accepted a billion doses"); return
        }
        #expect(e.message == "x1000000000 is more than 100000 doses, ketasim's limit for one regimen; write a longer interval or several regimens")
        // Int overflow in the count is not a dose count either, and the cap itself is allowed.
        #expect((try? DoseRegimen.parse("ketamine 10 mg/kg ip at 0 every 1h x99999999999999999999999").get()) == nil)
        let atCap = try? DoseRegimen.parse("ketamine 10 mg/kg ip at 0 every 1h x100000").get()
        #expect(atCap?.count == 100_000 && atCap?.lastTime == 99_999)
    }

    @Test func aDosingTableChecksAddlBeforeExpanding() {
        let header = "time,drug,amount,unit,route,duration,ii,addl\n"
        #expect(throws: DosingTableError(path: "d.csv", line: 2, message: "addl 1e8 makes more than 100000 doses, ketasim's limit for one regimen")) {
            _ = try DosingTable.parse(header + "0,ketamine,10,mg/kg,ip,,1h,1e8\n", path: "d.csv")
        }
        // Int.max would overflow addl + 1.
        #expect(throws: DosingTableError.self) {
            _ = try DosingTable.parse(header + "0,ketamine,10,mg/kg,ip,,1h,9223372036854775807\n", path: "d.csv")
        }
        // Two rows each within the cap, together over it.
        let rows = header + "0,ketamine,10,mg/kg,ip,,1h,60000\n0,ketamine,10,mg/kg,ip,,1h,60000\n"
        #expect(throws: DosingTableError(path: "d.csv", line: 3, message: "the table holds more than 100000 doses by this line, ketasim's limit")) {
            _ = try DosingTable.parse(rows, path: "d.csv")
        }
        #expect((try? DosingTable.parse(header + "0,ketamine,10,mg/kg,ip,,1h,7.0\n", path: "d.csv"))?.first?.count == 8)
    }

    @Test func latinHypercubeSamplesAreCappedBeforeAllocating() throws {
        let axis = SweepAxis(name: "dose", target: .dose, values: [0, 10], isLogarithmic: false)
        #expect(throws: SweepDesignError(message: "1000000000 samples is more than 1000000 Latin hypercube samples, ketasim's limit; split the design into several sweeps with different seeds")) {
            _ = try SweepDesign(latinHypercube: [axis], samples: 1_000_000_000, seed: 1)
        }
        #expect(throws: SweepDesignError.self) { _ = try SweepDesign(latinHypercube: [axis], samples: 0, seed: 1) }
        #expect(try SweepDesign(latinHypercube: [axis], samples: 3, seed: 1).count == 3)
    }

    @Test func gridCountsSaturateInsteadOfOverflowing() {
        // Stand-in axes: only the number of values matters, so three axes share one large array.
        let values = [Double](repeating: 1, count: 5_000_000)
        let axis = SweepAxis(name: "dose", target: .dose, values: values, isLogarithmic: false)
        #expect(SweepDesign(grid: [axis, axis, axis]).count == Int.max)
        #expect(SweepDesign(grid: [axis]).count == 5_000_000)
    }

    /// The sensitivity equations of n states in d directions are n (1 + d) states: an implicit stepper
    /// factorizes them as a dense matrix, so more than `CompiledModel.maximumStates` are refused before
    /// GSL allocates anything (at this size it used to ask for several copies of 17 GB); an explicit
    /// stepper has no such matrix and runs them.
    @Test func sensitivityEquationsTooLargeForADenseJacobianAreRefusedBeforeAllocating() throws {
        let model = try CompiledModel(try ModelLoader.parse(relaxModel, file: "relax.yaml"))
        let d = CompiledModel.maximumStates
        let sensitivities = SensitivityPlan(parameters: ["tau"], directionCount: d, directions: [Double](repeating: 1, count: d),
                                            initial: [Double](repeating: 0, count: d))
        let plan = SimulationPlan(model: model.definition, tEnd: 2)
        let simulator = try Simulator(model: model)
        let columns = try simulator.columns(["x"])
        let error = #expect(throws: SimulationError.self) { _ = try simulator.run(plan, columns: columns, sensitivities: sensitivities) }
        #expect(error?.description == "the sensitivity equations of 1 state in 46340 directions have 46341 states, more than 46340, ketasim's limit: "
                + "the msbdf stepper's dense Jacobian of them would need 17 GB")
        let explicit = try Simulator(model: model, settings: SolverSettings(stepper: .rk8pd, relativeTolerance: 1e-10, absoluteTolerance: 1e-12))
        let run = try explicit.run(plan, columns: columns, sensitivities: sensitivities)
        // x' = -x / tau from 0.3 (no stress): x = 0.3 e^(-t/tau), dx/dtau = 0.3 t / tau^2 e^(-t/tau), in every direction.
        let last = run.result.times.count - 1
        let expected = 0.3 * 2 / 4 * exp(-1.0)
        #expect(run.result.times[last] == 2)
        #expect(abs(run.gradient(time: last, output: 0, direction: 0) - expected) < 1e-8)
        #expect(run.gradient(time: last, output: 0, direction: d - 1) == run.gradient(time: last, output: 0, direction: 0))
    }

    @Test func logRangesAreCappedLikeLinearOnes() throws {
        let model = try ModelLoader.parse(relaxModel, file: "relax.yaml")
        guard case .failure(let e) = SweepAxis.parse("dose=log:0.1:100:1000000000", model: model) else {
            Issue.record("accepted a billion log values"); return
        }
        #expect(e.message == "the range log:0.1:100:1000000000 has more than 10 million values")
    }
}

@Suite("Metrics and rounding noise")
struct MetricNoiseTests {
    private func result(_ values: [Double], pre: Double) -> SimulationResult {
        SimulationResult(outputNames: ["x"], times: values.indices.map(Double.init), values: values, preDose: [pre],
                         firstDoseTime: 0, failure: nil, statistics: .init())
    }

    private func named(_ spec: MetricSpec, _ values: [Double]) -> [String: Double] {
        Dictionary(uniqueKeysWithValues: zip(spec.names, values))
    }

    @Test func aChangeAgainstABaselineThatIsZeroUpToRoundingIsEmptyWithAReason() {
        // nmda_block_interneuron as reported: pre = 7.9e-22, then a response of 0.055.
        let spec = MetricSpec(offsets: [("2h", 2)])
        let explained = spec.evaluateExplained(result([7.9e-22, 0.03, 0.055, 0.04], pre: 7.9e-22))
        let m = named(spec, explained.values)
        #expect(m["pre"] == 0)
        #expect(m["at_2h"] == 0.055)
        #expect(m["change_2h"]?.isNaN == true)
        #expect(m["duration"]?.isNaN == true)
        #expect(explained.reasons["x.change_2h"] == "the baseline `pre` (7.9e-22) is 0 up to rounding (|pre| <= 5.5e-14), so a relative change is undefined")
    }

    @Test func noiseThroughoutASeriesIsZero() {
        // esketamine plasma where no esketamine is given: its own maximum is noise, the floor decides.
        let spec = MetricSpec(offsets: [("2h", 2)])
        let m = named(spec, spec.evaluate(result([0, -4.4e-27, 3e-28, -1e-26], pre: 0)))
        #expect(m["min"] == 0 && m["max"] == 0 && m["auc"] == 0 && m["at_2h"] == 0)
        #expect(m["change_2h"]?.isNaN == true)
    }

    @Test func smallValuesThatAreResolvedAreKept() {
        // An SBML amount in mol: 1e-15 is above the floor and far above 1e-12 of its own scale.
        let spec = MetricSpec(offsets: [("2h", 2)])
        let m = named(spec, spec.evaluate(result([1e-15, 2e-15, 3e-15], pre: 1e-15)))
        #expect(m["pre"] == 1e-15 && m["max"] == 3e-15)
        #expect(abs((m["change_2h"] ?? .nan) - 2) < 1e-12)
        // A genuine baseline of exactly 0 gets the plainer reason; a sound one none.
        let zero = spec.evaluateExplained(result([0, 1, 2], pre: 0))
        #expect(zero.reasons["x.change_2h"] == "the baseline `pre` is 0, so a relative change is undefined")
        #expect(spec.evaluateExplained(result([1, 2, 3], pre: 1)).reasons.isEmpty)
    }
}

@Suite("Sweep values found by fuzzing")
struct SweepFuzzFindingTests {
    @Test(arguments: [
        ("tau=00:" + String(repeating: "1", count: 110) + "6:0.5", "more than 10 million values"),
        ("tau=0:inf:1", "a range needs finite START, STOP and STEP"),
        ("tau=log:0.1:inf:3", "a log range needs positive, finite bounds"),
    ])
    func hugeAndInfiniteRangesAreRefusedNotConverted(text: String, message: String) throws {
        let model = try ModelLoader.parse(relaxModel, file: "relax.yaml")
        guard case .failure(let e) = SweepAxis.parse(text, model: model) else { Issue.record("accepted \(text)"); return }
        #expect(e.message.hasSuffix(message))
    }
}

@Suite("Empty metric cells are explained once per column")
struct RunTallyTests {
    private func row(_ id: Int, _ reasons: [String: String]) -> SweepRow {
        var r = SweepRow(runID: id, point: [], succeeded: true, message: "", metrics: [], result: nil)
        r.metricReasons = reasons
        return r
    }

    @Test func eachColumnIsCountedWithTheFirstReasonInColumnOrder() {
        var tally = RunTally()
        tally.add(row(1, ["b.change_2h": "the baseline `pre` is 0, so a relative change is undefined"]))
        tally.add(row(2, [:]))
        tally.add(row(3, ["b.change_2h": "the baseline `pre` (1e-30) is 0 up to rounding", "a.duration": "the baseline `pre` is 0"]))
        #expect(tally.notes(columns: ["a.duration", "a.max", "b.change_2h"], of: 3) == [
            "`a.duration` is empty in 1 of 3 runs: the baseline `pre` is 0",
            "`b.change_2h` is empty in 2 of 3 runs: the baseline `pre` is 0, so a relative change is undefined (the reason of the first such run)",
        ])
        #expect(RunTally().notes(columns: ["a.max"], of: 5).isEmpty)
    }
}
