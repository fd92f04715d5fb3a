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

extension ODEIntegrator {
    /// Integrates from `t0` over the output times, stopping exactly at each breakpoint to let the caller
    /// change the state or the equations (a dose, the start or end of an infusion or a stress period),
    /// then restarting the stepper so no step straddles the jump.
    ///
    /// An output time equal to a breakpoint records the state after the change; a breakpoint at `t0`
    /// is applied before the first output. Times need not be sorted; duplicates are merged.
    /// - Parameter onBreakpoint: called with the breakpoint time and the state, which it may modify.
    /// Output times sorted without duplicates, the breakpoints within [t0, end], and the end; or why the
    /// problem cannot be integrated. Shared by both `solve`s.
    func schedule(from t0: Double, initial: [Double], outputTimes: [Double], breakpoints: [Double])
        -> Result<(outputs: [Double], stops: [Double], end: Double), IntegrationError> {
        guard initial.count == dimension else { return .failure(.invalidProblem("expected \(dimension) initial values, got \(initial.count)")) }
        let outputs = Array(Set(outputTimes)).sorted()
        if let first = outputs.first, first < t0 { return .failure(.invalidProblem("output time \(first) lies before the start time \(t0)")) }
        let end = max(outputs.last ?? t0, t0)
        return .success((outputs, Array(Set(breakpoints.filter { $0 >= t0 && $0 <= end })).sorted(), end))
    }

    public func solve(
        from t0: Double, initial: [Double], outputTimes: [Double], breakpoints: [Double] = [],
        onBreakpoint: (Double, UnsafeMutableBufferPointer<Double>) -> Void = { _, _ in }
    ) -> Solution {
        var solution = Solution(dimension: dimension, reservingCapacity: outputTimes.count)
        let outputs: [Double], stops: [Double], end: Double
        switch schedule(from: t0, initial: initial, outputTimes: outputTimes, breakpoints: breakpoints) {
        case .success(let s): (outputs, stops, end) = (s.outputs, s.stops, s.end)
        case .failure(let e): solution.failure = e; return solution
        }
        var y = initial
        let startStats = statistics
        y.withUnsafeMutableBufferPointer { buffer in
            guard let state = buffer.baseAddress else { return }
            var t = t0
            var nextOutput = 0
            var nextStop = 0
            if nextStop < stops.count && stops[nextStop] == t0 {
                onBreakpoint(t0, buffer)
                nextStop += 1
            }
            restart()
            if nextOutput < outputs.count && outputs[nextOutput] == t0 {
                solution.append(time: t0, state: state)
                nextOutput += 1
            }
            while t < end {
                let target = nextStop < stops.count ? stops[nextStop] : end
                var lastOutput = nextOutput
                while lastOutput < outputs.count && outputs[lastOutput] < target { lastOutput += 1 }
                let isStop = nextStop < stops.count
                // Outputs strictly before the breakpoint; the one at it is taken after the change.
                let slice = outputs[nextOutput..<lastOutput]
                do throws(IntegrationError) {
                    try advance(t: &t, y: state, to: target, outputTimes: slice) { time, s in
                        solution.append(time: time, state: s)
                    }
                } catch {
                    solution.failure = error
                    return
                }
                nextOutput = lastOutput
                if isStop {
                    onBreakpoint(target, buffer)
                    nextStop += 1
                    restart()
                }
                if nextOutput < outputs.count && outputs[nextOutput] == target {
                    solution.append(time: target, state: state)
                    nextOutput += 1
                }
            }
        }
        solution.statistics.steps = statistics.steps - startStats.steps
        solution.statistics.rhsEvaluations = statistics.rhsEvaluations - startStats.rhsEvaluations
        solution.statistics.jacobianEvaluations = statistics.jacobianEvaluations - startStats.jacobianEvaluations
        solution.statistics.restarts = statistics.restarts - startStats.restarts
        return solution
    }
}
