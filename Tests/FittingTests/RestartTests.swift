import Fitting
import Foundation
import Testing

/// A bowl with its minimum at (3, −2) whose residuals cannot be evaluated at the first `failures` trial
/// points away from the start, as a model whose integration fails at the first, too long trial steps:
/// GSL's trust region shrinks with every rejected trial, and the first accepted step is then so small
/// that the small-step test reports convergence next to the start.
private final class BowlWithEarlyFailures: LeastSquaresProblem {
    let parameterNames = ["a", "b"]
    let lowerBounds = [-10.0, -10]
    let upperBounds = [10.0, 10]
    let residualCount = 2
    let objectiveOffset = 0.0
    let start: [Double]
    var failures: Int
    init(start: [Double], failures: Int) {
        self.start = start
        self.failures = failures
    }
    func residuals(at x: [Double], into r: inout [Double]) -> Bool {
        if failures > 0 && abs(x[0] - start[0]) + abs(x[1] - start[1]) > 1e-3 {
            failures -= 1
            return false
        }
        r[0] = x[0] - 3
        r[1] = 10 * (x[1] + 2)
        return true
    }
}

@Suite struct TrustRegionRestartTests {
    @Test func aStopOnACollapsedTrustRegionIsRestartedUntilTheMinimum() throws {
        var without = LeastSquaresOptions()
        without.maxRestarts = 0
        let stuck = GSLLeastSquares(options: without).minimize(BowlWithEarlyFailures(start: [-6, 7], failures: 40), from: [-6, 7])
        let bowl = BowlWithEarlyFailures(start: [-6, 7], failures: 40)
        let fit = GSLLeastSquares(options: LeastSquaresOptions()).minimize(bowl, from: [-6, 7])
        // The failures are a counter shared by every evaluation (the optimiser's own objective checks too):
        // they must all have been spent, so the restart is what reached the minimum, not a lucky count.
        #expect(bowl.failures == 0)
        // Without restarts the fit ends far from the minimum; with them it reaches it and says so.
        #expect(stuck.objective > 1, "\(stuck.status) \(stuck.message) at \(stuck.estimate), objective \(stuck.objective)")
        #expect(fit.status == .converged && fit.message.contains("restart"), "\(fit.status): \(fit.message)")
        #expect(abs(fit.estimate[0] - 3) < 1e-5 && abs(fit.estimate[1] + 2) < 1e-5, "\(fit.estimate)")
        #expect(fit.objective < 1e-9)
    }
}
