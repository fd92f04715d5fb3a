import Foundation

/// One line of a panel.
public struct PlotSeries: Sendable {
    public var label: String
    public var times: [Double]
    public var values: [Double]
    public init(label: String, times: [Double], values: [Double]) {
        self.label = label
        self.times = times
        self.values = values
    }
}

/// One output of a time-course figure.
public struct PlotPanel: Sendable {
    public var title: String
    public var series: [PlotSeries]
    /// The values' unit, on the y axis ("" when the output has none).
    public var unit: String
    /// The output's name, written into the figure as `data-output` so it can be checked against the files.
    public var name: String
    public init(title: String, series: [PlotSeries], unit: String = "", name: String = "") {
        self.title = title
        self.series = series
        self.unit = unit
        self.name = name.isEmpty ? title : name
    }
}

/// Self-contained SVG figures (no plotting library on the machine): small multiples of time courses,
/// and a heat map for two-parameter sweeps.
public enum SVGPlot {
    static let palette = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"]
    static let panelWidth = 300.0, panelHeight = 190.0
    static let margin = (left: 52.0, right: 12.0, top: 26.0, bottom: 34.0)

    /// One panel of `xy`: lines over a numeric x axis with labelled axes, and optional horizontal
    /// reference lines (a threshold) and vertical ones (an estimate).
    public struct XYPanel: Sendable {
        public var title: String
        public var xLabel: String
        public var yLabel: String
        public var series: [PlotSeries]
        public var horizontal: [Double]
        public var vertical: [Double]
        /// Points without a line (data beside a fit), coloured as the series of the same index.
        public var markers: [PlotSeries]
        public init(title: String, xLabel: String, yLabel: String, series: [PlotSeries], horizontal: [Double] = [], vertical: [Double] = [],
                    markers: [PlotSeries] = []) {
            self.markers = markers
            self.title = title
            self.xLabel = xLabel
            self.yLabel = yLabel
            self.series = series
            self.horizontal = horizontal
            self.vertical = vertical
        }
    }

