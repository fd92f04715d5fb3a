import CGSL

/// The GSL odeiv2 stepping methods, by the names GSL gives them.
public enum Stepper: String, CaseIterable, Sendable, Codable {
    case rk2, rk4, rkf45, rkck, rk8pd, rk1imp, rk2imp, rk4imp, bsimp, msadams, msbdf

    /// Whether GSL calls the Jacobian for this method (the implicit ones do).
    public var usesJacobian: Bool {
        switch self {
        case .rk1imp, .rk2imp, .rk4imp, .bsimp, .msbdf: return true
        case .rk2, .rk4, .rkf45, .rkck, .rk8pd, .msadams: return false
        }
    }

    var gslType: UnsafePointer<gsl_odeiv2_step_type> {
        switch self {
        case .rk2: return ketasim_step_rk2()
        case .rk4: return ketasim_step_rk4()
        case .rkf45: return ketasim_step_rkf45()
        case .rkck: return ketasim_step_rkck()
        case .rk8pd: return ketasim_step_rk8pd()
        case .rk1imp: return ketasim_step_rk1imp()
        case .rk2imp: return ketasim_step_rk2imp()
        case .rk4imp: return ketasim_step_rk4imp()
        case .bsimp: return ketasim_step_bsimp()
        case .msadams: return ketasim_step_msadams()
        case .msbdf: return ketasim_step_msbdf()
        }
    }
}

/// How output times are produced.
public enum OutputMode: String, CaseIterable, Sendable, Codable {
    /// `interpolate` for the multistep methods (msbdf, msadams), whose steps stay short enough for
    /// cubic interpolation; `driver` for the one-step methods, whose high-order steps can span many
    /// output times and leave the interpolant far less accurate than the step.
    case automatic
    /// `gsl_odeiv2_driver_apply` to every output time: the step is cut at each one.
    case driver
    /// Step freely with `gsl_odeiv2_evolve_apply` and fill output times by cubic Hermite interpolation
    /// between accepted steps (values and derivatives at both ends). With msbdf on the bundled model it
    /// is 1.2-2.7x faster than `driver` at equal or better accuracy (docs/PERFORMANCE.md).
    case interpolate
}

/// Algorithm and tolerances, separate from the problem (as SciML separates `ODEProblem` from `Tsit5()`).
public struct SolverSettings: Sendable, Equatable, Codable {
    public var stepper: Stepper
    public var relativeTolerance: Double
    public var absoluteTolerance: Double
    /// First trial step, and the step tried again after each discontinuity.
    public var initialStep: Double
    /// Upper bound on the step; `nil` for none.
    public var maxStep: Double?
    /// Largest number of accepted steps in one integration segment.
    public var maxSteps: Int
    public var outputMode: OutputMode
    /// The error control of forward sensitivities, where it is not the default (relative 1e-8, absolute
    /// 1e-12, or the states' own tolerances where those are looser).
    public var sensitivityRelativeTolerance: Double?
    public var sensitivityAbsoluteTolerance: Double?

    public init(
        stepper: Stepper = .msbdf, relativeTolerance: Double = 1e-6, absoluteTolerance: Double = 1e-9,
        initialStep: Double = 1e-4, maxStep: Double? = nil, maxSteps: Int = 1_000_000,
        outputMode: OutputMode = .automatic, sensitivityRelativeTolerance: Double? = nil, sensitivityAbsoluteTolerance: Double? = nil
    ) {
        self.stepper = stepper
        self.relativeTolerance = relativeTolerance
        self.absoluteTolerance = absoluteTolerance
        self.initialStep = initialStep
        self.maxStep = maxStep
        self.maxSteps = maxSteps
        self.outputMode = outputMode
        self.sensitivityRelativeTolerance = sensitivityRelativeTolerance
        self.sensitivityAbsoluteTolerance = sensitivityAbsoluteTolerance
    }

    /// The mode actually used: `automatic` resolved for the stepper.
    public var effectiveOutputMode: OutputMode {
        guard outputMode == .automatic else { return outputMode }
        return stepper == .msbdf || stepper == .msadams ? .interpolate : .driver
    }

    /// Returns a sentence naming the first unusable setting, or nil.
    public func problem() -> String? {
        if !(relativeTolerance >= 0 && relativeTolerance.isFinite) { return "relative tolerance must be a finite number >= 0, got \(relativeTolerance)" }
        if !(absoluteTolerance >= 0 && absoluteTolerance.isFinite) { return "absolute tolerance must be a finite number >= 0, got \(absoluteTolerance)" }
        if relativeTolerance == 0 && absoluteTolerance == 0 { return "relative and absolute tolerance cannot both be 0" }
        if !(initialStep > 0 && initialStep.isFinite) { return "initial step must be > 0, got \(initialStep)" }
        if let h = maxStep, !(h > 0) { return "maximum step must be > 0, got \(h)" }
        if maxSteps < 1 { return "maximum number of steps must be at least 1, got \(maxSteps)" }
        if let r = sensitivityRelativeTolerance, !(r > 0 && r.isFinite) { return "the sensitivities' relative tolerance must be a finite number > 0, got \(r)" }
        if let a = sensitivityAbsoluteTolerance, !(a > 0 && a.isFinite) { return "the sensitivities' absolute tolerance must be a finite number > 0, got \(a)" }
        return nil
    }
}
