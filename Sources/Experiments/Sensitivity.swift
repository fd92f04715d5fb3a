import Foundation
import Models

// Sensitivity analysis, kept in three seams as SALib keeps them (sample, evaluate, analyse):
//   designs   LocalDesign, MorrisDesign, SaltelliDesign: a list of parameter points, nothing more;
//   runs      any SweepRunner over a design's `sweepDesign` (so --jobs, bounded memory and failed rows
//             come free);
//   analyses  LocalSensitivity, Morris, Sobol: from the design and one metric value per row.
// A design written to samples.csv can therefore be evaluated elsewhere and analysed later, and its
// rows follow SALib's layout so SALib can analyse ketasim's values (scripts/crosscheck-salib).

/// What an analysis varies: a model parameter, or a scenario quantity as a sweep axis names it.
public struct SensitivityFactor: Sendable, Equatable {
    public var name: String
    public var target: SweepTarget

    public init(name: String, target: SweepTarget) {
        self.name = name
        self.target = target
    }

    /// The values the factor may take: a parameter's declared bounds, 0-1 for stress, none for doses.
    public func bounds(in model: ModelDefinition) -> ClosedRange<Double>? {
        switch target {
        case .parameter(let p): model.parameter(named: p)?.bounds
        case .stress: 0...1
        case .dose, .doseTime: nil
        }
    }

    /// `dose` (every dose of the treatment drug), `stress` or a parameter of `model`.
    public static func named(_ name: String, in model: ModelDefinition) -> Result<SensitivityFactor, SensitivityError> {
        switch name {
        case "dose": return .success(SensitivityFactor(name: name, target: .dose))
        case "stress": return .success(SensitivityFactor(name: name, target: .stress))
        default:
            guard model.parameter(named: name) != nil else {
                let known = ["dose", "stress"] + model.parameters.map(\.name)
                return .failure(SensitivityError("unknown parameter `\(name)`\(didYouMean(name, among: known)); name dose, stress or a model parameter"))
            }
            return .success(SensitivityFactor(name: name, target: .parameter(name)))
        }
    }

    /// The factor's value in `plan` (organism and overrides applied); nil when the plan has none (no
    /// treatment drug for `dose`).
    public func value(in plan: SimulationPlan, model: ModelDefinition) -> Double? {
        switch target {
        case .dose:
            guard let drug = plan.treatment else { return nil }
            return plan.doses.first { $0.drug == drug }?.amount
        case .stress:
            return plan.inputs["stress"]?.first?.value ?? 0
        case .doseTime:
            return plan.firstDoseTime
        case .parameter(let p):
            guard let k = model.parameters.firstIndex(where: { $0.name == p }) else { return nil }
            return model.parameterValues(organism: plan.organism, overrides: plan.parameters)[k]
        }
    }
}

/// A sensitivity input that cannot be used, as one sentence.
public struct SensitivityError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// The range a global analysis draws one factor from: uniform in [low, high], or uniform in
/// ln-space (log-uniform) when `isLogarithmic`.
public struct ParameterRange: Sendable, Equatable {
    public var name: String
    public var low: Double
    public var high: Double
    public var isLogarithmic: Bool

    public init(name: String, low: Double, high: Double, isLogarithmic: Bool) {
        self.name = name
        self.low = low
        self.high = high
        self.isLogarithmic = isLogarithmic
    }

    /// The value at the fraction `u` (0...1) of the range:
    ///
    ///     low + u (high − low)        uniform
    ///     low (high / low)^u          log-uniform
    @inline(__always)
    public func value(at u: Double) -> Double {
        isLogarithmic ? low * pow(high / low, u) : low + u * (high - low)
    }

