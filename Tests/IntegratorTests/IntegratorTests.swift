import Foundation
import Testing
@testable import Integrator

private let nonStiffCapable: [Stepper] = Stepper.allCases

@Suite("Analytic problems, every stepper")
struct AnalyticTests {
    @Test(arguments: nonStiffCapable)
    func exponentialDecay(stepper: Stepper) throws {
        let settings = SolverSettings(stepper: stepper, relativeTolerance: 1e-8, absoluteTolerance: 1e-12, initialStep: 1e-3)
        let integrator = try ODEIntegrator(system: decay(k: 0.7), settings: settings)
        let times = stride(from: 0.0, through: 10.0, by: 0.5).map { $0 }
        let solution = integrator.solve(from: 0, initial: [2.0], outputTimes: times)
        #expect(solution.failure == nil)
        #expect(solution.times == times)
        // Error control is per step, so the global error may exceed rtol by a modest factor; the
        // first-order method needs a wider band.
        let tolerance = stepper == .rk1imp ? 1e-3 : 2e-5
        for (k, t) in times.enumerated() {
            #expect(isClose(solution.value(0, at: k), 2 * exp(-0.7 * t), relative: tolerance, absolute: 1e-12), "t=\(t)")
        }
    }

    @Test(arguments: [Stepper.rk4, .rkf45, .rkck, .rk8pd, .rk2imp, .rk4imp, .bsimp, .msadams, .msbdf])
    func harmonicOscillatorKeepsEnergy(stepper: Stepper) throws {
        let w = 2.0
        let settings = SolverSettings(stepper: stepper, relativeTolerance: 1e-9, absoluteTolerance: 1e-12, initialStep: 1e-3)
        let integrator = try ODEIntegrator(system: oscillator(omega: w), settings: settings)
        let times = stride(from: 0.0, through: 20.0, by: 0.25).map { $0 }
        let solution = integrator.solve(from: 0, initial: [1, 0], outputTimes: times)
        #expect(solution.failure == nil)
        let e0 = 0.5 * w * w
        for k in 0..<solution.count {
            let x = solution.value(0, at: k), v = solution.value(1, at: k)
            #expect(isClose(0.5 * v * v + 0.5 * w * w * x * x, e0, relative: 1e-5))
            #expect(isClose(x, cos(w * times[k]), relative: 0, absolute: 1e-5))
        }
    }

    @Test(arguments: [Stepper.rkf45, .rk8pd, .bsimp, .msbdf, .msadams, .rk4imp])
    func logisticGrowth(stepper: Stepper) throws {
        let settings = SolverSettings(stepper: stepper, relativeTolerance: 1e-9, absoluteTolerance: 1e-12)
        let integrator = try ODEIntegrator(system: logistic(r: 1.3, capacity: 50), settings: settings)
        let times = stride(from: 0.0, through: 15.0, by: 1).map { $0 }
        let solution = integrator.solve(from: 0, initial: [0.5], outputTimes: times)
        #expect(solution.failure == nil)
        for (k, t) in times.enumerated() {
            let exact = 50 / (1 + (50 / 0.5 - 1) * exp(-1.3 * t))
            #expect(isClose(solution.value(0, at: k), exact, relative: 1e-6), "t=\(t)")
        }
    }

    @Test func observedConvergenceOrderOfRK4() throws {
        // With a fixed step (tolerances loose, max step h) the global error of rk4 falls as h^4.
        func error(h: Double) throws -> Double {
            let settings = SolverSettings(stepper: .rk4, relativeTolerance: 1, absoluteTolerance: 1, initialStep: h, maxStep: h)
            let integrator = try ODEIntegrator(system: decay(k: 1), settings: settings)
            let solution = integrator.solve(from: 0, initial: [1], outputTimes: [0, 2])
            return abs(solution.value(0, at: 1) - exp(-2))
        }
        let order = log2(try error(h: 0.1) / error(h: 0.05))
        #expect(order > 3.7 && order < 4.3, "observed order \(order)")
    }
}

@Suite("Stiff reference")
struct StiffTests {
    // Reference at t = 40: Hairer & Wanner, Solving ODEs II (ROBER), as reproduced by the IVP test set.
    @Test(arguments: [Stepper.msbdf, .bsimp, .rk2imp, .rk4imp])
    func robertsonAgainstReference(stepper: Stepper) throws {
        let settings = SolverSettings(stepper: stepper, relativeTolerance: 1e-10, absoluteTolerance: 1e-14, initialStep: 1e-8)
        let integrator = try ODEIntegrator(system: robertson(), settings: settings)
        let solution = integrator.solve(from: 0, initial: [1, 0, 0], outputTimes: [0, 0.4, 40])
        #expect(solution.failure == nil)
        let y = Array(solution.state(at: 2))
        #expect(isClose(y[0], 0.7158270687193, relative: 1e-6))
        #expect(isClose(y[1], 9.185534764e-6, relative: 1e-5))
        #expect(isClose(y[2], 0.2841637457, relative: 1e-6))
        // Mass is conserved: the right-hand sides sum to zero.
        #expect(abs(y[0] + y[1] + y[2] - 1) < 1e-9)
        if stepper == .msbdf {
            #expect(solution.statistics.jacobianEvaluations > 0)
        }
    }

