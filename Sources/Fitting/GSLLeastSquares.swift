import CGSL
import Foundation

// GSL's status codes are an anonymous C enum, imported as Int; its callbacks return int (Int32).
let fitSuccess = Int32(GSL_SUCCESS)
let fitBadFunction = Int32(GSL_EBADFUNC)
let fitInvalid = Int32(GSL_EINVAL)
let fitMaxIterations = Int32(GSL_EMAXITER)
let fitNoProgress = Int32(GSL_ENOPROG)

/// Settings of one local least-squares fit.
public struct LeastSquaresOptions: Sendable, Equatable {
    /// GSL's trust-region subproblem.
    public enum Method: String, Sendable, CaseIterable {
        /// Levenberg-Marquardt (`gsl_multifit_nlinear_trs_lm`).
        case levenbergMarquardt = "lm"
        /// Levenberg-Marquardt with geodesic acceleration (`trs_lmaccel`, Transtrum & Sethna 2012), its
        /// second directional derivative by finite differences.
        case geodesic
        /// Powell's dogleg (`trs_dogleg`).
        case dogleg
    }
    public var method: Method = .levenbergMarquardt
    public var maxIterations = 200
    /// GSL's tests: a step small relative to x (xtol), a small scaled gradient (gtol).
    public var xtol = 1e-8
    public var gtol = 1e-8
    public var ftol = 1e-12
    /// Restarts of the trust region after a stop on the small-step test that still lowered the objective.
    public var maxRestarts = 10
    /// Relative step of the finite-difference Jacobian in the unconstrained coordinates: large next to
    /// the integrator's relative tolerance (1e-10 for PEtab problems), whose error it divides.
    public var differenceStep = 1e-6
    public var centralDifferences = false
    /// Use the problem's analytic Jacobian (`residualsAndJacobian`) where it offers one; differences
    /// (as `centralDifferences` says) where it does not.
    public var analyticJacobian = false

    public init() {}
}

/// How a local fit ended.
public enum FitStatus: String, Sendable, Equatable {
    /// GSL's step-size or gradient test was met.
    case converged
    case maxIterations = "max_iterations"
    /// The trust region could not find a step that lowers the objective (often at a minimum already).
    case noProgress = "no_progress"
    /// The start itself could not be evaluated, or GSL reported an error.
    case failed
}

/// One local fit from one start.
public struct LocalFit: Sendable {
    public var start: [Double]
    /// On the estimation scale; the start when the fit failed before its first step.
    public var estimate: [Double]
    /// 0.5 |r|^2 + offset at `estimate`; +inf for a failed fit.
    public var objective: Double
    public var status: FitStatus
    public var iterations: Int
    /// Residual evaluations, those of the finite-difference Jacobian included.
    public var evaluations: Int
    public var seconds: Double
    public var message: String
}

/// Residuals at unconstrained coordinates, for GSL's callbacks; one per fit.
final class ResidualContext {
    let problem: any LeastSquaresProblem
    let transform: BoundTransform
    let options: LeastSquaresOptions
    var evaluations = 0
    var u: [Double]
    var r: [Double]
    var r2: [Double]
    var jacobian: [Double]
    /// Set when the problem said it has no analytic Jacobian: differences from then on.
    var analyticUnavailable = false
    /// Objective assigned where the residuals cannot be evaluated: far above any objective a start
    /// reaches, so that the trust region rejects the step and shrinks instead of stopping.
    static let penalty = 1e12

    init(problem: any LeastSquaresProblem, transform: BoundTransform, options: LeastSquaresOptions) {
        self.problem = problem
        self.transform = transform
        self.options = options
        u = [Double](repeating: 0, count: problem.parameterNames.count)
        r = [Double](repeating: 0, count: problem.residualCount)
        r2 = r
        jacobian = options.analyticJacobian ? [Double](repeating: 0, count: problem.residualCount * problem.parameterNames.count) : []
    }

    func evaluate(_ u: [Double], into r: inout [Double]) -> Bool {
        evaluations += 1
        let ok = problem.residuals(at: transform.toBox(u), into: &r)
        return ok && r.allSatisfy(\.isFinite)
    }

    func fill(_ x: UnsafePointer<gsl_vector>) {
        let v = x.pointee
        for i in 0..<Int(v.size) { u[i] = v.data[i * Int(v.stride)] }
    }

    func f(_ x: UnsafePointer<gsl_vector>, _ out: UnsafeMutablePointer<gsl_vector>) -> Int32 {
        fill(x)
        let o = out.pointee
        let n = Int(o.size)
        if evaluate(u, into: &r) {
            for i in 0..<n { o.data[i * Int(o.stride)] = r[i] }
        } else {
            let each = (2 * Self.penalty / Double(max(n, 1))).squareRoot()
            for i in 0..<n { o.data[i * Int(o.stride)] = each }
        }
        return fitSuccess
    }

