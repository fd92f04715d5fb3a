import Foundation
import Integrator

/// A system given by two closures, for tests with known answers.
final class ClosureSystem: ODESystem {
    let dimension: Int
    let stateNames: [String]
    let f: (Double, UnsafePointer<Double>, UnsafeMutablePointer<Double>) -> Void
    let j: (Double, UnsafePointer<Double>, UnsafeMutablePointer<Double>, UnsafeMutablePointer<Double>) -> Void

    init(
        names: [String],
        f: @escaping (Double, UnsafePointer<Double>, UnsafeMutablePointer<Double>) -> Void,
        j: @escaping (Double, UnsafePointer<Double>, UnsafeMutablePointer<Double>, UnsafeMutablePointer<Double>) -> Void
    ) {
        self.dimension = names.count
        self.stateNames = names
        self.f = f
        self.j = j
    }

    func evaluate(t: Double, y: UnsafePointer<Double>, dydt: UnsafeMutablePointer<Double>) { f(t, y, dydt) }
    func jacobian(t: Double, y: UnsafePointer<Double>, dfdy: UnsafeMutablePointer<Double>, dfdt: UnsafeMutablePointer<Double>) {
        j(t, y, dfdy, dfdt)
    }
}

/// y' = -k y, y(t) = y0 exp(-k t).
func decay(k: Double) -> ClosureSystem {
    ClosureSystem(names: ["y"], f: { _, y, d in d[0] = -k * y[0] }, j: { _, _, J, dt in J[0] = -k; dt[0] = 0 })
}

/// x'' = -w^2 x: energy (v^2 + w^2 x^2) / 2 is conserved.
func oscillator(omega w: Double) -> ClosureSystem {
    ClosureSystem(
        names: ["x", "v"],
        f: { _, y, d in d[0] = y[1]; d[1] = -w * w * y[0] },
        j: { _, _, J, dt in J[0] = 0; J[1] = 1; J[2] = -w * w; J[3] = 0; dt[0] = 0; dt[1] = 0 })
}

/// y' = r y (1 - y/K), y(t) = K / (1 + (K/y0 - 1) exp(-r t)).
func logistic(r: Double, capacity K: Double) -> ClosureSystem {
    ClosureSystem(
        names: ["N"], f: { _, y, d in d[0] = r * y[0] * (1 - y[0] / K) },
        j: { _, y, J, dt in J[0] = r * (1 - 2 * y[0] / K); dt[0] = 0 })
}

/// Robertson's stiff chemical kinetics (Robertson 1966; Hairer & Wanner, Solving ODEs II).
func robertson() -> ClosureSystem {
    ClosureSystem(
        names: ["y1", "y2", "y3"],
        f: { _, y, d in
            d[0] = -0.04 * y[0] + 1e4 * y[1] * y[2]
            d[1] = 0.04 * y[0] - 1e4 * y[1] * y[2] - 3e7 * y[1] * y[1]
            d[2] = 3e7 * y[1] * y[1]
        },
        j: { _, y, J, dt in
            J[0] = -0.04; J[1] = 1e4 * y[2]; J[2] = 1e4 * y[1]
            J[3] = 0.04; J[4] = -1e4 * y[2] - 6e7 * y[1]; J[5] = -1e4 * y[1]
            J[6] = 0; J[7] = 6e7 * y[1]; J[8] = 0
            dt[0] = 0; dt[1] = 0; dt[2] = 0
        })
}

func isClose(_ a: Double, _ b: Double, relative: Double, absolute: Double = 0) -> Bool {
    abs(a - b) <= absolute + relative * abs(b)
}