    /// Panels of y against x (a series' `times` are its x values), points marked, each panel on its own axes.
    /// `legend` names the series by index (their colours) and `note` says what lines and points are.
    public static func xy(title: String, panels: [XYPanel], columns: Int = 3, legend: [String] = [], note: String? = nil) -> String {
        let cols = max(1, min(columns, panels.count))
        let rows = (panels.count + cols - 1) / cols
        let width = max(Double(cols) * panelWidth, 480), top = 40 + (legend.isEmpty && note == nil ? 0 : 22.0)
        let height = top + Double(rows) * (panelHeight + 14)
        var svg = header(width: width, height: height)
        svg += text(x: width / 2, y: 22, title, size: 15, anchor: "middle", bold: true)
        var lx = 20.0
        if let note { svg += text(x: lx, y: 50, note, size: 11); lx += 30 + 6 * Double(note.count) }
        for (k, name) in legend.enumerated() {
            svg += "<line x1=\"\(f(lx))\" y1=\"46\" x2=\"\(f(lx + 18))\" y2=\"46\" stroke=\"\(palette[k % palette.count])\" stroke-width=\"2.5\"/>"
            svg += text(x: lx + 22, y: 50, name, size: 11)
            lx += 34 + 6.5 * Double(name.count)
        }
        for (index, panel) in panels.enumerated() {
            let ox = Double(index % cols) * panelWidth
            let oy = top + Double(index / cols) * (panelHeight + 14)
            let plotW = panelWidth - margin.left - margin.right
            let plotH = panelHeight - margin.top - margin.bottom
            let xs = (panel.series + panel.markers).flatMap { $0.times.filter(\.isFinite) } + panel.vertical
            let ys = (panel.series + panel.markers).flatMap { $0.values.filter(\.isFinite) } + panel.horizontal
            var xlo = xs.min() ?? 0, xhi = xs.max() ?? 1, ylo = ys.min() ?? 0, yhi = ys.max() ?? 1
            if xhi - xlo < 1e-12 * max(1, abs(xhi)) { xlo -= 0.5; xhi += 0.5 }
            if yhi - ylo < 1e-12 * max(1, abs(yhi)) { ylo -= 0.5; yhi += 0.5 }
            let xTicks = niceTicks(xlo, xhi), yTicks = niceTicks(ylo, yhi)
            xlo = min(xlo, xTicks.first ?? xlo); xhi = max(xhi, xTicks.last ?? xhi)
            ylo = min(ylo, yTicks.first ?? ylo); yhi = max(yhi, yTicks.last ?? yhi)
            func px(_ x: Double) -> Double { ox + margin.left + (x - xlo) / (xhi - xlo) * plotW }
            func py(_ y: Double) -> Double { oy + margin.top + (1 - (y - ylo) / (yhi - ylo)) * plotH }
            svg += frame(title: panel.title, titleSize: 12, titleY: oy + 16, left: ox + margin.left, top: oy + margin.top, width: plotW, height: plotH,
                         xTicks: xTicks, yTicks: yTicks, px: px, py: py)
            svg += text(x: ox + margin.left + plotW / 2, y: oy + panelHeight + 6, panel.xLabel, size: 10, anchor: "middle")
            svg += "<text x=\"\(f(ox + 12))\" y=\"\(f(oy + margin.top + plotH / 2))\" font-family=\"sans-serif\" font-size=\"10\" text-anchor=\"middle\" transform=\"rotate(-90 \(f(ox + 12)) \(f(oy + margin.top + plotH / 2)))\">\(escape(panel.yLabel))</text>"
            for h in panel.horizontal {
                svg += "<line x1=\"\(f(ox + margin.left))\" y1=\"\(f(py(h)))\" x2=\"\(f(ox + margin.left + plotW))\" y2=\"\(f(py(h)))\" stroke=\"#d62728\" stroke-dasharray=\"4,3\"/>"
            }
            for v in panel.vertical {
                svg += "<line x1=\"\(f(px(v)))\" y1=\"\(f(oy + margin.top))\" x2=\"\(f(px(v)))\" y2=\"\(f(oy + margin.top + plotH))\" stroke=\"#555\" stroke-dasharray=\"2,3\"/>"
            }
            for (k, s) in panel.series.enumerated() {
                let color = palette[k % palette.count]
                let pts = zip(s.times, s.values).filter { $0.0.isFinite && $0.1.isFinite }
                guard !pts.isEmpty else { continue }
                svg += "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"1.8\" points=\"\(pts.map { "\(f(px($0.0))),\(f(py($0.1)))" }.joined(separator: " "))\"/>"
                for (x, y) in pts { svg += "<circle cx=\"\(f(px(x)))\" cy=\"\(f(py(y)))\" r=\"2\" fill=\"\(color)\"/>" }
            }
            for (k, s) in panel.markers.enumerated() {
                let color = palette[k % palette.count]
                for (x, y) in zip(s.times, s.values) where x.isFinite && y.isFinite {
                    svg += "<circle class=\"marker\" cx=\"\(f(px(x)))\" cy=\"\(f(py(y)))\" r=\"3.5\" fill=\"white\" stroke=\"\(color)\" stroke-width=\"1.6\"><title>\(escape(s.label)): \(label(x)), \(label(y))</title></circle>"
                }
            }
        }
        return svg + "</svg>\n"
    }

    /// Percentile bands of one group (one --vary value) in one panel: a median line over a shaded
    /// outer band (e.g. 5–95%) and a darker inner band (e.g. 25–75%). Either band may be absent.
    public struct Band: Sendable {
        public var label: String
        public var times: [Double]
        public var median: [Double]
        public var inner: (low: [Double], high: [Double])?
        public var outer: (low: [Double], high: [Double])?
        public init(label: String, times: [Double], median: [Double], inner: (low: [Double], high: [Double])?, outer: (low: [Double], high: [Double])?) {
            self.label = label
            self.times = times
            self.median = median
            self.inner = inner
            self.outer = outer
        }
    }

    public struct BandPanel: Sendable {
        public var title: String
        public var xLabel: String
        public var yLabel: String
        public var bands: [Band]
        public init(title: String, xLabel: String, yLabel: String, bands: [Band]) {
            self.title = title
            self.xLabel = xLabel
            self.yLabel = yLabel
            self.bands = bands
        }
    }