    /// Finite-difference Jacobian in u. A perturbed point that cannot be evaluated is replaced by the
    /// step in the other direction; when both fail the Jacobian is reported as impossible.
    func df(_ x: UnsafePointer<gsl_vector>, _ out: UnsafeMutablePointer<gsl_matrix>) -> Int32 {
        fill(x)
        if options.analyticJacobian && !analyticUnavailable {
            evaluations += 1
            switch problem.residualsAndJacobian(at: transform.toBox(u), residuals: &r, jacobian: &jacobian) {
            case true?:
                // dr/du = dr/dx dx/du: the sine map's derivative, column by column.
                let m = out.pointee
                let n = Int(m.size1), p = Int(m.size2), tda = Int(m.tda)
                let scale = transform.derivative(u)
                for i in 0..<n {
                    for j in 0..<p {
                        let v = jacobian[i * p + j] * scale[j]
                        guard v.isFinite else { return fitBadFunction }
                        m.data[i * tda + j] = v
                    }
                }
                return fitSuccess
            case false?:
                return fitBadFunction
            case nil:
                analyticUnavailable = true
                evaluations -= 1
            }
        }
        let base = u
        var r0 = r
        guard evaluate(base, into: &r0) else { return fitBadFunction }
        let m = out.pointee
        let n = Int(m.size1), p = Int(m.size2), tda = Int(m.tda)
        for j in 0..<p {
            let h = options.differenceStep * max(abs(base[j]), 1)
            var up = base, down = base
            up[j] += h
            down[j] -= h
            var column = [Double](repeating: 0, count: n)
            if options.centralDifferences, evaluate(up, into: &r), evaluate(down, into: &r2) {
                for i in 0..<n { column[i] = (r[i] - r2[i]) / (2 * h) }
            } else if evaluate(up, into: &r) {
                for i in 0..<n { column[i] = (r[i] - r0[i]) / h }
            } else if evaluate(down, into: &r) {
                for i in 0..<n { column[i] = (r0[i] - r[i]) / h }
            } else {
                return fitBadFunction
            }
            for i in 0..<n { m.data[i * tda + j] = column[i] }
        }
        return fitSuccess
    }
}

/// Local nonlinear least squares with GSL's trust-region method (`gsl_multifit_nlinear`), bounds by
/// `BoundTransform`, the Jacobian analytic (`LeastSquaresOptions.analyticJacobian`, where the problem
/// has one) or by finite differences of the residuals.
public struct GSLLeastSquares: Sendable {
    public var options: LeastSquaresOptions

    public init(options: LeastSquaresOptions = LeastSquaresOptions()) {
        self.options = options
    }

