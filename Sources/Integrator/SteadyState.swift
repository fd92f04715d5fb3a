import CGSL

/// Finds y* with f(t0, y*) = 0.
///
/// First Newton's method from the guess (damped; then GSL's `hybridsj`, Powell's hybrid method, both
/// with the analytic Jacobian); when they fail or land on a point with negative components that the
/// guess did not have, the system is integrated forward over growing horizons until the derivatives
/// vanish, and the root finder polishes the result. Says clearly when neither works.
public struct SteadyStateSolver: Sendable {
    /// Convergence: max_i |f_i| <= residualTolerance * max(1, |y_i|) / timeScale.
    public var residualTolerance: Double
    public var maxIterations: Int
    /// The longest stretch of model time the fallback integrates before giving up.
    public var maxHorizon: Double
    /// Time at which f is evaluated (for systems whose right-hand side depends on t).
    public var time: Double
    /// How the fallback integrates towards the attractor (the run's own stepper and tolerances).
    public var settings: SolverSettings
    /// How the equilibrium is sought (see `Method`).
    public var method: Method = .rootFinding
    /// An equilibrium of nearby parameters that Newton's method tries first, before the search from the
    /// guess (`.rootFinding` only; the guess stays where integration starts). A sweep's samples lie
    /// near its base point: from the base's equilibrium Newton takes a few full steps, from the model's
    /// initial values dozens of halved ones.
    public var hint: [Double]?

    public enum Method: Sendable, Equatable {
        /// Root finding from the guess first, integration as the fallback: fast, and right whenever the
        /// equilibrium is unique.
        case rootFinding
        /// Integration alone, until the derivatives vanish: the equilibrium the guess flows to. With
        /// conserved quantities (A <=> B) root finding may land on another point of the manifold of
        /// equilibria; the flow keeps the totals of the guess, as PEtab's preequilibration requires.
        case simulation
    }

    public init(residualTolerance: Double = 1e-10, maxIterations: Int = 200, maxHorizon: Double = 1e7, time: Double = 0,
                settings: SolverSettings = SolverSettings(stepper: .msbdf, relativeTolerance: 1e-10, absoluteTolerance: 1e-12)) {
        self.residualTolerance = residualTolerance
        self.maxIterations = maxIterations
        self.maxHorizon = maxHorizon
        self.time = time
        self.settings = settings
    }

    public func solve(_ system: any ODESystem, guess: [Double]) throws(IntegrationError) -> [Double] {
        let n = system.dimension
        guard guess.count == n else { throw .invalidProblem("expected \(n) initial guesses, got \(guess.count)") }
        ketasim_gsl_prepare()
        if method == .rootFinding, let hint, hint.count == n, let root = dampedNewton(system, from: hint),
           acceptable(root, guess: hint), acceptable(root, guess: guess), isStable(system, at: root) {
            return root
        }
        if method == .rootFinding, let root = stableRoot(system, from: guess).root { return root }
        // Fallback: relax towards the attractor by integrating, then polish.
        let integrator = try ODEIntegrator(system: system, settings: settings)
        var y = guess
        var t = time
        var horizon = 10.0
        var elapsed = 0.0
        var previous = Double.infinity
        var stalled = 0
        while elapsed < maxHorizon {
            // Samples along the horizon show whether the flow oscillates; the steps are the same
            // (outputs are interpolated) and the last sample is the horizon's end.
            let samples = (1...Self.samplesPerHorizon).map { t + horizon * Double($0) / Double(Self.samplesPerHorizon) }
            let run = integrator.solve(from: t, initial: y, outputTimes: samples)
            if let error = run.failure {
                // Where the flow still was at the last horizon it completed: a state that keeps moving
                // after 10^6 h is usually on an oscillation, not on its way to a point.
                let (value, index) = residual(system, y)
                throw .noSteadyState(reason: "integrating towards equilibrium failed after \(format(elapsed)) time units (\(error)); "
                    + "the model may oscillate there instead of settling", residual: value, worst: system.name(of: index))
            }
            let start = y
            y = Array(run.state(at: run.count - 1))
            t += horizon
            elapsed += horizon
            let (value, index) = residual(system, y)
            if value <= residualTolerance { return y }
            var unstableOnly = false
            if method == .rootFinding {
                let search = stableRoot(system, from: y)
                if let root = search.root { return root }
                unstableOnly = search.foundUnstable
            }
            // Approaching an equilibrium, the derivatives shrink with every horizon (each is 4 times
            // the last: by e^-0.4 even for a time constant of 10^5 over a horizon of 4 x 10^4). On an
            // oscillation they do not, and integrating on to 10^7 costs up to 10^6 steps for nothing:
            // two long horizons in a row that do not bring them 10% below their smallest value so far
            // end the search (the smallest, not the last: sampled at a random phase of an oscillation
            // the last value may happen to fall).
            // Those horizons start at 10^4 time units, unless the root finders, started from the flow,
            // converge only to equilibria that are unstable and the flow swings back and forth over the
            // horizon (two cycles at least): then it circles an equilibrium it cannot settle on, and
            // counting starts at 500. What that gives up: a flow that both oscillates and converges,
            // with a time constant above about 2 x 10^4 (less than 10% over the 2,560 horizon that
            // decides), towards a stable equilibrium the root finders do not reach from the flow.
            // The 22 samples of the Sobol race without an equilibrium (docs/PERFORMANCE.md) integrated
            // 54,610 time units each before this, 3,410 or 13,650 now.
            let circling = unstableOnly && Self.reversals(run, from: start, worst: index) >= 4
            stalled = (elapsed >= 1e4 || (circling && elapsed >= 500)) && value > 0.9 * previous ? stalled + 1 : 0
            if stalled >= 2 {
                throw .noSteadyState(reason: "the derivatives stopped shrinking after \(format(elapsed)) time units of integration; "
                    + "the model may oscillate there instead of settling", residual: value, worst: system.name(of: index))
            }
            previous = min(previous, value)
            horizon *= 4
        }
        let (value, index) = residual(system, y)
        throw .noSteadyState(
            reason: "derivatives did not vanish within \(format(maxHorizon)) time units of integration",
            residual: value, worst: system.name(of: index))
    }

