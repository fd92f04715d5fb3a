import Experiments
import Foundation

/// `count` starts, one in each of `count` equal strata of every parameter's [lower, upper] (estimation
/// scale), strata paired at random (McKay, Beckman & Conover 1979); the same seed gives the same starts.
/// Strata are sampled at a random point inside, never on a bound, where the sine transform is stuck.
public func latinHypercubeStarts(lower: [Double], upper: [Double], count: Int, seed: UInt64) -> [[Double]] {
    var rng = SplitMix64(seed: seed)
    var columns: [[Double]] = []
    for i in lower.indices {
        var strata = Array(0..<count)
        strata.shuffle(using: &rng)
        columns.append(strata.map { s in
            let u = (Double(s) + Double.random(in: 0.001..<0.999, using: &rng)) / Double(count)
            return lower[i] + u * (upper[i] - lower[i])
        })
    }
    return (0..<count).map { k in columns.map { $0[k] } }
}

/// Runs local fits from many starts on `jobs` threads, each with its own problem (and so its own
/// integrator), and hands the fits back in start order, as the sweep engine does with runs.
public struct Multistart: Sendable {
    public var starts: [[Double]]
    public var jobs: Int
    public var optimizer: GSLLeastSquares

    public init(starts: [[Double]], jobs: Int, optimizer: GSLLeastSquares) {
        self.starts = starts
        self.jobs = max(1, jobs)
        self.optimizer = optimizer
    }

    /// - Parameters:
    ///   - makeProblem: called once per worker thread; a worker whose problem cannot be built reports
    ///     every start it takes as failed with the error's description.
    ///   - emit: called on the calling thread with each fit, in start order (index from 0).
    public func run(makeProblem: @escaping @Sendable () throws -> any LeastSquaresProblem,
                    emit: (Int, LocalFit) throws -> Void) rethrows {
        let queue = FitQueue(total: starts.count)
        let job = self
        for _ in 0..<min(jobs, max(1, starts.count)) {
            let thread = Thread { job.work(queue, makeProblem) }
            thread.stackSize = 8 << 20
            thread.start()
        }
        defer { queue.stop() }
        var next = 0
        while next < starts.count, let fit = queue.wait(for: next) {
            try emit(next, fit)
            next += 1
        }
    }

    private func work(_ queue: FitQueue, _ makeProblem: () throws -> any LeastSquaresProblem) {
        var problem: (any LeastSquaresProblem)?
        var setupFailure = ""
        do { problem = try makeProblem() } catch { setupFailure = "\(error)" }
        while let k = queue.claim() {
            let fit: LocalFit
            if let problem {
                fit = optimizer.minimize(problem, from: starts[k])
            } else {
                fit = LocalFit(start: starts[k], estimate: starts[k], objective: .infinity, status: .failed,
                               iterations: 0, evaluations: 0, seconds: 0, message: setupFailure)
            }
            queue.deliver(fit, at: k)
        }
    }
}

/// Hands start indices to workers and their fits back to the caller in order.
final class FitQueue: @unchecked Sendable {
    private let condition = NSCondition()
    private let total: Int
    private var claimed = 0
    private var stopped = false
    private var ready: [Int: LocalFit] = [:]

    init(total: Int) { self.total = total }

    func claim() -> Int? {
        condition.lock()
        defer { condition.unlock() }
        guard !stopped, claimed < total else { return nil }
        claimed += 1
        return claimed - 1
    }

    func deliver(_ fit: LocalFit, at k: Int) {
        condition.lock()
        ready[k] = fit
        condition.broadcast()
        condition.unlock()
    }

    func wait(for k: Int) -> LocalFit? {
        condition.lock()
        defer { condition.unlock() }
        while ready[k] == nil && !stopped { condition.wait() }
        return ready.removeValue(forKey: k)
    }

    /// Workers finish the start they hold and take no other.
    func stop() {
        condition.lock()
        stopped = true
        condition.broadcast()
        condition.unlock()
    }
}
