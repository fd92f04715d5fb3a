import Foundation
import Models

/// What a sweep axis changes in a plan.
public enum SweepTarget: Sendable, Equatable {
    /// The amount of every dose of the scenario's treatment drug.
    case dose
    /// Chronic stress intensity.
    case stress
    /// Time of the treatment's first dose (hours); the rest of the regimen moves with it.
    case doseTime
    case parameter(String)
}

/// One `--vary NAME=VALUES`.
public struct SweepAxis: Sendable, Equatable {
    public var name: String
    public var target: SweepTarget
    public var values: [Double]
    /// Latin hypercube samples of a log-spaced axis are drawn uniformly in log space.
    public var isLogarithmic: Bool

    /// Parses `NAME=VALUES`: a list `0,1,3,10`, a range `0:40:5` (stop included) or `log:0.1:100:7`.
    public static func parse(_ text: String, model: ModelDefinition) -> Result<SweepAxis, SweepSpecError> {
        func fail(_ m: String) -> Result<SweepAxis, SweepSpecError> { .failure(SweepSpecError(text: text, message: m)) }
        let parts = text.split(separator: "=", maxSplits: 1).map { String($0).trimmingCharacters(in: .whitespaces) }
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else { return fail("expected NAME=VALUES, e.g. dose=0,1,3,10 or stress=0:1:0.25 or dose=log:0.1:100:7") }
        let name = parts[0], spec = parts[1]
        let target: SweepTarget
        switch name {
        case "dose": target = .dose
        case "stress": target = .stress
        case "dose_time": target = .doseTime
        default:
            guard model.parameter(named: name) != nil else {
                let known = ["dose", "stress", "dose_time"] + model.parameters.map(\.name)
                return fail("unknown name `\(name)`\(didYouMean(name, among: known)); vary dose, stress, dose_time or a model parameter")
            }
            target = .parameter(name)
        }
        var values: [Double] = []
        var isLog = false
        let fields = spec.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        if fields.first == "log" {
            guard fields.count == 4, let a = Double(fields[1]), let b = Double(fields[2]), let n = Int(fields[3]) else {
                return fail("a log range is log:START:STOP:COUNT, e.g. log:0.1:100:7")
            }
            guard a > 0, b > 0, a.isFinite, b.isFinite else { return fail("a log range needs positive, finite bounds") }
            guard n >= 2 else { return fail("a log range needs a count of at least 2") }
            guard n <= 10_000_000 else { return fail("the range \(spec) has more than 10 million values") }
            values = (0..<n).map { tidy(a * pow(b / a, Double($0) / Double(n - 1))) }
            values[n - 1] = b
            isLog = true
        } else if fields.count == 3 {
            guard let a = Double(fields[0]), let b = Double(fields[1]), let step = Double(fields[2]) else {
                return fail("a range is START:STOP:STEP, e.g. 0:40:5")
            }
            guard a.isFinite, b.isFinite, step.isFinite else { return fail("a range needs finite START, STOP and STEP") }
            guard step > 0 else { return fail("the step of a range must be positive") }
            guard b >= a else { return fail("the range \(spec) is empty: STOP is below START") }
            // Checked as a Double: converting 1e110 steps to Int traps (found by fuzzing).
            let steps = ((b - a) / step + 1e-9).rounded(.down)
            guard steps < 10_000_000 else { return fail("the range \(spec) has more than 10 million values") }
            let n = Int(steps)
            values = (0...n).map { tidy(a + Double($0) * step) }
        } else if fields.count == 1 {
            for item in spec.split(separator: ",", omittingEmptySubsequences: false) {
                let s = item.trimmingCharacters(in: .whitespaces)
                if name == "dose_time" {
                    guard case .success(let h) = Duration.hours(s) else { return fail("`\(s)` is not a duration") }
                    values.append(h)
                } else {
                    guard let v = Double(s), v.isFinite else { return fail("`\(s)` is not a number") }
                    values.append(v)
                }
            }
        } else {
            return fail("VALUES must be a list a,b,c, a range START:STOP:STEP or log:START:STOP:COUNT")
        }
        if values.isEmpty { return fail("no values") }
        if target == .dose, values.contains(where: { $0 < 0 }) { return fail("doses must not be negative") }
        if target == .stress, values.contains(where: { $0 < 0 || $0 > 1 }) { return fail("stress intensity must lie between 0 and 1") }
        if case .parameter(let p) = target, let bounds = model.parameter(named: p)?.bounds,
           let bad = values.first(where: { !bounds.contains($0) }) {
            return fail("\(formatNumber(bad)) lies outside the bounds of `\(p)` [\(formatNumber(bounds.lowerBound)), \(formatNumber(bounds.upperBound))]")
        }
        return .success(SweepAxis(name: name, target: target, values: values, isLogarithmic: isLog))
    }
}

