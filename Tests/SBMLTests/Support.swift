import Foundation

/// Paths relative to this file, so tests work from any working directory.
enum TestPaths {
    static let repository: URL = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let suite = repository.deletingLastPathComponent().appendingPathComponent("shared/sbml-test-suite").path
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures").path
    static func model(_ relative: String) -> String { repository.appendingPathComponent(relative).path }

    static var suiteAvailable: Bool { FileManager.default.fileExists(atPath: suite + "/cases") }
}

import Experiments
import Integrator
import Models
import SBML

extension SBMLModel {
    /// Runs the model through the one `Simulator` from t = 0, reporting SBML ids at `times`.
    func simulate(times: [Double], ids: [String], amounts: Set<String> = [], settings: SolverSettings = SBMLTestSuite.solverSettings) throws -> SimulationResult {
        let simulator = try Simulator(model: CompiledModel(definition), settings: settings)
        var plan = SimulationPlan(model: definition, tEnd: times.max() ?? 1)
        plan.outputTimes = times
        return try simulator.run(plan, columns: columns(ids: ids, amounts: amounts))
    }
}

extension SimulationResult {
    func value(_ column: Int, at row: Int) -> Double { values[row * outputNames.count + column] }
}
