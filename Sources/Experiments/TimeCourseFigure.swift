import Foundation
import Models

extension SVGPlot {
    /// The close-up around a dose: from 1 h before it to the end of the per-minute trace (6 h after).
    public static let doseWindowHours = (before: 1.0, after: 6.0)

    /// Time courses of outputs, one panel per output, every series in each. With `doseAt` (a time in the
    /// model's unit, which must convert to hours) each output gets a close-up of the hours around that dose
    /// (x in hours after it) beside its whole course. Series are drawn as given: pass the fine trace
    /// (`SimulationResult.fineSeries`) so a 10-minute peak is drawn at its height.
    ///
    /// Panels whose every value is 0 (after rounding noise) or missing are left out and named under the
    /// title. Each panel is a `<g class="panel">` with `data-output`, `data-view` (`dose` or `course`)
    /// and its y mapping (`data-y-lo`, `data-y-hi` at pixel rows `data-y-bottom`, `data-y-top`); each
    /// line carries `data-series` and `data-max`, so tests and readers can check what is drawn.
    public static func timeCourses(title: String, panels: [PlotPanel], doseTimes: [Double], timeUnit: TimeUnit = .hours,
                                   doseAt: Double? = nil, columns: Int? = nil) -> String {
        var shown: [PlotPanel] = [], dropped: [String] = []
        for panel in panels {
            var p = panel
            // Noise is judged against the panel's scale: an untreated arm's -1e-15 beside a 3.8 uM peak is 0.
            let scale = panel.series.flatMap(\.values).reduce(0.0) { $1.isFinite ? max($0, abs($1)) : $0 }
            p.series = panel.series.map { PlotSeries(label: $0.label, times: $0.times, values: cleaned($0.values, scale: scale)) }
            if p.series.allSatisfy({ $0.values.allSatisfy { !$0.isFinite || $0 == 0 } }) { dropped.append(panel.title) } else { shown.append(p) }
        }
        var labels: [String] = []
        for p in shown { for s in p.series where !labels.contains(s.label) { labels.append(s.label) } }
        let times = shown.flatMap { $0.series.flatMap(\.times) }.filter(\.isFinite)
        let tStart = min(0, times.min() ?? 0), tEnd = times.max() ?? 1
        let hoursPerUnit = timeUnit.hours
        let inDays = hoursPerUnit.map { (tEnd - tStart) * $0 > 72 } ?? false
        let courseScale = hoursPerUnit.map { inDays ? $0 / 24 : $0 } ?? 1
        let courseLabel = hoursPerUnit == nil ? "time (\(timeUnit.description))" : inDays ? "time (days)" : "time (h)"
        let courseSpan = (tEnd - tStart) * courseScale
        // Weeks read better than tens of days.
        let courseStep: Double? = inDays && courseSpan >= 14 && courseSpan <= 120 ? 7 : nil
        let courseAxis = PlotAxis.exact(tStart * courseScale, tEnd * courseScale, step: courseStep)
        let window: (lo: Double, hi: Double, origin: Double, perHour: Double)? = doseAt.flatMap { t in
            hoursPerUnit.map { h in (t - doseWindowHours.before / h, t + doseWindowHours.after / h, t, h) }
        }

        let courseW = 390.0, windowW = window == nil ? 0.0 : 260.0, cellH = 240.0
        let cols = max(1, min(columns ?? (window == nil ? 3 : 2), shown.count))
        let rows = (shown.count + cols - 1) / cols
        let pairW = courseW + windowW
        let width = max(Double(cols) * pairW, 640)
        let legendY = 46.0
        let notes = dropped.isEmpty ? [] : wrap("Zero throughout, not drawn: " + dropped.joined(separator: ", "), width: Int(width / 6.2))
        let top = legendY + 24 + 14 * Double(notes.count)
        let height = top + Double(rows) * cellH + 10
        var svg = header(width: width, height: height)
        svg += text(x: width / 2, y: 24, title, size: 16, anchor: "middle", bold: true)

        // Legend: one entry per series in its line style, then the dose marker.
        var x = 20.0
        for (k, label) in labels.enumerated() {
            svg += "<line x1=\"\(f(x))\" y1=\"\(f(legendY - 4))\" x2=\"\(f(x + 26))\" y2=\"\(f(legendY - 4))\" \(lineStyle(k))/>"
            svg += text(x: x + 31, y: legendY, label, size: 12)
            x += 44 + Double(label.count) * 7
        }
        if !doseTimes.isEmpty {
            svg += "<path d=\"M\(f(x)),\(f(legendY - 9)) l10,0 l-5,8 z\" fill=\"#444\"/>"
            svg += text(x: x + 15, y: legendY, "dose", size: 12)
        }
        for (i, line) in notes.enumerated() { svg += text(x: 20, y: legendY + 20 + 14 * Double(i), line, size: 11) }

        for (index, panel) in shown.enumerated() {
            let ox = Double(index % cols) * pairW, oy = top + Double(index / cols) * cellH
            let yLabel = panel.unit.isEmpty ? "value" : panel.unit
            svg += text(x: ox + pairW / 2, y: oy + 16, panel.title, size: 13, anchor: "middle", bold: true)
            if let w = window {
                let xAxis = PlotAxis.exact(-doseWindowHours.before, doseWindowHours.after, step: 1)
                let lines = panel.series.map { s in
                    (s.label, s.times.map { ($0 - w.origin) * w.perHour }, s.values)
                }
                let marks = doseTimes.filter { $0 >= w.lo && $0 <= w.hi }.map { ($0 - w.origin) * w.perHour }
                svg += timePanel(x: ox, y: oy + 20, width: windowW, height: cellH - 20, name: panel.name, view: "dose",
                                 xAxis: xAxis, xLabel: "hours after the dose", yLabel: yLabel, lines: lines, labels: labels, marks: marks)
            }
            let lines = panel.series.map { s in (s.label, s.times.map { $0 * courseScale }, s.values) }
            svg += timePanel(x: ox + windowW, y: oy + 20, width: courseW, height: cellH - 20, name: panel.name, view: "course",
                             xAxis: courseAxis, xLabel: courseLabel, yLabel: yLabel, lines: lines, labels: labels,
                             marks: doseTimes.filter { $0 >= tStart && $0 <= tEnd }.map { $0 * courseScale })
        }
        return svg + "</svg>\n"
    }

