import ArgumentParser
import Experiments
import Foundation
import Integrator
import Models

struct Compare: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run several scenarios and compare them: time courses, metrics, and differences from a reference.",
        discussion: """
        Metrics are measured from a common time: the earliest first dose of a treatment drug among the \
        compared scenarios, so `at_24h` means the same moment in every arm (the untreated arm included).
        They are read from the output grid plus a per-minute trace of the 6 h after each dose.
        With -o DIR writes DIR/timeseries.csv (long: scenario, time_h, outputs), DIR/summary.csv (one \
        row per scenario: metrics, then each metric's difference from the reference) and, with --plot, \
        DIR/compare.svg; always prints a table of --table-metric for every output.

        Example:
          ketasim compare --scenarios control,chronic_stress,stress_ketamine,stress_ketamine_rapamycin -o out/ --plot
        """
    )

    @Option(help: "Model file; the bundled default when absent.")
    var model: String?

    @Option(help: "Comma-separated scenarios to run.")
    var scenarios: String

    @Option(help: "Scenario the others are compared with; the first by default.")
    var reference: String?

    @Option(name: .shortAndLong, help: "Folder for timeseries.csv, summary.csv and compare.svg.")
    var output: String?

    @Flag(help: "Draw the scenarios over each other to DIR/compare.svg.")
    var plot = false

    @Flag(help: "Overwrite existing files in the output folder.")
    var force = false

    @Option(help: "Comma-separated outputs; the model's outputs by default.")
    var outputs: String?

    @Option(help: "Comma-separated times after the first dose for at_ and change_ metrics.")
    var at: String = "2h,24h,7d"

    @Option(help: "Metric shown in the terminal table.")
    var tableMetric: String = "at_24h"

    @Option(help: "Output interval (duration); each scenario's own by default.")
    var every: String?

    @OptionGroup var solver: SolverOptions

    func validate() throws {
        if plot && output == nil { throw ValidationError("--plot writes DIR/compare.svg; give the folder with -o DIR") }
        if let dir = output, !force {
            for file in ["timeseries.csv", "summary.csv"] + (plot ? ["compare.svg"] : []) {
                let p = URL(fileURLWithPath: dir).appendingPathComponent(file).path
                if FileManager.default.fileExists(atPath: p) { throw ValidationError("\(p) already exists; pass --force to overwrite it") }
            }
        }
    }

    func run() throws {
        let loaded = try loadModel(model)
        let (path, definition) = (loaded.path, loaded.definition)
        let settings = try solver.settings(timeUnit: definition.timeUnit)
        let names = scenarios.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        if names.isEmpty { throw ValidationError("--scenarios needs at least one scenario") }
        var plans: [SimulationPlan] = []
        for name in names {
            guard let s = definition.scenario(named: name) else {
                let known = definition.scenarios.map(\.name)
                if known.isEmpty { throw ValidationError("\(path) defines no scenarios, and compare runs a model's named scenarios; use run or sweep with it") }
                throw ValidationError("unknown scenario `\(name)`\(didYouMean(name, among: known)); the model has \(known.joined(separator: ", "))")
            }
            var plan = SimulationPlan(scenario: s)
            if let e = every { plan.outputEvery = try parseDuration(e, option: "--every", timeUnit: definition.timeUnit) }
            plans.append(plan)
        }
        let ref = reference ?? names[0]
        guard let refIndex = names.firstIndex(of: ref) else { throw ValidationError("--reference `\(ref)` is not among --scenarios") }
        let compiled = try compile(definition)
        let outputNames = try parseOutputList(outputs) ?? definition.outputs
        let metrics = try metricSpec(at: at, timeUnit: definition.timeUnit)
        guard let metricIndex = metrics.names.firstIndex(of: tableMetric) else {
            throw ValidationError("--table-metric `\(tableMetric)` is not a metric\(didYouMean(tableMetric, among: metrics.names)); metrics: \(metrics.names.joined(separator: ", "))")
        }
        let origin = plans.compactMap(\.referenceTime).min() ?? 0
        warnAboutLateOffsets(metrics, reference: origin, tEnd: plans.map(\.tEnd).min() ?? 0, timeUnit: definition.timeUnit)

        var results: [SimulationResult] = []
        for plan in plans {
            let r = try simulate(compiled, plan: plan, settings: settings, outputs: outputNames,
                                 detailTimes: metrics.detailTimes(for: plan, reference: origin))
            if let failure = r.failure {
                printError("scenario `\(plan.scenarioName)` failed: \(failure)")
                throw Exit.failedRun
            }
            results.append(r)
        }
        let table = results.map { metrics.evaluate($0, reference: origin) }
        let perOutput = metrics.names.count

        // Terminal table: one row per output, one column per scenario, then each one's difference.
        var lines: [String] = []
        lines.append("\(tableMetric), measured from t = \(Duration.describe(origin)); differences are from \(ref)")
        let cells = outputNames.indices.map { j in table.map { String(format: "%.4g", $0[j * perOutput + metricIndex]) } }
        let deltas = outputNames.indices.map { j in names.indices.filter { $0 != refIndex }.map { k in
            String(format: "%+.3g", table[k][j * perOutput + metricIndex] - table[refIndex][j * perOutput + metricIndex]) } }
        let others = names.indices.filter { $0 != refIndex }.map { "d " + names[$0] }
        let widths = names.indices.map { k in max(names[k].count, cells.map { $0[k].count }.max() ?? 0) + 2 }
        let deltaWidths = others.indices.map { k in max(others[k].count, deltas.map { $0[k].count }.max() ?? 0) + 2 }
        let first = max(6, outputNames.map(\.count).max() ?? 0) + 1
        lines.append(pad("output", first) + zip(names, widths).map { leftPad($0, $1) }.joined() + zip(others, deltaWidths).map { leftPad($0, $1) }.joined())
        for (j, name) in outputNames.enumerated() {
            lines.append(pad(name, first) + zip(cells[j], widths).map { leftPad($0, $1) }.joined() + zip(deltas[j], deltaWidths).map { leftPad($0, $1) }.joined())
        }
        try printOut(lines.joined(separator: "\n"))

        guard let dir = output else { return }
        let folder = URL(fileURLWithPath: dir)
        var series = (["scenario", Duration.timeColumn(definition.timeUnit)] + outputNames).map(csvField).joined(separator: ",") + "\n"
        for (plan, r) in zip(plans, results) {
            let m = r.outputNames.count
            for k in 0..<r.times.count {
                series += csvField(plan.scenarioName) + "," + csvNumber(r.times[k])
                for j in 0..<m { series += "," + csvNumber(r.values[k * m + j]) }
                series += "\n"
            }
        }
        let columns = metrics.columns(outputs: outputNames)
        var summary = (["scenario"] + columns + columns.map { "\($0).vs_\(ref)" }).map(csvField).joined(separator: ",") + "\n"
        for (k, row) in table.enumerated() {
            summary += csvField(names[k]) + "," + row.map(csvNumber).joined(separator: ",") + ","
            summary += zip(row, table[refIndex]).map { csvNumber($0 - $1) }.joined(separator: ",") + "\n"
        }
        let seriesPath = folder.appendingPathComponent("timeseries.csv").path
        try write(series, to: seriesPath, force: force)
        try write(summary, to: folder.appendingPathComponent("summary.csv").path, force: force)
        var meta = RunMetadata(version: Ketasim.version, modelFile: path, plan: plans[refIndex], model: definition, solver: settings)
        meta.extra["scenarios"] = names.joined(separator: ",")
        meta.extra["metric_origin_h"] = csvNumber(origin)
        for file in ["summary.csv", "timeseries.csv"] + (plot ? ["compare.svg"] : []) {
            try write(meta.json(), to: folder.appendingPathComponent(file + ".meta.json").path, force: true)
        }
        if plot {
            let panels = outputNames.map { name in
                PlotPanel(title: name, series: zip(names, results).map { PlotSeries(label: $0, times: $1.times, values: $1.series(name) ?? []) })
            }
            let doses = Array(Set(plans.flatMap { $0.doses.flatMap(\.times) })).sorted()
            let svg = SVGPlot.timeCourses(title: "\(definition.name): \(names.joined(separator: " vs "))", panels: panels, doseTimes: doses)
            try write(svg, to: folder.appendingPathComponent("compare.svg").path, force: force)
        }
        let written = ["timeseries.csv", "summary.csv"] + (plot ? ["compare.svg"] : [])
        printStandardError("wrote " + written.map { folder.appendingPathComponent($0).relativePath }.joined(separator: ", "))
    }
}

func leftPad(_ s: String, _ width: Int) -> String {
    s.count >= width ? " " + s : String(repeating: " ", count: width - s.count) + s
}
