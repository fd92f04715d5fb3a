import Foundation
import Testing

/// Attribute `name` of the opening tag that starts `chunk`.
private func attribute(_ chunk: Substring, _ name: String) -> String? {
    let tag = chunk.prefix { $0 != ">" }
    guard let r = tag.range(of: " \(name)=\"") else { return nil }
    return String(tag[r.upperBound...].prefix { $0 != "\"" })
}

/// Per `<g class="panel">` of a time-course figure: its attributes and its polylines' series and points.
private struct Panel {
    var output: String, view: String
    var yLo: Double, yHi: Double, bottom: Double, top: Double
    var lines: [String: [(Double, Double)]]
    /// The value a pixel row stands for.
    func value(atPixel y: Double) -> Double { yLo + (bottom - y) / (bottom - top) * (yHi - yLo) }
}

private func panels(_ svg: String) -> [Panel] {
    svg.components(separatedBy: "<g class=\"panel\"").dropFirst().compactMap { chunk -> Panel? in
        let body = chunk[..<(chunk.range(of: "</g>")?.lowerBound ?? chunk.endIndex)]
        guard let output = attribute(body, "data-output"), let view = attribute(body, "data-view"),
              let lo = attribute(body, "data-y-lo").flatMap(Double.init), let hi = attribute(body, "data-y-hi").flatMap(Double.init),
              let bottom = attribute(body, "data-y-bottom").flatMap(Double.init), let top = attribute(body, "data-y-top").flatMap(Double.init) else { return nil }
        var lines: [String: [(Double, Double)]] = [:]
        for line in body.components(separatedBy: "<polyline").dropFirst() {
            guard let series = attribute(Substring(line), "data-series"), let points = attribute(Substring(line), "points") else { continue }
            lines[series] = points.split(separator: " ").compactMap { p in
                let xy = p.split(separator: ",").compactMap { Double($0) }
                return xy.count == 2 ? (xy[0], xy[1]) : nil
            }
        }
        return Panel(output: output, view: view, yLo: lo, yHi: hi, bottom: bottom, top: top, lines: lines)
    }
}

@Suite("plots and report")
struct PlotCLITests {
    /// The figure of `make run`'s comparison, as a new user sees it.
    @Test func compareDrawsThePeakTheMetricsReadAndLeavesOutUndosedDrugs() throws {
        let dir = try temporaryDirectory()
        let out = dir.appendingPathComponent("out").path
        let r = try ketasim(["compare", "--scenarios", "control,stress_ketamine", "--outputs", "ketamine_plasma,esketamine_plasma,synapse_density",
                             "-o", out, "--plot"])
        #expect(r.status == 0, "\(r.stderr)")
        let svg = try String(contentsOfFile: out + "/compare.svg", encoding: .utf8)
        let summary = try String(contentsOfFile: out + "/summary.csv", encoding: .utf8).split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        let column = try #require(summary[0].firstIndex(of: "ketamine_plasma.max"))
        let row = try #require(summary.first { $0[0] == "stress_ketamine" })
        let peak = try #require(Double(row[column]))
        #expect(peak > 1)
        let all = panels(svg)
        // --outputs chooses the panels; an undosed drug's panel is not drawn.
        #expect(Set(all.map(\.output)) == ["ketamine_plasma", "synapse_density"])
        #expect(svg.contains("Zero throughout, not drawn"))
        for view in ["dose", "course"] {
            let panel = try #require(all.first { $0.output == "ketamine_plasma" && $0.view == view })
            #expect(panel.yLo == 0, "a concentration axis starts at 0 (\(view))")
            let points = try #require(panel.lines["stress_ketamine"])
            let drawn = panel.value(atPixel: points.map(\.1).min() ?? .nan)
            // One tenth of a pixel in ~170 is the drawing's resolution.
            #expect(abs(drawn - peak) <= 0.002 * (panel.yHi - panel.yLo), "\(view): drawn peak \(drawn), metric max \(peak)")
        }
        // The whole course: 35 days, so no tick beyond 35.
        #expect(!svg.contains(">40</text>") && svg.contains(">35</text>"))
        #expect(svg.contains("time (days)") && svg.contains("hours after the dose") && svg.contains(">uM</text>"))
        #expect(!svg.contains(">ketamine_plasma<"), "panel titles are readable names, not snake_case")

        // The report of the folder holds the figure, both tables and the command.
        let report = try ketasim(["report", out])
        #expect(report.status == 0, "\(report.stderr)")
        let html = try String(contentsOfFile: out + "/report.html", encoding: .utf8)
        #expect(html.contains("data-kind=\"compare\""))
        #expect(html.components(separatedBy: "<figure class=\"figure\"").count - 1 == 1)
        #expect(html.contains("<table data-file=\"summary.csv\">") && html.contains("<table data-file=\"timeseries.csv\">"))
        #expect(html.contains("control,stress_ketamine") && html.contains("Provenance"))
        let again = try ketasim(["report", out])
        #expect(again.status != 0 && again.stderr.contains("--force"))
    }

