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
    public let estimated: [PEtabParameter]
    let simulator: Simulator
    public let parameterNames: [String]
    public let lowerBounds: [Double]
    public let upperBounds: [Double]
    public let residualCount: Int
    public let objectiveOffset: Double
    /// The last error of `residuals(at:into:)`, for a failed start's message.
    public private(set) var lastError: String?

    static let sigmaConstant = 2 * log(1e30)
    static let priorConstant = 50.0

    public init(_ problem: PEtabProblem, settings: SolverSettings = PEtabProblem.solverSettings) throws(PEtabError) {
        self.problem = problem
        estimated = problem.parameters.filter(\.estimate)
        simulator = try problem.makeSimulator(settings: settings)
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
        try problem.evaluate(values: values(at: x), using: simulator)
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
}
