import Foundation
import Integrator
import Models
import Testing
@testable import Experiments

/// The sweep workers share one compiled model and a queue; `make tsan` runs this suite under the
/// thread sanitizer.
@Suite("Parallel sweep")
struct ParallelSweepTests {
    private func rows(jobs: Int, metricColumns: [String]? = nil) throws -> [SweepRow] {
        let definition = try ModelLoader.parse(relaxModel, file: "relax.yaml")
        let axis = try SweepAxis.parse("tau=0.5:4:0.5", model: definition).get()
        let runner = SweepRunner(
            model: try CompiledModel(definition), settings: SolverSettings(relativeTolerance: 1e-10, absoluteTolerance: 1e-12),
            base: SimulationPlan(model: definition, tEnd: 12, outputEvery: 1), design: SweepDesign(grid: [axis]),
            outputs: ["x", "felt"], metrics: MetricSpec(offsets: [("2h", 2)]), jobs: jobs, runIDs: .all(axis.values.count), keepSeries: false)
        var rows: [SweepRow] = []
        var reading = runner
        reading.metricColumns = metricColumns
        reading.run { rows.append($0) }
        return rows
    }

    @Test func fourWorkersGiveTheRowsOfOneInOrder() throws {
        let serial = try rows(jobs: 1)
        let parallel = try rows(jobs: 4)
        #expect(serial.count == 8 && serial.allSatisfy(\.succeeded))
        #expect(parallel.map(\.runID) == Array(1...8))
        #expect(parallel.map(\.metrics) == serial.map(\.metrics))
        #expect(parallel.map(\.point) == serial.map(\.point))
    }

    /// Each worker of a sweep over the bundled model integrates only the 27 states an intravenous
    /// ketamine dose moves (`DormantReduction`, compiled per worker); the rows are the same as one
    /// worker's, bit for bit, and as those of the full system within the solver's error.
    @Test func workersWithReducedSystemsGiveTheRowsOfOne() throws {
        let definition = try ModelLoader.load(path: repositoryRoot.appendingPathComponent("models/ketamine_stress.yaml").path)
        let model = try CompiledModel(definition)
        var base = SimulationPlan(scenario: try #require(definition.scenario(named: "human_ketamine_infusion")))
        base.tEnd = 25
        let axis = try SweepAxis.parse("IC50_ket=1.5,2,2.5,3,3.5,4", model: definition).get()
        func rows(jobs: Int) -> [SweepRow] {
            let runner = SweepRunner(model: model, settings: SolverSettings(), base: base, design: SweepDesign(grid: [axis]),
                                     outputs: ["madrs_change"], metrics: MetricSpec(offsets: [("24h", 24)]), jobs: jobs,
                                     runIDs: .all(axis.values.count), keepSeries: false)
            var rows: [SweepRow] = []
            runner.run { rows.append($0) }
            return rows
        }
        let serial = rows(jobs: 1), parallel = rows(jobs: 2)
        #expect(serial.count == 6 && serial.allSatisfy(\.succeeded))
        // Bit for bit, NaN (a relative change from a baseline of 0) included.
        #expect(parallel.map { $0.metrics.map(\.bitPattern) } == serial.map { $0.metrics.map(\.bitPattern) })
        let full = try Simulator(model: model)
        full.reducesDormantStates = false
        let spec = MetricSpec(offsets: [("24h", 24)])
        let at24 = try #require(spec.columns(outputs: ["madrs_change"]).firstIndex(of: "madrs_change.at_24h"))
        for (row, ic50) in zip(serial, axis.values) {
            var plan = base
            plan.parameters["IC50_ket"] = ic50
            let value = try #require(try full.run(plan, outputs: ["madrs_change"]).value("madrs_change", at: 24))
            #expect(abs(row.metrics[at24] - value) < 1e-3, "IC50_ket = \(ic50)")
        }
    }

    @Test func aRunnerReadingOnlyPointwiseMetricsGivesTheirValuesAndLeavesTheRestEmpty() throws {
        // Recorded at 0, 2 and 12 h only instead of hourly: the stepper interpolates, so the steps and
        // the values at those times are the same as on the grid.
        let wanted = ["felt.at_2h", "x.change_2h", "x.pre"]
        let full = try rows(jobs: 1)
        let sparse = try rows(jobs: 2, metricColumns: wanted)
        let columns = MetricSpec(offsets: [("2h", 2)]).columns(outputs: ["x", "felt"])
        #expect(sparse.count == full.count && sparse.allSatisfy(\.succeeded))
        for (a, b) in zip(full, sparse) {
            for (k, c) in columns.enumerated() {
                if wanted.contains(c) {
                    #expect(a.metrics[k].isFinite && b.metrics[k] == a.metrics[k], "\(c)")
                } else {
                    #expect(b.metrics[k].isNaN, "\(c)")
                }
            }
        }
        // A summary of the whole trace among them: every run records the full grid again.
        let withAUC = try rows(jobs: 1, metricColumns: ["x.at_2h", "x.auc"])
        #expect(withAUC.map(\.metrics) == full.map(\.metrics))
    }
}
