import Experiments
import Foundation

/// A problem with one parameter held at a value: what the optimiser re-fits at each point of a profile.
final class FixedParameterProblem: LeastSquaresProblem {
    let base: any LeastSquaresProblem
    let index: Int
    var value: Double
    let parameterNames: [String]
    let lowerBounds: [Double]
    let upperBounds: [Double]
    var residualCount: Int { base.residualCount }
    var objectiveOffset: Double { base.objectiveOffset }
    private var full: [Double]

    init(_ base: any LeastSquaresProblem, index: Int, value: Double) {
        self.base = base
        self.index = index
        self.value = value
        func drop<T>(_ a: [T]) -> [T] { var a = a; a.remove(at: index); return a }
        parameterNames = drop(base.parameterNames)
        lowerBounds = drop(base.lowerBounds)
        upperBounds = drop(base.upperBounds)
        full = [Double](repeating: 0, count: base.parameterNames.count)
    }

    func expand(_ y: [Double]) -> [Double] {
        var x = y
        x.insert(value, at: index)
        return x
    }

    func residuals(at y: [Double], into r: inout [Double]) -> Bool {
        full = expand(y)
        return base.residuals(at: full, into: &r)
    }
}

/// The profile likelihood of one parameter (Raue et al. 2009, doi:10.1093/bioinformatics/btp358): the
/// objective minimised over every other parameter, as this one is moved away from its estimate on its
/// scale until the objective has risen by `stopDelta`, a bound is reached or `maxPoints` are spent on
/// a side. The 95% interval is where the rise crosses chi2(1, 0.95) / 2 = 1.92 (the objective is a
/// negative log-likelihood); a side that never crosses it before its bound is open, and a parameter
/// open on both sides is not identifiable from the data.
public struct ProfileLikelihood: Sendable {
    public struct Point: Sendable {
        /// On the estimation scale.
        public var value: Double
        public var objective: Double
        public var status: FitStatus
    }

    /// Why one side of a profile ended.
    public enum SideEnd: String, Sendable {
        /// The rise passed the threshold: the interval is closed on this side.
        case crossed
        /// The parameter's bound was reached below the threshold: the data do not bound it here.
        case bound
        /// `maxPoints` were spent before either: unresolved, not a verdict.
        case points
        /// A re-fit could not be evaluated.
        case failed
    }

    public var parameter: String
    public var index: Int
    public var estimate: Double
    public var bestObjective: Double
    /// In increasing order of `value`, the estimate included.
    public var points: [Point]
    /// nil: open on that side (the rise stays below the threshold up to the bound).
    public var lower: Double?
    public var upper: Double?
    public var lowerEnd: SideEnd = .points
    public var upperEnd: SideEnd = .points

    public static let threshold = 1.920729410347062

    public var identifiable: Bool { lower != nil && upper != nil }
    /// Whether a side ended for want of points, so neither verdict can be given.
    public var unresolved: Bool { (lower == nil && lowerEnd != .bound) || (upper == nil && upperEnd != .bound) }

