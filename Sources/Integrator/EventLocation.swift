import CGSL

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

    public init(count: Int, initialValues: [Bool],
                evaluate: @escaping (Double, UnsafePointer<Double>, UnsafeMutableBufferPointer<Bool>) -> Void) {
        self.count = count
        self.initialValues = initialValues
        self.evaluate = evaluate
    }
}

/// The GSL driver used while watching events. A separate one from the integrator's own because
/// locating a crossing rewinds to the start of a step, which needs the evolve and step objects by hand;
/// msbdf and msadams only work when stepped through a driver, hence a driver rather than bare objects.
final class EventStepping {
    let driver: UnsafeMutablePointer<gsl_odeiv2_driver>
    let system: UnsafeMutablePointer<gsl_odeiv2_system>

    init?(context: CallbackContext, settings: SolverSettings) {
        system = .allocate(capacity: 1)
        system.initialize(to: gsl_odeiv2_system(
            function: rhsCallback, jacobian: jacobianCallback, dimension: context.dimension,
            params: Unmanaged.passUnretained(context).toOpaque()))
        guard let d = gsl_odeiv2_driver_alloc_y_new(
            system, settings.stepper.gslType, settings.initialStep,
            settings.absoluteTolerance, settings.relativeTolerance)
        else {
            system.deinitialize(count: 1)
            system.deallocate()
            return nil
        }
        driver = d
    }

    deinit {
        gsl_odeiv2_driver_free(driver)
        system.deinitialize(count: 1)
        system.deallocate()
    }
}

extension ODEIntegrator {
    /// Like `solve(from:initial:outputTimes:breakpoints:onBreakpoint:)`, and also watches `events`:
    /// when a condition goes from false to true between two accepted steps, the crossing is located by
    /// bisection on the step's cubic Hermite interpolant (to a few ulps of t), the state there is
    /// recomputed by integrating again from the start of the step, and `onEvent` is called with the time,
    /// the indices that fired and the state, which it may change. The stepper then restarts.
    ///
    /// Conditions that become true because of what `onEvent` (or `onBreakpoint`) did fire at the same
    /// time, in a further call; more than `maxCascade` such rounds at one time is reported as a failure
    /// (an event that keeps re-triggering itself). Steps never pass an output time or a breakpoint, so
    /// outputs are integrated values, not interpolated ones; an output at an event time records the state
    /// after the event.
    public func solve(
        from t0: Double, initial: [Double], outputTimes: [Double], breakpoints: [Double] = [],
        events: EventWatch, maxCascade: Int = 1000,
        onBreakpoint: (Double, UnsafeMutableBufferPointer<Double>) -> Void = { _, _ in },
        onEvent: (Double, [Int], UnsafeMutableBufferPointer<Double>) -> Void
    ) -> Solution {
        var solution = Solution(dimension: dimension, reservingCapacity: outputTimes.count)
        let outputs: [Double], stops: [Double], end: Double
        switch schedule(from: t0, initial: initial, outputTimes: outputTimes, breakpoints: breakpoints) {
        case .success(let s): (outputs, stops, end) = (s.outputs, s.stops, s.end)
        case .failure(let e): solution.failure = e; return solution
        }
        guard events.initialValues.count == events.count else {
            solution.failure = .invalidProblem("expected \(events.count) initial event values, got \(events.initialValues.count)")
            return solution
        }
        guard let stepping = EventStepping(context: context, settings: settings) else {
            solution.failure = .invalidSettings("GSL could not allocate the \(settings.stepper.rawValue) driver for \(dimension) states")
            return solution
        }
        let rhsStart = context.rhsEvaluations
        let jacobianStart = context.jacobianEvaluations
        var run = EventRun(integrator: self, stepping: stepping, events: events, maxCascade: maxCascade)
        context.clearFailure()
        var y = initial
        y.withUnsafeMutableBufferPointer { buffer in
            do throws(IntegrationError) {
                try run.integrate(from: t0, to: end, state: buffer, outputs: outputs, stops: stops,
                                  solution: &solution, onBreakpoint: onBreakpoint, onEvent: onEvent)
            } catch {
                solution.failure = error
            }
        }
        solution.statistics.steps = run.steps
        solution.statistics.restarts = run.restarts
        solution.statistics.rhsEvaluations = context.rhsEvaluations - rhsStart
        solution.statistics.jacobianEvaluations = context.jacobianEvaluations - jacobianStart
        return solution
    }
}

