import Experiments
import Foundation
import Integrator
import PEtab

/// A PEtab problem as least-squares residuals over its estimated parameters (on their
/// `parameterScale`), such that
/// ```
/// 0.5 |r|^2 + objectiveOffset = nllh - log prior        (PEtab's nllh, every constant included)
/// ```
/// Per measurement, with z = (T(m) - T(s)) / sigma on the observable's transformation T:
/// - normal:  a data residual z;
/// - laplace: sign(z) sqrt(2 |z|), so that half its square is the |z| of the Laplace likelihood (not
///   differentiable at z = 0: the fit still works, only the Gauss-Newton curvature there is poor);
/// - and a noise residual sqrt(2 log sigma + C) with C = 2 log(1e30), whose half square is log sigma up
///   to the constant C/2 (the least-squares form of an estimated sigma, as in Raue et al. 2013 and
///   pyPESTO); it is constant when sigma is, and fails (the point cannot be evaluated) for sigma < 1e-30.
/// Per estimated parameter with an objective prior: sqrt(2 (-log prior + P)) with P = 50.
/// The constants (log 2 pi, the Jacobian of T, C, P) go into `objectiveOffset`.
public final class PEtabResiduals: FitProblem {
    public let problem: PEtabProblem
    public var sourceFiles: [String] { problem.hashedFiles }
    public let estimated: [PEtabParameter]
    /// This thread's simulator, and what evaluations of the problem share (formulas, their programs,
    /// the symbolic sensitivities), built by the first evaluation.
    let evaluator: PEtabEvaluator
    public let parameterNames: [String]
    public let lowerBounds: [Double]
    public let upperBounds: [Double]
    public let residualCount: Int
    public let objectiveOffset: Double
    /// The last error of `residuals(at:into:)`, for a failed start's message.
    public private(set) var lastError: String?
    /// Why this problem has no forward sensitivities (an event time without a derivative), once an analytic Jacobian
    /// was asked for and refused; nil while they work or were never asked for.
    public private(set) var sensitivityRefusal: String?

    static let sigmaConstant = 2 * log(1e30)
    static let priorConstant = 50.0

    public init(_ problem: PEtabProblem, settings: SolverSettings = PEtabProblem.solverSettings) throws(PEtabError) {
        self.problem = problem
        estimated = problem.parameters.filter(\.estimate)
        evaluator = PEtabEvaluator(problem, simulator: try problem.makeSimulator(settings: settings))
        parameterNames = estimated.map(\.id)
        lowerBounds = estimated.map { $0.scale.apply($0.lowerBound) }
        upperBounds = estimated.map { $0.scale.apply($0.upperBound) }
        let priors = estimated.filter { $0.prior != nil }.count
        residualCount = 2 * problem.measurements.count + priors
        var offset = 0.0
        for m in problem.measurements {
            guard let o = problem.observables[m.observableId] else { continue }
            let jacobian: Double
            switch o.transformation {
            case .lin: jacobian = 1
            case .log: jacobian = m.measurement
            case .log10: jacobian = m.measurement * log(10)
            }
            switch o.distribution {
            case .normal: offset += 0.5 * log(2 * Double.pi) + log(jacobian)
            case .laplace: offset += log(2) + log(jacobian)
            }
            offset -= Self.sigmaConstant / 2
        }
        objectiveOffset = offset - Double(priors) * Self.priorConstant
    }

    public var parameterScales: [PEtabScale] { estimated.map(\.scale) }

    /// The estimation-scale vector of linear values by id (nominal values for ids not given).
    public func point(_ values: [String: Double]) -> [Double] {
        estimated.map { $0.scale.apply(values[$0.id] ?? $0.nominalValue) }
    }

    public var nominalPoint: [Double] { point([:]) }

    public func evaluate(at x: [Double]) throws(PEtabError) -> PEtabEvaluation {
        try evaluator.evaluate(values: values(at: x))
    }

    public func residuals(at x: [Double], into r: inout [Double]) -> Bool {
        let e: PEtabEvaluation
        do { e = try evaluate(at: x) } catch {
            lastError = error.description
            return false
        }
        return residuals(of: e, at: x, into: &r)
    }