    /// `NAME=LO:HI` (uniform) or `NAME=log:LO:HI` (log-uniform).
    public static func parse(_ text: String) -> Result<ParameterRange, SensitivityError> {
        func fail(_ m: String) -> Result<ParameterRange, SensitivityError> { .failure(SensitivityError("`\(text)`: \(m)")) }
        let parts = text.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
        guard parts.count == 2, !parts[0].isEmpty else { return fail("expected NAME=LO:HI or NAME=log:LO:HI, e.g. ke=0.1:0.5") }
        var fields = parts[1].split(separator: ":", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        let isLog = fields.first == "log"
        if isLog { fields.removeFirst() }
        guard fields.count == 2, let lo = Double(fields[0]), let hi = Double(fields[1]), lo.isFinite, hi.isFinite else {
            return fail("expected NAME=LO:HI or NAME=log:LO:HI with two numbers")
        }
        guard hi > lo else { return fail("HI must be above LO") }
        if isLog && lo <= 0 { return fail("a log-uniform range needs LO above 0") }
        return .success(ParameterRange(name: parts[0], low: lo, high: hi, isLogarithmic: isLog))
    }

    /// `--fold F`: log-uniform from value/F to value·F.
    public static func fold(name: String, value: Double, factor: Double) -> Result<ParameterRange, SensitivityError> {
        guard factor > 1, factor.isFinite else { return .failure(SensitivityError("the fold must be a number above 1, got \(formatNumber(factor))")) }
        guard value > 0, value.isFinite else {
            return .failure(SensitivityError("cannot range `\(name)` by a fold: its value \(formatNumber(value)) is not positive; give it an explicit range"))
        }
        return .success(ParameterRange(name: name, low: value / factor, high: value * factor, isLogarithmic: true))
    }
}

extension SweepDesign {
    /// A design given point by point: `columns[k][i]` is the value of `factors[k]` in run i + 1.
    public init(factors: [SensitivityFactor], columns: [[Double]]) {
        precondition(columns.count == factors.count && Set(columns.map(\.count)).count <= 1, "one column of equal length per factor")
        let axes = zip(factors, columns).map { f, c in
            SweepAxis(name: f.name, target: f.target, values: [c.min() ?? 0, c.max() ?? 0], isLogarithmic: false)
        }
        self.init(axes: axes, columns: columns)
    }
}

// MARK: - Designs

/// Differences in ln(parameter): row 0 is the base point, rows 2k+1 and 2k+2 move factor k to
/// value·e^(−h) and value·e^(+h). A step symmetric in ln p makes the estimate exact for power laws
/// (f = c·p^a gives a whatever h), which pharmacokinetic metrics often are (AUC = F·Dose/CL).
/// A factor whose e^(±h) point would leave its bounds (a Hill coefficient at its cap, a share at 1) is
/// stepped to one side instead, to e^(−2h) and e^(−h) or e^(+h) and e^(+2h): leaving such a factor out
/// would hide exactly the parameters a model was pushed against.
public struct LocalDesign: Sendable {
    /// Where the two moved rows of a factor sit, in steps of h.
    public enum Side: String, Sendable {
        case central, below, above

        var offsets: (Double, Double) {
            switch self {
            case .central: (-1, 1)
            case .below: (-2, -1)
            case .above: (1, 2)
            }
        }
    }

    public let factors: [SensitivityFactor]
    public let baseValues: [Double]
    /// h, the step in ln(parameter).
    public let step: Double
    public let sides: [Side]

    /// h = 0.01 by default: the truncation error O(h²) is near 1e-5 relative, while the solver's noise
    /// (relative tolerance 1e-6) divided by 2h stays near 1e-4. `bounds` (nil: none) decide the sides.
    public init(factors: [SensitivityFactor], baseValues: [Double], step: Double = 0.01,
                bounds: [ClosedRange<Double>?]? = nil) {
        precondition(factors.count == baseValues.count && step > 0)
        precondition(bounds == nil || bounds?.count == factors.count)
        self.factors = factors
        self.baseValues = baseValues
        self.step = step
        // The first side whose two points lie within the bounds, checked on the points themselves (a
        // negative value moves the other way under e^h); central when none fits (bounds narrower than
        // e^(3h)): its point outside the bounds then fails as a run, and the elasticity is NaN.
        sides = baseValues.enumerated().map { k, v in
            guard let b = bounds?[k] else { return .central }
            return [Side.central, .below, .above].first { side in
                let (x, y) = side.offsets
                return b.contains(v * exp(x * step)) && b.contains(v * exp(y * step))
            } ?? .central
        }
    }

    public var count: Int { 1 + 2 * factors.count }

    /// One column per factor, `count` rows.
    public var columns: [[Double]] {
        baseValues.enumerated().map { k, v in
            var c = [Double](repeating: v, count: count)
            let (a, b) = sides[k].offsets
            c[2 * k + 1] = v * exp(a * step)
            c[2 * k + 2] = v * exp(b * step)
            return c
        }
    }