    /// Panels of percentile bands over time, one colour per group, with a legend naming the groups and
    /// the bands (`bandNote`, e.g. "median, 25–75% and 5–95% of subjects"). Panels are larger than
    /// `xy`'s so a figure of two outputs reads in a paper.
    public static func bands(title: String, panels: [BandPanel], bandNote: String, columns: Int = 2) -> String {
        let pw = 420.0, ph = 260.0
        let cols = max(1, min(columns, panels.count))
        let rows = (panels.count + cols - 1) / cols
        let labels = panels.first?.bands.map(\.label) ?? []
        let legendHeight = 22.0 * Double(1 + (labels.count > 1 ? 1 : 0))
        let width = Double(cols) * pw, height = 40 + legendHeight + Double(rows) * (ph + 14)
        var svg = header(width: width, height: height)
        svg += text(x: width / 2, y: 22, title, size: 15, anchor: "middle", bold: true)
        svg += text(x: 20, y: 44, bandNote, size: 11)
        if labels.count > 1 {
            var x = 20.0
            for (k, label) in labels.enumerated() {
                let color = palette[k % palette.count]
                svg += "<rect x=\"\(f(x))\" y=\"56\" width=\"18\" height=\"10\" fill=\"\(color)\" fill-opacity=\"0.35\"/>"
                svg += "<line x1=\"\(f(x))\" y1=\"61\" x2=\"\(f(x + 18))\" y2=\"61\" stroke=\"\(color)\" stroke-width=\"2\"/>"
                svg += text(x: x + 22, y: 65, label, size: 11)
                x += 34 + Double(label.count) * 6.5
            }
        }
        let m = (left: 62.0, right: 14.0, top: 26.0, bottom: 40.0)
        for (index, panel) in panels.enumerated() {
            let ox = Double(index % cols) * pw
            let oy = 40 + legendHeight + Double(index / cols) * (ph + 14)
            let plotW = pw - m.left - m.right, plotH = ph - m.top - m.bottom
            var ys: [Double] = []
            for b in panel.bands { ys += b.median + (b.outer.map { $0.low + $0.high } ?? []) + (b.inner.map { $0.low + $0.high } ?? []) }
            ys = ys.filter(\.isFinite)
            let xs = panel.bands.flatMap(\.times).filter(\.isFinite)
            var xlo = xs.min() ?? 0, xhi = xs.max() ?? 1, ylo = ys.min() ?? 0, yhi = ys.max() ?? 1
            // Quantities that cannot be negative keep 0 as their floor rather than a tick below it.
            if ylo >= 0 { ylo = 0 }
            if xhi - xlo < 1e-12 * max(1, abs(xhi)) { xlo -= 0.5; xhi += 0.5 }
            if yhi - ylo < 1e-12 * max(1, abs(yhi)) { yhi += 0.5 * max(1, abs(yhi)) }
            // Time ends where the run ends (no tick at 30 for a 24 h run), in steps of 6 h or a week when they fit.
            let span = xhi - xlo
            let step: Double? = panel.xLabel.contains("(h)") && span >= 12 && span <= 72 ? 6 : panel.xLabel.contains("(d") && span >= 14 && span <= 120 ? 7 : nil
            let xTicks = PlotAxis.exact(xlo, xhi, step: step).ticks, yTicks = niceTicks(ylo, yhi)
            ylo = min(ylo, yTicks.first ?? ylo); yhi = max(yhi, yTicks.last ?? yhi)
            func px(_ x: Double) -> Double { ox + m.left + (x - xlo) / (xhi - xlo) * plotW }
            func py(_ y: Double) -> Double { oy + m.top + (1 - (y - ylo) / (yhi - ylo)) * plotH }
            svg += frame(title: panel.title, titleSize: 13, titleY: oy + 16, left: ox + m.left, top: oy + m.top, width: plotW, height: plotH,
                         xTicks: xTicks, yTicks: yTicks, px: px, py: py)
            svg += text(x: ox + m.left + plotW / 2, y: oy + ph - 6, panel.xLabel, size: 11, anchor: "middle")
            svg += "<text x=\"\(f(ox + 14))\" y=\"\(f(oy + m.top + plotH / 2))\" font-family=\"sans-serif\" font-size=\"11\" text-anchor=\"middle\" transform=\"rotate(-90 \(f(ox + 14)) \(f(oy + m.top + plotH / 2)))\">\(escape(panel.yLabel))</text>"
            func area(_ t: [Double], _ lo: [Double], _ hi: [Double]) -> String {
                let pts = (0..<min(t.count, lo.count, hi.count)).filter { t[$0].isFinite && lo[$0].isFinite && hi[$0].isFinite }
                guard !pts.isEmpty else { return "" }
                let up = pts.map { "\(f(px(t[$0]))),\(f(py(hi[$0])))" }
                let down = pts.reversed().map { "\(f(px(t[$0]))),\(f(py(lo[$0])))" }
                return (up + down).joined(separator: " ")
            }
            for (k, b) in panel.bands.enumerated() {
                let color = palette[k % palette.count]
                if let o = b.outer { svg += "<polygon fill=\"\(color)\" fill-opacity=\"0.15\" stroke=\"none\" points=\"\(area(b.times, o.low, o.high))\"/>" }
                if let i = b.inner { svg += "<polygon fill=\"\(color)\" fill-opacity=\"0.3\" stroke=\"none\" points=\"\(area(b.times, i.low, i.high))\"/>" }
            }
            // Medians last, so no band hides a line.
            for (k, b) in panel.bands.enumerated() {
                let color = palette[k % palette.count]
                let pts = zip(b.times, b.median).filter { $0.0.isFinite && $0.1.isFinite }
                guard !pts.isEmpty else { continue }
                svg += "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"1.8\" points=\"\(pts.map { "\(f(px($0.0))),\(f(py($0.1)))" }.joined(separator: " "))\"/>"
            }
        }
        return svg + "</svg>\n"
    }