    static let samplesPerHorizon = 64

    /// How often state `worst` turns (from rising to falling or back) over the samples of `run`
    /// started at `start`: twice per cycle of an oscillation the samples resolve.
    static func reversals(_ run: Solution, from start: [Double], worst i: Int) -> Int {
        var previous = start[i], direction = 0, turns = 0
        for k in 0..<run.count {
            let value = run.values[k * run.dimension + i]
            let d = value > previous ? 1 : value < previous ? -1 : 0
            if d != 0 {
                if direction != 0 && d != direction { turns += 1 }
                direction = d
            }
            previous = value
        }
        return turns
    }

    /// A scenario must start from an equilibrium the system returns to, not from an unstable one that
    /// Newton's method happens to find: every eigenvalue of the Jacobian needs a negative real part
    /// (zero allowed, for conserved quantities and drug compartments that are empty).
    func isStable(_ system: any ODESystem, at y: [Double]) -> Bool {
        let n = system.dimension
        guard n > 0 else { return true }
        var a = [Double](repeating: 0, count: n * n)
        var dfdt = [Double](repeating: 0, count: n)
        y.withUnsafeBufferPointer { yb in
            a.withUnsafeMutableBufferPointer { ab in
                dfdt.withUnsafeMutableBufferPointer { db in
                    guard let yp = yb.baseAddress, let ap = ab.baseAddress, let dp = db.baseAddress else { return }
                    system.jacobian(t: time, y: yp, dfdy: ap, dfdt: dp)
                }
            }
        }
        var scale = 0.0
        for v in a {
            if !v.isFinite { return false }
            scale = max(scale, abs(v))
        }
        // LAPACK reads the row-major Jacobian as its transpose, which has the same eigenvalues.
        var real = [Double](repeating: 0, count: n), imaginary = real
        var size = Int32(n), lda = Int32(n), info: Int32 = 0, lwork = Int32(4 * n), ldvl: Int32 = 1, ldvr: Int32 = 1
        var work = [Double](repeating: 0, count: 4 * n), vl = 0.0, vr = 0.0
        let jobs: [CChar] = [CChar(UInt8(ascii: "N")), 0]
        jobs.withUnsafeBufferPointer { job in
            guard let job = job.baseAddress else { info = -1; return }
            dgeev_(job, job, &size, &a, &lda, &real, &imaginary, &vl, &ldvl, &vr, &ldvr, &work, &lwork, &info, 1, 1)
        }
        guard info == 0 else { return false }
        for v in real where v > 1e-9 * max(scale, 1) {
            return false
        }
        return true
    }

    private func acceptable(_ root: [Double], guess: [Double]) -> Bool {
        for (r, g) in zip(root, guess) {
            if !r.isFinite { return false }
            // A root with a component turned negative where the start was not is usually the wrong branch.
            if r < -1e-12 && g >= 0 { return false }
        }
        return true
    }

