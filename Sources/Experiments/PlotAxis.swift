import Foundation
import Models

/// One numeric axis of a figure: its range, ticks and their labels.
struct PlotAxis {
    var lo: Double
    var hi: Double
    var ticks: [Double]
    var labels: [String]

    /// An axis over data values. Its ends are ticks. A quantity that never goes negative never gets
    /// a tick below 0, and starts at 0 when its minimum is small beside its maximum (a concentration
    /// before a dose), so a peak's height reads from zero.
    static func covering(_ values: [Double], extra: [Double] = []) -> PlotAxis {
        let finite = (values + extra).filter(\.isFinite)
        var lo = finite.min() ?? 0, hi = finite.max() ?? 1
        // Solver error leaves a cleared drug at -1e-10 uM days later: not a reason for a negative axis.
        let nonNegative = lo >= -1e-6 * max(abs(hi), abs(lo))
        if nonNegative { lo = max(lo, 0) }
        if nonNegative && lo <= 0.3 * hi { lo = 0 }
        if hi - lo <= 1e-12 * max(abs(hi), abs(lo)) || hi == lo {
            // A flat line: a band around it, not a range of rounding noise.
            let pad = hi == 0 ? 1 : 0.05 * abs(hi)
            lo = nonNegative ? max(0, lo - pad) : lo - pad
            hi += pad
        }
        var ticks = SVGPlot.niceTicks(lo, hi)
        if nonNegative { ticks = ticks.filter { $0 >= 0 } }
        lo = min(lo, ticks.first ?? lo)
        hi = max(hi, ticks.last ?? hi)
        return PlotAxis(lo: lo, hi: hi, ticks: ticks, labels: SVGPlot.tickLabels(ticks))
    }

    /// An axis over exactly [lo, hi] (time), with ticks inside it only: a 35-day run ends at 35, not 40.
    static func exact(_ lo: Double, _ hi: Double, step: Double? = nil) -> PlotAxis {
        let (a, b) = hi > lo ? (lo, hi) : (lo - 0.5, lo + 0.5)
        var ticks: [Double]
        if let step, step > 0 {
            let first = (a / step).rounded(.up) * step
            ticks = Array(stride(from: first, through: b + step * 1e-9, by: step))
        } else {
            ticks = SVGPlot.niceTicks(a, b)
        }
        ticks = ticks.filter { $0 >= a - 1e-9 * (b - a) && $0 <= b + 1e-9 * (b - a) }
        return PlotAxis(lo: a, hi: b, ticks: ticks, labels: SVGPlot.tickLabels(ticks))
    }

    /// Position of v between the pixel coordinates `from` (at lo) and `to` (at hi).
    func map(_ v: Double, _ from: Double, _ to: Double) -> Double { from + (v - lo) / (hi - lo) * (to - from) }
}

/// How an output is named on a figure: a readable title and the unit for its axis.
public struct OutputLabel: Sendable, Equatable {
    public var title: String
    public var unit: String

    public init(title: String, unit: String) {
        self.title = title
        self.unit = unit
    }

    /// From the model's declaration: the description's first clause without asides when it is short
    /// enough for a panel title, else the name with spaces; "1" as a unit reads "relative" when the description
    /// says so, else "dimensionless".
    public init(_ name: String, model: ModelDefinition) {
        var description = "", unit = ""
        if let s = model.state(named: name) { (description, unit) = (s.description, s.unit) }
        else if let a = model.assignments.first(where: { $0.name == name }) { (description, unit) = (a.description ?? "", a.unit ?? "") }
        else if let p = model.parameter(named: name) { (description, unit) = (p.description, p.unit) }
        // Asides in parentheses go ("phosphorylated (active) Akt (relative)" reads "phosphorylated Akt"),
        // then the first clause; a single word ("new") says less than the name.
        var plain = description
        while let r = plain.range(of: "\\s*\\([^()]*\\)", options: .regularExpression) { plain.removeSubrange(r) }
        let clause = plain.split(whereSeparator: { $0 == "," || $0 == ";" }).first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
        title = clause.contains(" ") && clause.count <= 44 ? clause : OutputLabel.readable(name)
        if unit == "1" { unit = description.contains("relative") ? "relative" : "dimensionless" }
        self.unit = unit
    }

    /// "glutamate_synaptic" as "glutamate synaptic".
    public static func readable(_ name: String) -> String { name.replacingOccurrences(of: "_", with: " ") }

