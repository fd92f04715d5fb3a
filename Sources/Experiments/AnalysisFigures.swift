import Foundation

/// Figures of sensitivity analyses and fits: bar charts (tornado, Sobol indices, residuals), scatter
/// plots (Morris), and the waterfall of a multistart fit.
extension SVGPlot {
    /// One set of bars per category, e.g. S1 or ST of every parameter; `low`/`high` draw whiskers.
    public struct BarGroup: Sendable {
        public var label: String
        public var values: [Double]
        public var low: [Double]?
        public var high: [Double]?
        /// Per bar, overriding the group's colour (a tornado's sign, a residual's agreement).
        public var colours: [String]?
        public init(label: String, values: [Double], low: [Double]? = nil, high: [Double]? = nil, colours: [String]? = nil) {
            self.label = label
            self.values = values
            self.low = low
            self.high = high
            self.colours = colours
        }
    }

    public struct BarPanel: Sendable {
        public var title: String
        public var valueLabel: String
        public var categories: [String]
        public var groups: [BarGroup]
        /// Legend entries (colour, text) beyond the groups', e.g. what a bar's colour means.
        public var key: [(colour: String, text: String)]
        public init(title: String, valueLabel: String, categories: [String], groups: [BarGroup], key: [(colour: String, text: String)] = []) {
            self.title = title
            self.valueLabel = valueLabel
            self.categories = categories
            self.groups = groups
            self.key = key
        }
    }

    public static let increase = "#d62728", decrease = "#1f77b4"

    /// Horizontal bars from 0, categories top to bottom in the order given (rank them first), one
    /// panel under another. Each bar is a `<rect class="bar">` with `data-category`, `data-group` and
    /// `data-value`.
    public static func horizontalBars(title: String, panels: [BarPanel]) -> String {
        let longest = panels.flatMap(\.categories).map(\.count).max() ?? 4
        let left = min(440, 20 + 6.4 * Double(longest)), plotW = 420.0, right = 70.0
        let width = max(left + plotW + right, 40 + 8.5 * Double(title.count))
        func barH(_ p: BarPanel) -> Double { p.groups.count > 1 ? 9 : 14 }
        func panelH(_ p: BarPanel) -> Double { 70 + Double(p.categories.count) * (Double(p.groups.count) * barH(p) + 8) + (p.groups.count > 1 || !p.key.isEmpty ? 20 : 0) }
        let height = 40 + panels.map(panelH).reduce(0, +)
        var svg = header(width: width, height: height)
        svg += text(x: width / 2, y: 22, title, size: 15, anchor: "middle", bold: true)
        var oy = 40.0
        for panel in panels {
            let h = barH(panel)
            var all: [Double] = [0]
            for g in panel.groups { all += g.values + (g.low ?? []) + (g.high ?? []) }
            let axis = PlotAxis.covering(all.filter(\.isFinite), extra: [0])
            let top = oy + 24, rowH = Double(panel.groups.count) * h + 8
            let bottom = top + Double(panel.categories.count) * rowH
            func px(_ v: Double) -> Double { axis.map(v, left, left + plotW) }
            svg += text(x: left + plotW / 2, y: oy + 14, panel.title, size: 13, anchor: "middle", bold: true)
            svg += "<rect x=\"\(f(left))\" y=\"\(f(top))\" width=\"\(f(plotW))\" height=\"\(f(bottom - top))\" fill=\"none\" stroke=\"#999\"/>"
            for (v, l) in zip(axis.ticks, axis.labels) {
                svg += "<line x1=\"\(f(px(v)))\" y1=\"\(f(top))\" x2=\"\(f(px(v)))\" y2=\"\(f(bottom + 4))\" stroke=\"\(v == 0 ? "#555" : "#eee")\"/>"
                svg += text(x: px(v), y: bottom + 16, l, size: 10, anchor: "middle")
            }
            svg += text(x: left + plotW / 2, y: bottom + 34, panel.valueLabel, size: 11, anchor: "middle")
            for (i, category) in panel.categories.enumerated() {
                let ry = top + Double(i) * rowH + 4
                svg += text(x: left - 6, y: ry + Double(panel.groups.count) * h / 2 + 4, category, size: 11, anchor: "end")
                for (g, group) in panel.groups.enumerated() where i < group.values.count {
                    let v = group.values[i], y = ry + Double(g) * h
                    let colour = group.colours.flatMap { i < $0.count ? $0[i] : nil } ?? palette[g % palette.count]
                    if v.isFinite {
                        let x0 = px(min(0, v)), x1 = px(max(0, v))
                        svg += "<rect class=\"bar\" data-category=\"\(escape(category))\" data-group=\"\(escape(group.label))\" data-value=\"\(v)\" x=\"\(f(x0))\" y=\"\(f(y))\" width=\"\(f(max(0.5, x1 - x0)))\" height=\"\(f(h - 1))\" fill=\"\(colour)\" fill-opacity=\"0.85\"><title>\(escape(category)) \(escape(group.label)): \(label(v))</title></rect>"
                    }
                    if let lo = group.low, let hi = group.high, i < lo.count, i < hi.count, lo[i].isFinite, hi[i].isFinite {
                        let yc = y + (h - 1) / 2
                        svg += "<line class=\"whisker\" x1=\"\(f(px(lo[i])))\" y1=\"\(f(yc))\" x2=\"\(f(px(hi[i])))\" y2=\"\(f(yc))\" stroke=\"#222\" stroke-width=\"1.2\"/>"
                        for e in [lo[i], hi[i]] { svg += "<line x1=\"\(f(px(e)))\" y1=\"\(f(yc - 3))\" x2=\"\(f(px(e)))\" y2=\"\(f(yc + 3))\" stroke=\"#222\" stroke-width=\"1.2\"/>" }
                    }
                }
            }
            var entries = panel.groups.count > 1 ? panel.groups.enumerated().map { (palette[$0.offset % palette.count], $0.element.label) } : []
            entries += panel.key.map { ($0.colour, $0.text) }
            var x = left
            for (colour, text) in entries {
                svg += "<rect x=\"\(f(x))\" y=\"\(f(bottom + 42))\" width=\"14\" height=\"10\" fill=\"\(colour)\"/>"
                svg += Self.text(x: x + 18, y: bottom + 51, text, size: 11)
                x += 30 + 6.5 * Double(text.count)
            }
            oy += panelH(panel)
        }
        return svg + "</svg>\n"
    }