    /// A daily grid misses a 10-minute peak; the plot draws it from the per-minute trace, the CSV keeps the grid.
    @Test func runPlotsTheFineTraceOnACoarseGrid() throws {
        let dir = try temporaryDirectory()
        let csv = dir.appendingPathComponent("r.csv").path, svg = dir.appendingPathComponent("r.svg").path
        let r = try ketasim(["run", "--scenario", "stress_ketamine", "--every", "1d", "--outputs", "ketamine_plasma", "-o", csv, "--plot", svg])
        #expect(r.status == 0, "\(r.stderr)")
        let rows = try String(contentsOfFile: csv, encoding: .utf8).split(separator: "\n")
        #expect(rows.count == 37)  // header and days 0 to 35
        let gridPeak = rows.dropFirst().compactMap { Double($0.split(separator: ",")[1]) }.max() ?? 0
        let panel = try #require(panels(try String(contentsOfFile: svg, encoding: .utf8)).first { $0.view == "course" })
        let points = try #require(panel.lines["stress_ketamine"])
        let drawn = panel.value(atPixel: points.map(\.1).min() ?? .nan)
        #expect(drawn > 3.7 && drawn > 10 * gridPeak, "drawn \(drawn), grid \(gridPeak)")
    }

    @Test func sensitivityAndFitDrawTheirFigures() throws {
        let dir = try temporaryDirectory()
        let sens = dir.appendingPathComponent("sens").path
        let r = try ketasim(["sensitivity", "--model", example, "--metrics", "concentration.auc", "--local", "--all-parameters", "-o", sens, "--plot"])
        #expect(r.status == 0, "\(r.stderr)")
        let tornado = try String(contentsOfFile: sens + "/tornado.svg", encoding: .utf8)
        #expect(tornado.components(separatedBy: "<rect class=\"bar\"").count - 1 == 4)
        #expect(tornado.contains("concentration.auc (uM·h)"))

        let problem = try FitCLITests.problem()
        let fit = dir.appendingPathComponent("fit").path
        let f = try ketasim(["fit", problem.appendingPathComponent("problem.yaml").path, "--starts", "3", "-o", fit, "--plot"])
        #expect(f.status == 0, "\(f.stderr)")
        let waterfall = try String(contentsOfFile: fit + "/waterfall.svg", encoding: .utf8)
        #expect(waterfall.components(separatedBy: "<circle class=\"start\"").count - 1 == 3)
        let figure = try String(contentsOfFile: fit + "/fit.svg", encoding: .utf8)
        #expect(figure.contains("<circle class=\"marker\""))
        let report = try ketasim(["report", fit, "-o", dir.appendingPathComponent("fit.html").path])
        #expect(report.status == 0, "\(report.stderr)")
        let html = try String(contentsOfFile: dir.appendingPathComponent("fit.html").path, encoding: .utf8)
        #expect(html.contains("data-kind=\"fit\"") && html.components(separatedBy: "<figure class=\"figure\"").count - 1 == 2)
        #expect(html.contains("<table data-file=\"starts.csv\">") && html.contains("best.params"))
    }
}
