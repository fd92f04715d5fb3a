import ArgumentParser
import Experiments
import Foundation
import Models

struct Sensitivity: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Which parameters drive a metric: local elasticities, Morris screening or Sobol indices.",
        discussion: """
        --local: d ln(metric) / d ln(parameter) at the scenario's values, by central differences with \
        parameter·e^(±h) (--step h, 0.01 by default; a parameter at its bound is stepped to one side, e^(-2h) \
        and e^(-h) or e^h and e^2h, marked in the table and in local.csv). --morris R: R Morris trajectories on --levels \
        levels (mu*, sigma). --sobol N: Saltelli's design of N (D + 2) runs (SALib's row layout, a seeded \
        Latin hypercube base), first-order and total indices (Saltelli 2010, Jansen 1999) with bootstrap \
        95% intervals.
        Ranges for Morris and Sobol: --range NAME=LO:HI (uniform) or NAME=log:LO:HI (log-uniform), or \
        --fold F for every chosen parameter without a --range (log-uniform from value/F to value·F).
        Files in DIR, each with a .meta.json: samples.csv (the design), runs.csv (sample_id, status, \
        metrics), then local.csv, morris.csv or sobol.csv. A table ranked by effect goes to standard output.
        The design's runs are what --shard I/N splits (every N-th sample from I; a shard writes \
        samples.csv and its runs.csv only) and what --resume continues: it keeps the whole rows of \
        runs.csv, runs the missing samples and then computes the indices from every row.

        On a Slurm cluster, --slurm writes the job directory DIR.slurm/ and submits the design's runs as \
        a job array of --shards shards (each running this command with --shard I/N --resume into \
        DIR.slurm/shard-I/) and a merge job that joins their runs.csv into DIR/runs.csv and runs this \
        command with --resume in DIR, which computes the indices from the merged runs. `ketasim jobs \
        DIR.slurm` shows its state; see docs/HPC.md.

        Example:
          ketasim sensitivity --model models/examples/two_compartment.yaml --metrics concentration.auc \\
            --sobol 512 --all-parameters --fold 2 -o sens
          ketasim sensitivity --model models/examples/two_compartment.yaml --metrics concentration.auc \\
            --sobol 4096 --all-parameters --fold 2 -o sens --slurm --shards 20 --time 1:00:00 --wait
        """
    )

    @OptionGroup var scenario: ScenarioOptions

    @Option(help: "Comma-separated metrics OUTPUT.METRIC, e.g. synapse_density.change_24h.")
    var metrics: String

    @Flag(help: "Local normalised sensitivities at the scenario's values.")
    var local = false

    @Option(parsing: .unconditional, help: "Morris screening with R trajectories.")
    var morris: Int?

    @Option(parsing: .unconditional, help: "Sobol indices from N base samples (N (D + 2) runs).")
    var sobol: Int?

    @Option(help: "Comma-separated parameters (dose and stress allowed).")
    var parameters: String?

    @Flag(help: "Every parameter of the model.")
    var allParameters = false

    @Option(help: "NAME=LO:HI or NAME=log:LO:HI (repeatable).")
    var range: [String] = []

    @Option(parsing: .unconditional, help: "Log-uniform range value/F to value*F for each parameter without a --range.")
    var fold: Double?

    @Option(parsing: .unconditional, help: "Step h in ln(parameter) for --local.")
    var step: Double = 0.01

    @Option(parsing: .unconditional, help: "Levels of the Morris grid (even).")
    var levels: Int = 4

    @Option(parsing: .unconditional, help: "Bootstrap resamples for the intervals.")
    var resamples: Int = 100

    @OptionGroup var times: MetricTimes

    @Option(parsing: .unconditional, help: "Seed of the design and of the bootstrap.")
    var seed: UInt64 = 1

    @OptionGroup var spread: ShardOptions

    @Option(name: .shortAndLong, help: "Output folder.")
    var output: String = "sensitivity"

    @Flag(help: "Overwrite existing files in the output folder.")
    var force = false

    @Flag(help: "Draw the analysis: DIR/tornado.svg (--local), DIR/morris.svg (mu* against sigma) or DIR/sobol.svg (S1 and ST with their intervals).")
    var plot = false

    @OptionGroup var solver: SolverOptions

    @OptionGroup(title: "Slurm") var cluster: SlurmOptions

    func validate() throws {
        try spread.check(with: cluster, output: output, force: force)
        let methods = (local ? 1 : 0) + (morris == nil ? 0 : 1) + (sobol == nil ? 0 : 1)
        if methods != 1 { throw ValidationError("give exactly one of --local, --morris R and --sobol N") }
        if let r = morris, r < 2 { throw ValidationError("--morris needs at least 2 trajectories") }
        if let n = sobol, n < 2 { throw ValidationError("--sobol needs at least 2 base samples") }
        if levels < 2 || levels % 2 != 0 { throw ValidationError("--levels must be even and at least 2") }
        if !(step > 0 && step < 1) { throw ValidationError("--step must lie between 0 and 1") }
        if resamples < 2 { throw ValidationError("--resamples must be at least 2") }
        if parameters != nil && allParameters { throw ValidationError("--parameters and --all-parameters exclude each other") }
        try scenario.validateValues()
    }

    func run() throws {
        let loaded = try loadModel(scenario.model)
        let definition = loaded.definition
        let settings = try solver.settings(timeUnit: definition.timeUnit, states: definition.states.count)
        let base = try scenario.plan(definition)
        let compiled = try compile(loaded)
        let spec = try times.spec(definition.timeUnit)

        // Metrics: OUTPUT.METRIC, each output summarised once.
        let wanted = metrics.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        if wanted.isEmpty || wanted.contains(where: \.isEmpty) { throw ValidationError("--metrics takes OUTPUT.METRIC,... e.g. concentration.auc") }
        var outputs: [String] = []
        for m in wanted {
            guard let dot = m.lastIndex(of: ".") else { throw ValidationError("--metrics `\(m)` is not OUTPUT.METRIC") }
            let o = String(m[..<dot])
            guard compiled.observableIndex(o) != nil else { throw ValidationError("--metrics: unknown output `\(o)`\(didYouMean(o, among: compiled.observableNames))") }
            if !outputs.contains(o) { outputs.append(o) }
        }
        let columns = spec.columns(outputs: outputs)
        let picks = try wanted.map { m in
            guard let k = columns.firstIndex(of: m) else { throw ValidationError("--metrics: unknown metric `\(m)`\(didYouMean(m, among: columns))") }
            return k
        }

        // Factors: the chosen ones, then any ranged one not yet named.
        var ranges: [String: ParameterRange] = [:]
        var names: [String] = []
        if allParameters { names = definition.parameters.map(\.name) }
        else if let p = parameters { names = p.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
        for text in range {
            switch ParameterRange.parse(text) {
            case .success(let r):
                if ranges[r.name] != nil { throw ValidationError("--range \(r.name) is given twice") }
                ranges[r.name] = r
                if !names.contains(r.name) { names.append(r.name) }
            case .failure(let e): throw ValidationError("--range " + e.description)
            }
        }
        if names.isEmpty { throw ValidationError("name what to vary: --parameters a,b, --all-parameters or --range NAME=LO:HI") }
        if let twice = firstDuplicate(names) { throw ValidationError("--parameters names `\(twice)` twice") }
        var factors: [SensitivityFactor] = [], values: [Double] = []
        for name in names {
            switch SensitivityFactor.named(name, in: definition) {
            case .success(let f):
                guard let v = f.value(in: base, model: definition) else {
                    throw ValidationError("`\(name)`: scenario `\(base.scenarioName)` names no treatment drug; add doses with --dose")
                }
                factors.append(f)
                values.append(v)
            case .failure(let e): throw ValidationError(e.description)
            }
        }

        var design: SweepDesign
        var method: String
        var local: LocalDesign?, morrisDesign: MorrisDesign?, saltelli: SaltelliDesign?
        if self.local {
            let d = LocalDesign(factors: factors, baseValues: values, step: step, bounds: factors.map { $0.bounds(in: definition) })
            local = d
            design = d.sweepDesign
            method = "local"
        } else {
            var list: [ParameterRange] = []
            for (f, v) in zip(factors, values) {
                if let r = ranges[f.name] { list.append(r); continue }
                guard let fold else { throw ValidationError("`\(f.name)` has no range; give --range \(f.name)=LO:HI or --fold F") }
                switch ParameterRange.fold(name: f.name, value: v, factor: fold) {
                case .success(let r): list.append(r)
                case .failure(let e): throw ValidationError("--fold: " + e.description)
                }
            }
            for (f, r) in zip(factors, list) {
                if case .parameter(let p) = f.target, let bounds = f.bounds(in: definition),
                   !(bounds.contains(r.low) && bounds.contains(r.high)) {
                    throw ValidationError("the range of `\(p)` [\(formatNumber(r.low)), \(formatNumber(r.high))] leaves its bounds [\(formatNumber(bounds.lowerBound)), \(formatNumber(bounds.upperBound))]")
                }
            }
            if let r = morris {
                let d = MorrisDesign(ranges: list, trajectories: r, levels: levels, seed: seed)
                morrisDesign = d
                design = SweepDesign(factors: factors, columns: d.columns)
                method = "morris"
            } else {
                let d = SaltelliDesign(ranges: list, baseSamples: sobol ?? 2, seed: seed)
                saltelli = d
                design = SweepDesign(factors: factors, columns: d.columns)
                method = "saltelli"
            }
        }

        let analysisFile = method == "saltelli" ? "sobol.csv" : method + ".csv"
        let folder = URL(fileURLWithPath: output)
        let finalPaths = ["samples.csv", "runs.csv", analysisFile].map { folder.appendingPathComponent($0).path }
        if !force && !spread.resume {
            for p in finalPaths where FileManager.default.fileExists(atPath: p) {
                throw ValidationError("\(p) already exists; pass --force to overwrite it or --resume to finish it")
            }
        }
        if cluster.slurm {
            try submitToSlurm(cluster, command: "sensitivity", runs: design.count, output: output,
                              arguments: clusterArguments(dropping: ShardOptions.scriptOwned, model: loaded.path), inputs: [absolutePath(loaded.path)],
                              resultFile: "runs.csv", force: force)
            return
        }
        let shard = try spread.spec()

        // Files. A shard writes the design and its runs; the analysis needs every run.
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: output, isDirectory: &isDirectory) {
            if !isDirectory.boolValue { throw ValidationError("\(output) is a file; -o takes a folder") }
        } else {
            do { try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: false) } catch {
                printError("cannot create the folder \(output): \(error.localizedDescription)")
                throw Exit.cannotWrite
            }
        }
        let paths = shard == nil ? finalPaths : Array(finalPaths.prefix(2))
        let locks = try lockOutputs(paths, inputs: [loaded.path, scenario.changes.doseTable])
        defer { withExtendedLifetime(locks) {} }
        var meta = RunMetadata(version: Ketasim.version, modelFile: loaded.path, plan: base, model: definition, solver: settings, seed: seed)
        meta.extra["design"] = method
        meta.extra["runs_total"] = String(design.count)
        meta.extra["metric_offsets"] = times.at
        meta.extra["factors"] = names.joined(separator: ",")
        if let d = morrisDesign { meta.extra["morris"] = "trajectories \(d.trajectories), levels \(d.levels)" }
        if let d = saltelli { meta.extra["saltelli"] = "N \(d.baseSamples), first-order and total, Latin hypercube base; rows A, AB_1..AB_D, B per block" }
        if let d = local { meta.extra["step"] = "h = \(d.step) in ln(parameter); rows: base, then value*e^-h, value*e^h per factor (value*e^-2h, value*e^-h at an upper bound; value*e^h, value*e^2h at a lower bound: the column `difference` of local.csv)" }
        if let (i, n) = shard { meta.extra["shard"] = "\(i + 1)/\(n)" }
        let runsFile: ResumableCSV
        do {
            if spread.resume && FileManager.default.fileExists(atPath: paths[1]) { try meta.checkResumable(paths[1]) }
            runsFile = try ResumableCSV(path: paths[1], header: ["sample_id", "status"] + wanted, resume: spread.resume, force: true)
        } catch {
            if case .mismatch = error { throw ValidationError("--resume: " + error.description + "; rerun the command that wrote it, or write a new folder") }
            throw fileError(error)
        }
        // Sidecars after the resume check, which reads the old one.
        var samples = (["sample_id"] + names).map(csvField).joined(separator: ",") + "\n"
        for i in 0..<design.count { samples += ([String(i + 1)] + design.point(i).map(csvNumber)).joined(separator: ",") + "\n" }
        try write(samples, to: paths[0], force: true)
        for p in paths { try write(meta.json(), to: p + ".meta.json", force: true) }

        var runIDs = shard.map { RunSet.shard($0.index, of: $0.count, total: design.count) } ?? .all(design.count)
        runIDs.done = runsFile.finished
        let interrupted = InterruptFlag()
        let progress = Progress(total: runIDs.count, enabled: isatty(STDERR_FILENO) == 1)
        var tally = RunTally()
        var runner = SweepRunner(model: compiled, settings: settings, base: base, design: design, outputs: outputs, metrics: spec,
                                 jobs: spread.threads(), runIDs: runIDs, keepSeries: false)
        runner.metricColumns = wanted
        try runner.run(shouldStop: { interrupted.isSet }) { row in
            var fields = [String(row.runID), row.succeeded ? "ok" : "failed"]
            for k in picks { fields.append(row.succeeded && k < row.metrics.count ? csvNumber(row.metrics[k]) : "") }
            do { try runsFile.append(fields.joined(separator: ",") + "\n") } catch let error as OutputFileError { throw fileError(error) }
            tally.add(row, label: "sample \(row.runID)")
            progress.step(failed: tally.failed)
        }
        progress.finish()
        for line in tally.notes(columns: wanted, of: runIDs.count) { printError("note: " + line) }
        if interrupted.isSet {
            printError("interrupted: the runs finished so far are in \(paths[1]); run the same command with --resume to finish them and the analysis")
            throw ExitCode(130)
        }
        if let (i, n) = shard {
            if tally.failed > 0 { printError("\(tally.failed) of \(runIDs.count) runs of shard \(i + 1)/\(n) failed (first, \(tally.firstFailure ?? "no reason given"))") }
            printStandardError("shard \(i + 1)/\(n): runs in \(paths[1]); the analysis runs once every shard is merged")
            if tally.failed > 0 { throw ExitCode(3) }
            return
        }
        // The analysis reads every run from the file, so a resumed or merged design gives the indices
        // a single local run gives, to the last digit.
        let (y, failedInFile) = try metricValues(in: paths[1], metrics: wanted.count, runs: design.count)
        // runs.csv keeps the issue's columns (no message), so the first reason is said here when known.
        if failedInFile > 0 {
            let reason = tally.firstFailure.map { "first, \($0)" } ?? "see the status column of \(paths[1])"
            printError("\(failedInFile) of \(design.count) runs failed (\(reason)); the analysis leaves them out")
        }

        // Analysis and the ranked table.
        var csv: String
        var table: [String] = []
        var bars: [SVGPlot.BarPanel] = [], scatter: [SVGPlot.ScatterPanel] = []
        let subtitle = "\(definition.name): \(base.scenarioName)"
        if let d = local {
            csv = (["parameter", "value", "difference"] + wanted).map(csvField).joined(separator: ",") + "\n"
            let e = y.map { LocalSensitivity.elasticities($0, step: d.step, sides: d.sides) }
            for (k, name) in names.enumerated() {
                csv += ([csvField(name), csvNumber(values[k]), d.sides[k].rawValue] + e.map { csvNumber($0[k]) }).joined(separator: ",") + "\n"
            }
            for (m, metric) in wanted.enumerated() {
                table.append("\(metric): d ln(metric) / d ln(parameter)")
                let order = names.indices.sorted(by: { rank(e[m][$0]) > rank(e[m][$1]) })
                for k in order {
                    let side = d.sides[k] == .central ? "" : "  (one-sided, \(d.sides[k] == .below ? "at its upper bound" : "at its lower bound"))"
                    table.append("  " + pad(names[k]) + String(format: "%+10.4f", e[m][k]) + side)
                }
                // A tornado: the largest effects on top, red raising the metric, blue lowering it.
                let shown = Array(order.prefix(30))
                bars.append(SVGPlot.BarPanel(title: metricLabel(metric, definition), valueLabel: "d ln(metric) / d ln(parameter)",
                                             categories: shown.map { names[$0] },
                                             groups: [SVGPlot.BarGroup(label: "elasticity", values: shown.map { e[m][$0] },
                                                                       colours: shown.map { e[m][$0] >= 0 ? SVGPlot.increase : SVGPlot.decrease })],
                                             key: [(SVGPlot.increase, "raises the metric"), (SVGPlot.decrease, "lowers it")]))
            }
        } else if let d = morrisDesign {
            csv = "parameter,metric,mu_star,mu_star_conf,mu,sigma\n"
            for (m, metric) in wanted.enumerated() {
                let r = Morris.analyze(d, y: y[m], resamples: max(resamples, 1000), seed: seed)
                table.append("\(metric): Morris mu* (sigma), per unit fraction of each range")
                for k in names.indices {
                    csv += [csvField(names[k]), csvField(metric), csvNumber(r[k].muStar), csvNumber(r[k].muStarConf), csvNumber(r[k].mu), csvNumber(r[k].sigma)].joined(separator: ",") + "\n"
                }
                for k in names.indices.sorted(by: { rank(r[$0].muStar) > rank(r[$1].muStar) }) {
                    table.append("  " + pad(names[k]) + String(format: "mu* %10.4g  sigma %10.4g", r[k].muStar, r[k].sigma))
                }
                scatter.append(SVGPlot.ScatterPanel(title: metricLabel(metric, definition), xLabel: "mu* (mean |elementary effect|)",
                                                    yLabel: "sigma (standard deviation of the effects)",
                                                    points: names.indices.map { SVGPlot.ScatterPoint(label: names[$0], x: r[$0].muStar, y: r[$0].sigma) },
                                                    rays: [(1, "sigma = mu*"), (0.1, "sigma = 0.1 mu*")]))
            }
        } else {
            csv = "parameter,metric,S1,S1_conf,ST,ST_conf\n"
            for (m, metric) in wanted.enumerated() {
                let (r, used) = Sobol.analyze(y[m], factors: names.count, resamples: resamples, seed: seed)
                table.append("\(metric): Sobol indices (95% bootstrap half-widths), \(used) of \(sobol ?? 0) base samples")
                for k in names.indices {
                    csv += [csvField(names[k]), csvField(metric), csvNumber(r[k].s1), csvNumber(r[k].s1Conf), csvNumber(r[k].st), csvNumber(r[k].stConf)].joined(separator: ",") + "\n"
                }
                let order = names.indices.sorted(by: { rank(r[$0].st) > rank(r[$1].st) })
                for k in order {
                    table.append("  " + pad(names[k]) + String(format: "S1 %7.4f ± %.4f  ST %7.4f ± %.4f", r[k].s1, r[k].s1Conf, r[k].st, r[k].stConf))
                }
                let shown = Array(order.prefix(30))
                bars.append(SVGPlot.BarPanel(title: metricLabel(metric, definition), valueLabel: "Sobol index (whiskers: 95% bootstrap interval)",
                                             categories: shown.map { names[$0] },
                                             groups: [SVGPlot.BarGroup(label: "first order S1", values: shown.map { r[$0].s1 },
                                                                       low: shown.map { r[$0].s1 - r[$0].s1Conf }, high: shown.map { r[$0].s1 + r[$0].s1Conf }),
                                                      SVGPlot.BarGroup(label: "total ST", values: shown.map { r[$0].st },
                                                                       low: shown.map { r[$0].st - r[$0].stConf }, high: shown.map { r[$0].st + r[$0].stConf })]))
            }
        }
        try write(csv, to: paths[2], force: true)
        if plot {
            let file = folder.appendingPathComponent(method == "local" ? "tornado.svg" : method == "morris" ? "morris.svg" : "sobol.svg").path
            let svg: String
            switch method {
            case "local": svg = SVGPlot.horizontalBars(title: "Local sensitivities, \(subtitle) (step h = \(formatNumber(step)))", panels: bars)
            case "morris": svg = SVGPlot.scatter(title: "Morris screening, \(subtitle) (\(morris ?? 0) trajectories)", panels: scatter)
            default: svg = SVGPlot.horizontalBars(title: "Sobol indices, \(subtitle) (N = \(sobol ?? 0))", panels: bars)
            }
            try write(svg, to: file, force: true)
            try write(meta.json(), to: file + ".meta.json", force: true)
        }
        try printOut(table.joined(separator: "\n"))
        if failedInFile > 0 { throw ExitCode(3) }
    }

    /// Per metric, the value of every run (NaN for a failed one), and how many failed; refuses a file
    /// that lacks runs, since the estimators need the whole design.
    private func metricValues(in path: String, metrics: Int, runs: Int) throws -> ([[Double]], Int) {
        let table: CSVRows
        do { table = try CSVRows(path: path) } catch { throw fileError(error) }
        var y = [[Double]](repeating: [Double](repeating: .nan, count: runs), count: metrics)
        var seen = Set<Int>()
        var failed = 0
        for fields in table.rows {
            guard let id = Int(fields[0]), (1...runs).contains(id), fields.count == 2 + metrics else { continue }
            seen.insert(id)
            if fields[1] != "ok" { failed += 1; continue }
            for m in 0..<metrics { y[m][id - 1] = Double(fields[2 + m]) ?? .nan }
        }
        if seen.count < runs {
            printError("\(path) holds \(seen.count) of the design's \(runs) runs; run the same command with --resume to finish it")
            throw Exit.failedRun
        }
        return (y, failed)
    }

    private func rank(_ x: Double) -> Double { x.isFinite ? abs(x) : -1 }
    private func pad(_ s: String) -> String { s.count >= 24 ? s + " " : s + String(repeating: " ", count: 24 - s.count) }
}