    public struct ScatterPoint: Sendable {
        public var label: String
        public var x: Double
        public var y: Double
        public init(label: String, x: Double, y: Double) {
            self.label = label
            self.x = x
            self.y = y
        }
    }

    public struct ScatterPanel: Sendable {
        public var title: String
        public var xLabel: String
        public var yLabel: String
        public var points: [ScatterPoint]
        /// Lines y = slope · x through the origin, with their labels (Morris: sigma/mu* = 1).
        public var rays: [(slope: Double, label: String)]
        public init(title: String, xLabel: String, yLabel: String, points: [ScatterPoint], rays: [(slope: Double, label: String)] = []) {
            self.title = title
            self.xLabel = xLabel
            self.yLabel = yLabel
            self.points = points
            self.rays = rays
        }
    }

    /// Labelled points on axes from 0 (Morris mu* against sigma), one panel beside another; the
    /// `labelled` points furthest from the origin carry their names, the rest a tooltip.
    public static func scatter(title: String, panels: [ScatterPanel], labelled: Int = 12, columns: Int = 2) -> String {
        let pw = 460.0, ph = 360.0
        let cols = max(1, min(columns, panels.count)), rows = (panels.count + cols - 1) / cols
        let width = max(Double(cols) * pw, 40 + 8.5 * Double(title.count)), height = 40 + Double(rows) * ph
        var svg = header(width: width, height: height)
        svg += text(x: width / 2, y: 22, title, size: 15, anchor: "middle", bold: true)
        let m = (left: 62.0, right: 20.0, top: 28.0, bottom: 46.0)
        for (index, panel) in panels.enumerated() {
            let ox = Double(index % cols) * pw, oy = 40 + Double(index / cols) * ph
            let left = ox + m.left, right = ox + pw - m.right, top = oy + m.top, bottom = oy + ph - m.bottom
            let xAxis = PlotAxis.covering(panel.points.map(\.x), extra: [0])
            let yAxis = PlotAxis.covering(panel.points.map(\.y), extra: [0])
            func px(_ v: Double) -> Double { xAxis.map(v, left, right) }
            func py(_ v: Double) -> Double { yAxis.map(v, bottom, top) }
            svg += "<g class=\"panel\">"
            svg += text(x: (left + right) / 2, y: oy + 16, panel.title, size: 13, anchor: "middle", bold: true)
            svg += "<rect x=\"\(f(left))\" y=\"\(f(top))\" width=\"\(f(right - left))\" height=\"\(f(bottom - top))\" fill=\"none\" stroke=\"#999\"/>"
            for (v, l) in zip(yAxis.ticks, yAxis.labels) {
                svg += "<line x1=\"\(f(left - 4))\" y1=\"\(f(py(v)))\" x2=\"\(f(right))\" y2=\"\(f(py(v)))\" stroke=\"#eee\"/>"
                svg += text(x: left - 6, y: py(v) + 4, l, size: 10, anchor: "end")
            }
            for (v, l) in zip(xAxis.ticks, xAxis.labels) {
                svg += "<line x1=\"\(f(px(v)))\" y1=\"\(f(bottom))\" x2=\"\(f(px(v)))\" y2=\"\(f(bottom + 4))\" stroke=\"#999\"/>"
                svg += text(x: px(v), y: bottom + 15, l, size: 10, anchor: "middle")
            }
            svg += text(x: (left + right) / 2, y: bottom + 34, panel.xLabel, size: 11, anchor: "middle")
            let mid = (top + bottom) / 2
            svg += "<text x=\"\(f(ox + 14))\" y=\"\(f(mid))\" font-family=\"sans-serif\" font-size=\"11\" text-anchor=\"middle\" transform=\"rotate(-90 \(f(ox + 14)) \(f(mid)))\">\(escape(panel.yLabel))</text>"
            for ray in panel.rays where ray.slope > 0 {
                // Clipped to the box: ends where it leaves the top or the right side.
                let xEnd = min(xAxis.hi, yAxis.hi / ray.slope)
                svg += "<line x1=\"\(f(px(0)))\" y1=\"\(f(py(0)))\" x2=\"\(f(px(xEnd)))\" y2=\"\(f(py(xEnd * ray.slope)))\" stroke=\"#888\" stroke-dasharray=\"5,4\"/>"
                svg += text(x: px(xEnd) - 4, y: py(xEnd * ray.slope) + 12, ray.label, size: 10, anchor: "end")
            }
            let ranked = panel.points.indices.sorted { hypot(panel.points[$0].x, panel.points[$0].y) > hypot(panel.points[$1].x, panel.points[$1].y) }
            let named = Set(ranked.prefix(labelled))
            for (i, p) in panel.points.enumerated() where p.x.isFinite && p.y.isFinite {
                svg += "<circle class=\"point\" data-label=\"\(escape(p.label))\" cx=\"\(f(px(p.x)))\" cy=\"\(f(py(p.y)))\" r=\"4\" fill=\"\(palette[0])\" fill-opacity=\"0.8\"><title>\(escape(p.label)): \(label(p.x)), \(label(p.y))</title></circle>"
                if named.contains(i) { svg += text(x: px(p.x) + 6, y: py(p.y) - 5, p.label, size: 10) }
            }
            svg += "</g>"
        }
        return svg + "</svg>\n"
    }