    /// A fraction with its interval at each x (a responder fraction per dose): points joined by a line
    /// and vertical error bars from `low` to `high`, one colour per series, y from 0 to 1.
    public struct IntervalSeries: Sendable {
        public var label: String
        public var xs: [Double]
        public var values: [Double]
        public var low: [Double]
        public var high: [Double]
        public init(label: String, xs: [Double], values: [Double], low: [Double], high: [Double]) {
            self.label = label
            self.xs = xs
            self.values = values
            self.low = low
            self.high = high
        }
    }

    public static func intervals(title: String, xLabel: String, yLabel: String, series: [IntervalSeries]) -> String {
        let m = (left: 62.0, right: 20.0, top: 50.0, bottom: 46.0)
        let legendHeight = 18.0 * Double(series.count)
        let width = 560.0, height = 340.0 + legendHeight
        let plotW = width - m.left - m.right, plotH = height - legendHeight - m.top - m.bottom
        var svg = header(width: width, height: height)
        let xs = series.flatMap(\.xs).filter(\.isFinite)
        var xlo = xs.min() ?? 0, xhi = xs.max() ?? 1
        // Doses and other amounts start the axis at zero, as the band plots do, so a dose-response reads
        // from no treatment; the ticks extend the axis to round values instead of an arbitrary padding.
        if xlo >= 0 { xlo = 0 }
        if xhi - xlo < 1e-12 * max(1, abs(xhi)) { xlo -= 0.5; xhi += 0.5 }
        let xTicks = niceTicks(xlo, xhi)
        xlo = min(xlo, xTicks.first ?? xlo); xhi = max(xhi, xTicks.last ?? xhi)
        // A bar's caps and the side-by-side shift need room inside the box at both ends.
        let inset = 10.0
        func px(_ x: Double) -> Double { m.left + inset + (x - xlo) / (xhi - xlo) * (plotW - 2 * inset) }
        func py(_ y: Double) -> Double { m.top + (1 - y) * plotH }
        svg += frame(title: title, titleSize: 15, titleY: 22, left: m.left, top: m.top, width: plotW, height: plotH,
                     xTicks: xTicks, yTicks: Array(stride(from: 0.0, through: 1.0, by: 0.2)), px: px, py: py)
        svg += text(x: m.left + plotW / 2, y: m.top + plotH + 34, xLabel, size: 11, anchor: "middle")
        svg += "<text x=\"16\" y=\"\(f(m.top + plotH / 2))\" font-family=\"sans-serif\" font-size=\"11\" text-anchor=\"middle\" transform=\"rotate(-90 16 \(f(m.top + plotH / 2)))\">\(escape(yLabel))</text>"
        for (k, s) in series.enumerated() {
            let color = palette[k % palette.count]
            // Series side by side by a few pixels, so equal intervals do not hide each other.
            let shift = (Double(k) - Double(series.count - 1) / 2) * 5
            let pts = s.xs.indices.filter { s.xs[$0].isFinite && s.values[$0].isFinite }
            if pts.count > 1 {
                svg += "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"1.5\" points=\"\(pts.map { "\(f(px(s.xs[$0]) + shift)),\(f(py(s.values[$0])))" }.joined(separator: " "))\"/>"
            }
            for i in pts {
                let x = px(s.xs[i]) + shift
                if s.low[i].isFinite && s.high[i].isFinite {
                    svg += "<line x1=\"\(f(x))\" y1=\"\(f(py(s.low[i])))\" x2=\"\(f(x))\" y2=\"\(f(py(s.high[i])))\" stroke=\"\(color)\" stroke-width=\"1.5\"/>"
                    for y in [s.low[i], s.high[i]] {
                        svg += "<line x1=\"\(f(x - 4))\" y1=\"\(f(py(y)))\" x2=\"\(f(x + 4))\" y2=\"\(f(py(y)))\" stroke=\"\(color)\" stroke-width=\"1.5\"/>"
                    }
                }
                svg += "<circle cx=\"\(f(x))\" cy=\"\(f(py(s.values[i])))\" r=\"3\" fill=\"\(color)\"><title>\(escape(s.label)): \(label(s.values[i])) [\(label(s.low[i])), \(label(s.high[i]))]</title></circle>"
            }
            let ly = height - legendHeight + 18.0 * Double(k) + 4
            svg += "<line x1=\"20\" y1=\"\(f(ly - 4))\" x2=\"38\" y2=\"\(f(ly - 4))\" stroke=\"\(color)\" stroke-width=\"2\"/>"
            svg += text(x: 44, y: ly, s.label, size: 11)
        }
        return svg + "</svg>\n"
    }

