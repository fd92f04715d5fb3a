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
/// integrator), and hands the fits back in start order through the sweep's ordered queue.
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
    ///   - indices: the starts to run (0-based, ascending), e.g. one shard's or those a resumed file
    ///     lacks; all of them by default.
    ///   - makeProblem: called once per worker thread; a worker whose problem cannot be built reports
    ///     every start it takes as failed with the error's description.
    ///   - emit: called on the calling thread with each fit, in start order (index from 0).
    public func run(indices: [Int]? = nil, makeProblem: @escaping @Sendable () throws -> any LeastSquaresProblem,
                    emit: (Int, LocalFit) throws -> Void) rethrows {
        let chosen = indices ?? Array(starts.indices)
        let queue = OrderedWorkQueue<LocalFit>(total: chosen.count, window: max(4 * jobs, 8))
        let job = self
        for _ in 0..<min(jobs, max(1, chosen.count)) {
            let thread = Thread { job.work(queue, chosen, makeProblem) }
            thread.stackSize = 8 << 20
            thread.start()
        }
        defer { queue.finish() }
        var position = 0
        while let fit = queue.next() {
            try emit(chosen[position], fit)
            position += 1
        }
    }

    private func work(_ queue: OrderedWorkQueue<LocalFit>, _ chosen: [Int], _ makeProblem: () throws -> any LeastSquaresProblem) {
        var problem: (any LeastSquaresProblem)?
        var setupFailure = ""
        do { problem = try makeProblem() } catch { setupFailure = "\(error)" }
        while let position = queue.claim() {
            let start = starts[chosen[position]]
            let fit: LocalFit
            if let problem {
                fit = optimizer.minimize(problem, from: start)
            } else {
                fit = LocalFit(start: start, estimate: start, objective: .infinity, status: .failed,
                               iterations: 0, evaluations: 0, seconds: 0, message: setupFailure)
            }
            queue.deliver(fit, at: position)
        }
    }
}
