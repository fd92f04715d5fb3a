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
        let trace = Trace(r, reference: reference)
        let m = r.outputNames.count
        var out: [Double] = []
        var reasons: [String: String] = [:]
        out.reserveCapacity(m * names.count)
        for j in 0..<m {
            let o = trace.output(j, of: self)
            out.append(contentsOf: metrics(times: trace.times, values: o.series, reference: trace.reference, pre: o.pre))
            if o.pre == 0 {
                let why = o.rawPre == 0
                    ? "the baseline `pre` is 0, so a relative change is undefined"
                    : "the baseline `pre` (\(o.rawPre)) is 0 up to rounding (|pre| <= \(o.threshold)), so a relative change is undefined"
                for name in offsets.map({ "change_\($0.label)" }) + ["duration"] { reasons["\(r.outputNames[j]).\(name)"] = why }
            }
        }
        return Explained(values: out, reasons: reasons)
    }

    /// Whether a metric's derivative by the parameters follows from the output's derivatives at the
    /// samples of the trace: `pre`, `min`, `max`, `auc`, `at_<d>`, `change_<d>` do; `t_max` (a sample
    /// time, moving in jumps) and `duration` (where the change crosses half its peak) do not.
    public static func isSmooth(_ metric: String) -> Bool {
        metric != "t_max" && metric != "duration"
    }

    /// d(metric)/dθ of every output in `columns(outputs:)` order, each a vector over the run's
    /// directions, nil for a metric that is not smooth (`isSmooth`). Computed on the trace `evaluate`
    /// uses, with its noise rule (a sample taken as 0 has derivative 0): the derivative of a metric linear
    /// in the samples (`pre` interpolated, `auc`, `at_`) is that metric of the derivatives; `max` and `min`
    /// take the derivative at the sample where they are attained (exact for the maximum over the samples,
    /// which is what the metric is); `change_` by the quotient rule; `pre` before a dose is the
    /// derivative just before it.
    public func gradients(_ s: SensitivityResult, reference: Double? = nil) -> [[Double]?] {
        let r = s.result
        let trace = Trace(r, reference: reference)
        let m = r.outputNames.count, d = s.directionCount
        var out: [[Double]?] = []
        out.reserveCapacity(m * names.count)
        for j in 0..<m {
            let o = trace.output(j, of: self)
            // One series of derivatives per direction, 0 where the value is taken as 0.
            let slopes = (0..<d).map { k in
                trace.order.indices.map { i -> Double in
                    guard o.series[i] != 0 else { return 0 }
                    let (_, row, detail) = trace.order[i]
                    return detail ? s.detailGradients[(row * m + j) * d + k] : s.gradients[(row * m + j) * d + k]
                }
            }
            var dPre = [Double](repeating: 0, count: d)
            if o.pre != 0 {
                if trace.preIsBeforeDose, let p = s.preDoseGradient {
                    for k in 0..<d { dPre[k] = p[j * d + k] }
                } else {
                    for k in 0..<d { dPre[k] = interpolate(trace.times, slopes[k], at: trace.reference) }
                }
            }
            let start = Self.start(trace.times, reference: trace.reference)
            var minimum: [Double]?, maximum: [Double]?, auc: [Double]?
            if start < trace.times.count {
                let (lo, hi) = Self.extremes(o.series, from: start)
                minimum = slopes.map { $0[lo] }
                maximum = slopes.map { $0[hi] }
                auc = slopes.map { Self.trapezoids(trace.times, $0, from: start) }
            }
            out += [dPre, minimum, maximum, nil, auc]
            for (_, hours) in offsets {
                let t = trace.reference + hours
                let at = interpolate(trace.times, o.series, at: t)
                let dAt = slopes.map { interpolate(trace.times, $0, at: t) }
                out.append(dAt)
                out.append(o.pre != 0 ? (0..<d).map { k in (dAt[k] * o.pre - at * dPre[k]) / (o.pre * o.pre) } : nil)
            }
            out.append(nil)
        }
        return out
    }

    /// The trace metrics read: grid and detail rows merged in time order, and the reference.
    struct Trace {
        var reference: Double
        /// (time, row, from detail) in time order.
        var order: [(Double, Int, Bool)]
        var times: [Double]
        let result: SimulationResult
        /// Whether `pre` is the value just before the dose (`result.preDose`) rather than interpolated.
        var preIsBeforeDose: Bool

        init(_ r: SimulationResult, reference: Double?) {
            result = r
            self.reference = reference ?? r.firstDoseTime ?? 0
            order = r.times.indices.map { (r.times[$0], $0, false) } + r.detailTimes.indices.map { (r.detailTimes[$0], $0, true) }
            if !r.detailTimes.isEmpty { order.sort { $0.0 < $1.0 } }
            times = order.map(\.0)
            preIsBeforeDose = r.preDose != nil && (reference == nil || reference == r.firstDoseTime)
        }

        /// Output j's samples with rounding noise taken as 0, and its baseline.
        func output(_ j: Int, of spec: MetricSpec) -> (series: [Double], pre: Double, rawPre: Double, threshold: Double) {
            let r = result, m = r.outputNames.count
            let raw = order.map { $0.2 ? r.detailValues[$0.1 * m + j] : r.values[$0.1 * m + j] }
            let rawPre: Double
            if preIsBeforeDose, let p = r.preDose { rawPre = p[j] } else { rawPre = interpolate(times, raw, at: reference) }
            let threshold = spec.noiseThreshold(raw + [rawPre])
            return (raw.map { abs($0) <= threshold ? 0 : $0 }, abs(rawPre) <= threshold ? 0 : rawPre, rawPre, threshold)
        }
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

    /// Whether a metric is the output's value at one time (`pre`, `at_<d>`, `change_<d>`), which the
    /// samples of `sampleTimes` determine, rather than a summary of the whole trace.
    public static func isPointwise(_ metric: String) -> Bool {
        metric == "pre" || metric.hasPrefix("at_") || metric.hasPrefix("change_")
    }

    /// The output times pointwise metrics read: the reference (for `pre` without a dose before it) and
    /// each `at_` time, and the end of the run, in the model's time unit. A run recording only these
    /// gives `pre`, `at_<d>` and `change_<d>` the values of a run on the full grid (an interpolating
    /// stepper takes the same steps whatever the outputs; `pre` before a dose is recorded at the dose),
    /// except that the noise rule scales by the largest of these samples rather than of the whole trace.
    public func sampleTimes(for plan: SimulationPlan) -> [Double] {
        let reference = plan.referenceTime ?? 0
        return ([reference, plan.tEnd] + offsets.map { reference + $0.hours }).filter { $0 >= 0 && $0 <= plan.tEnd }
    }

    /// The first sample at or after the reference: where min, max, t_max and auc start.
    static func start(_ times: [Double], reference ref: Double) -> Int {
        times.firstIndex { $0 >= ref - 1e-12 } ?? times.count
    }

    /// The samples (from `start`, which must be a valid index) of the first minimum and first maximum.
    static func extremes(_ values: [Double], from start: Int) -> (min: Int, max: Int) {
        var lo = start, hi = start
        for k in start..<values.count {
            if values[k] < values[lo] { lo = k }
            if values[k] > values[hi] { hi = k }
        }
        return (lo, hi)
    }

    /// ∫ values dt from sample `start` on, by trapezoids.
    static func trapezoids(_ times: [Double], _ values: [Double], from start: Int) -> Double {
        var area = 0.0
        for k in (start + 1)..<max(start + 1, times.count) { area += 0.5 * (values[k] + values[k - 1]) * (times[k] - times[k - 1]) }
        return area
    }

    func metrics(times: [Double], values: [Double], reference ref: Double, pre: Double) -> [Double] {
        let start = Self.start(times, reference: ref)
        var minimum = Double.nan, maximum = Double.nan, tMax = Double.nan, auc = Double.nan
        if start < times.count {
            let (lo, hi) = Self.extremes(values, from: start)
            minimum = values[lo]; maximum = values[hi]; tMax = times[hi] - ref
            auc = Self.trapezoids(times, values, from: start)
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

extension MetricSpec {
    /// The time average of output `j` over [from, to] (`mean_<d>` of a calibration: what a microdialysis
    /// fraction or a behavioural session integrates): trapezoids on the grid and detail rows, the ends
    /// interpolated linearly; NaN when the window leaves the run.
    public static func windowMean(_ r: SimulationResult, output j: Int, from: Double, to: Double) -> Double {
        let trace = Trace(r, reference: nil)
        let m = r.outputNames.count
        return windowMean(trace.times, trace.order.map { $0.2 ? r.detailValues[$0.1 * m + j] : r.values[$0.1 * m + j] }, from: from, to: to)
    }

    /// d(windowMean)/dθ per direction: the window mean is linear in the samples, so its derivative is
    /// the window mean of theirs.
    public static func windowMeanGradient(_ s: SensitivityResult, output j: Int, from: Double, to: Double) -> [Double] {
        let r = s.result
        let trace = Trace(r, reference: nil)
        let m = r.outputNames.count, d = s.directionCount
        return (0..<d).map { k in
            windowMean(trace.times, trace.order.map { $0.2 ? s.detailGradients[($0.1 * m + j) * d + k] : s.gradients[($0.1 * m + j) * d + k] }, from: from, to: to)
        }
    }

    static func windowMean(_ times: [Double], _ values: [Double], from: Double, to: Double) -> Double {
        guard to > from else { return .nan }
        func at(_ t: Double) -> Double? {
            guard let k = times.firstIndex(where: { $0 >= t }) else { return nil }
            if k == 0 || times[k] == t { return values[k] }
            return values[k - 1] + (values[k] - values[k - 1]) * (t - times[k - 1]) / (times[k] - times[k - 1])
        }
        guard let first = at(from), let last = at(to) else { return .nan }
        var area = 0.0
        var (t0, v0) = (from, first)
        for k in times.indices where times[k] > from && times[k] < to {
            area += 0.5 * (values[k] + v0) * (times[k] - t0)
            (t0, v0) = (times[k], values[k])
        }
        area += 0.5 * (last + v0) * (to - t0)
        return area / (to - from)
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
