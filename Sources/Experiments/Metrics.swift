import Models

/// Summary numbers of one output's time course, measured from a reference time (the first dose).
///
///     pre        value just before the first dose (at the reference time when there is no dose)
///     min, max   over [reference, end]
///     t_max      time of the maximum after the reference
///     auc        ∫ value dt over [reference, end] (trapezoids on the output grid and the detail rows)
///     at_<d>     value at reference + d (linear interpolation)
///     change_<d> at_<d> / pre - 1
///     duration   total time the change from pre stays beyond half its largest excursion
///
/// Rounding noise: an output value is taken as exactly 0 when
///
///     |x| <= max(1e-12 * max|x| over the run, noiseFloor)
///
/// 1e-12 is about 4500 ulps: far above the rounding of the sums that produce a concentration that
/// should be 0 (an esketamine plasma level of -4.4e-27 where none is given, a baseline of 7.9e-22
/// against a response of 0.055), far below any tolerance a solver is run at, so no value the solver
/// resolved is touched. `noiseFloor` catches a series that is noise throughout (its own maximum is
/// noise); by default 1e-17, a thousandth of the tightest absolute tolerance ketasim runs at (1e-14
/// for SBML models; 1e-9 for its own). `change_<d>` and `duration` divide by `pre`: when `pre` is 0
/// after this they are NaN (an empty cell), and `evaluateExplained` says why.
public struct MetricSpec: Sendable, Equatable {
    /// Offsets after the reference for `at_` and `change_`, with the labels used in column names.
    public var offsets: [(label: String, hours: Double)]

    /// Values at most this large in magnitude are 0 whatever the series' scale (see above).
    public var noiseFloor: Double = 1e-17
    /// Relative to the largest magnitude of the series over the run (see above).
    public static let relativeNoise = 1e-12

    public static let standard = MetricSpec(offsets: [("2h", 2), ("24h", 24), ("7d", 168)])

    public init(offsets: [(label: String, hours: Double)]) { self.offsets = offsets }

    public static func == (a: MetricSpec, b: MetricSpec) -> Bool {
        a.offsets.map(\.label) == b.offsets.map(\.label) && a.offsets.map(\.hours) == b.offsets.map(\.hours)
            && a.noiseFloor == b.noiseFloor
    }

    /// The metrics of `evaluate`, and for each metric left NaN for a reason a user should know,
    /// that reason keyed by column (`<output>.<metric>`).
    public struct Explained: Sendable {
        public var values: [Double]
        public var reasons: [String: String]
    }

    /// Metric names in column order.
    public var names: [String] {
        ["pre", "min", "max", "t_max", "auc"] + offsets.flatMap { ["at_\($0.label)", "change_\($0.label)"] } + ["duration"]
    }

    /// `<output>.<metric>` for every output.
    public func columns(outputs: [String]) -> [String] {
        outputs.flatMap { o in names.map { "\(o).\($0)" } }
    }

    /// Metrics of every output, in `columns(outputs:)` order; NaN where a metric is undefined (e.g. an
    /// `at_` time after the end of the run).
    /// The grid rows and the detail rows are merged in time order first.
    public func evaluate(_ r: SimulationResult, reference: Double? = nil) -> [Double] {
        evaluateExplained(r, reference: reference).values
    }

    public func evaluateExplained(_ r: SimulationResult, reference: Double? = nil) -> Explained {
        let ref = reference ?? r.firstDoseTime ?? 0
        let m = r.outputNames.count
        // (time, row, from detail) in time order.
        var order = r.times.indices.map { (r.times[$0], $0, false) } + r.detailTimes.indices.map { (r.detailTimes[$0], $0, true) }
        if !r.detailTimes.isEmpty { order.sort { $0.0 < $1.0 } }
        let times = order.map(\.0)
        var out: [Double] = []
        var reasons: [String: String] = [:]
        out.reserveCapacity(m * names.count)
        for j in 0..<m {
            let raw = order.map { $0.2 ? r.detailValues[$0.1 * m + j] : r.values[$0.1 * m + j] }
            let rawPre: Double
            if let p = r.preDose, reference == nil || reference == r.firstDoseTime { rawPre = p[j] } else { rawPre = interpolate(times, raw, at: ref) }
            let threshold = noiseThreshold(raw + [rawPre])
            let series = raw.map { abs($0) <= threshold ? 0 : $0 }
            let pre = abs(rawPre) <= threshold ? 0 : rawPre
            out.append(contentsOf: metrics(times: times, values: series, reference: ref, pre: pre))
            if pre == 0 {
                let why = rawPre == 0
                    ? "the baseline `pre` is 0, so a relative change is undefined"
                    : "the baseline `pre` (\(rawPre)) is 0 up to rounding (|pre| <= \(threshold)), so a relative change is undefined"
                for name in offsets.map({ "change_\($0.label)" }) + ["duration"] { reasons["\(r.outputNames[j]).\(name)"] = why }
            }
        }
        return Explained(values: out, reasons: reasons)
    }

