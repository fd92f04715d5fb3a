import Foundation
import Integrator
import Models
import Testing
@testable import Experiments

/// The sweep workers share one compiled model and a queue; `make tsan` runs this suite under the
/// thread sanitizer.
@Suite("Parallel sweep")
struct ParallelSweepTests {
    private func rows(jobs: Int) throws -> [SweepRow] {
        let definition = try ModelLoader.parse(relaxModel, file: "relax.yaml")
        let axis = try SweepAxis.parse("tau=0.5:4:0.5", model: definition).get()
        let runner = SweepRunner(
            model: try CompiledModel(definition), settings: SolverSettings(relativeTolerance: 1e-10, absoluteTolerance: 1e-12),
            base: SimulationPlan(model: definition, tEnd: 12, outputEvery: 1), design: SweepDesign(grid: [axis]),
            outputs: ["x", "felt"], metrics: MetricSpec(offsets: [("2h", 2)]), jobs: jobs, runIDs: .all(axis.values.count), keepSeries: false)
        var rows: [SweepRow] = []
        runner.run { rows.append($0) }
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
}