    /// "title (unit)", or the title alone.
    public var axis: String { unit.isEmpty ? title : "\(title) (\(unit))" }
}

extension SVGPlot {
    /// Labels for ticks, with as many decimals as the step needs so that no two read the same and
    /// each reads as its value (ticks 1, 1.0025, 1.005 stay apart instead of collapsing to "1, 1, 1.01");
    /// scientific notation for very large or very small values.
    static func tickLabels(_ ticks: [Double]) -> [String] {
        guard ticks.count > 1 else { return ticks.map(label) }
        let step = zip(ticks.dropFirst(), ticks).map { abs($0 - $1) }.filter { $0 > 0 }.min() ?? 1
        let biggest = ticks.map(abs).max() ?? 0
        func render(_ extra: Int) -> [String] {
            if biggest >= 1e6 || biggest < 1e-3 {
                let digits = max(0, Int((log10(biggest / step)).rounded(.up))) + extra
                return ticks.map { $0 == 0 ? "0" : String(format: "%.\(digits)e", $0) }
            }
            let decimals = max(0, Int((-log10(step)).rounded(.up))) + extra
            return ticks.map { v in
                let s = String(format: "%.\(decimals)f", v)
                return s.hasPrefix("-") && Double(s) == 0 ? String(s.dropFirst()) : s
            }
        }
        // Ticks at listed values (a sweep's 0.25 steps) need every digit they have, not only the step's.
        for extra in 0..<8 {
            let labels = render(extra)
            let exact = zip(labels, ticks).allSatisfy { l, v in Double(l).map { abs($0 - v) <= 1e-6 * step } ?? true }
            if Set(labels).count == labels.count && exact { return labels }
        }
        return render(8)
    }

    /// Values with |x| <= 1e-12 max|x| (and those below 1e-17) set to 0, as metrics read them: an
    /// undosed drug's -4e-27 is no reason to draw a negative axis. `scale` defaults to the values' own.
    static func cleaned(_ values: [Double], scale: Double? = nil) -> [Double] {
        let scale = scale ?? values.reduce(0.0) { $1.isFinite ? max($0, abs($1)) : $0 }
        let threshold = max(MetricSpec.relativeNoise * scale, 1e-17)
        return values.map { abs($0) <= threshold ? 0 : $0 }
    }

    /// At most two points per pixel column (its lowest and highest, in time order), so a long trace
    /// stays small in the file while every peak and trough is still drawn at its true height.
    static func decimated(_ xs: [Double], _ ys: [Double], lo: Double, hi: Double, pixels: Int) -> [(Double, Double)] {
        let points = zip(xs, ys).filter { $0.0.isFinite && $0.1.isFinite && $0.0 >= lo - 1e-12 && $0.0 <= hi + 1e-12 }.sorted { $0.0 < $1.0 }
        guard points.count > 2 * pixels, hi > lo else { return points }
        var out: [(Double, Double)] = []
        var bucket: [(Double, Double)] = []
        var current = -1
        func flush() {
            guard !bucket.isEmpty else { return }
            var keep: [Int] = []
            if let lowest = bucket.indices.min(by: { bucket[$0].1 < bucket[$1].1 }) { keep.append(lowest) }
            if let highest = bucket.indices.max(by: { bucket[$0].1 < bucket[$1].1 }) { keep.append(highest) }
            for i in Set(keep).sorted() { out.append(bucket[i]) }
            bucket.removeAll(keepingCapacity: true)
        }
        for p in points {
            let b = min(pixels - 1, Int((p.0 - lo) / (hi - lo) * Double(pixels)))
            if b != current { flush(); current = b }
            bucket.append(p)
        }
        flush()
        return out
    }

    /// Line styles of the series of a figure: colour, dash pattern and width. Later series are dashed and
    /// thinner, so two arms that coincide (before a treatment, or an add-on that changes little) both show.
    static func lineStyle(_ k: Int) -> String {
        let dashes = ["", "7,3", "2,2", "9,3,2,3", "4,4", "1,3"]
        let width = max(1.2, 2.6 - 0.45 * Double(k))
        let dash = dashes[k % dashes.count]
        return "stroke=\"\(palette[k % palette.count])\" stroke-width=\"\(f(width))\"" + (dash.isEmpty ? "" : " stroke-dasharray=\"\(dash)\"")
    }
}