    public var sweepDesign: SweepDesign { SweepDesign(factors: factors, columns: columns) }
}

public enum LocalSensitivity {
    /// Normalised sensitivity d ln f / d ln p of every factor from the values `y` of a `LocalDesign`'s
    /// rows. With g = ln|f| when f₀ and both moved values share a sign (else g = f / f₀, as f crosses
    /// zero nearby):
    ///
    ///     (g₊ − g₋) / 2h                  central
    ///     (3g₀ − 4g₋₁ + g₋₂) / 2h         below (second order, one-sided)
    ///     (−3g₀ + 4g₊₁ − g₊₂) / 2h        above
    ///
    /// NaN where f₀ = 0 or a run failed (its value NaN).
    public static func elasticities(_ y: [Double], step h: Double, sides: [LocalDesign.Side]? = nil) -> [Double] {
        precondition(y.count % 2 == 1)
        let f0 = y[0]
        return (0..<(y.count / 2)).map { k in
            let f1 = y[2 * k + 1], f2 = y[2 * k + 2]
            guard f0.isFinite, f1.isFinite, f2.isFinite, f0 != 0 else { return .nan }
            let logs = (f0 > 0 && f1 > 0 && f2 > 0) || (f0 < 0 && f1 < 0 && f2 < 0)
            let g: (Double) -> Double = logs ? { log(abs($0)) } : { $0 / f0 }
            switch sides?[k] ?? .central {
            case .central: return (g(f2) - g(f1)) / (2 * h)
            case .below: return (3 * g(f0) - 4 * g(f2) + g(f1)) / (2 * h)
            case .above: return (-3 * g(f0) + 4 * g(f1) - g(f2)) / (2 * h)
            }
        }
    }
}

/// Morris (1991) one-at-a-time trajectories on a grid of `levels` levels per factor in [0, 1]: each
/// trajectory has D + 1 points, and every step moves one factor (in a random order) by
/// Δ = levels / (2 (levels − 1)), up from the lower half of the levels and down from the upper half,
/// so every level is equally likely and each step lands on a level. Rows run trajectory after
/// trajectory, as SALib's `morris.sample` lays them out.
public struct MorrisDesign: Sendable {
    public let ranges: [ParameterRange]
    public let trajectories: Int
    public let levels: Int
    public let seed: UInt64
    /// Row-major unit-cube coordinates, `trajectories · (D + 1)` rows of D.
    public let unit: [Double]

    public init(ranges: [ParameterRange], trajectories r: Int, levels p: Int = 4, seed: UInt64) {
        precondition(r >= 1 && p >= 2 && p % 2 == 0 && !ranges.isEmpty, "Morris needs r >= 1 and an even number of levels")
        self.ranges = ranges
        trajectories = r
        levels = p
        self.seed = seed
        let d = ranges.count
        let delta = MorrisDesign.delta(levels: p)
        var rng = SplitMix64(seed: seed)
        var unit = [Double](repeating: 0, count: r * (d + 1) * d)
        var order = Array(0..<d)
        var x = [Double](repeating: 0, count: d)
        for t in 0..<r {
            for i in 0..<d { x[i] = Double(Int.random(in: 0..<p, using: &rng)) / Double(p - 1) }
            order.shuffle(using: &rng)
            let first = t * (d + 1) * d
            for i in 0..<d { unit[first + i] = x[i] }
            for (step, i) in order.enumerated() {
                x[i] += x[i] < 0.5 ? delta : -delta
                let row = first + (step + 1) * d
                for j in 0..<d { unit[row + j] = x[j] }
            }
        }
        self.unit = unit
    }

    public static func delta(levels p: Int) -> Double { Double(p) / (2 * Double(p - 1)) }
    public var count: Int { trajectories * (ranges.count + 1) }
    public var columns: [[Double]] {
        let d = ranges.count
        return ranges.enumerated().map { k, range in (0..<count).map { range.value(at: unit[$0 * d + k]) } }
    }
}

/// Saltelli's design for first-order and total Sobol indices (Saltelli 2002; Saltelli et al. 2010):
/// two independent N × D matrices A and B and, for each factor j, AB_j: A with column j from B. Rows
/// in SALib's layout (`saltelli.sample(..., calc_second_order=False)`): for each base sample i the
/// block A_i, AB_i^1, ..., AB_i^D, B_i of D + 2 rows.
///
/// The base is a seeded Latin hypercube of dimension 2D (A from its first D columns, B from the last
/// D), not a Sobol' sequence: it serves any number of factors and any N, needs no direction numbers,
/// and still stratifies every margin; the estimators do not depend on how A and B were drawn.
public struct SaltelliDesign: Sendable {
    public let ranges: [ParameterRange]
    public let baseSamples: Int
    public let seed: UInt64
    /// Row-major unit-cube coordinates, N (D + 2) rows of D.
    public let unit: [Double]

