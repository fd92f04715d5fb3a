/// A trajectory: the states at each output time, how much work it took, and why it stopped if it
/// stopped early (the partial trajectory is kept, as SciML keeps it beside its `retcode`).
public struct Solution: Sendable {
    public let dimension: Int
    public private(set) var times: [Double] = []
    /// Row-major: the state at `times[k]` is `values[k * dimension ..< (k + 1) * dimension]`.
    public private(set) var values: [Double] = []
    public var statistics = SolverStatistics()
    public var failure: IntegrationError?

    public var succeeded: Bool { failure == nil }
    public var count: Int { times.count }

    public init(dimension: Int, reservingCapacity capacity: Int = 0) {
        self.dimension = dimension
        times.reserveCapacity(capacity)
        values.reserveCapacity(capacity * dimension)
    }

    public mutating func append(time: Double, state: UnsafePointer<Double>) {
        times.append(time)
        values.append(contentsOf: UnsafeBufferPointer(start: state, count: dimension))
    }

    public func state(at index: Int) -> ArraySlice<Double> {
        values[(index * dimension)..<((index + 1) * dimension)]
    }

    public func value(_ variable: Int, at index: Int) -> Double {
        values[index * dimension + variable]
    }

    /// The time course of one state variable.
    public func series(_ variable: Int) -> [Double] {
        (0..<count).map { values[$0 * dimension + variable] }
    }
}

