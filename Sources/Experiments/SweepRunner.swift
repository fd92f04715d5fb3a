import Foundation
import Integrator
import Models

/// Which runs of a sweep to execute: every `step`-th run ID from `first` to `last` (a whole sweep, or
/// one shard of it) minus those already done. Held as a stride, not a list, so that memory does not
/// grow with the number of runs.
public struct RunSet: Sendable, Equatable {
    public var first: Int
    public var step: Int
    public var last: Int
    public var done: Set<Int>

    public static func all(_ total: Int) -> RunSet { RunSet(first: 1, step: 1, last: total, done: []) }

    /// Shard `index` (0-based) of `count`: every count-th run, so shards are balanced whatever the order of the grid.
    public static func shard(_ index: Int, of count: Int, total: Int) -> RunSet { RunSet(first: index + 1, step: count, last: total, done: []) }

    /// Positions in the stride, done ones included.
    var candidates: Int { last >= first ? (last - first) / step + 1 : 0 }
    func id(at position: Int) -> Int { first + position * step }
    func contains(_ id: Int) -> Bool { id >= first && id <= last && (id - first) % step == 0 }

    /// Runs still to do.
    public var count: Int { candidates - done.filter(contains).count }
}

extension RunSet: Sequence {
    public func makeIterator() -> AnyIterator<Int> {
        var position = 0
        return AnyIterator {
            while position < candidates {
                let id = self.id(at: position)
                position += 1
                if !done.contains(id) { return id }
            }
            return nil
        }
    }
}

/// One finished run of a sweep.
public struct SweepRow: Sendable {
    public var runID: Int
    public var point: [Double]
    public var succeeded: Bool
    public var message: String
    public var metrics: [Double]
    /// Why a metric cell is empty (a relative change against a zero baseline), keyed by column.
    public var metricReasons: [String: String] = [:]
    /// Kept only when the caller asked for time series.
    public var result: SimulationResult?
    /// A run already done (resume): passes through the queue in order but is not emitted.
    var skipped = false
}

/// What a command reports about the rows of a sweep once they are written: how many runs failed and
/// the first failure's reason, and, per metric column, how many cells are empty for a reason the metrics
/// know (a relative change against a zero baseline), so that is said once per column instead of left
/// for a user to puzzle over row by row.
public struct RunTally: Sendable {
    public private(set) var failed = 0
    /// The first failed run's message, after the caller's label for that run.
    public private(set) var firstFailure: String?
    private var emptyRuns: [String: Int] = [:]
    private var reasons: [String: String] = [:]

    public init() {}

    public mutating func add(_ row: SweepRow, label: @autoclosure () -> String = "") {
        if !row.succeeded {
            failed += 1
            if firstFailure == nil { firstFailure = "\(label()): \(row.message)" }
        }
        for (column, reason) in row.metricReasons {
            emptyRuns[column, default: 0] += 1
            if reasons[column] == nil { reasons[column] = reason }
        }
    }

    /// One line per column, in column order: "`x.change_24h` is empty in 12 of 400 runs: <reason>".
    public func notes(columns: [String], of total: Int) -> [String] {
        columns.compactMap { c in
            guard let n = emptyRuns[c], let why = reasons[c] else { return nil }
            return "`\(c)` is empty in \(n) of \(total) runs: \(why)" + (n > 1 ? " (the reason of the first such run)" : "")
        }
    }
}

/// Runs a sweep on worker threads, each with its own `Simulator` (and so its own GSL driver), and hands
/// rows back on the calling thread in run_id order as they finish. At most `window` runs are held
/// in memory at once, however many runs there are; a failed run is a row, never a lost run.
public struct SweepRunner: Sendable {
    public var model: CompiledModel
    public var settings: SolverSettings
    public var base: SimulationPlan
    public var design: SweepDesign
    public var outputs: [String]
    public var metrics: MetricSpec
    public var jobs: Int
    /// Run IDs (1-based) to execute, ascending.
    public var runIDs: RunSet
    public var keepSeries: Bool
    /// The metric columns (`<output>.<metric>`) the caller reads; nil: every column. When each is
    /// pointwise (`MetricSpec.isPointwise`) and no series is kept, a run records only the times those
    /// read (`MetricSpec.sampleTimes`) instead of the grid and the minutes after each dose, and the
    /// other columns are NaN: a sensitivity analysis of `madrs_change.at_24h` evaluates one output at
    /// three times, not at some 900.
    public var metricColumns: [String]?