    @Test func robertsonLongHorizonWithCVODEFigures() throws {
        // SUNDIALS cvRoberts_dns prints y1 = 4.9383e-03 at t = 4e5 and 5.2e-8-scale y2 at 4e10.
        let integrator = try ODEIntegrator(system: robertson(), settings: SolverSettings(relativeTolerance: 1e-8, absoluteTolerance: 1e-14, initialStep: 1e-8))
        let solution = integrator.solve(from: 0, initial: [1, 0, 0], outputTimes: [4e5])
        #expect(solution.failure == nil)
        #expect(isClose(solution.value(0, at: 0), 4.9383e-3, relative: 1e-3))
    }
}

@Suite("Output modes, breakpoints, failures")
struct MechanicsTests {
    @Test func interpolatedOutputMatchesDriverOutput() throws {
        let times = stride(from: 0.0, through: 40.0, by: 0.1).map { $0 }
        func run(_ mode: OutputMode) throws -> Solution {
            let settings = SolverSettings(stepper: .msbdf, relativeTolerance: 1e-8, absoluteTolerance: 1e-12, initialStep: 1e-8, outputMode: mode)
            return try ODEIntegrator(system: robertson(), settings: settings).solve(from: 0, initial: [1, 0, 0], outputTimes: times)
        }
        let a = try run(.driver), b = try run(.interpolate)
        #expect(a.failure == nil && b.failure == nil)
        #expect(a.times == b.times)
        for k in 0..<a.count {
            #expect(isClose(b.value(0, at: k), a.value(0, at: k), relative: 1e-5, absolute: 1e-9))
            #expect(isClose(b.value(2, at: k), a.value(2, at: k), relative: 1e-5, absolute: 1e-9))
        }
        // Stepping freely takes fewer steps than stopping at 400 output times.
        #expect(b.statistics.steps < a.statistics.steps)
    }

    @Test(arguments: OutputMode.allCases)
    func bolusAtBreakpointIsHitExactly(mode: OutputMode) throws {
        // Decay with a bolus of 1 at t = 3: y = e^-t before, e^-t + e^-(t-3) after.
        let settings = SolverSettings(relativeTolerance: 1e-10, absoluteTolerance: 1e-13, outputMode: mode)
        let integrator = try ODEIntegrator(system: decay(k: 1), settings: settings)
        var seen: [Double] = []
        let times = [0.0, 1, 2.5, 3, 3.5, 6]
        let solution = integrator.solve(from: 0, initial: [1], outputTimes: times, breakpoints: [3]) { t, y in
            seen.append(t)
            y[0] += 1
        }
        #expect(seen == [3])
        #expect(solution.failure == nil)
        #expect(solution.times == times)
        let expected = times.map { $0 < 3 ? exp(-$0) : exp(-$0) + exp(-($0 - 3)) }
        for k in 0..<times.count {
            #expect(isClose(solution.value(0, at: k), expected[k], relative: 1e-7), "t=\(times[k])")
        }
        #expect(solution.statistics.restarts == 2)
    }

    @Test func breakpointAtStartIsAppliedBeforeFirstOutput() throws {
        let integrator = try ODEIntegrator(system: decay(k: 1))
        let solution = integrator.solve(from: 0, initial: [0], outputTimes: [0, 1], breakpoints: [0]) { _, y in y[0] = 5 }
        #expect(solution.value(0, at: 0) == 5)
        #expect(isClose(solution.value(0, at: 1), 5 * exp(-1), relative: 1e-5))
    }

    @Test func nonFiniteDerivativeNamesTheVariableAndTime() throws {
        // y' = 1/(2 - t) blows up at t = 2: the error names `z`, and a time near 2.
        let system = ClosureSystem(
            names: ["w", "z"], f: { t, y, d in d[0] = 0; d[1] = t < 2 ? 1 / (2 - t) : .nan },
            j: { _, _, J, dt in for i in 0..<4 { J[i] = 0 }; dt[0] = 0; dt[1] = 0 })
        let integrator = try ODEIntegrator(system: system, settings: SolverSettings(stepper: .rkf45))
        let solution = integrator.solve(from: 0, initial: [1, 0], outputTimes: [0, 1, 3])
        guard case let .nonFiniteDerivative(variable, time, state)? = solution.failure else {
            Issue.record("expected a non-finite derivative, got \(String(describing: solution.failure))")
            return
        }
        #expect(variable == "z")
        #expect(time >= 2 && time <= 3)
        #expect(state.map(\.name) == ["w", "z"])
        #expect(solution.times == [0, 1])  // the partial trajectory is kept
        let text = solution.failure?.description ?? ""
        #expect(text.hasPrefix("non-finite derivative of `z` at t = 2"))
    }