    public init(ranges: [ParameterRange], baseSamples n: Int, seed: UInt64) {
        precondition(n >= 2 && !ranges.isEmpty)
        self.ranges = ranges
        baseSamples = n
        self.seed = seed
        let d = ranges.count
        let base = latinHypercube(points: n, dimensions: 2 * d, seed: seed)
        var unit = [Double](repeating: 0, count: n * (d + 2) * d)
        for i in 0..<n {
            let block = i * (d + 2) * d
            for j in 0..<d {
                let a = base[i * 2 * d + j], b = base[i * 2 * d + d + j]
                unit[block + j] = a
                unit[block + (d + 1) * d + j] = b
                for k in 0..<d { unit[block + (k + 1) * d + j] = k == j ? b : a }
            }
        }
        self.unit = unit
    }

    public var count: Int { baseSamples * (ranges.count + 2) }
    public var columns: [[Double]] {
        let d = ranges.count
        return ranges.enumerated().map { k, range in (0..<count).map { range.value(at: unit[$0 * d + k]) } }
    }
}

/// `points` × `dimensions` row-major points in [0, 1), one in each of `points` equal strata of every
/// dimension, strata paired at random (McKay, Beckman & Conover 1979).
public func latinHypercube(points n: Int, dimensions d: Int, seed: UInt64) -> [Double] {
    var rng = SplitMix64(seed: seed)
    var out = [Double](repeating: 0, count: n * d)
    var strata = Array(0..<n)
    for j in 0..<d {
        strata.shuffle(using: &rng)
        for i in 0..<n { out[i * d + j] = (Double(strata[i]) + Double.random(in: 0..<1, using: &rng)) / Double(n) }
    }
    return out
}

// MARK: - Analyses

/// Morris screening of one factor: mu* = mean |EE| (Campolongo, Cariboni & Saltelli 2007), mu = mean EE
/// and sigma, their standard deviation with n − 1 (Morris 1991), as SALib's `morris.analyze`.
public struct MorrisIndex: Sendable, Equatable {
    public var muStar: Double
    public var mu: Double
    public var sigma: Double
    /// Half-width of the bootstrap 95% interval of mu*.
    public var muStarConf: Double
    /// Elementary effects used (steps whose two runs both succeeded).
    public var effects: Int
}

public enum Morris {
    /// Elementary effects EE = (f(x + Δeᵢ) − f(x)) / Δ with Δ measured in the unit cube (the fraction of
    /// each range, in ln-space for log-uniform ranges), as SALib measures them. `y` holds one value per
    /// row of `design`; a NaN value (a failed run) drops the effects it enters.
    public static func analyze(_ design: MorrisDesign, y: [Double], resamples: Int = 1000, seed: UInt64 = 1) -> [MorrisIndex] {
        let d = design.ranges.count, r = design.trajectories
        precondition(y.count == design.count)
        var effects = [[Double]](repeating: [], count: d)
        for t in 0..<r {
            for s in 0..<d {
                let a = t * (d + 1) + s, b = a + 1
                guard let i = (0..<d).first(where: { design.unit[b * d + $0] != design.unit[a * d + $0] }) else { continue }
                let ee = (y[b] - y[a]) / (design.unit[b * d + i] - design.unit[a * d + i])
                if ee.isFinite { effects[i].append(ee) }
            }
        }
        var rng = SplitMix64(seed: seed)
        return effects.map { ee in
            let n = ee.count
            guard n > 0 else { return MorrisIndex(muStar: .nan, mu: .nan, sigma: .nan, muStarConf: .nan, effects: 0) }
            let mu = ee.reduce(0, +) / Double(n)
            let muStar = ee.reduce(0) { $0 + abs($1) } / Double(n)
            // Bootstrap of mu*, as SALib's mu_star_conf: the effects resampled with replacement.
            var estimates = [Double](repeating: 0, count: resamples)
            for b in 0..<resamples {
                var sum = 0.0
                for _ in 0..<n { sum += abs(ee[Int.random(in: 0..<n, using: &rng)]) }
                estimates[b] = sum / Double(n)
            }
            return MorrisIndex(muStar: muStar, mu: mu, sigma: standardDeviation(ee), muStarConf: normal95 * standardDeviation(estimates), effects: n)
        }
    }
}

/// First-order and total Sobol indices of one factor with the half-widths of their bootstrap 95%
/// intervals (`S1_conf`, `ST_conf` as SALib reports them).
public struct SobolIndex: Sendable, Equatable {
    public var s1: Double
    public var s1Conf: Double
    public var st: Double
    public var stConf: Double
}

public enum Sobol {
    /// Saltelli et al. (2010), Table 2 (b): V·Sᵢ ≈ (1/N) Σⱼ f(B)ⱼ (f(AB⁽ⁱ⁾)ⱼ − f(A)ⱼ); one term.
    @inline(__always)
    static func firstOrder(_ a: Double, _ ab: Double, _ b: Double) -> Double { b * (ab - a) }