    /// - Parameters:
    ///   - progress: called after each point with the number of points so far.
    public static func compute(_ problem: any LeastSquaresProblem, at estimate: [Double], index: Int, optimizer: GSLLeastSquares,
                               maxPoints: Int = 30, stopDelta: Double = 2 * threshold,
                               progress: (Int) -> Void = { _ in }) -> ProfileLikelihood {
        let best = problem.objective(at: estimate)
        let lo = problem.lowerBounds[index], hi = problem.upperBounds[index]
        let span = hi.isFinite && lo.isFinite ? hi - lo : 10
        var points = [Point(value: estimate[index], objective: best, status: .converged)]
        let fixed = FixedParameterProblem(problem, index: index, value: estimate[index])
        var count = 1
        var ends: [SideEnd] = []
        for direction in [-1.0, 1.0] {
            var end = SideEnd.points
            var others = estimate
            others.remove(at: index)
            var value = estimate[index]
            var step = 0.02 * span
            var previous = best
            for _ in 0..<maxPoints {
                var next = value + direction * step
                if next < lo { next = lo }
                if next > hi { next = hi }
                if next == value { end = .bound; break }
                fixed.value = next
                let objective: Double, status: FitStatus
                if others.isEmpty {
                    // Nothing to re-fit: the profile is the objective itself.
                    objective = problem.objective(at: [next])
                    status = objective.isFinite ? .converged : .failed
                } else {
                    let fit = optimizer.minimize(fixed, from: others)
                    objective = fit.status == .failed ? .infinity : fit.objective
                    status = fit.status
                    if fit.status != .failed { others = fit.estimate }
                }
                let rise = objective - previous
                // A step that climbs more than 0.5 at once would leave the interval's end to a coarse
                // interpolation: retry it shorter (the attempt still counts against maxPoints).
                if rise > 0.5 && step > 1e-6 * span {
                    step /= 4
                    continue
                }
                points.append(Point(value: next, objective: objective, status: status))
                count += 1
                progress(count)
                value = next
                // Coarser where the profile is flat; a re-fit from a warm start is noisy enough that
                // steering the step by each rise (tried) spent the re-fits on retries.
                if rise < 0.1 { step = min(step * 2, 0.2 * span) }
                previous = objective
                if !objective.isFinite { end = .failed; break }
                if objective - best >= stopDelta { end = .crossed; break }
            }
            ends.append(end)
        }
        points.sort { $0.value < $1.value }
        var profile = ProfileLikelihood(parameter: problem.parameterNames[index], index: index, estimate: estimate[index], bestObjective: best,
                                        points: points, lower: nil, upper: nil)
        profile.lower = profile.crossing(below: true)
        profile.upper = profile.crossing(below: false)
        profile.lowerEnd = ends[0]
        profile.upperEnd = ends[1]
        return profile
    }

    /// Where the rise first crosses the threshold going outward from the estimate (linear interpolation).
    func crossing(below: Bool) -> Double? {
        guard let centre = points.firstIndex(where: { $0.value == estimate }) else { return nil }
        let outward = below ? Array(points[..<centre].reversed()) : Array(points[(centre + 1)...])
        var inner = points[centre]
        for p in outward {
            let a = inner.objective - bestObjective, b = p.objective - bestObjective
            if b >= Self.threshold {
                guard b.isFinite, a.isFinite, b > a else { return p.value }
                return inner.value + (Self.threshold - a) / (b - a) * (p.value - inner.value)
            }
            inner = p
        }
        return nil
    }
}

extension ProfileLikelihood {
    /// Profiles of several parameters on `jobs` threads, each worker with its own problem (and so its
    /// own integrator), handed back in the order asked, as the multistart does with starts.
    /// `progress` is called on the worker's thread after each point of a profile, with the parameter's
    /// index and the points so far: a re-fit of a slow model takes minutes, and a profile is dozens.
    public static func computeAll(indices: [Int], at estimate: [Double], optimizer: GSLLeastSquares, maxPoints: Int, jobs: Int,
                                  makeProblem: @escaping @Sendable () throws -> any LeastSquaresProblem,
                                  progress: @escaping @Sendable (_ index: Int, _ points: Int) -> Void = { _, _ in },
                                  emit: (ProfileLikelihood?, String?) throws -> Void) rethrows {
        let queue = OrderedWorkQueue<Outcome>(total: indices.count, window: max(2 * jobs, 4))
        for _ in 0..<min(max(1, jobs), max(1, indices.count)) {
            let thread = Thread {
                var problem: (any LeastSquaresProblem)?
                var failure = ""
                do { problem = try makeProblem() } catch { failure = "\(error)" }
                while let k = queue.claim() {
                    guard let problem else { queue.deliver(Outcome(profile: nil, failure: failure), at: k); continue }
                    let p = compute(problem, at: estimate, index: indices[k], optimizer: optimizer, maxPoints: maxPoints) { count in
                        progress(indices[k], count)
                    }
                    queue.deliver(Outcome(profile: p, failure: nil), at: k)
                }
            }
            thread.stackSize = 8 << 20
            thread.start()
        }
        defer { queue.finish() }
        while let outcome = queue.next() { try emit(outcome.profile, outcome.failure) }
    }

    struct Outcome: Sendable {
        var profile: ProfileLikelihood?
        var failure: String?
    }
}
