import ArgumentParser
import Dispatch
import Experiments
import Foundation
import Integrator
import Models

struct Sweep: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a scenario over a grid or a Latin hypercube of doses, stress and parameters; one CSV row per run.",
        discussion: """
        --vary NAME=VALUES, repeatable. NAME: dose (every dose of the scenario's treatment drug), \
        stress (intensity 0-1), dose_time (time of the treatment's first dose) or any model parameter.
        VALUES: a list 0,1,3,10; a range 0:40:5 (start:stop:step, stop included); log:0.1:100:7.
        Several --vary make a full grid (the last varies fastest); --samples N draws a Latin \
        hypercube over their ranges instead, the same for the same --seed.

        Each row: run_id, the varied values, status (ok or failed), message, then <output>.<metric> \
        for pre, min, max, t_max, auc, at_<d>, change_<d> (d from --at, default 2h,24h,7d) and \
        duration, all measured from the first dose. Metrics are read from the output grid plus a \
        per-minute trace of the 6 h after each dose (and each --at time exactly), so the minutes-scale \
        peaks are found however coarse --every is. Rows are written as runs finish, in run_id order.
        A failed run is a failed row with its reason and the sweep goes on (exit 3 at the end).
        Ctrl-C stops after the runs in progress; the file then holds every finished run, and \
        --resume runs the rest. --shard I/N runs every N-th run starting at I (1-based), or takes \
        SLURM_ARRAY_TASK_ID and SLURM_ARRAY_TASK_COUNT from the environment; join the shards with \
        `ketasim merge`.

        On a Slurm cluster, --slurm writes the job directory <output>.slurm/ (job.json, array.sbatch, \
        merge.sbatch, the shard files and logs) and submits a job array of --shards shards, each running \
        this same command with --shard I/N --resume and --jobs set to --cpus-per-task, and a merge job \
        after it that writes -o and its .meta.json exactly as a local run does (the same rows, whatever \
        the shard count). --wait blocks until the merge ends (exit 0 only if it succeeded, 75 if it \
        failed); `ketasim jobs <output>.slurm` shows done, running, failed and missing shards and \
        `--resubmit` runs the failed ones again. --series and --plot run locally only. See docs/HPC.md.

        Examples:
          ketasim sweep --scenario stress_ketamine --vary dose=0:40:5 --vary stress=0:1:0.25 -o grid.csv
          ketasim sweep --vary dose=0:40:0.5 --vary stress=0:1:0.01 -o big.csv --slurm --shards 40 \\
            --max-parallel 10 --cpus-per-task 4 --time 1:00:00 --mem 2G --partition short --wait
          ketasim sweep --vary dose=0:40:5 -o grid.csv --slurm --dry-run
          ketasim jobs big.csv.slurm --resubmit
        """
    )

    @OptionGroup var scenario: ScenarioOptions

    @Option(name: .customLong("vary"), help: "NAME=VALUES to vary (repeatable).")
    var vary: [String] = []

    @Option(parsing: .unconditional, help: "Draw N Latin hypercube samples instead of the full grid.")
    var samples: Int?

    @Option(parsing: .unconditional, help: "Seed of the Latin hypercube.")
    var seed: UInt64 = 1

    @OptionGroup var spread: ShardOptions

    @Option(help: "Also write every run's time series in long form (run_id, time, outputs) to this file.")
    var series: String?

    @OptionGroup var measured: MetricOptions

    @Option(name: .shortAndLong, help: "Summary CSV file.")
    var output: String

    @Flag(help: "Overwrite existing output files.")
    var force = false

    @Option(help: "For a two-parameter grid: draw a heat map of --plot-metric to this SVG file.")
    var plot: String?

    @Option(help: "Metric column for --plot.")
    var plotMetric: String = "synapse_density.change_24h"

    @OptionGroup var solver: SolverOptions

    @OptionGroup(title: "Slurm") var cluster: SlurmOptions

    func validate() throws {
        try spread.check(with: cluster, output: output, force: force)
        if cluster.slurm {
            if series != nil || plot != nil { throw ValidationError("--\(series != nil ? "series" : "plot") runs locally only; drop it from the --slurm sweep (draw the plot from the merged file with a local sweep)") }
        }
        if vary.isEmpty { throw ValidationError("give at least one --vary NAME=VALUES") }
        if let n = samples, n < 1 { throw ValidationError("--samples must be at least 1") }
        try requireDistinctPaths([output, series, plot])
        try scenario.validateValues()
        if !spread.resume {
            for path in [output, series, plot].compactMap({ $0 }) where FileManager.default.fileExists(atPath: path) && !force {
                throw ValidationError("\(path) already exists; pass --force to overwrite it or --resume to finish it")
            }
        }
    }

    func run() throws {
        let loaded = try loadModel(scenario.model)
        let (path, definition) = (loaded.path, loaded.definition)
        // A cluster sweep's output is written by its merge job, which takes the lock itself.
        let locks = try lockOutputs(cluster.slurm ? [] : [output, series, plot], inputs: [path, scenario.changes.doseTable])
        defer { withExtendedLifetime(locks) {} }
        let settings = try solver.settings(timeUnit: definition.timeUnit, states: definition.states.count)
        let base = try scenario.plan(definition)
        let compiled = try compile(loaded)
        var axes: [SweepAxis] = []
        for text in vary {
            switch SweepAxis.parse(text, model: definition) {
            case .success(let a):
                if axes.contains(where: { $0.name == a.name }) { throw ValidationError("--vary \(a.name) is given twice") }
                if (a.target == .dose || a.target == .doseTime) && base.treatment == nil {
                    throw ValidationError("--vary \(a.name): scenario `\(base.scenarioName)` names no treatment drug; add doses with --dose")
                }
                axes.append(a)
            case .failure(let e): throw ValidationError("--vary " + e.description)
            }
        }
        let design: SweepDesign
        do { design = try samples.map { (n) throws(SweepDesignError) in try SweepDesign(latinHypercube: axes, samples: n, seed: seed) } ?? SweepDesign(grid: axes) } catch { throw ValidationError("--samples: " + error.description) }
        if design.count > 100_000_000 { throw ValidationError("the grid has \(design.count) runs; more than 100 million is surely a mistake") }
        let names = try measured.outputNames(definition)
        for n in names where compiled.observableIndex(n) == nil {
            throw ValidationError("unknown output `\(n)`\(didYouMean(n, among: compiled.observableNames))")
        }
        let metrics = try measured.spec(definition.timeUnit)
        warnAboutLateOffsets(metrics, reference: base.referenceTime ?? 0, tEnd: base.tEnd, timeUnit: definition.timeUnit)
        let header = ["run_id"] + axes.map(\.name) + ["status", "message"] + metrics.columns(outputs: names)
        if let p = plot, axes.count != 2 || !design.isGrid || !header.contains(plotMetric) {
            let why = !design.isGrid ? "a Latin hypercube (--samples) is not a grid" : "this sweep varies \(axes.count)"
            throw ValidationError(axes.count != 2 || !design.isGrid
                ? "--plot \(p) draws a heat map of a two-parameter grid; \(why)"
                : "--plot-metric `\(plotMetric)` is not a column\(didYouMean(plotMetric, among: header))")
        }

        if cluster.slurm {
            try submitToSlurm(cluster, command: "sweep", runs: design.count, output: output,
                              arguments: clusterArguments(dropping: ShardOptions.scriptOwned, model: path), inputs: [absolutePath(path)], force: force)
            return
        }

        let shard = try spread.spec()
        var runIDs = RunSet.all(design.count)
        if let (index, count) = shard { runIDs = RunSet.shard(index, of: count, total: design.count) }
        var meta = RunMetadata(version: Ketasim.version, modelFile: path, plan: base, model: definition, solver: settings, seed: samples == nil ? nil : seed,
                               sweep: Dictionary(uniqueKeysWithValues: axes.map { ($0.name, $0.values) }))
        meta.extra["runs_total"] = String(design.count)
        meta.extra["design"] = samples == nil ? "grid" : "latin_hypercube"
        if let (i, n) = shard { meta.extra["shard"] = "\(i + 1)/\(n)" }
        meta.extra["metric_offsets"] = measured.at
        let summary: ResumableCSV, seriesFile: ResumableCSV?
        do {
            if spread.resume && FileManager.default.fileExists(atPath: output) { try meta.checkResumable(output) }
            summary = try ResumableCSV(path: output, header: header, resume: spread.resume, force: force)
            seriesFile = try series.map { (p) throws(OutputFileError) in
                try ResumableCSV(path: p, header: ["run_id", definition.timeUnit.column] + names, resume: spread.resume, force: force, keepRuns: summary.finished)
            }
        } catch {
            if case .mismatch = error { throw ValidationError("--resume: " + error.description + "; rerun the command that wrote it, or write a new file") }
            throw fileError(error)
        }
        runIDs.done = summary.finished

        // Every file the sweep writes carries the same record of what produced it.
        for file in [output, series, plot].compactMap({ $0 }) where !isSpecialFile(file) {
            try write(meta.json(), to: file + ".meta.json", force: true)
        }

        let interrupted = InterruptFlag()
        let progress = Progress(total: runIDs.count, enabled: isatty(STDERR_FILENO) == 1)
        var tally = RunTally()
        var heat: [Int: Double] = [:]
        // Metrics start after run_id, the axes, status and message. Only a heat map keeps a value per
        // run; without --plot nothing grows with the number of runs.
        let plotColumn = plot == nil ? nil : header.firstIndex(of: plotMetric).map { $0 - (3 + axes.count) }
        let runner = SweepRunner(model: compiled, settings: settings, base: base, design: design, outputs: names, metrics: metrics,
                                 jobs: spread.threads(), runIDs: runIDs, keepSeries: seriesFile != nil)
        let emitted = try runner.run(shouldStop: { interrupted.isSet }) { row in
            do {
                if let s = seriesFile, let r = row.result { try s.append(r.longRows(label: String(row.runID))) }
                var fields = [String(row.runID)] + row.point.map(csvNumber) + [row.succeeded ? "ok" : "failed", csvField(row.message)]
                fields += row.succeeded ? row.metrics.map(csvNumber) : Array(repeating: "", count: header.count - fields.count)
                try summary.append(fields.joined(separator: ",") + "\n")
            } catch let error as OutputFileError {
                throw fileError(error)
            }
            tally.add(row)
            if let c = plotColumn, row.succeeded, c >= 0, c < row.metrics.count { heat[row.runID] = row.metrics[c] }
            progress.step(failed: tally.failed)
        }
        progress.finish()
        if interrupted.isSet {
            printError("interrupted: \(emitted) runs written to \(output); run the same command with --resume to finish the other \(runIDs.count - emitted)")
            throw ExitCode(130)
        }
        for line in tally.notes(columns: header, of: emitted) { printError("note: " + line) }
        if let p = plot {
            let xs = axes[1].values, ys = axes[0].values
            let z = ys.indices.map { iy in xs.indices.map { ix in heat[iy * xs.count + ix + 1] ?? .nan } }
            let svg = SVGPlot.heatMap(title: "\(definition.name): \(base.scenarioName)", xLabel: axisLabel(axes[1], base, definition),
                                      yLabel: axisLabel(axes[0], base, definition), xs: xs, ys: ys, z: z, zLabel: metricLabel(plotMetric, definition))
            try write(svg, to: p, force: true)
        }
        if tally.failed > 0 {
            printError("\(tally.failed) of \(emitted) runs failed; see the status and message columns of \(output)")
            throw ExitCode(3)
        }
    }
}

