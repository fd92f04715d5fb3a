import CGSL

/// Bridges GSL's C callbacks to a Swift `ODESystem`, and remembers the first non-finite value seen,
/// because GSL only learns that the callback failed, not where.
final class CallbackContext {
    let system: any ODESystem
    let dimension: Int
    var rhsEvaluations = 0
    var jacobianEvaluations = 0
    var badIndex = -1
    var badColumn = -1
    var badTime = 0.0
    var badInJacobian = false

    init(system: any ODESystem) {
        self.system = system
        self.dimension = system.dimension
    }

    @inline(__always)
    func rhs(_ t: Double, _ y: UnsafePointer<Double>, _ dydt: UnsafeMutablePointer<Double>) -> Int32 {
        rhsEvaluations &+= 1
        system.evaluate(t: t, y: y, dydt: dydt)
        for i in 0..<dimension where !dydt[i].isFinite {
            if badIndex < 0 { badIndex = i; badTime = t; badInJacobian = false }
            return gslBadFunction
        }
        return gslSuccess
    }

    @inline(__always)
    func jac(_ t: Double, _ y: UnsafePointer<Double>, _ dfdy: UnsafeMutablePointer<Double>, _ dfdt: UnsafeMutablePointer<Double>) -> Int32 {
        jacobianEvaluations &+= 1
        system.jacobian(t: t, y: y, dfdy: dfdy, dfdt: dfdt)
        let n = dimension
        for k in 0..<(n * n) where !dfdy[k].isFinite {
            if badIndex < 0 { badIndex = k / n; badColumn = k % n; badTime = t; badInJacobian = true }
            return gslBadFunction
        }
        for i in 0..<n where !dfdt[i].isFinite {
            if badIndex < 0 { badIndex = i; badColumn = -1; badTime = t; badInJacobian = true }
            return gslBadFunction
        }
        return gslSuccess
    }

    func clearFailure() { badIndex = -1; badColumn = -1 }
}

/// The GSL callbacks: they reach the system through the context without retain or release.
let rhsCallback: @convention(c) (Double, UnsafePointer<Double>?, UnsafeMutablePointer<Double>?, UnsafeMutableRawPointer?) -> Int32 = { t, y, dydt, params in
    guard let y, let dydt, let params else { return gslFault }
    return Unmanaged<CallbackContext>.fromOpaque(params)._withUnsafeGuaranteedRef { $0.rhs(t, y, dydt) }
}

let jacobianCallback: @convention(c) (Double, UnsafePointer<Double>?, UnsafeMutablePointer<Double>?, UnsafeMutablePointer<Double>?, UnsafeMutableRawPointer?) -> Int32 = { t, y, dfdy, dfdt, params in
    guard let y, let dfdy, let dfdt, let params else { return gslFault }
    return Unmanaged<CallbackContext>.fromOpaque(params)._withUnsafeGuaranteedRef { $0.jac(t, y, dfdy, dfdt) }
}

/// Counts of work done, as SciML's `stats`.
public struct SolverStatistics: Sendable, Equatable {
    public var steps = 0
    public var rhsEvaluations = 0
    public var jacobianEvaluations = 0
    public var restarts = 0
    /// State variables integrated: fewer than the model has when states that stay 0 are left out.
    public var states = 0
    public init() {}
}

/// One GSL driver (stepper, step-size control, evolution) for one system.
///
/// Owns every GSL object it allocates and frees them in `deinit`; keeps the callback context alive as
/// long as the driver lives. Not thread-safe: use one instance per thread (sweeps give each worker its
/// own). Scratch buffers are allocated once here, so stepping allocates nothing.
public final class ODEIntegrator {
    public let settings: SolverSettings
    public let dimension: Int
    let context: CallbackContext
    let system: UnsafeMutablePointer<gsl_odeiv2_system>
    let driver: UnsafeMutablePointer<gsl_odeiv2_driver>
    // Interpolation scratch: state and derivative at the start and end of the current step.
    let y0: UnsafeMutablePointer<Double>
    let f0: UnsafeMutablePointer<Double>
    let f1: UnsafeMutablePointer<Double>
    let yInterpolated: UnsafeMutablePointer<Double>
    var statistics = SolverStatistics()

