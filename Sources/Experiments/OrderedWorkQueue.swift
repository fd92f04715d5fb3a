import Foundation

/// Hands out positions 0..<total to worker threads and gives their results back to one consumer in
/// position order, holding at most `window` finished-but-unconsumed results: a slow consumer (a file
/// being written) throttles the workers instead of letting memory grow with the number of positions.
/// Sweeps (rows) and multistart fits (local fits) share it, so both stop, order and throttle alike.
public final class OrderedWorkQueue<Item: Sendable>: @unchecked Sendable {
    private let condition = NSCondition()
    private let total: Int
    private let window: Int
    private var claimed = 0
    private var consumed = 0
    private var stopped = false
    private var ready: [Int: Item] = [:]

    public init(total: Int, window: Int) {
        self.total = total
        self.window = max(1, window)
    }

    /// The next position for a worker, or nil when all are claimed or the queue stopped.
    public func claim() -> Int? {
        condition.lock()
        defer { condition.unlock() }
        while !stopped && claimed < total && claimed - consumed >= window { condition.wait() }
        guard !stopped, claimed < total else { return nil }
        claimed += 1
        return claimed - 1
    }

    public func deliver(_ item: Item, at position: Int) {
        condition.lock()
        ready[position] = item
        condition.broadcast()
        condition.unlock()
    }

    /// The next result in order, or nil when all are consumed, or a stop was asked for and the
    /// positions already claimed have been handed back (work in progress is never lost).
    public func next(shouldStop: () -> Bool = { false }) -> Item? {
        condition.lock()
        defer { condition.unlock() }
        while true {
            if !stopped && shouldStop() { stopped = true; condition.broadcast() }
            if let item = ready.removeValue(forKey: consumed) {
                consumed += 1
                condition.broadcast()
                return item
            }
            if consumed >= total || (stopped && consumed >= claimed) { return nil }
            // A timed wait, so `shouldStop` (a signal flag nobody broadcasts for) is looked at often.
            _ = condition.wait(until: Date(timeIntervalSinceNow: 0.1))
        }
    }

    /// Workers finish the position they hold and claim no other.
    public func finish() {
        condition.lock()
        stopped = true
        condition.broadcast()
        condition.unlock()
    }
}
