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
        DIR/compare.svg (per output in --outputs: the hours around the treatment dose, from the \
        per-minute trace, beside the whole course; outputs that stay 0 are left out); always prints a table of --table-metric for every output.

        Example:
          ketasim compare --scenarios control,chronic_stress,stress_ketamine,stress_ketamine_rapamycin -o out/ --plot
        """
    )

    @Option(help: "Model file; the bundled default when absent.")
    var model: String?

    @Option(help: "Comma-separated scenarios to run.")
    var scenarios: String

    @OptionGroup var changes: PlanChanges

    @Option(help: "Scenario the others are compared with; the first by default.")
    var reference: String?

    @Option(name: .shortAndLong, help: "Folder for timeseries.csv, summary.csv and compare.svg.")
    var output: String?

    @Flag(help: "Draw the scenarios over each other to DIR/compare.svg.")
    var plot = false

    @Flag(help: "Overwrite existing files in the output folder.")
    var force = false

    @OptionGroup var measured: MetricOptions

    @Option(help: "Metric shown in the terminal table.")
    var tableMetric: String = "at_24h"

    @OptionGroup var solver: SolverOptions

    func validate() throws {
        try changes.validateValues()
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
        let definition = loaded.definition
        let settings = try solver.settings(timeUnit: definition.timeUnit, states: definition.states.count)
        let names = scenarios.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        if names.isEmpty { throw ValidationError("--scenarios needs at least one scenario") }
        if let twice = firstDuplicate(names) { throw ValidationError("--scenarios names `\(twice)` twice") }
        var plans: [SimulationPlan] = []
        for name in names {
            guard let s = definition.scenario(named: name) else {
                let known = definition.scenarios.map(\.name)
                if known.isEmpty { throw ValidationError("\(loaded.path) defines no scenarios, and compare runs a model's named scenarios; use run or sweep with it") }
                throw ValidationError("unknown scenario `\(name)`\(didYouMean(name, among: known)); the model has \(known.joined(separator: ", "))")
            }
            var plan = SimulationPlan(scenario: s)
            try changes.apply(to: &plan, definition)
            plan.doseWindows = changes.every == nil
            plans.append(plan)
        }
        // Metrics are read at the same offsets from one origin in every arm; arms that dose at
        // different times would be measured at different moments of their own course.
        let dosed = zip(names, plans).compactMap { n, p in p.referenceTime.map { (n, $0) } }
        if let a = dosed.first, let b = dosed.first(where: { $0.1 != a.1 }) {
            throw ValidationError("`\(a.0)` is dosed at \(definition.timeUnit.describe(a.1)) and `\(b.0)` at \(definition.timeUnit.describe(b.1)); their metrics would be read at different moments of each arm. Compare arms dosed at the same time, or move a dose with --dose")
        }
        let ref = reference ?? names[0]
        guard let refIndex = names.firstIndex(of: ref) else { throw ValidationError("--reference `\(ref)` is not among --scenarios") }
        let compiled = try compile(loaded)
        let outputNames = try measured.outputNames(definition)
        let metrics = try measured.spec(definition.timeUnit)
        guard metrics.names.contains(tableMetric) else {
            throw ValidationError("--table-metric `\(tableMetric)` is not a metric\(didYouMean(tableMetric, among: metrics.names)); metrics: \(metrics.names.joined(separator: ", "))")
        }
        let origin = CompareReport.origin(of: plans)
        warnAboutLateOffsets(metrics, reference: origin, tEnd: plans.map(\.tEnd).min() ?? 0, timeUnit: definition.timeUnit)

        var results: [SimulationResult] = []
        for plan in plans {
            let r = try simulate(compiled, plan: plan, settings: settings, outputs: outputNames,
                                 detailTimes: metrics.detailTimes(for: plan, reference: origin, timeUnit: definition.timeUnit))
            if let failure = r.failure {
                printError("scenario `\(plan.scenarioName)` failed: \(failure)")
                throw Exit.failedRun
            }
            results.append(r)
        }
        let report = CompareReport(scenarios: names, referenceIndex: refIndex, outputs: outputNames, metrics: metrics,
                                   origin: origin, results: results, timeUnit: definition.timeUnit)
        try printOut(report.text(metric: tableMetric) ?? "")
        for note in report.notes(metric: tableMetric) { printStandardError("note: " + note) }

        guard let dir = output else { return }
        let folder = URL(fileURLWithPath: dir)
        func path(_ file: String) -> String { folder.appendingPathComponent(file).path }
        // The folder itself may be new; a missing parent is a mistake (exit 73), not a tree to create.
        if !FileManager.default.fileExists(atPath: dir) {
            do { try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: false) } catch {
                printError("cannot create \(dir): \(error.localizedDescription)")
                throw Exit.cannotWrite
            }
        }
        let locks = try lockOutputs(["timeseries.csv", "summary.csv", "compare.svg"].map(path), inputs: [loaded.path, changes.doseTable])
        defer { withExtendedLifetime(locks) {} }
        try write(report.timeSeriesCSV, to: path("timeseries.csv"), force: force)
        try write(report.summaryCSV, to: path("summary.csv"), force: force)
        var meta = RunMetadata(version: Ketasim.version, modelFile: loaded.path, plan: plans[refIndex], model: definition, solver: settings)
        meta.extra["scenarios"] = names.joined(separator: ",")
        meta.extra["metric_origin"] = csvNumber(origin)
        meta.describeColumns(outputNames, model: definition)
        for plan in plans where !plan.doses.isEmpty { meta.extra["doses." + plan.scenarioName] = plan.doses.map(\.description).joined(separator: "; ") }
        for file in ["summary.csv", "timeseries.csv"] + (plot ? ["compare.svg"] : []) {
            try write(meta.json(), to: path(file + ".meta.json"), force: true)
        }
        if plot {
            // The fine trace (grid and per-minute rows after each dose), so peaks are drawn as the metrics read them.
            let panels = outputNames.map { name in
                let label = OutputLabel(name, model: definition)
                return PlotPanel(title: label.title, series: zip(names, results).map { scenario, r in
                    let fine = r.fineSeries(name)
                    return PlotSeries(label: scenario, times: fine?.times ?? [], values: fine?.values ?? [])
                }, unit: label.unit, name: name)
            }
            let doses = Array(Set(plans.flatMap { $0.doses.flatMap(\.times) })).sorted()
            let dosed = plans.contains { $0.referenceTime != nil }
            let svg = SVGPlot.timeCourses(title: "\(definition.name): \(names.joined(separator: " vs "))", panels: panels, doseTimes: doses,
                                          timeUnit: definition.timeUnit, doseAt: dosed ? origin : nil)
            try write(svg, to: path("compare.svg"), force: force)
        }
        let written = ["timeseries.csv", "summary.csv"] + (plot ? ["compare.svg"] : [])
        printStandardError("wrote " + written.map { folder.appendingPathComponent($0).relativePath }.joined(separator: ", "))
    }
}
