import Foundation
import Integrator
import Testing

/// dy/dt = -y, for checking where crossings are found.
private final class Decay: ODESystem {
    let dimension = 1
    func evaluate(t: Double, y: UnsafePointer<Double>, dydt: UnsafeMutablePointer<Double>) { dydt[0] = -y[0] }
    func jacobian(t: Double, y: UnsafePointer<Double>, dfdy: UnsafeMutablePointer<Double>, dfdt: UnsafeMutablePointer<Double>) {
        dfdy[0] = -1
        dfdt[0] = 0
    }
}

@Suite struct EventLocationTests {
    @Test(arguments: [Stepper.msbdf, .rk8pd, .rkf45])
    func crossingIsLocatedPrecisely(stepper: Stepper) throws {
        // y = exp(-t) falls below 1/2 at ln 2; the event doubles y each time, so it fires at ln 2 and
        // then every ln 2 after.
        let integrator = try ODEIntegrator(system: Decay(), settings: SolverSettings(stepper: stepper, relativeTolerance: 1e-11, absoluteTolerance: 1e-14))
        let watch = EventWatch(count: 1, initialValues: [false]) { _, y, truth in truth[0] = y[0] < 0.5 }
        var times: [Double] = []
        let solution = integrator.solve(from: 0, initial: [1], outputTimes: [0, 1, 2.5], events: watch, onEvent: { t, fired, y in
            #expect(fired == [0])
            times.append(t)
            y[0] *= 2
        })
        #expect(solution.failure == nil)
        #expect(times.count == 3)
        for (k, t) in times.enumerated() {
            #expect(abs(t - Double(k + 1) * log(2)) < 1e-9, "event \(k) at \(t)")
        }
        // After each doubling the state is back at 1: y(t) = exp(-(t - k ln 2)).
        #expect(abs(solution.value(0, at: 1) - exp(-(1 - log(2)))) < 1e-9)
        #expect(abs(solution.value(0, at: 2) - exp(-(2.5 - 3 * log(2)))) < 1e-9)
        #expect(solution.statistics.restarts >= 3)
    }

    @Test func triggerTrueAtStartFiresOnlyWhenInitiallyFalse() throws {
        let integrator = try ODEIntegrator(system: Decay())
        for initial in [true, false] {
            var fired = 0
            let watch = EventWatch(count: 1, initialValues: [initial]) { t, _, truth in truth[0] = t >= 0 }
            let solution = integrator.solve(from: 0, initial: [1], outputTimes: [0, 1], events: watch, onEvent: { _, _, y in
                fired += 1
                y[0] = 5
            })
            #expect(fired == (initial ? 0 : 1))
            #expect(solution.value(0, at: 0) == (initial ? 1 : 5))
        }
    }

    @Test func cascadeOfSelfTriggeringEventsIsReported() throws {
        let integrator = try ODEIntegrator(system: Decay())
        // Each firing flips the state so the condition goes false and true again at once.
        let watch = EventWatch(count: 2, initialValues: [false, false]) { _, y, truth in
            truth[0] = y[0] > 0
            truth[1] = y[0] < 0
        }
        let solution = integrator.solve(from: 0, initial: [1], outputTimes: [0, 1], events: watch, maxCascade: 10, onEvent: { _, _, y in y[0] = -y[0] })
        #expect(solution.failure != nil)
    }

    @Test func breakpointsStillApply() throws {
        let integrator = try ODEIntegrator(system: Decay(), settings: SolverSettings(relativeTolerance: 1e-10, absoluteTolerance: 1e-12))
        let watch = EventWatch(count: 0, initialValues: []) { _, _, _ in }
        let solution = integrator.solve(from: 0, initial: [1], outputTimes: [0, 1, 2], breakpoints: [1], events: watch,
                                        onBreakpoint: { _, y in y[0] += 1 }, onEvent: { _, _, _ in })
        #expect(abs(solution.value(0, at: 1) - (exp(-1) + 1)) < 1e-8)
        #expect(abs(solution.value(0, at: 2) - (exp(-1) + 1) * exp(-1)) < 1e-8)
    }
}
