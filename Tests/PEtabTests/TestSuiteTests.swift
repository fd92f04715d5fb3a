import Foundation
import PEtab
import Testing
import Yams

/// The official PEtab v1 conformance cases (`../shared/petab-test-suite`): a case passes when its
/// simulations, chi2 and llh match the solution within the case's own tolerances.
@Suite(.enabled(if: TestPaths.suiteAvailable, "the PEtab test suite is not at ../shared/petab-test-suite"))
struct PEtabTestSuiteTests {
    /// Cases passed by this implementation; raise it when a case starts to pass.
    static let passFloor = 20

    enum Outcome: Equatable { case passed, failed(String), refused(String) }

    static func run(_ name: String) -> Outcome {
        let directory = TestPaths.suite + "/cases/" + name
        let problem: PEtabProblem
        let evaluation: PEtabEvaluation
        do {
            problem = try PEtabProblem.load(directory + "/_\(name).yaml")
            evaluation = try problem.evaluate()
        } catch {
            return error.kind == .unsupported ? .refused(error.description) : .failed(error.description)
        }
        guard let text = try? String(contentsOfFile: directory + "/_\(name)_solution.yaml", encoding: .utf8),
              let solution = (try? Yams.load(yaml: text)) as? [String: Any],
              let llh = number(solution["llh"]), let chi2 = number(solution["chi2"]),
              let files = solution["simulation_files"] as? [String] else { return .failed("unreadable solution") }
        let tolLLH = number(solution["tol_llh"]) ?? 1e-3, tolChi2 = number(solution["tol_chi2"]) ?? 1e-3
        let tolSim = number(solution["tol_simulations"]) ?? 1e-3
        var problems: [String] = []
        if !(abs(evaluation.llh - llh) <= tolLLH) { problems.append("llh \(evaluation.llh) != \(llh)") }
        if !(abs(evaluation.chi2 - chi2) <= tolChi2) { problems.append("chi2 \(evaluation.chi2) != \(chi2)") }
        // The expected simulations, in the measurement table's row order.
        var expected: [Double] = []
        for f in files {
            guard let table = try? String(contentsOfFile: directory + "/" + f, encoding: .utf8) else { return .failed("unreadable \(f)") }
            let lines = table.split(separator: "\n").map { $0.split(separator: "\t", omittingEmptySubsequences: false).map(String.init) }
            guard let header = lines.first, let k = header.firstIndex(of: "simulation") else { return .failed("no simulation column in \(f)") }
            expected += lines.dropFirst().compactMap { $0.count > k ? Double($0[k]) : nil }
        }
        if expected.count != evaluation.simulations.count {
            problems.append("\(evaluation.simulations.count) simulations, expected \(expected.count)")
        } else {
            for (i, (s, e)) in zip(evaluation.simulations, expected).enumerated() where !(abs(s - e) <= tolSim) {
                problems.append("simulation \(i + 1): \(s) != \(e)")
            }
        }
        return problems.isEmpty ? .passed : .failed(problems.joined(separator: "; "))
    }

    static func number(_ v: Any?) -> Double? {
        if let d = v as? Double { return d }
        if let i = v as? Int { return Double(i) }
        if let s = v as? String { return Double(s) }
        return nil
    }

    @Test func everyCaseMatchesItsSolutionOrIsRefusedByName() {
        var passed = 0
        var report: [String] = []
        for name in TestPaths.cases {
            switch Self.run(name) {
            case .passed: passed += 1
            case .failed(let why): report.append("\(name) FAILED: \(why)")
            case .refused(let why):
                // A refusal must say which feature it is: "not supported: <feature>".
                #expect(why.contains("not supported: "), "case \(name) was refused without naming the feature: \(why)")
                report.append("\(name) refused: \(why)")
            }
        }
        print("PEtab test suite: \(passed) of \(TestPaths.cases.count) cases pass")
        for line in report { print("  " + line) }
        #expect(TestPaths.cases.count >= 20)
        #expect(passed >= Self.passFloor, "\(report.joined(separator: "\n"))")
    }
}

extension Error {
    var kind: PEtabError.Kind? { (self as? PEtabError)?.kind }
}