/// Set by SIGINT; read by the sweep between runs.
final class InterruptFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    private let source: DispatchSourceSignal

    init() {
        signal(SIGINT, SIG_IGN)
        source = DispatchSource.makeSignalSource(signal: SIGINT, queue: .global())
        source.setEventHandler { [unowned self] in
            self.lock.withLock { self.value = true }
            printStandardError("\nketasim: stopping after the runs in progress (Ctrl-C again to quit at once)")
            signal(SIGINT, SIG_DFL)
        }
        source.resume()
    }

    var isSet: Bool { lock.withLock { value } }
}

/// Runs done, rate and time left on standard error, only when it is a terminal.
final class Progress {
    let total: Int
    let enabled: Bool
    let start = Date()
    var done = 0
    var lastPrint = Date.distantPast

    init(total: Int, enabled: Bool) {
        self.total = total
        self.enabled = enabled
    }

    func step(failed: Int) {
        done += 1
        guard enabled, Date().timeIntervalSince(lastPrint) > 0.25 || done == total else { return }
        lastPrint = Date()
        let elapsed = Date().timeIntervalSince(start)
        let rate = Double(done) / max(elapsed, 1e-9)
        let left = Double(total - done) / max(rate, 1e-9)
        let failures = failed > 0 ? " (\(failed) failed)" : ""
        FileHandle.standardError.write(Data(String(format: "\rsweep: %d/%d runs%@, %.1f runs/s, %@ left   ", done, total, failures, rate, Self.clock(left)).utf8))
    }