    /// The residuals of an evaluation already made at x.
    public func residuals(of e: PEtabEvaluation, at x: [Double], into r: inout [Double]) -> Bool {
        let count = problem.measurements.count
        for (i, m) in problem.measurements.enumerated() {
            guard let o = problem.observables[m.observableId] else { r[i] = 0; r[count + i] = 0; continue }
            let sigma = e.sigmas[i]
            let z = petabResidual(measurement: m.measurement, simulation: e.simulations[i], sigma: sigma, scale: o.transformation)
            switch o.distribution {
            case .normal: r[i] = z
            case .laplace: r[i] = (z < 0 ? -1 : 1) * (2 * abs(z)).squareRoot()
            }
            let s = 2 * log(sigma) + Self.sigmaConstant
            guard z.isFinite, sigma > 0, s >= 0 else {
                lastError = "measurement \(m.file):\(m.row) cannot be evaluated (simulation \(e.simulations[i]), sigma \(sigma))"
                return false
            }
            r[count + i] = s.squareRoot()
        }
        var k = 2 * count
        let linear = values(at: x)
        for p in estimated {
            guard let prior = p.prior, let v = linear[p.id] else { continue }
            let s = 2 * (-prior.logDensity(v, scale: p.scale) + Self.priorConstant)
            guard s.isFinite, s >= 0 else {
                lastError = "the prior of `\(p.id)` cannot be evaluated at \(v)"
                return false
            }
            r[k] = s.squareRoot()
            k += 1
        }
        return true
    }

    /// The residuals and their Jacobian on the estimation scale from forward sensitivities
    /// (`PEtabEvaluator.evaluateWithSensitivities`); nil, with `sensitivityRefusal` set, for a problem that
    /// has none. Per measurement, with T the observable's transformation, s the simulation and z as above:
    /// ```
    /// dz = (-T'(s) ds - z dsigma) / sigma       data residual: dz (normal), dz / sqrt(2|z|) (laplace)
    /// noise residual r: (dsigma / sigma) / r     prior residual r: -(d log prior) / r
    /// ```
    /// and dθ/dx = 1, θ, θ log 10 for lin, log, log10 parameters.
    public func residualsAndJacobian(at x: [Double], residuals r: inout [Double], jacobian: inout [Double]) -> Bool? {
        if sensitivityRefusal != nil { return nil }
        let result: (evaluation: PEtabEvaluation, gradient: PEtabGradient)
        do { result = try evaluator.evaluateWithSensitivities(values: values(at: x), by: parameterNames) } catch {
            if error.kind == .unsupported {
                sensitivityRefusal = error.description
                return nil
            }
            lastError = error.description
            return false
        }
        let (e, g) = result
        guard residuals(of: e, at: x, into: &r) else { return false }
        let p = parameterNames.count, count = problem.measurements.count
        let chain = estimated.indices.map { j -> Double in
            let theta = estimated[j].scale.invert(x[j])
            switch estimated[j].scale {
            case .lin: return 1
            case .log: return theta
            case .log10: return theta * log(10)
            }
        }
        for k in jacobian.indices { jacobian[k] = 0 }
        for (i, m) in problem.measurements.enumerated() {
            guard let o = problem.observables[m.observableId] else { continue }
            let s = e.simulations[i], sigma = e.sigmas[i]
            let z = petabResidual(measurement: m.measurement, simulation: s, sigma: sigma, scale: o.transformation)
            let slope: Double
            switch o.transformation {
            case .lin: slope = 1
            case .log: slope = 1 / s
            case .log10: slope = 1 / (s * log(10))
            }
            // The Laplace residual's derivative is infinite at z = 0; a floor keeps the Jacobian finite
            // there, where the residual itself is 0 and its column contributes nothing to the step.
            let laplace = 1 / max((2 * abs(z)).squareRoot(), 1e-8)
            let noise = r[count + i]
            for j in 0..<p {
                let ds = g.simulations[i * p + j] * chain[j]
                let dsigma = g.sigmas[i * p + j] * chain[j]
                let dz = (-slope * ds - z * dsigma) / sigma
                jacobian[i * p + j] = o.distribution == .normal ? dz : dz * laplace
                if dsigma != 0 { jacobian[(count + i) * p + j] = dsigma / sigma / noise }
            }
        }
        var k = 2 * count
        for (j, parameter) in estimated.enumerated() {
            guard let prior = parameter.prior else { continue }
            // The log prior is a closed form of x alone: a central difference of it costs no simulation
            // and is accurate to about 1e-9, far below what the fit resolves.
            let h = 1e-6 * max(1, abs(x[j]))
            let up = prior.logDensity(parameter.scale.invert(x[j] + h), scale: parameter.scale)
            let down = prior.logDensity(parameter.scale.invert(x[j] - h), scale: parameter.scale)
            let slope = (up - down) / (2 * h)
            jacobian[k * p + j] = slope.isFinite && r[k] > 0 ? -slope / r[k] : 0
            k += 1
        }
        return jacobian.allSatisfy(\.isFinite)
    }
}
