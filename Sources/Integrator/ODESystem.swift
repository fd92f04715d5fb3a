/// A system of ordinary differential equations dy/dt = f(t, y) as the integrator sees it.
///
/// The integrator calls these methods from inside GSL's stepping loop, so implementations must not
/// allocate, lock or throw: they write into the buffers they are given. Non-finite values are caught
/// by the integrator after each call, so implementations need not check for them.
public protocol ODESystem: AnyObject {
    /// Number of state variables.
    var dimension: Int { get }
    /// Names used in error messages; `y[i]` when empty.
    var stateNames: [String] { get }
    /// Writes f(t, y) into `dydt`.
    func evaluate(t: Double, y: UnsafePointer<Double>, dydt: UnsafeMutablePointer<Double>)
    /// Writes the Jacobian ∂f_i/∂y_j row-major into `dfdy` (dfdy[i * n + j]) and ∂f/∂t into `dfdt`.
    func jacobian(t: Double, y: UnsafePointer<Double>, dfdy: UnsafeMutablePointer<Double>, dfdt: UnsafeMutablePointer<Double>)
}

extension ODESystem {
    public var stateNames: [String] { [] }

    func name(of index: Int) -> String {
        let names = stateNames
        return index < names.count ? names[index] : "y[\(index)]"
    }
}