    /// One axes box of a time-course figure: y range from the points inside the x range.
    static func timePanel(x ox: Double, y oy: Double, width: Double, height: Double, name: String, view: String,
                          xAxis: PlotAxis, xLabel: String, yLabel: String, lines: [(String, [Double], [Double])],
                          labels: [String], marks: [Double]) -> String {
        let m = (left: 60.0, right: 12.0, top: 6.0, bottom: 40.0)
        let left = ox + m.left, right = ox + width - m.right, top = oy + m.top, bottom = oy + height - m.bottom
        let pixels = Int(right - left)
        let drawn = lines.map { ($0.0, decimated($0.1, $0.2, lo: xAxis.lo, hi: xAxis.hi, pixels: max(1, pixels))) }
        let yAxis = PlotAxis.covering(drawn.flatMap { $0.1.map(\.1) })
        func px(_ v: Double) -> Double { xAxis.map(v, left, right) }
        func py(_ v: Double) -> Double { yAxis.map(v, bottom, top) }
        var svg = "<g class=\"panel\" data-output=\"\(escape(name))\" data-view=\"\(view)\" data-y-lo=\"\(yAxis.lo)\" data-y-hi=\"\(yAxis.hi)\" data-y-bottom=\"\(f(bottom))\" data-y-top=\"\(f(top))\">"
        svg += "<rect x=\"\(f(left))\" y=\"\(f(top))\" width=\"\(f(right - left))\" height=\"\(f(bottom - top))\" fill=\"none\" stroke=\"#999\"/>"
        for (v, label) in zip(yAxis.ticks, yAxis.labels) {
            svg += "<line x1=\"\(f(left - 4))\" y1=\"\(f(py(v)))\" x2=\"\(f(right))\" y2=\"\(f(py(v)))\" stroke=\"#eee\"/>"
            svg += text(x: left - 6, y: py(v) + 4, label, size: 10, anchor: "end")
        }
        for (v, label) in zip(xAxis.ticks, xAxis.labels) {
            svg += "<line x1=\"\(f(px(v)))\" y1=\"\(f(bottom))\" x2=\"\(f(px(v)))\" y2=\"\(f(bottom + 4))\" stroke=\"#999\"/>"
            svg += text(x: px(v), y: bottom + 15, label, size: 10, anchor: "middle")
        }
        svg += text(x: (left + right) / 2, y: bottom + 32, xLabel, size: 11, anchor: "middle")
        let mid = (top + bottom) / 2
        svg += "<text x=\"\(f(ox + 14))\" y=\"\(f(mid))\" font-family=\"sans-serif\" font-size=\"11\" text-anchor=\"middle\" transform=\"rotate(-90 \(f(ox + 14)) \(f(mid)))\">\(escape(yLabel))</text>"
        for t in marks {
            svg += "<path d=\"M\(f(px(t) - 5)),\(f(top)) l10,0 l-5,8 z\" fill=\"#444\"/>"
        }
        for (label, points) in drawn where !points.isEmpty {
            let k = labels.firstIndex(of: label) ?? 0
            let peak = points.map(\.1).max() ?? .nan
            svg += "<polyline class=\"series\" data-series=\"\(escape(label))\" data-max=\"\(peak)\" fill=\"none\" stroke-linejoin=\"round\" \(lineStyle(k)) points=\""
            svg += points.map { "\(f(px($0.0))),\(f(py($0.1)))" }.joined(separator: " ") + "\"/>"
        }
        return svg + "</g>"
    }