    /// The starts of a multistart fit sorted by their objective (a waterfall): a plateau of starts at
    /// the best value says the optimum was found more than once. Values above the best by more than
    /// 100 put the y axis on a log scale of (value − best + 1). Starts within `tolerance` of the best are green.
    public static func waterfall(title: String, values: [Double], valueName: String, failed: Int, tolerance: Double = 0.1) -> String {
        let sorted = values.filter(\.isFinite).sorted()
        let best = sorted.first ?? 0
        let logScale = (sorted.last ?? best) - best > 100
        func transform(_ v: Double) -> Double { logScale ? log10(v - best + 1) : v }
        let width = 620.0, height = 400.0
        let m = (left: 70.0, right: 20.0, top: 50.0, bottom: 64.0)
        let left = m.left, right = width - m.right, top = m.top, bottom = height - m.bottom
        var svg = header(width: width, height: height)
        svg += text(x: width / 2, y: 22, title, size: 15, anchor: "middle", bold: true)
        let within = sorted.filter { $0 - best <= tolerance }.count
        svg += text(x: width / 2, y: 40, "\(within) of \(values.count) starts within \(label(tolerance)) of the best (\(label(best)))" + (failed > 0 ? "; \(failed) failed, not drawn" : ""), size: 11, anchor: "middle")
        let xAxis = PlotAxis.exact(1, Double(max(sorted.count, 2)), step: sorted.count > 12 ? nil : 1)
        var yAxis = PlotAxis.covering(sorted.map(transform))
        if logScale {
            let hi = (yAxis.hi).rounded(.up)
            let ticks = Array(stride(from: 0.0, through: hi, by: 1))
            yAxis = PlotAxis(lo: 0, hi: hi, ticks: ticks, labels: ticks.map { $0 == 0 ? "1" : "1e\(Int($0))" })
        }
        func px(_ v: Double) -> Double { xAxis.map(v, left, right) }
        func py(_ v: Double) -> Double { yAxis.map(v, bottom, top) }
        svg += "<rect x=\"\(f(left))\" y=\"\(f(top))\" width=\"\(f(right - left))\" height=\"\(f(bottom - top))\" fill=\"none\" stroke=\"#999\"/>"
        for (v, l) in zip(yAxis.ticks, yAxis.labels) {
            svg += "<line x1=\"\(f(left - 4))\" y1=\"\(f(py(v)))\" x2=\"\(f(right))\" y2=\"\(f(py(v)))\" stroke=\"#eee\"/>"
            svg += text(x: left - 6, y: py(v) + 4, l, size: 10, anchor: "end")
        }
        for (v, l) in zip(xAxis.ticks, xAxis.labels) where v == v.rounded() {
            svg += "<line x1=\"\(f(px(v)))\" y1=\"\(f(bottom))\" x2=\"\(f(px(v)))\" y2=\"\(f(bottom + 4))\" stroke=\"#999\"/>"
            svg += text(x: px(v), y: bottom + 15, l, size: 10, anchor: "middle")
        }
        svg += text(x: (left + right) / 2, y: bottom + 34, "start, sorted by \(valueName)", size: 11, anchor: "middle")
        let yLabel = logScale ? "\(valueName) − best + 1 (log scale)" : valueName
        let mid = (top + bottom) / 2
        svg += "<text x=\"16\" y=\"\(f(mid))\" font-family=\"sans-serif\" font-size=\"11\" text-anchor=\"middle\" transform=\"rotate(-90 16 \(f(mid)))\">\(escape(yLabel))</text>"
        if sorted.count > 1 {
            svg += "<polyline fill=\"none\" stroke=\"#bbb\" stroke-width=\"1\" points=\"\(sorted.enumerated().map { "\(f(px(Double($0.offset + 1)))),\(f(py(transform($0.element))))" }.joined(separator: " "))\"/>"
        }
        for (k, v) in sorted.enumerated() {
            let colour = v - best <= tolerance ? "#2ca02c" : palette[0]
            svg += "<circle class=\"start\" data-value=\"\(v)\" cx=\"\(f(px(Double(k + 1))))\" cy=\"\(f(py(transform(v))))\" r=\"3.5\" fill=\"\(colour)\"><title>rank \(k + 1): \(label(v))</title></circle>"
        }
        let ky = height - 12
        svg += "<circle cx=\"\(f(left + 6))\" cy=\"\(f(ky - 4))\" r=\"4\" fill=\"#2ca02c\"/>" + text(x: left + 14, y: ky, "within \(label(tolerance)) of the best", size: 11)
        svg += "<circle cx=\"\(f(left + 206))\" cy=\"\(f(ky - 4))\" r=\"4\" fill=\"\(palette[0])\"/>" + text(x: left + 214, y: ky, "other starts", size: 11)
        return svg + "</svg>\n"
    }
}
