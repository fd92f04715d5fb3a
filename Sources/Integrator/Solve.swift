import CGSL

/// Why the solve loop acts on events at a time: what a caller differentiating the run needs to know,
/// since only a located crossing moves with the parameters.
public enum EventInstant: Sendable, Equatable {
    /// The start time (a trigger true there whose initial value is false).
    case start
    /// A condition went from false to true inside a step; the time was located by bisection.
    case crossing
    /// A time the caller scheduled (`EventWatch.nextScheduled`, a delayed event).
    case scheduled
    /// A breakpoint, after `onBreakpoint` changed the state or the equations.
    case breakpoint
}

/// Conditions watched during integration, as booleans of (t, y): an event happens where one goes from
/// false to true. The integrator knows nothing of what the events mean; the caller acts on them.
public struct EventWatch {
    /// Number of conditions.
    public var count: Int
    /// The value each condition had "just before" the start time. A condition true at the start whose
    /// initial value is false fires at the start (SBML's `initialValue="false"`).
    public var initialValues: [Bool]
    /// Writes the current truth of every condition into the buffer (length `count`). Called often
    /// (on interpolated states while locating a crossing), so it should not allocate.
    public var evaluate: (Double, UnsafePointer<Double>, UnsafeMutableBufferPointer<Bool>) -> Void
    /// The earliest time the caller has something scheduled (a delayed event), +infinity when nothing:
    /// the loop stops there exactly, as at a breakpoint, and calls `onEvent` with what fired (maybe nothing).
    public var nextScheduled: () -> Double = { .infinity }
    /// Whether something scheduled or left over is due at t: the cascade at t goes on (calling `onEvent`
    /// with what rose, maybe nothing) while it is.
    public var hasDue: (Double) -> Bool = { _ in false }
    /// The truth of every condition after each accepted step and each cascade round (a pending event
    /// that needs its condition to stay true is dropped when it turns false).
    public var settled: (UnsafeBufferPointer<Bool>) -> Void = { _ in }
    /// Continuous functions of (t, y) that change sign wherever a condition may change (a - b for a
    /// comparison a < b), none when unknown. A condition that turns true and false again inside one step
    /// is false at both ends; it is found at the first sign change after which it holds.
    public var signCount = 0
    /// Writes the `signCount` functions at (t, y); called while locating, so it should not allocate.
    public var signs: (Double, UnsafePointer<Double>, UnsafeMutablePointer<Double>) -> Void = { _, _, _ in }
    /// Called once before the rounds of events at one time, with why the loop acts there.
    public var instant: (Double, EventInstant) -> Void = { _, _ in }

    public init(count: Int, initialValues: [Bool],
                evaluate: @escaping (Double, UnsafePointer<Double>, UnsafeMutableBufferPointer<Bool>) -> Void) {
        self.count = count
        self.initialValues = initialValues
        self.evaluate = evaluate
    }
}