    /// Greedy line breaking at spaces, for notes under a title.
    static func wrap(_ s: String, width: Int) -> [String] {
        var lines: [String] = [], line = ""
        for word in s.split(separator: " ") {
            if !line.isEmpty && line.count + word.count + 1 > width { lines.append(line); line = "" }
            line += (line.isEmpty ? "" : " ") + word
        }
        if !line.isEmpty { lines.append(line) }
        return lines
    }

    /// z[iy][ix] over a grid of x and y values. The colour scale is diverging with white at 0 (blue
    /// below, red above) and symmetric, so equal colours mean equal magnitudes on either side; a metric
    /// of one sign runs from white at 0. The colour bar carries ticks.
    public static func heatMap(title: String, xLabel: String, yLabel: String, xs: [Double], ys: [Double], z: [[Double]], zLabel: String) -> String {
        let cell = (w: max(18.0, 480.0 / Double(max(xs.count, 1))), h: max(14.0, 320.0 / Double(max(ys.count, 1))))
        let left = 84.0, top = 50.0
        let gridW = Double(xs.count) * cell.w, gridH = Double(ys.count) * cell.h
        let width = left + gridW + max(150, 70 + 6.5 * Double(zLabel.count)), height = top + max(gridH, 240) + 64
        let finite = z.flatMap { $0 }.filter(\.isFinite)
        let bound = max(abs(finite.min() ?? 0), abs(finite.max() ?? 0))
        let lo = (finite.min() ?? 0) < 0 ? -bound : 0, hi = (finite.max() ?? 0) > 0 ? bound : 0
        let scale = bound > 0 ? bound : 1
        func colour(_ v: Double) -> String { v.isFinite ? ramp(0.5 + 0.5 * v / scale) : "#ccc" }
        var svg = header(width: width, height: height)
        svg += text(x: width / 2, y: 24, title, size: 15, anchor: "middle", bold: true)
        let yTickLabels = tickLabels(ys), xTickLabels = tickLabels(xs)
        for (iy, _) in ys.enumerated() {
            let ry = top + Double(ys.count - 1 - iy) * cell.h
            svg += text(x: left - 6, y: ry + cell.h / 2 + 4, iy < yTickLabels.count ? yTickLabels[iy] : "", size: 10, anchor: "end")
            for (ix, _) in xs.enumerated() {
                let v = iy < z.count && ix < z[iy].count ? z[iy][ix] : .nan
                svg += "<rect class=\"cell\" data-z=\"\(v)\" x=\"\(f(left + Double(ix) * cell.w))\" y=\"\(f(ry))\" width=\"\(f(cell.w))\" height=\"\(f(cell.h))\" fill=\"\(colour(v))\"><title>\(label(v))</title></rect>"
            }
        }
        let every = xs.count <= 16 ? 1 : (xs.count + 11) / 12
        for (ix, _) in xs.enumerated() where ix % every == 0 {
            svg += text(x: left + (Double(ix) + 0.5) * cell.w, y: top + gridH + 14, ix < xTickLabels.count ? xTickLabels[ix] : "", size: 10, anchor: "middle")
        }
        svg += text(x: left + gridW / 2, y: top + gridH + 34, xLabel, size: 12, anchor: "middle")
        svg += "<text x=\"16\" y=\"\(f(top + gridH / 2))\" font-size=\"12\" font-family=\"sans-serif\" text-anchor=\"middle\" transform=\"rotate(-90 16 \(f(top + gridH / 2)))\">\(escape(yLabel))</text>"
        // Colour bar: 40 steps from lo to hi, ticks at round values.
        let barX = left + gridW + 30, barH = 240.0
        let steps = 40
        for k in 0..<steps {
            let v = lo + (hi - lo) * (Double(k) + 0.5) / Double(steps)
            svg += "<rect x=\"\(f(barX))\" y=\"\(f(top + barH * (1 - Double(k + 1) / Double(steps))))\" width=\"16\" height=\"\(f(barH / Double(steps) + 0.5))\" fill=\"\(colour(v))\"/>"
        }
        svg += "<rect x=\"\(f(barX))\" y=\"\(f(top))\" width=\"16\" height=\"\(f(barH))\" fill=\"none\" stroke=\"#999\"/>"
        if hi > lo {
            let ticks = niceTicks(lo, hi).filter { $0 >= lo - 1e-12 * scale && $0 <= hi + 1e-12 * scale }
            for (v, l) in zip(ticks, tickLabels(ticks)) {
                let y = top + barH * (1 - (v - lo) / (hi - lo))
                svg += "<line x1=\"\(f(barX + 16))\" y1=\"\(f(y))\" x2=\"\(f(barX + 21))\" y2=\"\(f(y))\" stroke=\"#333\"/>"
                svg += text(x: barX + 24, y: y + 4, l, size: 10)
            }
        } else {
            svg += text(x: barX + 24, y: top + barH / 2 + 4, label(lo), size: 10)
        }
        svg += text(x: barX, y: top - 10, zLabel, size: 11)
        return svg + "</svg>\n"
    }
}

extension SimulationResult {
    /// An output on the output grid and the detail rows (the per-minute trace after each dose) merged
    /// in time order: what the metrics read, and what a figure should draw.
    public func fineSeries(_ name: String) -> (times: [Double], values: [Double])? {
        guard let j = outputNames.firstIndex(of: name) else { return nil }
        let m = outputNames.count
        var rows = times.indices.map { (times[$0], values[$0 * m + j]) }
        rows += detailTimes.indices.map { (detailTimes[$0], detailValues[$0 * m + j]) }
        if !detailTimes.isEmpty { rows.sort { $0.0 < $1.0 } }
        return (rows.map(\.0), rows.map(\.1))
    }
}