    public init(model: CompiledModel, settings: SolverSettings, base: SimulationPlan, design: SweepDesign, outputs: [String], metrics: MetricSpec, jobs: Int, runIDs: RunSet, keepSeries: Bool) {
        self.model = model
        self.settings = settings
        self.base = base
        self.design = design
        self.outputs = outputs
        self.metrics = metrics
        self.jobs = max(1, jobs)
        self.runIDs = runIDs
        self.keepSeries = keepSeries
    }

    /// The run IDs of shard `index` (0-based) of `count`.
    public static func shard(_ index: Int, of count: Int, total: Int) -> [Int] {
        Array(RunSet.shard(index, of: count, total: total))
    }

    /// Runs everything (or until `shouldStop` turns true, then finishes the runs already started),
    /// calling `emit` in run_id order. Returns the number of rows emitted.
    @discardableResult
    public func run(shouldStop: @escaping @Sendable () -> Bool = { false }, emit: (SweepRow) throws -> Void) rethrows -> Int {
        let queue = OrderedWorkQueue<SweepRow>(total: runIDs.candidates, window: max(4 * jobs, 8))
        let job = self
        var threads: [Thread] = []
        for _ in 0..<min(jobs, max(1, runIDs.candidates)) {
            let thread = Thread { job.work(queue) }
            thread.stackSize = 8 << 20
            threads.append(thread)
            thread.start()
        }
        var emitted = 0
        defer { queue.finish() }
        while let row = queue.next(shouldStop: shouldStop) {
            if row.skipped { continue }
            try emit(row)
            emitted += 1
        }
        return emitted
    }

    /// Whether the runs may record only `MetricSpec.sampleTimes`, and the columns (by index) they fill.
    private var sparse: Set<Int>? {
        guard !keepSeries, let wanted = metricColumns else { return nil }
        let columns = metrics.columns(outputs: outputs)
        var kept = Set<Int>()
        for c in wanted {
            guard let k = columns.firstIndex(of: c), let dot = c.lastIndex(of: "."),
                  MetricSpec.isPointwise(String(c[c.index(after: dot)...])) else { return nil }
            kept.insert(k)
        }
        return kept
    }

    private func work(_ queue: OrderedWorkQueue<SweepRow>) {
        var simulator: Simulator?
        var setupFailure: String?
        do { simulator = try Simulator(model: model, settings: settings) } catch { setupFailure = error.description }
        let kept = sparse
        // The base plan's equilibrium, found once per worker the same way by each, is where the samples'
        // own equilibria are sought first; a base without one (or not starting from one) leaves none.
        if let simulator, base.start == .steadyState {
            var start = base
            start.initialStates = [:]
            simulator.equilibriumHint = try? simulator.initialState(for: start)
        }
        let columns = metrics.columns(outputs: outputs)
        while let position = queue.claim() {
            let runID = runIDs.id(at: position)
            if runIDs.done.contains(runID) {
                var skip = SweepRow(runID: runID, point: [], succeeded: true, message: "", metrics: [], result: nil)
                skip.skipped = true
                queue.deliver(skip, at: position)
                continue
            }
            let point = design.point(runID - 1)
            var row = SweepRow(runID: runID, point: point, succeeded: false, message: setupFailure ?? "", metrics: [], result: nil)
            if let simulator {
                do {
                    var plan = design.plan(runID - 1, base: base)
                    var detail: [Double] = []
                    if kept != nil { plan.outputTimes = metrics.sampleTimes(for: plan) } else {
                        detail = metrics.detailTimes(for: plan, timeUnit: model.definition.timeUnit)
                    }
                    var result = try simulator.run(plan, outputs: outputs, detailTimes: detail)
                    if let failure = result.failure {
                        row.message = failure.description
                    } else {
                        row.succeeded = true
                        var explained = metrics.evaluateExplained(result)
                        if let kept {
                            for k in explained.values.indices where !kept.contains(k) { explained.values[k] = .nan }
                            explained.reasons = explained.reasons.filter { c, _ in columns.firstIndex(of: c).map(kept.contains) == true }
                        }
                        row.metrics = explained.values
                        row.metricReasons = explained.reasons
                    }
                    if keepSeries {
                        result.detailTimes = []
                        result.detailValues = []
                        row.result = result
                    }
                } catch {
                    row.message = error.description
                }
            }
            queue.deliver(row, at: position)
        }
    }
}