extension ODEIntegrator {
    /// Integrates from `t0` over the output times: the one integration loop of ketasim.
    ///
    /// - Breakpoints (a dose, the start or end of an infusion or a stress period) are hit exactly:
    ///   `onBreakpoint` may change the state or the equations there, and the stepper restarts so no
    ///   step straddles the jump. A breakpoint at `t0` is applied before the first output.
    /// - `events`, when given, are watched after every accepted step: a condition that went from false
    ///   to true is located by bisection on the step's cubic Hermite interpolant (to a few ulps of t),
    ///   the state there is recomputed by integrating again from the start of the step, and `onEvent`
    ///   is called with the time, the indices that fired and the state. Conditions that become true
    ///   because of what `onEvent` or `onBreakpoint` did fire at the same time, in a further round;
    ///   more than `maxCascade` rounds in which a condition rose, at one time, is a failure (an event
    ///   re-triggering itself). Rounds go on while `hasDue` says the caller has work left at that time.
    ///   Before the rounds at a time, `instant` says why the loop acts there (only a located crossing
    ///   moves with the parameters, which the sensitivities' jumps need to know).
    /// - Output times are reached as the settings' `effectiveOutputMode` says: `driver` cuts a step at
    ///   each, `interpolate` steps freely and interpolates. An output at a breakpoint or event time
    ///   records the state after the change. Times need not be sorted; duplicates are merged.
    ///
    /// A numerical failure ends the run and is reported in `Solution.failure` with the rows before it.
    public func solve(
        from t0: Double, initial: [Double], outputTimes: [Double], breakpoints: [Double] = [],
        events: EventWatch? = nil, maxCascade: Int = 1000,
        onBreakpoint: (Double, UnsafeMutableBufferPointer<Double>) -> Void = { _, _ in },
        onEvent: (Double, [Int], UnsafeMutableBufferPointer<Double>) -> Void = { _, _, _ in }
    ) -> Solution {
        var solution = Solution(dimension: dimension, reservingCapacity: outputTimes.count)
        guard initial.count == dimension else {
            solution.failure = .invalidProblem("expected \(dimension) initial values, got \(initial.count)")
            return solution
        }
        let outputs = Array(Set(outputTimes)).sorted()
        if let first = outputs.first, first < t0 {
            solution.failure = .invalidProblem("output time \(first) lies before the start time \(t0)")
            return solution
        }
        if let events, events.initialValues.count != events.count {
            solution.failure = .invalidProblem("expected \(events.count) initial event values, got \(events.initialValues.count)")
            return solution
        }
        let end = max(outputs.last ?? t0, t0)
        let stops = Array(Set(breakpoints.filter { $0 >= t0 && $0 <= end })).sorted()
        let start = statistics
        let rhsStart = context.rhsEvaluations, jacobianStart = context.jacobianEvaluations
        context.clearFailure()
        var loop = SolveLoop(integrator: self, events: events, maxCascade: maxCascade, outputs: outputs, stops: stops)
        var y = initial
        y.withUnsafeMutableBufferPointer { buffer in
            do throws(IntegrationError) {
                try loop.run(from: t0, to: end, state: buffer, solution: &solution, onBreakpoint: onBreakpoint, onEvent: onEvent)
            } catch {
                solution.failure = error
            }
        }
        statistics.rhsEvaluations = context.rhsEvaluations
        statistics.jacobianEvaluations = context.jacobianEvaluations
        solution.statistics.steps = statistics.steps - start.steps
        solution.statistics.restarts = statistics.restarts - start.restarts
        solution.statistics.states = dimension
        solution.statistics.rhsEvaluations = context.rhsEvaluations - rhsStart
        solution.statistics.jacobianEvaluations = context.jacobianEvaluations - jacobianStart
        return solution
    }
}

/// The state of one `solve`: where the next output and breakpoint are, and the event truth before the
/// current step. Event scratch is allocated once per run; with no events nothing is allocated per step.
private struct SolveLoop {
    let integrator: ODEIntegrator
    let events: EventWatch?
    let maxCascade: Int
    let outputs: [Double]
    let stops: [Double]
    let n: Int
    var nextOutput = 0
    var nextStop = 0
    var before: [Bool]
    var after: [Bool]
    var probe: [Bool]
    /// The watch's sign functions at the start and end of the current step, and while bisecting.
    var signsStart: [Double]
    var signsEnd: [Double]
    var signsProbe: [Double]
    /// Whether `signsStart` holds the values at the current time and state (after a step that changed nothing).
    var signsKnown = false

    init(integrator: ODEIntegrator, events: EventWatch?, maxCascade: Int, outputs: [Double], stops: [Double]) {
        self.integrator = integrator
        self.events = events
        self.maxCascade = maxCascade
        self.outputs = outputs
        self.stops = stops
        n = integrator.dimension
        before = events?.initialValues ?? []
        after = Array(repeating: false, count: before.count)
        probe = after
        signsStart = Array(repeating: 0, count: events?.signCount ?? 0)
        signsEnd = signsStart
        signsProbe = signsStart
    }

    private static func signs(_ watch: EventWatch, _ t: Double, _ y: UnsafePointer<Double>, into target: inout [Double]) {
        target.withUnsafeMutableBufferPointer { buffer in
            if let base = buffer.baseAddress { watch.signs(t, y, base) }
        }
    }