public struct SweepSpecError: Error, Sendable, Equatable, CustomStringConvertible {
    public var text: String
    public var message: String
    public var description: String { "`\(text)`: \(message)" }
}

public struct SweepDesignError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

/// The runs of a sweep: a full grid over the axes (the last axis varies fastest), or a Latin hypercube.
public struct SweepDesign: Sendable {
    public let axes: [SweepAxis]
    public let count: Int
    private let samples: [[Double]]?

    /// Saturates at `Int.max` rather than trapping: three axes of 10 million values overflow Int,
    /// and the caller refuses any count that large anyway.
    public init(grid axes: [SweepAxis]) {
        self.axes = axes
        count = axes.reduce(1) { product, axis in
            let (result, overflow) = product.multipliedReportingOverflow(by: axis.values.count)
            return overflow ? Int.max : result
        }
        samples = nil
    }

    /// The most Latin hypercube samples: unlike a grid, whose points are computed from the run
    /// index, the samples are held in memory (8 bytes per sample and axis), so the cap is lower than
    /// the 100 million runs a grid may have.
    public static let maximumSamples = 1_000_000

    /// `n` points, one in each of n equal strata of every axis's range, strata paired at random
    /// (McKay, Beckman & Conover 1979); the same seed gives the same points. Throws before
    /// allocating anything when `n` is above `maximumSamples` or below 1.
    public init(latinHypercube axes: [SweepAxis], samples n: Int, seed: UInt64) throws(SweepDesignError) {
        guard n >= 1 else { throw SweepDesignError(message: "the number of samples must be at least 1, got \(n)") }
        guard n <= Self.maximumSamples else {
            throw SweepDesignError(message: "\(n) samples is more than \(Self.maximumSamples) Latin hypercube samples, ketasim's limit; "
                                   + "split the design into several sweeps with different seeds")
        }
        self.axes = axes
        count = n
        var rng = SplitMix64(seed: seed)
        var columns: [[Double]] = []
        for axis in axes {
            let lo = axis.values.min() ?? 0, hi = axis.values.max() ?? 0
            var strata = Array(0..<n)
            strata.shuffle(using: &rng)
            columns.append(strata.map { s in
                let u = (Double(s) + Double.random(in: 0..<1, using: &rng)) / Double(n)
                if axis.isLogarithmic, lo > 0 { return lo * pow(hi / lo, u) }
                return lo + u * (hi - lo)
            })
        }
        samples = columns
    }

    /// Points given column by column (a sensitivity design): `columns[k][i]` is axis k's value in run i + 1.
    public init(axes: [SweepAxis], columns: [[Double]]) {
        self.axes = axes
        count = columns.first?.count ?? 0
        samples = columns
    }

    public var isGrid: Bool { samples == nil }

    /// The axis values of run `index` (0-based).
    public func point(_ index: Int) -> [Double] {
        if let samples { return samples.map { $0[index] } }
        var rest = index
        var point = [Double](repeating: 0, count: axes.count)
        for (k, axis) in axes.enumerated().reversed() {
            point[k] = axis.values[rest % axis.values.count]
            rest /= axis.values.count
        }
        return point
    }

    /// The plan for run `index`.
    public func plan(_ index: Int, base: SimulationPlan) -> SimulationPlan {
        var plan = base
        for (axis, value) in zip(axes, point(index)) {
            switch axis.target {
            case .dose: plan.setTreatmentDose(value)
            case .stress: plan.setStress(value)
            case .doseTime: plan.setTreatmentTime(value)
            case .parameter(let p): plan.parameters[p] = value
            }
        }
        return plan
    }
}

/// Steele, Lea & Flood's SplitMix64: small, fast, and the same on every platform for a given seed.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// A computed grid value rounded to 12 significant digits, so `0:1:0.1` gives 0.3 rather than
/// 0.30000000000000004 in file names, columns and run parameters.
func tidy(_ x: Double) -> Double {
    guard x.isFinite, x != 0 else { return x }
    return Double(String(format: "%.12g", x)) ?? x
}