    public func minimize(_ problem: any LeastSquaresProblem, from start: [Double]) -> LocalFit {
        let began = Date()
        ketasim_gsl_prepare()
        let p = problem.parameterNames.count, n = problem.residualCount
        precondition(start.count == p, "one start value per parameter")
        let transform = BoundTransform(lower: problem.lowerBounds, upper: problem.upperBounds)
        let context = ResidualContext(problem: problem, transform: transform, options: options)
        var fit = LocalFit(start: start, estimate: start, objective: .infinity, status: .failed, iterations: 0, evaluations: 0, seconds: 0, message: "")
        defer { fit.seconds = Date().timeIntervalSince(began) }
        func finish(_ status: FitStatus, _ message: String) -> LocalFit {
            fit.status = status
            fit.message = message
            fit.evaluations = context.evaluations
            fit.seconds = Date().timeIntervalSince(began)
            return fit
        }
        var r = [Double](repeating: 0, count: n)
        guard p > 0, n >= p else { return finish(.failed, "\(n) residuals cannot determine \(p) parameters") }
        guard context.evaluate(transform.fromBox(start), into: &r) else { return finish(.failed, "the model cannot be evaluated at the start") }

        var parameters = gsl_multifit_nlinear_default_parameters()
        switch options.method {
        case .levenbergMarquardt: parameters.trs = ketasim_multifit_trs_lm()
        case .geodesic: parameters.trs = ketasim_multifit_trs_lmaccel()
        case .dogleg: parameters.trs = ketasim_multifit_trs_dogleg()
        }
        parameters.scale = ketasim_multifit_scale_more()
        parameters.solver = ketasim_multifit_solver_qr()
        guard let workspace = gsl_multifit_nlinear_alloc(ketasim_multifit_trust(), &parameters, n, p) else {
            return finish(.failed, "GSL could not allocate the least-squares workspace")
        }
        defer { gsl_multifit_nlinear_free(workspace) }
        guard let x0 = gsl_vector_alloc(p) else { return finish(.failed, "GSL could not allocate a vector") }
        defer { gsl_vector_free(x0) }
        for (i, u) in transform.fromBox(start).enumerated() { gsl_vector_set(x0, i, u) }

        var fdf = gsl_multifit_nlinear_fdf()
        fdf.f = { x, params, out in
            guard let x, let params, let out else { return fitInvalid }
            return Unmanaged<ResidualContext>.fromOpaque(params).takeUnretainedValue().f(x, out)
        }
        fdf.df = { x, params, out in
            guard let x, let params, let out else { return fitInvalid }
            return Unmanaged<ResidualContext>.fromOpaque(params).takeUnretainedValue().df(x, out)
        }
        fdf.fvv = nil
        fdf.n = n
        fdf.p = p
        fdf.params = Unmanaged.passUnretained(context).toOpaque()
        var status = withExtendedLifetime(context) { gsl_multifit_nlinear_init(x0, &fdf, workspace) }
        guard status == fitSuccess else { return finish(.failed, "GSL could not start: \(String(cString: gsl_strerror(status)))") }
        var info: Int32 = 0
        // GSL's small-step test also fires when the trust region has collapsed, after trial points the
        // model could not be evaluated at (the penalty) or an inexact Jacobian: on PEtab benchmark
        // problems many starts "converged" a few iterations in at objectives of 1e7 and more. A stop on
        // the step is therefore restarted from where it stopped with a fresh trust region, as long as the
        // previous run lowered the objective; at a real minimum the restart ends at once.
        // At a real minimum this costs one more start of the trust region (one residual evaluation, one
        // Jacobian and at least one iteration), since the run that found it did lower the objective.
        var restarts = 0, iterations = 0, stillImproving = false
        var previous = Double.infinity
        if options.maxRestarts > 0 {
            previous = problem.objective(at: start)
            context.evaluations += 1
        }
        while true {
            status = withExtendedLifetime(context) {
                gsl_multifit_nlinear_driver(options.maxIterations - iterations, options.xtol, options.gtol, options.ftol, nil, nil, &info, workspace)
            }
            iterations += Int(gsl_multifit_nlinear_niter(workspace))
            stillImproving = false
            guard status == fitSuccess, info == 1, options.maxRestarts > 0, let x = gsl_multifit_nlinear_position(workspace) else { break }
            let here = problem.objective(at: transform.toBox((0..<p).map { gsl_vector_get(x, $0) }))
            context.evaluations += 1
            guard here.isFinite, !(previous.isFinite && previous - here <= 1e-6 * max(1, abs(here))) else { break }
            // The last run lowered the objective, but the budget of restarts or iterations is spent.
            stillImproving = true
            guard restarts < options.maxRestarts, iterations < options.maxIterations else { break }
            previous = here
            gsl_vector_memcpy(x0, x)
            guard withExtendedLifetime(context, { gsl_multifit_nlinear_init(x0, &fdf, workspace) }) == fitSuccess else { break }
            restarts += 1
        }
        fit.iterations = iterations
        if let x = gsl_multifit_nlinear_position(workspace) {
            fit.estimate = transform.toBox((0..<p).map { gsl_vector_get(x, $0) })
        }
        // The objective is recomputed at the estimate rather than read from GSL's residual vector,
        // which would hold the penalty if the last trial point failed.
        fit.objective = problem.objective(at: fit.estimate)
        context.evaluations += 1
        guard fit.objective.isFinite else { return finish(.failed, "the model cannot be evaluated at the estimate") }
        // GSL's driver reports a first iteration that finds no better step as "maximum iterations"
        // (with info = GSL_ENOPROG): after a restart that is the minimum the previous run stopped at.
        if status == fitMaxIterations && info == fitNoProgress {
            if restarts > 0 { return finish(.converged, "small step; the restart found no better step") }
            return finish(.noProgress, "no step lowers the objective")
        }
        switch status {
        case fitSuccess:
            var after = restarts == 0 ? "" : " after \(restarts) restart\(restarts == 1 ? "" : "s")"
            if stillImproving { after += "; the objective was still falling when the restarts or iterations ran out" }
            return finish(.converged, (info == 1 ? "small step" : "small gradient") + after)
        case fitMaxIterations: return finish(.maxIterations, "\(options.maxIterations) iterations")
        case fitNoProgress: return finish(.noProgress, "no step lowers the objective")
        case fitBadFunction: return finish(.failed, "the Jacobian cannot be evaluated near the estimate")
        default: return finish(.failed, String(cString: gsl_strerror(status)))
        }
    }
}