    private static func sign(_ v: Double) -> Int { v > 0 ? 1 : v < 0 ? -1 : 0 }

    /// The earliest time in (ta, tb] where a condition false at `ta` holds on the interpolant of the step
    /// that ended in `y1`: the first sign change of a sign function after which one holds (a condition
    /// true only inside the step), else tb when one holds there (`risingAtEnd`), else nil. Allocates
    /// only in a step where a sign function changes sign.
    private mutating func firstRise(from ta: Double, to tb: Double, y1: UnsafePointer<Double>, risingAtEnd: Bool) -> Double? {
        guard let watch = events, watch.signCount > 0 else { return risingAtEnd ? tb : nil }
        let ig = integrator
        Self.signs(watch, tb, y1, into: &signsEnd)
        var crossings: [Double] = []
        for i in 0..<watch.signCount where Self.sign(signsStart[i]) != Self.sign(signsEnd[i]) {
            let start = Self.sign(signsStart[i])
            let hi = Self.bisect(ig, count: n, from: ta, to: tb, stepEnd: tb, y1: y1) { t, y in
                Self.signs(watch, t, y, into: &signsProbe)
                return Self.sign(signsProbe[i]) != start
            }
            if hi < tb { crossings.append(hi) }
        }
        for c in crossings.sorted() {
            hermiteInterpolate(count: n, t0: ta, t1: tb, at: c, y0: ig.y0, f0: ig.f0, y1: y1, f1: ig.f1, into: ig.yInterpolated)
            Self.truth(watch, c, ig.yInterpolated, into: &probe)
            if anyRising(probe) { return c }
        }
        return risingAtEnd ? tb : nil
    }

    private static func truth(_ watch: EventWatch, _ t: Double, _ y: UnsafePointer<Double>, into target: inout [Bool]) {
        target.withUnsafeMutableBufferPointer { watch.evaluate(t, y, $0) }
    }

    private func anyRising(_ now: [Bool]) -> Bool {
        for k in now.indices where !before[k] && now[k] { return true }
        return false
    }

    /// Fires the conditions that went false -> true against `before`, then those the changes turn true,
    /// until nothing new fires; leaves `before` as the truth after the last change.
    private mutating func fire(at t: Double, _ cause: EventInstant, state: UnsafeMutableBufferPointer<Double>,
                               onEvent: (Double, [Int], UnsafeMutableBufferPointer<Double>) -> Void) throws(IntegrationError) {
        guard let watch = events, let y = state.baseAddress else { return }
        watch.instant(t, cause)
        var rounds = 0
        while true {
            Self.truth(watch, t, y, into: &after)
            let rising = (0..<watch.count).filter { !before[$0] && after[$0] }
            swap(&before, &after)
            before.withUnsafeBufferPointer { watch.settled($0) }
            if rising.isEmpty && !watch.hasDue(t) { return }
            // Only rounds in which something rose count: the caller may work off what is due one
            // item per round, which ends by itself.
            if !rising.isEmpty { rounds += 1 }
            if rounds > maxCascade {
                throw .invalidProblem("events \(rising.map(String.init).joined(separator: ", ")) kept re-triggering each other at t = \(t) (more than \(maxCascade) rounds)")
            }
            onEvent(t, rising, state)
        }
    }

    private func record(_ t: Double, _ y: UnsafePointer<Double>, into solution: inout Solution) {
        solution.append(time: t, state: y)
    }

    /// Outputs in (ta, limit) from the cubic Hermite interpolant of the step ta -> tb that ended in `y1`.
    private mutating func interpolateOutputs(from ta: Double, to tb: Double, before limit: Double, y1: UnsafePointer<Double>, into solution: inout Solution) {
        let ig = integrator
        while nextOutput < outputs.count && outputs[nextOutput] < limit {
            let tout = outputs[nextOutput]
            if tout > ta {
                hermiteInterpolate(count: n, t0: ta, t1: tb, at: tout, y0: ig.y0, f0: ig.f0, y1: y1, f1: ig.f1, into: ig.yInterpolated)
                record(tout, ig.yInterpolated, into: &solution)
            }
            nextOutput += 1
        }
    }

