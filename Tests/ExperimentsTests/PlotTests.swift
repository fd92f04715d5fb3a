import Foundation
import Models
import Testing
@testable import Experiments

/// Attribute values `name="..."` of every element matching `element` in an SVG text.
func attributes(_ svg: String, element: String, _ name: String) -> [String] {
    svg.components(separatedBy: "<" + element).dropFirst().compactMap { chunk in
        let tag = chunk.prefix { $0 != ">" }
        guard let r = tag.range(of: " \(name)=\"") else { return nil }
        return String(tag[r.upperBound...].prefix { $0 != "\"" })
    }
}

@Suite("SVG figures")
struct PlotTests {
    @Test func tickLabelsOfANarrowRangeStayDistinct() {
        let ticks = SVGPlot.niceTicks(1, 1.01)
        let labels = SVGPlot.tickLabels(ticks)
        #expect(Set(labels).count == labels.count, "\(labels)")
        #expect(SVGPlot.tickLabels([0, 0.5, 1, 1.5]) == ["0.0", "0.5", "1.0", "1.5"])
        #expect(SVGPlot.tickLabels([-0.2, 0, 0.2]) == ["-0.2", "0.0", "0.2"])
        #expect(SVGPlot.tickLabels([0, 0.25, 0.5, 0.75, 1]) == ["0.00", "0.25", "0.50", "0.75", "1.00"])
        let tiny = SVGPlot.tickLabels([1e-6, 2e-6, 3e-6])
        #expect(Set(tiny).count == 3, "\(tiny)")
    }

    @Test func aConcentrationAxisStartsAtZeroAndTimeEndsAtTheRunsEnd() {
        // -4e-27 is rounding noise of an undosed drug, -1e-10 solver error long after a dose.
        let axis = PlotAxis.covering(SVGPlot.cleaned([-4e-27, 0, 3.8, 0.2, -1e-10]))
        #expect(axis.lo == 0 && axis.ticks.allSatisfy { $0 >= 0 } && axis.hi >= 3.8)
        let time = PlotAxis.exact(0, 35, step: 7)
        #expect(time.hi == 35 && time.ticks.last == 35)
        #expect(PlotAxis.exact(0, 35).ticks.allSatisfy { $0 <= 35 })
    }

    @Test func theTraceKeepsItsPeakWhenThinnedToPixels() {
        let xs = (0..<20_000).map { Double($0) / 100 }
        let ys = xs.map { exp(-($0 - 123.457) * ($0 - 123.457) * 400) }
        let thinned = SVGPlot.decimated(xs, ys, lo: 0, hi: 200, pixels: 300)
        #expect(thinned.count <= 600)
        #expect(thinned.map(\.1).max() == ys.max())
    }

    @Test func theHeatMapIsWhiteAtZeroAndItsColourBarHasTicks() {
        let z = [[-1.0, 0, 3], [0.5, 2, -0.25]]
        let svg = SVGPlot.heatMap(title: "t", xLabel: "dose (mg/kg)", yLabel: "stress", xs: [0, 1, 2], ys: [0, 1], z: z, zLabel: "m")
        let cells = svg.components(separatedBy: "<rect class=\"cell\"").dropFirst()
        let zero = cells.filter { $0.hasPrefix(" data-z=\"0.0\"") }
        #expect(zero.count == 1 && zero.allSatisfy { $0.contains("fill=\"#ffffff\"") })
        // Symmetric: -1 is as blue as 1 would be red, so 3 is the deepest red and -1 a pale blue.
        #expect(!cells.contains { $0.hasPrefix(" data-z=\"-1.0\"") && $0.contains("fill=\"#ffffff\"") })
        // Ticks at -2, 0 and 2 on a bar from -3 to 3, not only its two ends.
        #expect(svg.components(separatedBy: "stroke=\"#333\"").count - 1 == 3)
        #expect(svg.contains(">0</text>") || svg.contains(">0.0</text>"))
    }

    @Test func allZeroPanelsAreLeftOutAndNamed() {
        let t = [0.0, 1, 2, 3]
        let panels = [
            PlotPanel(title: "plasma ketamine", series: [PlotSeries(label: "a", times: t, values: [0, 2, 1, 0.5])], unit: "uM", name: "ketamine_plasma"),
            PlotPanel(title: "plasma esketamine", series: [PlotSeries(label: "a", times: t, values: [0, -4e-27, 0, 0])], unit: "uM", name: "esketamine_plasma"),
        ]
        let svg = SVGPlot.timeCourses(title: "t", panels: panels, doseTimes: [1], doseAt: 1)
        #expect(attributes(svg, element: "g", "data-output") == ["ketamine_plasma", "ketamine_plasma"])
        #expect(svg.contains("Zero throughout, not drawn: plasma esketamine"))
        #expect(attributes(svg, element: "g", "data-view") == ["dose", "course"])
    }

    @Test func outputLabelsComeFromTheModel() throws {
        let model = try ModelLoader.load(path: repositoryRoot.appendingPathComponent("models/ketamine_stress.yaml").path)
        let plasma = OutputLabel("ketamine_plasma", model: model)
        #expect(plasma.unit == "uM" && !plasma.title.contains("_"))
        #expect(OutputLabel("synapse_density", model: model).unit == "relative")
    }

    @Test func aReportHoldsEveryFigureAndTable() {
        let svg = SVGPlot.waterfall(title: "w", values: [3, 1, 1.05, 10], valueName: "nllh", failed: 1)
        let report = FolderReport(folder: "fit", kind: FolderReport.kind(of: ["starts.csv", "waterfall.svg"]),
                                  figures: [.init(name: "waterfall.svg", text: svg)],
                                  tables: [.init(name: "starts.csv", text: "start,status,nllh\n1,converged,3\n2,\"a, b\",1\n")],
                                  sidecars: [.init(name: "starts.csv.meta.json", text: "{\"command\": [\"ketasim\", \"fit\", \"p q.yaml\"], \"extra\": {}}")])
        let html = report.html
        #expect(report.kind == .fit)
        #expect(html.contains("<figure class=\"figure\" id=\"figure-1\" data-file=\"waterfall.svg\">"))
        #expect(html.contains("<table data-file=\"starts.csv\">") && html.contains("<td>a, b</td>"))
        #expect(html.contains("ketasim fit &#39;p q.yaml&#39;") || html.contains("ketasim fit 'p q.yaml'"))
        #expect(!html.contains("<script"))
    }
}
