import Fitting
import Foundation
import Testing

/// y = a + b t with unit noise, or y = a b t when `product` (a and b not separately determined).
private final class Line: LeastSquaresProblem {
    let t = [0.0, 1, 2, 3, 4]
    let y = [1.1, 2.9, 5.2, 6.8, 9.1]
    let product: Bool
    let parameterNames = ["a", "b"]
    let lowerBounds = [-10.0, -10]
    let upperBounds = [10.0, 10]
    var residualCount: Int { t.count }
    let objectiveOffset = 0.0
    init(product: Bool = false) { self.product = product }
    func residuals(at x: [Double], into r: inout [Double]) -> Bool {
        for k in t.indices { r[k] = (product ? x[0] * x[1] * t[k] : x[0] + x[1] * t[k]) - y[k] }
        return true
    }
}

@Suite struct ProfileTests {
    /// For a linear model with Gaussian noise the profile is the parabola 0.5 (a - â)^2 / var(â), so
    /// the 95% interval is â ± 1.96 se(â), with se from (X^T X)^-1.
    @Test func aLinearModelsIntervalIsTheEstimatePlusMinus196StandardErrors() {
        let problem = Line()
        let fit = GSLLeastSquares(options: LeastSquaresOptions()).minimize(problem, from: [0, 0])
        let n = 5.0, st = 10.0, stt = 30.0
        let det = n * stt - st * st
        let varA = stt / det, varB = n / det
        for (index, variance) in [(0, varA), (1, varB)] {
            let p = ProfileLikelihood.compute(problem, at: fit.estimate, index: index, optimizer: GSLLeastSquares(options: LeastSquaresOptions()))
            let half = 1.959964 * variance.squareRoot()
            let lower = try? #require(p.lower), upper = try? #require(p.upper)
            #expect(abs((lower ?? .nan) - (fit.estimate[index] - half)) < 0.02 * half, "lower \(lower ?? .nan) vs \(fit.estimate[index] - half)")
            #expect(abs((upper ?? .nan) - (fit.estimate[index] + half)) < 0.02 * half, "upper \(upper ?? .nan) vs \(fit.estimate[index] + half)")
            #expect(p.identifiable)
            // Every profile point lies on the parabola: the others were re-fitted, not held.
            for q in p.points {
                let expected = 0.5 * pow(q.value - fit.estimate[index], 2) / variance
                #expect(abs(q.objective - p.bestObjective - expected) < 1e-5 * max(1, expected))
            }
        }
    }

    @Test func aParameterOnlyItsProductWithAnotherDeterminesIsNotIdentifiable() {
        let problem = Line(product: true)
        let fit = GSLLeastSquares(options: LeastSquaresOptions()).minimize(problem, from: [1, 1.5])
        let p = ProfileLikelihood.compute(problem, at: fit.estimate, index: 0, optimizer: GSLLeastSquares(options: LeastSquaresOptions()), maxPoints: 15)
        #expect(!p.identifiable)
        #expect(p.points.allSatisfy { $0.objective - p.bestObjective < 0.01 || $0.value.magnitude < 0.3 })
    }

    /// Two workers, each with its own problem, give the profiles one thread gives, in the order asked.
    @Test func profilesOnTwoThreadsAreTheSequentialOnes() throws {
        let fit = GSLLeastSquares(options: LeastSquaresOptions()).minimize(Line(), from: [0, 0])
        let optimizer = GSLLeastSquares(options: LeastSquaresOptions())
        var parallel: [ProfileLikelihood] = []
        ProfileLikelihood.computeAll(indices: [1, 0], at: fit.estimate, optimizer: optimizer, maxPoints: 30, jobs: 2,
                                     makeProblem: { Line() }) { p, _ in if let p { parallel.append(p) } }
        #expect(parallel.map(\.parameter) == ["b", "a"])
        for p in parallel {
            let one = ProfileLikelihood.compute(Line(), at: fit.estimate, index: p.index, optimizer: optimizer, maxPoints: 30)
            #expect(p.lower == one.lower && p.upper == one.upper && p.points.map(\.objective) == one.points.map(\.objective))
        }
    }

    /// A side that runs out of points is unresolved, not "not identifiable": only reaching a bound below
    /// the threshold is a verdict.
    @Test func runningOutOfPointsIsUnresolvedNotAVerdict() {
        let fit = GSLLeastSquares(options: LeastSquaresOptions()).minimize(Line(), from: [0, 0])
        let p = ProfileLikelihood.compute(Line(), at: fit.estimate, index: 0, optimizer: GSLLeastSquares(options: LeastSquaresOptions()), maxPoints: 1)
        #expect(!p.identifiable && p.unresolved && p.lowerEnd == .points && p.upperEnd == .points)
        let flat = ProfileLikelihood.compute(Line(product: true), at: [1.0, 2.0], index: 0, optimizer: GSLLeastSquares(options: LeastSquaresOptions()), maxPoints: 60)
        #expect(flat.upper == nil && flat.upperEnd == .bound)
    }
}