/// The state of one event-watching integration; scratch is allocated once per run.
struct EventRun {
    let integrator: ODEIntegrator
    let stepping: EventStepping
    let events: EventWatch
    let maxCascade: Int
    let n: Int
    var steps = 0
    var restarts = 0
    var before: [Bool]
    var after: [Bool]
    var probe: [Bool]
    var y0: [Double]
    var f0: [Double]
    var f1: [Double]
    var yProbe: [Double]
    var h: Double

    init(integrator: ODEIntegrator, stepping: EventStepping, events: EventWatch, maxCascade: Int) {
        self.integrator = integrator
        self.stepping = stepping
        self.events = events
        self.maxCascade = maxCascade
        n = integrator.dimension
        before = events.initialValues
        after = Array(repeating: false, count: events.count)
        probe = after
        y0 = Array(repeating: 0, count: n)
        f0 = y0
        f1 = y0
        yProbe = y0
        h = integrator.settings.initialStep
    }

    private mutating func restart() {
        gsl_odeiv2_driver_reset_hstart(stepping.driver, integrator.settings.initialStep)
        h = integrator.settings.initialStep
        restarts += 1
    }

    private static func evaluate(_ watch: EventWatch, _ t: Double, _ y: UnsafePointer<Double>, into target: inout [Bool]) {
        target.withUnsafeMutableBufferPointer { watch.evaluate(t, y, $0) }
    }

    /// Fires the conditions that went false -> true against `before`, then keeps firing those that the
    /// changes turn true, until nothing new fires; leaves `before` as the truth after the last change.
    private mutating func fireTransitions(at t: Double, state: UnsafeMutableBufferPointer<Double>,
                                          onEvent: (Double, [Int], UnsafeMutableBufferPointer<Double>) -> Void) throws(IntegrationError) -> Bool {
        guard let y = state.baseAddress else { return false }
        var rounds = 0
        var fired = false
        while true {
            Self.evaluate(events, t, y, into: &after)
            let rising = (0..<events.count).filter { !before[$0] && after[$0] }
            swap(&before, &after)
            if rising.isEmpty { return fired }
            rounds += 1
            if rounds > maxCascade {
                throw .invalidProblem("events \(rising.map(String.init).joined(separator: ", ")) kept re-triggering each other at t = \(t) (more than \(maxCascade) rounds)")
            }
            onEvent(t, rising, state)
            fired = true
        }
    }