    @Test func maxStepsIsReportedNotHung() throws {
        let settings = SolverSettings(stepper: .rkf45, relativeTolerance: 1e-12, absoluteTolerance: 1e-14, maxSteps: 50)
        let integrator = try ODEIntegrator(system: robertson(), settings: settings)
        let solution = integrator.solve(from: 0, initial: [1, 0, 0], outputTimes: [1000])
        guard case .maxStepsReached? = solution.failure else {
            Issue.record("expected maxStepsReached, got \(String(describing: solution.failure))")
            return
        }
    }

    @Test func invalidSettingsAreRejectedWithAReason() {
        #expect(throws: IntegrationError.invalidSettings("relative tolerance must be a finite number >= 0, got -1.0")) {
            _ = try ODEIntegrator(system: decay(k: 1), settings: SolverSettings(relativeTolerance: -1))
        }
    }
}

@Suite("Steady state")
struct SteadyStateTests {
    @Test func unstableRootIsRejectedForTheAttractor() throws {
        // From 3, Newton may land on the unstable N = 0; the solver must return the stable N = K.
        let root = try SteadyStateSolver().solve(logistic(r: 0.5, capacity: 7), guess: [3])
        #expect(isClose(root[0], 7, relative: 1e-10))
        #expect(SteadyStateSolver().isStable(logistic(r: 0.5, capacity: 7), at: [7]))
        #expect(!SteadyStateSolver().isStable(logistic(r: 0.5, capacity: 7), at: [0]))
    }

    @Test func aHintNearAnUnstableRootFallsBackToTheSearchFromTheGuess() throws {
        // Newton from the hint 0.001 reaches the unstable N = 0: the hint is dropped, not returned.
        var solver = SteadyStateSolver()
        solver.hint = [0.001]
        let root = try solver.solve(logistic(r: 0.5, capacity: 7), guess: [3])
        #expect(isClose(root[0], 7, relative: 1e-10))
        solver.hint = [6.5]
        #expect(isClose(try solver.solve(logistic(r: 0.5, capacity: 7), guess: [3])[0], 7, relative: 1e-10))
    }

    @Test func logisticEquilibriumIsCapacity() throws {
        let root = try SteadyStateSolver().solve(logistic(r: 0.5, capacity: 7), guess: [3])
        #expect(isClose(root[0], 7, relative: 1e-10))
    }

    @Test func linearSystemEquilibrium() throws {
        // x' = 2 - x, y' = x - 4y: (2, 0.5).
        let system = ClosureSystem(
            names: ["x", "y"], f: { _, y, d in d[0] = 2 - y[0]; d[1] = y[0] - 4 * y[1] },
            j: { _, _, J, dt in J[0] = -1; J[1] = 0; J[2] = 1; J[3] = -4; dt[0] = 0; dt[1] = 0 })
        let root = try SteadyStateSolver().solve(system, guess: [0, 0])
        #expect(isClose(root[0], 2, relative: 1e-10))
        #expect(isClose(root[1], 0.5, relative: 1e-10))
    }

    @Test func aLimitCycleEndsTheSearchOnceTheDerivativesStopShrinking() throws {
        // Van der Pol (mu = 1): the only equilibrium, (0, 0), is unstable and every orbit joins a limit
        // cycle of period 6.66. Integrating to the 10^7 horizon would take millions of steps; the search
        // must stop after two long horizons that do not improve on the smallest derivative seen.
        let system = ClosureSystem(
            names: ["x", "v"], f: { _, y, d in d[0] = y[1]; d[1] = (1 - y[0] * y[0]) * y[1] - y[0] },
            j: { _, y, J, dt in
                J[0] = 0; J[1] = 1; J[2] = -2 * y[0] * y[1] - 1; J[3] = 1 - y[0] * y[0]; dt[0] = 0; dt[1] = 0
            })
        do {
            _ = try SteadyStateSolver().solve(system, guess: [0.5, 0])
            Issue.record("expected no steady state on a limit cycle")
        } catch {
            guard case .noSteadyState = error else { Issue.record("wrong error \(error)"); return }
            #expect(error.description.contains("may oscillate"), "\(error.description)")
            // The root finders see only the unstable origin and the flow circles it: the horizons count
            // from 500 time units, so the search ends at 3,410 (10 + 40 + ... + 2,560), not past 10^4.
            let elapsed = error.description.split(separator: " ").drop { $0 != "after" }.dropFirst().first.flatMap { Double($0) }
            #expect((elapsed ?? .infinity) < 1e4, "\(error.description)")
        }
    }

    @Test func oscillationHasNoAttractingSteadyStateFromFarAway() throws {
        // y' = 1 has no root: both stages fail and the error says so.
        let system = ClosureSystem(names: ["y"], f: { _, _, d in d[0] = 1 }, j: { _, _, J, dt in J[0] = 0; dt[0] = 0 })
        do {
            _ = try SteadyStateSolver(maxHorizon: 1e3).solve(system, guess: [0])
            Issue.record("expected no steady state")
        } catch {
            guard case .noSteadyState = error else { Issue.record("wrong error \(error)"); return }
            #expect(error.description.contains("no steady state found"))
            #expect(error.description.contains("`y`"))
        }
    }
}