    /// max(relativeNoise * max|x|, noiseFloor), NaNs and infinities ignored.
    func noiseThreshold(_ values: [Double]) -> Double {
        let scale = values.reduce(0.0) { $1.isFinite ? max($0, abs($1)) : $0 }
        return max(Self.relativeNoise * scale, noiseFloor)
    }

    /// Extra output times that let metrics resolve what happens in minutes: every minute for the 6 h
    /// after each dose starts (and after an infusion ends), and each `at_` time exactly, in the model's time unit.
    /// A model whose time unit does not convert to minutes gets the `at_` times only.
    public func detailTimes(for plan: SimulationPlan, reference: Double? = nil, timeUnit: TimeUnit = .hours) -> [Double] {
        var times = timeUnit.hours.map { plan.doseWindowTimes(minute: 1 / (60 * $0)) } ?? []
        if let ref = reference ?? plan.referenceTime ?? (plan.doses.isEmpty ? 0 : nil) { times += offsets.map { ref + $0.hours } }
        return times.filter { $0 >= 0 && $0 <= plan.tEnd }
    }

    func metrics(times: [Double], values: [Double], reference ref: Double, pre: Double) -> [Double] {
        let start = times.firstIndex { $0 >= ref - 1e-12 } ?? times.count
        var minimum = Double.nan, maximum = Double.nan, tMax = Double.nan, auc = 0.0
        if start < times.count {
            minimum = values[start]; maximum = values[start]; tMax = times[start] - ref
            for k in start..<times.count {
                if values[k] < minimum { minimum = values[k] }
                if values[k] > maximum { maximum = values[k]; tMax = times[k] - ref }
                if k > start { auc += 0.5 * (values[k] + values[k - 1]) * (times[k] - times[k - 1]) }
            }
        } else {
            auc = .nan
        }
        var result = [pre, minimum, maximum, tMax, auc]
        for (_, hours) in offsets {
            let at = interpolate(times, values, at: ref + hours)
            result.append(at)
            result.append(pre != 0 ? at / pre - 1 : .nan)
        }
        result.append(duration(times: times, values: values, from: start, pre: pre))
        return result
    }

    /// Time the relative change stays beyond half its largest excursion, crossings interpolated.
    func duration(times: [Double], values: [Double], from start: Int, pre: Double) -> Double {
        guard pre != 0, start < times.count else { return .nan }
        let change = values.map { $0 / pre - 1 }
        var peak = 0.0
        for k in start..<change.count where abs(change[k]) > abs(peak) { peak = change[k] }
        if peak == 0 { return 0 }
        let half = 0.5 * peak
        func above(_ c: Double) -> Double { peak > 0 ? c - half : half - c }  // > 0 when beyond half
        var total = 0.0
        for k in (start + 1)..<max(start + 1, change.count) {
            let a = above(change[k - 1]), b = above(change[k])
            let dt = times[k] - times[k - 1]
            if a >= 0 && b >= 0 { total += dt } else if a >= 0 || b >= 0 {
                let fraction = (a >= 0 ? a : b) / abs(a - b)
                total += dt * fraction
            }
        }
        return total
    }
}

/// Linear interpolation on a grid; NaN outside it.
func interpolate(_ times: [Double], _ values: [Double], at t: Double) -> Double {
    guard let first = times.first, let last = times.last, t >= first - 1e-9, t <= last + 1e-9 else { return .nan }
    var lo = 0, hi = times.count - 1
    while hi - lo > 1 {
        let mid = (lo + hi) / 2
        if times[mid] <= t { lo = mid } else { hi = mid }
    }
    if abs(times[lo] - t) <= 1e-9 { return values[lo] }
    if abs(times[hi] - t) <= 1e-9 { return values[hi] }
    let w = (t - times[lo]) / (times[hi] - times[lo])
    return values[lo] + w * (values[hi] - values[lo])
}