    mutating func integrate(
        from t0: Double, to end: Double, state: UnsafeMutableBufferPointer<Double>, outputs: [Double], stops: [Double],
        solution: inout Solution,
        onBreakpoint: (Double, UnsafeMutableBufferPointer<Double>) -> Void,
        onEvent: (Double, [Int], UnsafeMutableBufferPointer<Double>) -> Void
    ) throws(IntegrationError) {
        guard let y = state.baseAddress else { return }
        var t = t0
        var nextOutput = 0
        var nextStop = 0
        if nextStop < stops.count && stops[nextStop] == t0 {
            onBreakpoint(t0, state)
            nextStop += 1
        }
        _ = try fireTransitions(at: t0, state: state, onEvent: onEvent)
        restart()
        if nextOutput < outputs.count && outputs[nextOutput] == t0 {
            solution.append(time: t0, state: y)
            nextOutput += 1
        }
        let context = integrator.context
        let d = stepping.driver
        let maxStep = integrator.settings.maxStep
        var stepsInSegment = 0
        var status = context.rhs(t, y, &f0)
        if status != gslSuccess { throw integrator.failure(status: status, t: t, y: y) }
        while t < end {
            let nextOutputTime = nextOutput < outputs.count ? outputs[nextOutput] : end
            let nextStopTime = nextStop < stops.count ? stops[nextStop] : end
            let target = min(nextOutputTime, nextStopTime, end)
            if stepsInSegment >= integrator.settings.maxSteps { throw .maxStepsReached(steps: stepsInSegment, time: t) }
            let ta = t
            y0.withUnsafeMutableBufferPointer { $0.baseAddress?.update(from: y, count: n) }
            status = gsl_odeiv2_evolve_apply(d.pointee.e, d.pointee.c, d.pointee.s, stepping.system, &t, target, &h, y)
            if status != gslSuccess { throw integrator.failure(status: status, t: t, y: y) }
            if let maxStep, h > maxStep { h = maxStep }
            steps += 1
            stepsInSegment += 1
            // GSL lands on the target to rounding; make the boundary exact so outputs and stops match.
            if target - t <= 4 * target.ulp { t = target }
            status = context.rhs(t, y, &f1)
            if status != gslSuccess { throw integrator.failure(status: status, t: t, y: y) }

            Self.evaluate(events, t, y, into: &after)
            if (0..<events.count).contains(where: { !before[$0] && after[$0] }) {
                let te = locate(from: ta, to: t, y1: y)
                // Integrate again from the start of the step to the crossing: the interpolant only finds
                // the time, the state there must carry the stepper's own accuracy.
                _ = state.update(fromContentsOf: y0)
                t = ta
                gsl_odeiv2_driver_reset_hstart(d, max(te - ta, integrator.settings.initialStep * 1e-6))
                h = te - ta
                var guardSteps = 0
                while t < te {
                    status = gsl_odeiv2_evolve_apply(d.pointee.e, d.pointee.c, d.pointee.s, stepping.system, &t, te, &h, y)
                    if status != gslSuccess { throw integrator.failure(status: status, t: t, y: y) }
                    guardSteps += 1
                    steps += 1
                    if te - t <= 4 * te.ulp { t = te }
                    if guardSteps >= integrator.settings.maxSteps { throw .maxStepsReached(steps: guardSteps, time: t) }
                }
                t = te
                // When the interpolant crossed but the integrated state has not, nothing fires here and
                // the next step, starting at te, brackets the crossing more tightly.
                _ = try fireTransitions(at: te, state: state, onEvent: onEvent)
                restart()
                stepsInSegment = 0
            } else {
                swap(&before, &after)
            }
            if nextStop < stops.count && t == stops[nextStop] {
                onBreakpoint(t, state)
                nextStop += 1
                _ = try fireTransitions(at: t, state: state, onEvent: onEvent)
                restart()
                stepsInSegment = 0
            }
            if nextOutput < outputs.count && t == outputs[nextOutput] {
                solution.append(time: t, state: y)
                nextOutput += 1
            }
            status = context.rhs(t, y, &f0)
            if status != gslSuccess { throw integrator.failure(status: status, t: t, y: y) }
        }
    }

    /// The earliest time in (ta, tb] at which a condition false at `ta` is true on the interpolant,
    /// to within a few ulps; returns the true side so the caller lands just after the crossing.
    private mutating func locate(from ta: Double, to tb: Double, y1: UnsafePointer<Double>) -> Double {
        var lo = ta
        var hi = tb
        for _ in 0..<200 {
            let mid = lo + (hi - lo) / 2
            if mid <= lo || mid >= hi { break }
            hermite(t0: ta, t1: tb, at: mid, y1: y1)
            let evaluate = events.evaluate
            var truth = probe
            yProbe.withUnsafeBufferPointer { p in
                guard let base = p.baseAddress else { return }
                truth.withUnsafeMutableBufferPointer { evaluate(mid, base, $0) }
            }
            probe = truth
            if (0..<events.count).contains(where: { !before[$0] && probe[$0] }) { hi = mid } else { lo = mid }
        }
        return hi
    }

    private mutating func hermite(t0: Double, t1: Double, at t: Double, y1: UnsafePointer<Double>) {
        // Locals share the arrays' storage (no copy) and keep the accesses to `self` apart.
        let (start, slope0, slope1, n) = (y0, f0, f1, n)
        start.withUnsafeBufferPointer { a in
            slope0.withUnsafeBufferPointer { b in
                slope1.withUnsafeBufferPointer { c in
                    yProbe.withUnsafeMutableBufferPointer { out in
                        guard let a = a.baseAddress, let b = b.baseAddress, let c = c.baseAddress, let o = out.baseAddress else { return }
                        hermiteInterpolate(count: n, t0: t0, t1: t1, at: t, y0: a, f0: b, y1: y1, f1: c, into: o)
                    }
                }
            }
        }
    }
}
