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
