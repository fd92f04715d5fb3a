import Experiments
import Fitting
import Foundation

/// The figures of a fit folder, drawn from the tables the fit writes: the waterfall of starts and the
/// fit against the data (PEtab: per observable over time; calibration files: each row's data against
/// its simulated value, and the weighted residuals).
enum FitPlots {
    static func waterfall(_ records: [FitFiles.StartRecord], problem: String) -> String {
        let ok = records.filter { $0.status != "failed" && $0.nllh.isFinite }
        return SVGPlot.waterfall(title: "Multistart fit of \(URL(fileURLWithPath: problem).lastPathComponent): \(records.count) starts",
                                 values: ok.map(\.nllh), valueName: "nllh", failed: records.count - ok.count)
    }

    /// Rows of a tab-separated table with a header, as dictionaries; empty lines skipped.
    static func rows(_ tsv: String) -> [[String: String]] {
        let lines = tsv.split(separator: "\n", omittingEmptySubsequences: true).map { $0.split(separator: "\t", omittingEmptySubsequences: false).map(String.init) }
        guard let header = lines.first else { return [] }
        return lines.dropFirst().map { fields in
            Dictionary(zip(header, fields).map { ($0, $1) }, uniquingKeysWith: { a, _ in a })
        }
    }

    /// PEtab residuals.tsv: per observable, the simulation as a line and the measurements as points
    /// over time, one colour per condition.
    static func petab(_ residualsTSV: String, problem: String) -> String? {
        let table = rows(residualsTSV)
        guard !table.isEmpty else { return nil }
        var observables: [String] = [], conditions: [String] = []
        for r in table {
            if let o = r["observableId"], !observables.contains(o) { observables.append(o) }
            if let c = r["simulationConditionId"], !conditions.contains(c) { conditions.append(c) }
        }
        let panels = observables.map { o -> SVGPlot.XYPanel in
            let mine = table.filter { $0["observableId"] == o }
            func series(_ column: String) -> [PlotSeries] {
                conditions.map { c in
                    let points = mine.filter { $0["simulationConditionId"] == c }
                        .compactMap { r -> (Double, Double)? in
                            guard let t = r["time"].flatMap(Double.init), let v = r[column].flatMap(Double.init) else { return nil }
                            return (t, v)
                        }.sorted { $0.0 < $1.0 }
                    return PlotSeries(label: c, times: points.map(\.0), values: points.map(\.1))
                }
            }
            return SVGPlot.XYPanel(title: o, xLabel: "time", yLabel: o, series: series("simulation"), markers: series("measurement"))
        }
        return SVGPlot.xy(title: "Fit against data: \(URL(fileURLWithPath: problem).lastPathComponent)", panels: panels,
                          legend: conditions.count > 1 ? conditions : [], note: "lines: simulated at the best start; circles: measured")
    }

    /// A calibration file's residuals.tsv: per output, each value row's data (x) against its simulated
    /// value (y) with the line of agreement; and every row's weighted residual, green where it agrees.
    static func calibration(_ residualsTSV: String, problem: String) -> (fit: String, residuals: String)? {
        let table = rows(residualsTSV)
        guard !table.isEmpty else { return nil }
        var outputs: [String] = []
        var byOutput: [String: [(Double, Double, String)]] = [:]
        for r in table {
            guard let metric = r["metric"], let sim = r["simulated"].flatMap(Double.init), let data = r["data"] else { continue }
            let output = metric.split(separator: ".").first.map(String.init) ?? metric
            // A value row's data is a number; a range "a to b" is drawn at its middle.
            let parts = data.components(separatedBy: " to ").compactMap { Double($0.trimmingCharacters(in: .whitespaces)) }
            guard !parts.isEmpty, (r["kind"] ?? "").hasPrefix("value") || (r["kind"] ?? "") == "range" else { continue }
            let x = parts.reduce(0, +) / Double(parts.count)
            if byOutput[output] == nil { outputs.append(output) }
            byOutput[output, default: []].append((x, sim, r["id"] ?? ""))
        }
        let panels = outputs.map { o -> SVGPlot.XYPanel in
            let points = byOutput[o] ?? []
            let all = points.flatMap { [$0.0, $0.1] }.filter(\.isFinite)
            let lo = min(0, all.min() ?? 0), hi = all.max() ?? 1
            return SVGPlot.XYPanel(title: o, xLabel: "data", yLabel: "simulated", series: [PlotSeries(label: "agreement", times: [lo, hi], values: [lo, hi])],
                                   markers: [PlotSeries(label: o, times: points.map(\.0), values: points.map(\.1))])
        }
        let name = URL(fileURLWithPath: problem).lastPathComponent
        let fit = SVGPlot.xy(title: "Fit against data: \(name)", panels: panels, note: "circles: data rows (value; a range at its middle); line: simulated = data")
        let ids = table.map { $0["id"] ?? "" }
        let residuals = table.map { $0["residual"].flatMap(Double.init) ?? .nan }
        let colours = table.map { $0["agrees"] == "yes" ? "#2ca02c" : "#d62728" }
        let bars = SVGPlot.horizontalBars(title: "Weighted residuals at the best start: \(name)", panels: [
            SVGPlot.BarPanel(title: "calibration rows", valueLabel: "residual (difference / sigma)", categories: ids,
                             groups: [SVGPlot.BarGroup(label: "residual", values: residuals, colours: colours)],
                             key: [("#2ca02c", "agrees with the data"), ("#d62728", "does not")])])
        return (fit, bars)
    }
}