    /// The earliest time in (ta, tb] at which a condition false at `ta` is true on the interpolant of the
    /// step ta -> stepEnd (one holds at tb), to within a few ulps; the true side, so the caller lands just
    /// after the crossing.
    private mutating func locate(from ta: Double, to tb: Double, stepEnd: Double, y1: UnsafePointer<Double>) -> Double {
        guard let watch = events else { return tb }
        return Self.bisect(integrator, count: n, from: ta, to: tb, stepEnd: stepEnd, y1: y1) { t, y in
            Self.truth(watch, t, y, into: &probe)
            return anyRising(probe)
        }
    }

    /// The earliest time in (ta, tb], to within a few ulps, at which `isPast` holds on the cubic Hermite
    /// interpolant of the step ta -> stepEnd, given that it does not at ta and does at tb.
    private static func bisect(_ ig: ODEIntegrator, count n: Int, from ta: Double, to tb: Double, stepEnd: Double,
                               y1: UnsafePointer<Double>, isPast: (Double, UnsafePointer<Double>) -> Bool) -> Double {
        var lo = ta, hi = tb
        for _ in 0..<200 {
            let mid = lo + (hi - lo) / 2
            if mid <= lo || mid >= hi { break }
            hermiteInterpolate(count: n, t0: ta, t1: stepEnd, at: mid, y0: ig.y0, f0: ig.f0, y1: y1, f1: ig.f1, into: ig.yInterpolated)
            if isPast(mid, ig.yInterpolated) { hi = mid } else { lo = mid }
        }
        return hi
    }

