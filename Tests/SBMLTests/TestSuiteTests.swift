import Foundation
import SBML
import Testing

/// The SBML Test Suite cases beside the repository (../shared/sbml-test-suite). The floor is the pass
/// count last reached, so any regression fails the test; no case may run and be wrong.
@Suite struct TestSuiteTests {
    static let floor = 1275

    @Test(.enabled(if: TestPaths.suiteAvailable, "the SBML Test Suite is not beside the repository (../shared/sbml-test-suite)"))
    func wholeSuitePassesAtLeastTheFloor() throws {
        let started = Date()
        let summary = SBMLTestSuite.runAll(root: TestPaths.suite, threads: 2)
        let seconds = Date().timeIntervalSince(started)
        for r in summary.results where !r.passed {
            print("FAIL \(r.name) [\((r.componentTags + r.testTags).joined(separator: ", "))]: \(r.message)")
        }
        print("SBML Test Suite: \(summary.line) of \(summary.results.count) in \(String(format: "%.1f", seconds)) s")
        #expect(summary.results.count == SBMLTestSuite.caseNames(root: TestPaths.suite).count)
        #expect(summary.passed >= Self.floor, "pass count fell below the floor of \(Self.floor)")
        // A case that runs must never be wrong: every failure is a refusal naming the element.
        #expect(summary.wrong == 0, "\(summary.wrong) cases ran and disagree with the expected values")
    }

    @Test func settingsAreParsed() {
        let s = SBMLTestSuite.parseSettings("start: 0\nduration: 5\nsteps: 50\nvariables: S1, S2\nabsolute: 1.000000e-007\nrelative: 0.0001\namount: S1, S2\nconcentration:\n")
        #expect(s.steps == 50 && s.duration == 5 && s.variables == ["S1", "S2"])
        #expect(s.absolute == 1e-7 && s.relative == 1e-4)
        #expect(s.amounts == ["S1", "S2"] && s.concentrations.isEmpty)
        #expect(s.times.count == 51 && s.times.last == 5)
    }
}