    /// Other tolerances for the state variables from index `from` on (a sensitivity system's S: see
    /// `Simulator.sensitivitySystem`).
    public struct ToleranceSplit: Sendable, Equatable {
        public var from: Int
        public var relative: Double
        public var absolute: Double
        public init(from: Int, relative: Double, absolute: Double) {
            self.from = from
            self.relative = relative
            self.absolute = absolute
        }
    }

    public init(system odeSystem: any ODESystem, settings: SolverSettings = SolverSettings(), split: ToleranceSplit? = nil) throws(IntegrationError) {
        if let problem = settings.problem() { throw .invalidSettings(problem) }
        let n = odeSystem.dimension
        guard n > 0 else { throw .invalidProblem("the system has no state variables") }
        ketasim_gsl_prepare()
        self.settings = settings
        self.dimension = n
        self.context = CallbackContext(system: odeSystem)
        system = .allocate(capacity: 1)
        system.initialize(to: gsl_odeiv2_system(
            function: rhsCallback, jacobian: jacobianCallback, dimension: n,
            params: Unmanaged.passUnretained(context).toOpaque()))
        guard let d = gsl_odeiv2_driver_alloc_y_new(
            system, settings.stepper.gslType, settings.initialStep,
            settings.absoluteTolerance, settings.relativeTolerance)
        else {
            system.deallocate()
            throw .invalidSettings("GSL could not allocate the \(settings.stepper.rawValue) driver for \(n) states")
        }
        if let split, ketasim_driver_split_control(d, settings.absoluteTolerance, settings.relativeTolerance, split.from,
                                                    split.absolute, split.relative) == 0 {
            gsl_odeiv2_driver_free(d)
            system.deallocate()
            throw .invalidSettings("GSL could not allocate the step-size control for \(n) states")
        }
        driver = d
        if let hmax = settings.maxStep { gsl_odeiv2_driver_set_hmax(d, hmax) }
        gsl_odeiv2_driver_set_nmax(d, UInt(settings.maxSteps))
        y0 = .allocate(capacity: n)
        f0 = .allocate(capacity: n)
        f1 = .allocate(capacity: n)
        yInterpolated = .allocate(capacity: n)
    }

    deinit {
        gsl_odeiv2_driver_free(driver)
        system.deinitialize(count: 1)
        system.deallocate()
        y0.deallocate()
        f0.deallocate()
        f1.deallocate()
        yInterpolated.deallocate()
    }

    /// Forgets the stepper's history (multistep methods keep past steps) and restarts with the initial
    /// step: required after any jump in the state or the equations.
    func restart() {
        gsl_odeiv2_driver_reset_hstart(driver, settings.initialStep)
        statistics.restarts += 1
    }

    func failure(status: Int32, t: Double, y: UnsafePointer<Double>) -> IntegrationError {
        let sys = context.system
        func snapshot() -> [IntegrationError.NamedValue] {
            (0..<dimension).map { IntegrationError.NamedValue(name: sys.name(of: $0), value: y[$0]) }
        }
        if status == gslBadFunction && context.badIndex >= 0 {
            let time = context.badTime
            if context.badInJacobian {
                let column = context.badColumn >= 0 ? sys.name(of: context.badColumn) : "t"
                return .nonFiniteJacobian(row: sys.name(of: context.badIndex), column: column, time: time, state: snapshot())
            }
            return .nonFiniteDerivative(variable: sys.name(of: context.badIndex), time: time, state: snapshot())
        }
        switch status {
        case gslMaxIterations:
            return .maxStepsReached(steps: settings.maxSteps, time: t, stiffStepper: settings.stepper.usesJacobian)
        case gslNoProgress, gslFailure:
            // evolve_apply's GSL_FAILURE: the step could not be made any smaller and still fails,
            // which is what a solution that blows up looks like.
            return .stepSizeUnderflow(time: t, step: driver.pointee.h, state: snapshot())
        default:
            let reason = gsl_strerror(status).map { String(cString: $0) } ?? "unknown"
            return .solverFailure(status: status, reason: reason, time: t)
        }
    }
}
