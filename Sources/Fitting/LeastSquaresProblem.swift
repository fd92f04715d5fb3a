import Foundation
import PEtab

/// What the optimiser sees of a fit: parameters on their estimation scale within bounds, and residuals
/// whose half sum of squares, plus a constant, is the objective:
/// ```
/// objective(x) = 0.5 * sum_i r_i(x)^2 + objectiveOffset
/// ```
/// It knows nothing of PEtab or of simulation; `PEtabResiduals` is one implementation. An instance
/// serves one thread (it owns its integrator), so a multistart makes one per worker.
public protocol LeastSquaresProblem: AnyObject {
    var parameterNames: [String] { get }
    /// On the estimation scale (log10 of the value for a log10 parameter, and so on).
    var lowerBounds: [Double] { get }
    var upperBounds: [Double] { get }
    var residualCount: Int { get }
    /// The constant that makes half the sum of squares the objective (negative log-likelihood terms
    /// that no residual carries).
    var objectiveOffset: Double { get }
    /// Fills `r` (residualCount values) at `x` (estimation scale); false where the model cannot be
    /// evaluated (a failed integration, a non-finite or non-positive value where a log is taken).
    func residuals(at x: [Double], into r: inout [Double]) -> Bool
    /// Fills `r` and the Jacobian dr/dx on the estimation scale (row-major, residualCount x parameters)
    /// from an analytic derivative (forward sensitivities). Nil when the problem has none, or not for
    /// this model: the optimiser then differentiates the residuals itself. False where the model cannot
    /// be evaluated at `x`.
    func residualsAndJacobian(at x: [Double], residuals r: inout [Double], jacobian: inout [Double]) -> Bool?
}

extension LeastSquaresProblem {
    public func residualsAndJacobian(at x: [Double], residuals r: inout [Double], jacobian: inout [Double]) -> Bool? { nil }

    /// The objective at `x`, +inf where the residuals cannot be evaluated.
    public func objective(at x: [Double]) -> Double {
        var r = [Double](repeating: 0, count: residualCount)
        guard residuals(at: x, into: &r) else { return .infinity }
        let value = 0.5 * r.reduce(0) { $0 + $1 * $1 } + objectiveOffset
        return value.isFinite ? value : .infinity
    }
}

/// A least-squares problem whose parameters a user reads: each has a scale (its estimate is on that
/// scale, its value linear), as a fit's files report them.
public protocol FitProblem: LeastSquaresProblem {
    var parameterScales: [PEtabScale] { get }
    /// The estimation-scale point of linear values by name (the problem's own start for names not given).
    func point(_ values: [String: Double]) -> [Double]
    /// Every file the problem reads, in a fixed order: what a fit's sidecar hashes as its identity.
    var sourceFiles: [String] { get }
}

extension FitProblem {
    /// Linear values by name of the parameters at `x` (estimation scale).
    public func values(at x: [Double]) -> [String: Double] {
        var values: [String: Double] = [:]
        for (i, name) in parameterNames.enumerated() { values[name] = parameterScales[i].invert(x[i]) }
        return values
    }
}

/// Maps an unconstrained coordinate u onto [lower, upper] smoothly, so that an unconstrained
/// least-squares method (GSL's has no bounds) cannot leave the box:
/// ```
/// x = lower + (upper - lower) (1 + sin u) / 2          u = asin(2 (x - lower) / (upper - lower) - 1)
/// ```
/// The sine map rather than a logistic one: a bound is reached at a finite u, so an optimum on a bound
/// is found, at the price of a zero derivative there (such a parameter's standard error is computed on
/// x directly, not through u). A parameter with an infinite bound is left as it is.
public struct BoundTransform: Sendable {
    public var lower: [Double]
    public var upper: [Double]

    public init(lower: [Double], upper: [Double]) {
        self.lower = lower
        self.upper = upper
    }

    func bounded(_ i: Int) -> Bool { lower[i].isFinite && upper[i].isFinite && upper[i] > lower[i] }

    public func toBox(_ u: [Double]) -> [Double] {
        u.indices.map { i in bounded(i) ? lower[i] + (upper[i] - lower[i]) * (1 + sin(u[i])) / 2 : u[i] }
    }

    /// dx/du of `toBox`, per coordinate (the map is separable).
    public func derivative(_ u: [Double]) -> [Double] {
        u.indices.map { i in bounded(i) ? (upper[i] - lower[i]) * cos(u[i]) / 2 : 1 }
    }

    public func fromBox(_ x: [Double]) -> [Double] {
        x.indices.map { i in
            guard bounded(i) else { return x[i] }
            let s = 2 * (x[i] - lower[i]) / (upper[i] - lower[i]) - 1
            return asin(min(1, max(-1, s)))
        }
    }
}