    mutating func run(
        from t0: Double, to end: Double, state: UnsafeMutableBufferPointer<Double>, solution: inout Solution,
        onBreakpoint: (Double, UnsafeMutableBufferPointer<Double>) -> Void,
        onEvent: (Double, [Int], UnsafeMutableBufferPointer<Double>) -> Void
    ) throws(IntegrationError) {
        guard let y = state.baseAddress else { return }
        let ig = integrator
        let settings = ig.settings
        let context = ig.context
        let d = ig.driver
        let stopAtOutputs = settings.effectiveOutputMode == .driver
        // The end slopes serve the Hermite interpolant, which only interpolated outputs and event
        // location need: stepping to each output without events skips those extra evaluations.
        let needsSlopes = !stopAtOutputs || events != nil
        // Without events only a step with an output inside needs them: a run whose outputs are sparse
        // (a sweep reading one metric) skips one evaluation of f per step. `slopesKnown`: f0 holds f at
        // the start of the step.
        let lazySlopes = needsSlopes && events == nil
        var slopesKnown = true
        var t = t0
        if nextStop < stops.count && stops[nextStop] == t0 {
            onBreakpoint(t0, state)
            nextStop += 1
        }
        try fire(at: t0, .start, state: state, onEvent: onEvent)
        ig.restart()
        while nextOutput < outputs.count && outputs[nextOutput] == t0 {
            record(t0, y, into: &solution)
            nextOutput += 1
        }
        var h = d.pointee.h
        var stepsSinceTarget = 0
        var status = gslSuccess
        if needsSlopes {
            status = context.rhs(t, y, ig.f0)
            if status != gslSuccess { throw ig.failure(status: status, t: t, y: y) }
        }
        while t < end {
            let scheduled = events?.nextScheduled() ?? .infinity
            let stop = min(nextStop < stops.count ? stops[nextStop] : end, scheduled)
            let target = stopAtOutputs && nextOutput < outputs.count ? min(outputs[nextOutput], stop) : stop
            if stepsSinceTarget >= settings.maxSteps { throw .maxStepsReached(steps: stepsSinceTarget, time: t, stiffStepper: settings.stepper.usesJacobian) }
            let ta = t
            ig.y0.update(from: y, count: n)
            if let watch = events, watch.signCount > 0, !signsKnown { Self.signs(watch, t, y, into: &signsStart) }
            status = gsl_odeiv2_evolve_apply(d.pointee.e, d.pointee.c, d.pointee.s, ig.system, &t, target, &h, y)
            if status != gslSuccess { throw ig.failure(status: status, t: t, y: y) }
            if let hmax = settings.maxStep, h > hmax { h = hmax }
            ig.statistics.steps += 1
            stepsSinceTarget += 1
            // GSL lands on the target to rounding; make it exact so outputs and breakpoints match.
            if target - t <= 4 * target.ulp { t = target }
            let slopesNeeded = !lazySlopes || (nextOutput < outputs.count && outputs[nextOutput] < t)
            if needsSlopes && slopesNeeded {
                if !slopesKnown {
                    status = context.rhs(ta, ig.y0, ig.f0)
                    if status != gslSuccess { throw ig.failure(status: status, t: ta, y: ig.y0) }
                }
                status = context.rhs(t, y, ig.f1)
                if status != gslSuccess { throw ig.failure(status: status, t: t, y: y) }
            }

            var eventFired = false
            if let watch = events {
                Self.truth(watch, t, y, into: &after)
                if let rise = firstRise(from: ta, to: t, y1: y, risingAtEnd: anyRising(after)) {
                    let te = locate(from: ta, to: rise, stepEnd: t, y1: y)
                    interpolateOutputs(from: ta, to: t, before: te, y1: y, into: &solution)
                    // The interpolant only finds the time; the state there must carry the stepper's own
                    // accuracy, so integrate again from the start of the step.
                    state.baseAddress?.update(from: ig.y0, count: n)
                    t = ta
                    gsl_odeiv2_driver_reset_hstart(d, max(te - ta, settings.initialStep * 1e-6))
                    h = te - ta
                    var steps = 0
                    while t < te {
                        status = gsl_odeiv2_evolve_apply(d.pointee.e, d.pointee.c, d.pointee.s, ig.system, &t, te, &h, y)
                        if status != gslSuccess { throw ig.failure(status: status, t: t, y: y) }
                        steps += 1
                        ig.statistics.steps += 1
                        if te - t <= 4 * te.ulp { t = te }
                        if steps >= settings.maxSteps { throw .maxStepsReached(steps: steps, time: t, stiffStepper: settings.stepper.usesJacobian) }
                    }
                    t = te
                    // When the interpolant crossed but the integrated state has not, nothing fires here
                    // and the next step, starting at te, brackets the crossing more tightly.
                    try fire(at: te, .crossing, state: state, onEvent: onEvent)
                    eventFired = true
                } else {
                    swap(&before, &after)
                    before.withUnsafeBufferPointer { watch.settled($0) }
                }
            }
            if !eventFired && !stopAtOutputs { interpolateOutputs(from: ta, to: t, before: t, y1: y, into: &solution) }
            var changed = eventFired
            if !eventFired && t == scheduled {
                try fire(at: t, .scheduled, state: state, onEvent: onEvent)
                changed = true
            }
            if nextStop < stops.count && t == stops[nextStop] {
                onBreakpoint(t, state)
                nextStop += 1
                try fire(at: t, .breakpoint, state: state, onEvent: onEvent)
                changed = true
            }
            while nextOutput < outputs.count && outputs[nextOutput] == t {
                record(t, y, into: &solution)
                nextOutput += 1
            }
            if t == target { stepsSinceTarget = 0 }
            // The step's end values of the sign functions start the next step unless the state jumped.
            signsKnown = !changed && events.map { $0.signCount > 0 } == true
            if signsKnown { swap(&signsStart, &signsEnd) }
            if changed {
                ig.restart()
                h = d.pointee.h
                stepsSinceTarget = 0
                if needsSlopes {
                    status = context.rhs(t, y, ig.f0)
                    if status != gslSuccess { throw ig.failure(status: status, t: t, y: y) }
                    slopesKnown = true
                }
            } else if needsSlopes {
                if slopesNeeded { ig.f0.update(from: ig.f1, count: n) }
                slopesKnown = slopesNeeded
            }
        }
    }
}