    /// Largest scaled residual and where it is.
    func residual(_ system: any ODESystem, _ y: [Double]) -> (value: Double, index: Int) {
        var f = [Double](repeating: 0, count: y.count)
        y.withUnsafeBufferPointer { yb in
            f.withUnsafeMutableBufferPointer { fb in
                system.evaluate(t: time, y: yb.baseAddress!, dydt: fb.baseAddress!)
            }
        }
        var worst = 0.0, index = 0
        for i in 0..<y.count {
            let r = abs(f[i]) / max(1, abs(y[i]))
            if !(r <= worst) { worst = r; index = i }
        }
        return (worst, index)
    }

    private final class RootContext {
        let system: any ODESystem
        let t: Double
        let n: Int
        let dfdt: UnsafeMutablePointer<Double>
        init(system: any ODESystem, t: Double) {
            self.system = system
            self.t = t
            self.n = system.dimension
            dfdt = .allocate(capacity: n)
        }
        deinit { dfdt.deallocate() }
        func f(_ x: UnsafePointer<gsl_vector>, _ out: UnsafeMutablePointer<gsl_vector>) -> Int32 {
            let y = ketasim_vector_const_data(x)!
            let dydt = ketasim_vector_data(out)!
            system.evaluate(t: t, y: y, dydt: dydt)
            for i in 0..<n where !dydt[i].isFinite { return gslBadFunction }
            return gslSuccess
        }
        func df(_ x: UnsafePointer<gsl_vector>, _ j: UnsafeMutablePointer<gsl_matrix>) -> Int32 {
            let y = ketasim_vector_const_data(x)!
            // gsl_matrix from gsl_matrix_alloc is dense row-major with tda == size2, as GSL's ODE Jacobian.
            system.jacobian(t: t, y: y, dfdy: ketasim_matrix_data(j)!, dfdt: dfdt)
            return gslSuccess
        }
    }

    /// Damped Newton first, Powell's hybrid method when it fails or finds a root that is not the
    /// acceptable, stable one (Newton's full steps may reach another equilibrium than hybridsj's
    /// trust region, which stays near the guess).
    /// `foundUnstable`: no stable root, and a finder converged to an acceptable root that is unstable.
    private func stableRoot(_ system: any ODESystem, from guess: [Double]) -> (root: [Double]?, foundUnstable: Bool) {
        var foundUnstable = false
        for find in [dampedNewton, hybrid] {
            if let root = find(system, guess), acceptable(root, guess: guess) {
                if isStable(system, at: root) { return (root, false) }
                foundUnstable = true
            }
        }
        return (nil, foundUnstable)
    }

    /// Newton's method with the analytic Jacobian, LU-factorised, halving a step until the residual
    /// falls. Sweeps start each run from an equilibrium of nearby parameters, where this converges in a
    /// handful of iterations; hybridsj re-factorises by QR and updates by Givens rotations at every
    /// step and cost a third of a Sobol analysis. Nil (and hybridsj next) on a singular Jacobian, a
    /// residual that no halving lowers, or no convergence in 50 iterations.
    private func dampedNewton(_ system: any ODESystem, from guess: [Double]) -> [Double]? {
        let n = system.dimension
        guard let jacobian = gsl_matrix_alloc(n, n), let permutation = gsl_permutation_alloc(n),
              let rhs = gsl_vector_alloc(n), let step = gsl_vector_alloc(n) else { return nil }
        defer { gsl_matrix_free(jacobian); gsl_permutation_free(permutation); gsl_vector_free(rhs); gsl_vector_free(step) }
        var x = guess, trial = guess
        var f = [Double](repeating: 0, count: n), trialF = f, dfdt = f
        func evaluate(_ y: [Double], into out: inout [Double]) -> Double {
            y.withUnsafeBufferPointer { yb in out.withUnsafeMutableBufferPointer { fb in system.evaluate(t: time, y: yb.baseAddress!, dydt: fb.baseAddress!) } }
            var sum = 0.0
            for i in 0..<n {
                let r = out[i] / max(1, abs(y[i]))
                sum += r * r
            }
            return sum.isFinite ? sum : .infinity
        }
        func converged(_ y: [Double], _ g: [Double]) -> Bool {
            y.withUnsafeBufferPointer { yb in g.withUnsafeBufferPointer { gb in self.converged(yb.baseAddress!, gb.baseAddress!, count: n) } }
        }
        var norm = evaluate(x, into: &f)
        guard norm.isFinite else { return nil }
        let jd = ketasim_matrix_data(jacobian)!, rd = ketasim_vector_data(rhs)!, sd = ketasim_vector_data(step)!
        for _ in 0..<50 {
            if converged(x, f) { return cleaned(x) }
            x.withUnsafeBufferPointer { xb in dfdt.withUnsafeMutableBufferPointer { db in system.jacobian(t: time, y: xb.baseAddress!, dfdy: jd, dfdt: db.baseAddress!) } }
            var sign: Int32 = 0
            guard gsl_linalg_LU_decomp(jacobian, permutation, &sign) == gslSuccess else { return nil }
            var largest = 0.0, smallest = Double.infinity
            for i in 0..<n {
                let u = abs(jd[i * n + i])
                largest = max(largest, u)
                smallest = min(smallest, u)
            }
            guard largest.isFinite, smallest > 1e-13 * largest else { return nil }
            for i in 0..<n { rd[i] = -f[i] }
            guard gsl_linalg_LU_solve(jacobian, permutation, rhs, step) == gslSuccess else { return nil }
            var lambda = 1.0, accepted = false
            for _ in 0..<12 {
                for i in 0..<n { trial[i] = x[i] + lambda * sd[i] }
                let trialNorm = evaluate(trial, into: &trialF)
                if trialNorm < norm || converged(trial, trialF) {
                    swap(&x, &trial)
                    swap(&f, &trialF)
                    norm = trialNorm
                    accepted = true
                    break
                }
                lambda *= 0.5
            }
            guard accepted else { return nil }
        }
        return converged(x, f) ? cleaned(x) : nil
    }