    func finish() {
        if enabled && done > 0 { FileHandle.standardError.write(Data("\n".utf8)) }
    }

    static func clock(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return s >= 3600 ? "\(s / 3600)h\(String(format: "%02d", (s % 3600) / 60))m" : s >= 60 ? "\(s / 60)m\(String(format: "%02d", s % 60))s" : "\(s)s"
    }
}

/// Runs `work`, and once it has taken a second says on standard error, as `Progress` does (and only
/// on a terminal), that it is still running: importing or compiling a large model has no counts of
/// its own, and a silent prompt looks like a hang.
func reportingIfSlow<T, E: Error>(_ label: String, _ work: () throws(E) -> T) throws(E) -> T {
    guard isatty(STDERR_FILENO) == 1 else { return try work() }
    let notice = SlowStepNotice(label: label)
    defer { notice.stop() }
    return try work()
}

/// The timer behind `reportingIfSlow`. Its state is touched only on its own serial queue, where the
/// timer fires and `stop` cancels it, so no line is written after the last one.
private final class SlowStepNotice: @unchecked Sendable {
    private let queue = DispatchQueue(label: "ketasim.slow-step")
    private let timer: DispatchSourceTimer
    private let start = Date()
    private var printed = false

    init(label: String) {
        timer = DispatchSource.makeTimerSource(queue: queue)
        timer.schedule(deadline: .now() + 1, repeating: 0.25)
        timer.setEventHandler { [self] in
            printed = true
            FileHandle.standardError.write(Data("\r\(label): \(Progress.clock(Date().timeIntervalSince(start)))   ".utf8))
        }
        timer.setCancelHandler { [self] in
            if printed {
                FileHandle.standardError.write(Data(String(format: "\r%@: done in %.1f s   \n", label, Date().timeIntervalSince(start)).utf8))
            }
        }
        timer.resume()
    }