    /// Jansen (1999), Saltelli et al. (2010) Table 2 (f): V·Sᴛᵢ ≈ (1/2N) Σⱼ (f(A)ⱼ − f(AB⁽ⁱ⁾)ⱼ)²; one term.
    @inline(__always)
    static func totalOrder(_ a: Double, _ ab: Double) -> Double { 0.5 * (a - ab) * (a - ab) }

    /// Indices of every factor from `y`, one value per row of a `SaltelliDesign` of `factors` factors
    /// (N blocks of D + 2). V is the variance of f(A) and f(B) pooled (n in the denominator), as in
    /// SALib's `sobol.analyze`. A block holding a NaN (a failed run) is left out whole, so that every
    /// sum runs over the same base samples. Intervals: `resamples` bootstrap resamples of the blocks
    /// (seeded), half-width 1.96 standard deviations (Archer, Saltelli & Sobol 1997; SALib's conf).
    public static func analyze(_ y: [Double], factors d: Int, resamples: Int = 100, seed: UInt64 = 1) -> (indices: [SobolIndex], blocksUsed: Int) {
        let width = d + 2
        precondition(d >= 1 && y.count % width == 0)
        let blocks = (0..<(y.count / width)).filter { i in (0..<width).allSatisfy { y[i * width + $0].isFinite } }
        let n = blocks.count
        guard n >= 2 else { return (Array(repeating: SobolIndex(s1: .nan, s1Conf: .nan, st: .nan, stConf: .nan), count: d), n) }
        // Centred values: the indices are the same, the sums lose less to cancellation (SALib
        // standardises Y for the same reason).
        let mean = blocks.reduce(0.0) { $0 + y[$1 * width] + y[$1 * width + d + 1] } / Double(2 * n)
        func estimate(_ pick: (Int) -> Int, into s1: inout [Double], _ st: inout [Double]) {
            for j in 0..<d { s1[j] = 0; st[j] = 0 }
            var sum = 0.0, squares = 0.0
            for k in 0..<n {
                let row = blocks[pick(k)] * width
                let a = y[row] - mean, b = y[row + d + 1] - mean
                sum += a + b
                squares += a * a + b * b
                for j in 0..<d {
                    let ab = y[row + 1 + j] - mean
                    s1[j] += firstOrder(a, ab, b)
                    st[j] += totalOrder(a, ab)
                }
            }
            let m = Double(n)
            let variance = squares / (2 * m) - (sum / (2 * m)) * (sum / (2 * m))
            for j in 0..<d { s1[j] /= m * variance; st[j] /= m * variance }
        }
        var first = [Double](repeating: 0, count: d), total = [Double](repeating: 0, count: d)
        estimate({ $0 }, into: &first, &total)
        // Scratch allocated once; the resample loop allocates nothing.
        var rng = SplitMix64(seed: seed)
        var picks = [Int](repeating: 0, count: n)
        var s1 = [Double](repeating: 0, count: d), st = [Double](repeating: 0, count: d)
        var bootS1 = [[Double]](repeating: [Double](repeating: 0, count: resamples), count: d)
        var bootST = bootS1
        for b in 0..<resamples {
            for k in 0..<n { picks[k] = Int.random(in: 0..<n, using: &rng) }
            estimate({ picks[$0] }, into: &s1, &st)
            for j in 0..<d { bootS1[j][b] = s1[j]; bootST[j][b] = st[j] }
        }
        let indices = (0..<d).map { j in
            SobolIndex(s1: first[j], s1Conf: normal95 * standardDeviation(bootS1[j]), st: total[j], stConf: normal95 * standardDeviation(bootST[j]))
        }
        return (indices, n)
    }
}

/// The 97.5% quantile of the standard normal: a 95% interval is ± this many standard deviations.
let normal95 = 1.959963984540054

/// Sample standard deviation (n − 1); NaN below two values.
func standardDeviation(_ x: [Double]) -> Double {
    guard x.count > 1 else { return .nan }
    let mean = x.reduce(0, +) / Double(x.count)
    return (x.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(x.count - 1)).squareRoot()
}