    private func hybrid(_ system: any ODESystem, from guess: [Double]) -> [Double]? {
        let n = system.dimension
        let context = RootContext(system: system, t: time)
        let params = Unmanaged.passUnretained(context).toOpaque()
        var function = gsl_multiroot_function_fdf(
            f: { x, p, out in
                guard let x, let p, let out else { return gslFault }
                return Unmanaged<RootContext>.fromOpaque(p).takeUnretainedValue().f(x, out)
            },
            df: { x, p, j in
                guard let x, let p, let j else { return gslFault }
                return Unmanaged<RootContext>.fromOpaque(p).takeUnretainedValue().df(x, j)
            },
            fdf: { x, p, out, j in
                guard let x, let p, let out, let j else { return gslFault }
                let c = Unmanaged<RootContext>.fromOpaque(p).takeUnretainedValue()
                let s = c.f(x, out)
                return s != gslSuccess ? s : c.df(x, j)
            },
            n: n, params: params)
        guard let solver = gsl_multiroot_fdfsolver_alloc(ketasim_multiroot_hybridsj(), n),
              let x = gsl_vector_alloc(n) else { return nil }
        defer {
            gsl_multiroot_fdfsolver_free(solver)
            gsl_vector_free(x)
        }
        let xd = ketasim_vector_data(x)!
        for i in 0..<n { xd[i] = guess[i] }
        var ok = false
        withExtendedLifetime(context) {
            guard gsl_multiroot_fdfsolver_set(solver, &function, x) == gslSuccess else { return }
            for _ in 0..<maxIterations {
                let status = gsl_multiroot_fdfsolver_iterate(solver)
                if status != gslSuccess && status != gslNoProgressJacobian && status != gslNoProgress { return }
                if converged(solver.pointee.x, solver.pointee.f) { ok = true; return }
                if status != gslSuccess { return }
            }
        }
        guard ok, let root = solver.pointee.x, let data = ketasim_vector_data(root) else { return nil }
        return cleaned(Array(UnsafeBufferPointer(start: data, count: n)))
    }

    private func converged(_ x: UnsafeMutablePointer<gsl_vector>?, _ f: UnsafeMutablePointer<gsl_vector>?) -> Bool {
        guard let x, let f, let xd = ketasim_vector_data(x), let fd = ketasim_vector_data(f) else { return false }
        return converged(xd, fd, count: Int(x.pointee.size))
    }

    /// The convergence test both root finders share: every |f_i| <= residualTolerance * max(1, |y_i|).
    private func converged(_ y: UnsafePointer<Double>, _ f: UnsafePointer<Double>, count n: Int) -> Bool {
        for i in 0..<n where !(abs(f[i]) <= residualTolerance * max(1, abs(y[i]))) { return false }
        return true
    }

    /// Components a root finder leaves at rounding noise around zero (an empty drug compartment at
    /// -4e-27, say) are exactly zero: a negative amount in the output would only confuse.
    private func cleaned(_ root: [Double]) -> [Double] { root.map { abs($0) < 1e-20 ? 0 : $0 } }
}
