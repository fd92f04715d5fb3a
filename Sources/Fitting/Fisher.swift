import CGSL
import Foundation

/// Standard errors and correlations of the estimates from the Fisher information approximated by the
/// Gauss-Newton matrix F = J^T J of the residuals at the optimum (J on the estimation scale, so the
/// errors are on that scale: a log10 parameter's error is in decades).
public struct FisherSummary: Sendable {
    /// +inf for a parameter the data do not determine (in the null space of F).
    public var standardErrors: [Double]
    /// Row-major p x p; NaN where an error is infinite.
    public var correlation: [Double]
    /// The Jacobian d r / d x used, row-major n x p.
    public var jacobian: [Double]
}

extension LeastSquaresProblem {
    /// Central differences on the estimation scale (one-sided at a bound), then F's eigen-decomposition:
    /// the covariance is its pseudo-inverse, and a parameter with weight in an eigenvector whose
    /// eigenvalue is below 1e-10 of the largest has no finite error.
    public func fisherSummary(at x: [Double], relativeStep: Double = 1e-5) -> FisherSummary? {
        let p = x.count, n = residualCount
        var r0 = [Double](repeating: 0, count: n), up = r0, down = r0
        guard p > 0, residuals(at: x, into: &r0) else { return nil }
        var jac = [Double](repeating: 0, count: n * p)
        let lo = lowerBounds, hi = upperBounds
        for j in 0..<p {
            let h = relativeStep * max(abs(x[j]), 1)
            var a = x, b = x
            a[j] = min(x[j] + h, hi[j])
            b[j] = max(x[j] - h, lo[j])
            guard a[j] > b[j], residuals(at: a, into: &up), residuals(at: b, into: &down) else { return nil }
            for i in 0..<n { jac[i * p + j] = (up[i] - down[i]) / (a[j] - b[j]) }
        }
        guard jac.allSatisfy(\.isFinite) else { return nil }
        ketasim_gsl_prepare()
        guard let f = gsl_matrix_alloc(p, p), let vectors = gsl_matrix_alloc(p, p), let values = gsl_vector_alloc(p),
              let work = gsl_eigen_symmv_alloc(p) else { return nil }
        defer { gsl_matrix_free(f); gsl_matrix_free(vectors); gsl_vector_free(values); gsl_eigen_symmv_free(work) }
        for a in 0..<p {
            for b in 0..<p {
                var s = 0.0
                for i in 0..<n { s += jac[i * p + a] * jac[i * p + b] }
                gsl_matrix_set(f, a, b, s)
            }
        }
        guard gsl_eigen_symmv(f, values, vectors, work) == Int32(GSL_SUCCESS) else { return nil }
        let lambda = (0..<p).map { gsl_vector_get(values, $0) }
        let largest = lambda.map(abs).max() ?? 0
        var covariance = [Double](repeating: 0, count: p * p)
        var unidentified = [Bool](repeating: false, count: p)
        for k in 0..<p {
            if lambda[k] <= 1e-10 * largest {
                for a in 0..<p where abs(gsl_matrix_get(vectors, a, k)) > 1e-3 { unidentified[a] = true }
                continue
            }
            for a in 0..<p {
                for b in 0..<p { covariance[a * p + b] += gsl_matrix_get(vectors, a, k) * gsl_matrix_get(vectors, b, k) / lambda[k] }
            }
        }
        let se = (0..<p).map { unidentified[$0] ? Double.infinity : covariance[$0 * p + $0].squareRoot() }
        var correlation = [Double](repeating: .nan, count: p * p)
        for a in 0..<p {
            for b in 0..<p where se[a].isFinite && se[b].isFinite && se[a] > 0 && se[b] > 0 {
                correlation[a * p + b] = covariance[a * p + b] / (se[a] * se[b])
            }
        }
        return FisherSummary(standardErrors: se, correlation: correlation, jacobian: jac)
    }
}
