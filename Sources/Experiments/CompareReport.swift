import Foundation
import Models

/// Scenarios run side by side and measured from one common time, with each metric's difference from
/// a reference arm: what `ketasim compare` prints and writes.
public struct CompareReport {
    public var scenarios: [String]
    public var referenceIndex: Int
    public var outputs: [String]
    public var metrics: MetricSpec
    /// Metrics start here in every arm: the earliest treatment dose among the scenarios.
    public var origin: Double
    public var results: [SimulationResult]
    /// Per scenario, in `metrics.columns(outputs:)` order.
    public var table: [[Double]]
    /// Per scenario, why a metric is empty (NaN), keyed by column `<output>.<metric>`.
    public var reasons: [[String: String]]
    public var timeUnit: TimeUnit

    public init(scenarios: [String], referenceIndex: Int, outputs: [String], metrics: MetricSpec, origin: Double,
                results: [SimulationResult], timeUnit: TimeUnit) {
        self.scenarios = scenarios
        self.referenceIndex = referenceIndex
        self.outputs = outputs
        self.metrics = metrics
        self.origin = origin
        self.results = results
        self.timeUnit = timeUnit
        let explained = results.map { metrics.evaluateExplained($0, reference: origin) }
        table = explained.map(\.values)
        reasons = explained.map(\.reasons)
    }

    /// One line per empty cell of `metric` that has a known reason, for the notes under its table.
    public func notes(metric: String) -> [String] {
        var lines: [String] = []
        for (k, scenario) in scenarios.enumerated() {
            for output in outputs {
                if let why = reasons[k]["\(output).\(metric)"] { lines.append("\(scenario): \(output).\(metric) is empty: \(why)") }
            }
        }
        return lines
    }

    /// The time the arms share: the earliest first treatment dose among the plans (0 when none doses).
    public static func origin(of plans: [SimulationPlan]) -> Double { plans.compactMap(\.referenceTime).min() ?? 0 }

    /// A terminal table of one metric: a row per output, a column per scenario, then each one's
    /// difference from the reference. Nil when `metric` is not one of the metrics.
    public func text(metric: String) -> String? {
        guard let mi = metrics.names.firstIndex(of: metric) else { return nil }
        let per = metrics.names.count
        let ref = referenceIndex
        let others = scenarios.indices.filter { $0 != ref }
        var lines = ["\(metric), measured from t = \(timeUnit.describe(origin)); differences are from \(scenarios[ref])"]
        let cells = outputs.indices.map { j in table.map { String(format: "%.4g", $0[j * per + mi]) } }
        let deltas = outputs.indices.map { j in others.map { k in String(format: "%+.3g", table[k][j * per + mi] - table[ref][j * per + mi]) } }
        let deltaNames = others.map { "d " + scenarios[$0] }
        let widths = scenarios.indices.map { k in max(scenarios[k].count, cells.map { $0[k].count }.max() ?? 0) + 2 }
        let deltaWidths = deltaNames.indices.map { k in max(deltaNames[k].count, deltas.map { $0[k].count }.max() ?? 0) + 2 }
        let first = max(6, outputs.map(\.count).max() ?? 0) + 1
        func row(_ label: String, _ a: [String], _ b: [String]) -> String {
            label.padding(toLength: first, withPad: " ", startingAt: 0)
                + zip(a, widths).map { Self.leftPad($0, $1) }.joined() + zip(b, deltaWidths).map { Self.leftPad($0, $1) }.joined()
        }
        lines.append(row("output", scenarios, deltaNames))
        for (j, name) in outputs.enumerated() { lines.append(row(name, cells[j], deltas[j])) }
        return lines.joined(separator: "\n")
    }

    static func leftPad(_ s: String, _ width: Int) -> String {
        s.count >= width ? " " + s : String(repeating: " ", count: width - s.count) + s
    }

    /// One row per scenario: its metrics, then each metric's difference from the reference.
    public var summaryCSV: String {
        let columns = metrics.columns(outputs: outputs)
        let ref = scenarios[referenceIndex]
        var text = (["scenario"] + columns + columns.map { "\($0).vs_\(ref)" }).map(csvField).joined(separator: ",") + "\n"
        for (k, row) in table.enumerated() {
            text += csvField(scenarios[k]) + "," + row.map(csvNumber).joined(separator: ",") + ","
            text += zip(row, table[referenceIndex]).map { csvNumber($0 - $1) }.joined(separator: ",") + "\n"
        }
        return text
    }

    /// Long form: scenario, time, outputs.
    public var timeSeriesCSV: String {
        var text = (["scenario", timeUnit.column] + outputs).map(csvField).joined(separator: ",") + "\n"
        for (name, r) in zip(scenarios, results) { text += r.longRows(label: name) }
        return text
    }
}
