import CGSL

/// Solves A X = B for X by GSL's LU decomposition with partial pivoting: A is n x n and B n x m, both
/// row-major. Nil when A is singular to working precision (a pivot below 1e-12 of the largest), as
/// the Jacobian of a model with a conserved total is: the caller must then find X another way.
public func solveLinearSystem(_ a: [Double], n: Int, _ b: [Double], columns m: Int) -> [Double]? {
    guard n > 0, a.count == n * n, b.count == n * m else { return nil }
    ketasim_gsl_prepare()
    guard let matrix = gsl_matrix_alloc(n, n), let permutation = gsl_permutation_alloc(n), let column = gsl_vector_alloc(n) else { return nil }
    defer { gsl_matrix_free(matrix); gsl_permutation_free(permutation); gsl_vector_free(column) }
    for i in 0..<n { for j in 0..<n { gsl_matrix_set(matrix, i, j, a[i * n + j]) } }
    var sign: Int32 = 0
    guard gsl_linalg_LU_decomp(matrix, permutation, &sign) == 0 else { return nil }
    var largest = 0.0, smallest = Double.infinity
    for i in 0..<n {
        let u = abs(gsl_matrix_get(matrix, i, i))
        largest = max(largest, u)
        smallest = min(smallest, u)
    }
    guard largest > 0, smallest > 1e-12 * largest else { return nil }
    var x = [Double](repeating: 0, count: n * m)
    for k in 0..<m {
        for i in 0..<n { gsl_vector_set(column, i, b[i * m + k]) }
        guard gsl_linalg_LU_svx(matrix, permutation, column) == 0 else { return nil }
        for i in 0..<n { x[i * m + k] = gsl_vector_get(column, i) }
    }
    return x.allSatisfy(\.isFinite) ? x : nil
}
