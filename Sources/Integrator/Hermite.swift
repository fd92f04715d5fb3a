/// Cubic Hermite interpolant on [t0, t1] from the values and derivatives at both ends, written to
/// `out`. Its error is O(dt^4): accurate inside the short steps of the multistep methods, which is
/// why `OutputMode.automatic` uses it only for them.
///
///     p(s) = h00 y0 + h10 dt f0 + h01 y1 + h11 dt f1,  s = (t - t0) / dt
@inline(__always)
func hermiteInterpolate(
    count n: Int, t0: Double, t1: Double, at t: Double,
    y0: UnsafePointer<Double>, f0: UnsafePointer<Double>, y1: UnsafePointer<Double>, f1: UnsafePointer<Double>,
    into out: UnsafeMutablePointer<Double>
) {
    let dt = t1 - t0
    let s = (t - t0) / dt
    let s2 = s * s, s3 = s2 * s
    let h00 = 2 * s3 - 3 * s2 + 1
    let h10 = s3 - 2 * s2 + s
    let h01 = -2 * s3 + 3 * s2
    let h11 = s3 - s2
    for i in 0..<n {
        out[i] = h00 * y0[i] + h10 * dt * f0[i] + h01 * y1[i] + h11 * dt * f1[i]
    }
}