    /// A panel's title, its box, horizontal grid
    /// lines with y tick labels and x tick marks with labels.
    static func frame(title: String, titleSize: Int, titleY: Double, left: Double, top: Double, width: Double, height: Double,
                      xTicks: [Double], yTicks: [Double], px: (Double) -> Double, py: (Double) -> Double) -> String {
        var svg = text(x: left + width / 2, y: titleY, title, size: titleSize, anchor: "middle", bold: true)
        svg += "<rect x=\"\(f(left))\" y=\"\(f(top))\" width=\"\(f(width))\" height=\"\(f(height))\" fill=\"none\" stroke=\"#999\"/>"
        for (v, tl) in zip(yTicks, tickLabels(yTicks)) {
            svg += "<line x1=\"\(f(left - 4))\" y1=\"\(f(py(v)))\" x2=\"\(f(left + width))\" y2=\"\(f(py(v)))\" stroke=\"#eee\"/>"
            svg += text(x: left - 6, y: py(v) + 4, tl, size: 10, anchor: "end")
        }
        for (x, tl) in zip(xTicks, tickLabels(xTicks)) {
            svg += "<line x1=\"\(f(px(x)))\" y1=\"\(f(top + height))\" x2=\"\(f(px(x)))\" y2=\"\(f(top + height + 4))\" stroke=\"#999\"/>"
            svg += text(x: px(x), y: top + height + 15, tl, size: 10, anchor: "middle")
        }
        return svg
    }

    static func header(width: Double, height: Double) -> String {
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(f(width))\" height=\"\(f(height))\" viewBox=\"0 0 \(f(width)) \(f(height))\"><rect width=\"100%\" height=\"100%\" fill=\"white\"/>"
    }

    static func text(x: Double, y: Double, _ s: String, size: Int, anchor: String = "start", bold: Bool = false) -> String {
        "<text x=\"\(f(x))\" y=\"\(f(y))\" font-size=\"\(size)\" font-family=\"sans-serif\" text-anchor=\"\(anchor)\"\(bold ? " font-weight=\"bold\"" : "")>\(escape(s))</text>"
    }

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }

    static func f(_ x: Double) -> String { String(format: "%.1f", x) }

    static func label(_ v: Double) -> String {
        if !v.isFinite { return "n/a" }
        if v == 0 { return "0" }
        let a = abs(v)
        if a >= 1e4 || a < 1e-3 { return String(format: "%.2g", v) }
        var s = String(format: a >= 100 ? "%.0f" : a >= 1 ? "%.2f" : "%.3f", v)
        if s.contains(".") { while s.hasSuffix("0") { s.removeLast() }; if s.hasSuffix(".") { s.removeLast() } }
        return s
    }

    /// About five round tick values covering [lo, hi] (Heckbert's nice numbers).
    static func niceTicks(_ lo: Double, _ hi: Double) -> [Double] {
        guard hi > lo, lo.isFinite, hi.isFinite else { return [lo] }
        let range = nice(hi - lo, round: false)
        let step = nice(range / 4, round: true)
        let start = (lo / step).rounded(.down) * step
        let end = (hi / step).rounded(.up) * step
        return stride(from: start, through: end + step * 0.5, by: step).map { abs($0) < step * 1e-9 ? 0 : $0 }
    }

    static func nice(_ x: Double, round: Bool) -> Double {
        let e = (log10(x)).rounded(.down)
        let f = x / pow(10, e)
        let n: Double
        if round { n = f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10 } else { n = f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10 }
        return n * pow(10, e)
    }

    /// Blue to white to red.
    static func ramp(_ u: Double) -> String {
        let u = min(1, max(0, u))
        let (r, g, b): (Double, Double, Double) = u < 0.5
            ? (0.23 + 1.54 * u, 0.3 + 1.4 * u, 0.75 + 0.5 * u)
            : (1, 1 - 1.5 * (u - 0.5), 1 - 1.6 * (u - 0.5))
        func hex(_ c: Double) -> String { let v = Int(min(255, max(0, c * 255))); return (v < 16 ? "0" : "") + String(v, radix: 16) }
        return "#" + hex(r) + hex(g) + hex(b)
    }
}