    func stop() {
        queue.sync { timer.cancel() }
    }
}

/// A sweep axis with its unit: a dose in the unit of the scenario's treatment dose, a parameter in its
/// declared unit, a dose time in the model's time unit.
func axisLabel(_ axis: SweepAxis, _ base: SimulationPlan, _ model: ModelDefinition) -> String {
    switch axis.target {
    case .dose:
        let dose = base.doses.first { $0.drug == base.treatment } ?? base.doses.first
        return dose.map { "\($0.drug) dose (\($0.unit.rawValue))" } ?? "dose"
    case .stress: return "stress intensity (0 to 1)"
    case .doseTime: return "dose time (\(model.timeUnit.description))"
    case .parameter(let p):
        let unit = model.parameter(named: p)?.unit ?? ""
        return unit.isEmpty || unit == "1" ? p : "\(p) (\(unit))"
    }
}

/// `synapse_density.change_24h` as "synapse_density.change_24h (relative)": the metric with its output's unit;
/// change_ metrics are fractions, t_max and duration hours.
func metricLabel(_ column: String, _ model: ModelDefinition) -> String {
    guard let dot = column.lastIndex(of: ".") else { return column }
    let output = String(column[..<dot]), metric = String(column[column.index(after: dot)...])
    let unit: String
    if metric.hasPrefix("change_") { unit = "fraction of pre" }
    else if metric == "t_max" || metric == "duration" { unit = model.timeUnit.description }
    else if metric == "auc" { unit = "\(OutputLabel(output, model: model).unit)·\(model.timeUnit.description)" }
    else { unit = OutputLabel(output, model: model).unit }
    return unit.isEmpty ? column : "\(column) (\(unit))"
}
