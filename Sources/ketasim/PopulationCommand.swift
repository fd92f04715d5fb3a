import ArgumentParser
import Experiments
import Foundation
import Models

struct Population: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "A virtual population: inter-individual variability, percentile bands and responder fractions.",
        discussion: """
        Each of --n subjects draws its parameters: --iiv NAME=CV% makes a parameter log-normal with \
        median the scenario's value and that coefficient of variation (sigma of ln = sqrt(ln(1 + CV^2))); \
        --correlation FILE correlates them (a CSV whose header names the parameters); --from-fit DIR \
        draws the fitted parameters from a normal on their estimation scale with the Fisher covariance \
        of DIR/estimates.csv (calibration uncertainty); --covariates draws what the organism declares \
        (the bundled human: body weight, CV 24%, from a patient PK study). A body_weight parameter \
        matters for fixed doses (mg): per-kg volumes and clearances cancel it for mg/kg doses. Subject i is the same for the same --seed in every \
        shard, resume and --vary value (common random numbers).
        --vary NAME=VALUES (as sweep) runs the same subjects at each value.

        Files in DIR, each with a .meta.json: subjects.csv (run_id, subject_id, the varied values, the \
        sampled parameters, status, message, then OUTPUT.METRIC for every output), traces.csv (each \
        run's outputs on the output grid: what the bands are computed from), bands.csv (the varied \
        values, time, output, one column per percentile, over the subjects that succeeded) and, with \
        --responder, responders.csv (the varied values, criterion, n, responders, fraction, ci_low, \
        ci_high with a Wilson 95% interval, failed, undetermined). --plot adds bands.svg and, with \
        --vary and --responder, responders.svg.
        A criterion is OUTPUT.METRIC OP X (OP one of > >= < <=), conditions joined by `and`, and \
        optionally `given` a subgroup: "synapse_density.at_24h > 0.9 given synapse_density.pre < 0.8" \
        is the share of the subgroup that responds.
        --shard, --resume, --jobs and --slurm work as for sensitivity: the runs are the unit; a shard \
        writes subjects.csv and traces.csv only, and the bands and responders are computed from the \
        whole files once every run is in them.

        Examples:
          ketasim population --scenario human_ketamine_infusion --vary dose=0.1,0.25,0.5,1.0 --n 500 \\
            --iiv cl_ket=30% --iiv v1_ket=25% --iiv body_weight=15% --outputs ketamine_plasma,synapse_density \\
            --responder "synapse_density.change_24h > 0.05" --every 1h -o dose_ranging --plot
          ketasim population --model models/examples/two_compartment.yaml --n 1000 --iiv V=30% --iiv ke=20% -o pop
        """
    )

    @OptionGroup var scenario: ScenarioOptions

    @Option(parsing: .unconditional, help: "Number of subjects.")
    var n: Int

    @Option(help: "NAME=CV%: log-normal variability of a parameter (repeatable), e.g. cl_ket=30%.")
    var iiv: [String] = []

    @Flag(help: "Also draw every parameter whose variability the organism declares in the model (its `variability:` entries, each with a CV and its source, e.g. the human body weight), unless --iiv names it.")
    var covariates = false

    @Option(help: "CSV correlation matrix of --iiv parameters (header of names).")
    var correlation: String?

    @Option(help: "Folder of a `ketasim fit`: draw its parameters from estimates.csv's estimates and covariance.")
    var fromFit: String?

    @Option(parsing: .unconditional, help: "Seed of the population.")
    var seed: UInt64 = 1

    @Option(help: "Comma-separated outputs for metrics and bands; those of --responder, else the model's first output, by default.")
    var outputs: String?

    @Option(help: "Comma-separated percentiles of the bands.")
    var percentiles: String = "5,25,50,75,95"

    @Option(help: "Responder criterion, e.g. \"synapse_density.change_24h > 0.05\" (repeatable).")
    var responder: [String] = []

    @Option(name: .customLong("vary"), help: "NAME=VALUES: run the same subjects at each value (repeatable; as sweep).")
    var vary: [String] = []

    @OptionGroup var times: MetricTimes

    @OptionGroup var spread: ShardOptions

    @Option(name: .shortAndLong, help: "Output folder.")
    var output: String = "population"

    @Flag(help: "Overwrite existing files in the output folder.")
    var force = false

    @Flag(help: "Draw bands.svg (and responders.svg with --vary and --responder).")
    var plot = false

    @OptionGroup var solver: SolverOptions

    @OptionGroup(title: "Slurm") var cluster: SlurmOptions

    func validate() throws {
        try spread.check(with: cluster, output: output, force: force)
        if n < 1 { throw ValidationError("--n must be at least 1") }
        try scenario.validateValues()
    }

    func run() throws {
        let loaded = try loadModel(scenario.model)
        let definition = loaded.definition
        let settings = try solver.settings(timeUnit: definition.timeUnit, states: definition.states.count)
        let base = try scenario.plan(definition)
        let compiled = try compile(loaded)
        let spec = try times.spec(definition.timeUnit)
        let percentileList: [Double]
        switch parsePercentiles(percentiles) {
        case .success(let p): percentileList = p
        case .failure(let e): throw ValidationError("--percentiles: " + e.description)
        }

        // Variability.
        var specs: [IIVSpec] = []
        for text in iiv {
            switch IIVSpec.parse(text) {
            case .success(let s):
                guard definition.parameter(named: s.name) != nil else {
                    throw ValidationError("--iiv \(s.name): unknown parameter\(didYouMean(s.name, among: definition.parameters.map(\.name)))")
                }
                specs.append(s)
            case .failure(let e): throw ValidationError("--iiv " + e.description)
            }
        }
        if covariates {
            let organism = base.organism.flatMap { definition.organism(named: $0) }
            let declared = organism?.variability ?? []
            guard !declared.isEmpty else {
                throw ValidationError("--covariates: organism `\(base.organism ?? "none")` declares no variability in \(definition.name); give each one with --iiv NAME=CV%")
            }
            for v in declared where !specs.contains(where: { $0.name == v.parameter }) {
                specs.append(IIVSpec(name: v.parameter, cv: v.cv))
                printStandardError("population: \(v.parameter) log-normal with CV \(String(format: "%g", v.cv * 100))% (\(organism?.name ?? ""): \(v.source))")
            }
        }
        let matrix: CorrelationMatrix?
        do { matrix = try correlation.map { (p) throws(PopulationError) in try CorrelationMatrix.read(path: p) } } catch { throw ValidationError("--correlation " + error.description) }
        let fit: FitUncertainty?
        do { fit = try fromFit.map { (d) throws(PopulationError) in try FitUncertainty.read(directory: d) } } catch { throw ValidationError("--from-fit " + error.description) }
        for name in fit?.names ?? [] where definition.parameter(named: name) == nil {
            throw ValidationError("--from-fit: the fit's parameter `\(name)` is not a parameter of \(definition.name)")
        }
        var typical: [String: Double] = [:]
        for s in specs {
            typical[s.name] = SensitivityFactor(name: s.name, target: .parameter(s.name)).value(in: base, model: definition)
        }
        let population: PopulationDesign
        do {
            population = try PopulationDesign(iiv: specs, typical: typical, correlation: matrix, fit: fit, subjects: n, seed: seed)
        } catch { throw ValidationError(error.description) }

        // Varied values: the same subjects at each point of their grid.
        var axes: [SweepAxis] = []
        for text in vary {
            switch SweepAxis.parse(text, model: definition) {
            case .success(let a):
                if axes.contains(where: { $0.name == a.name }) { throw ValidationError("--vary \(a.name) is given twice") }
                if population.names.contains(a.name) { throw ValidationError("--vary \(a.name): the population already samples `\(a.name)`; vary it or sample it, not both") }
                if (a.target == .dose || a.target == .doseTime) && base.treatment == nil {
                    throw ValidationError("--vary \(a.name): scenario `\(base.scenarioName)` names no treatment drug; add doses with --dose")
                }
                axes.append(a)
            case .failure(let e): throw ValidationError("--vary " + e.description)
            }
        }
        let groups = axes.isEmpty ? 1 : SweepDesign(grid: axes).count
        guard groups <= 10_000, n * groups <= 10_000_000 else {
            throw ValidationError("\(n) subjects at \(groups) varied values are \(n * groups) runs; ketasim's limit is 10 million runs and 10,000 varied values")
        }

        // Outputs: those named, then those the criteria read.
        let modelOutputs = compiled.observableNames
        var names = try parseOutputList(outputs) ?? []
        for o in names where compiled.observableIndex(o) == nil {
            throw ValidationError("--outputs: unknown output `\(o)`\(didYouMean(o, among: modelOutputs))")
        }
        var criteria: [ResponderCriterion] = []
        for text in responder {
            switch ResponderCriterion.parse(text, metricNames: spec.names, outputs: modelOutputs) {
            case .success(let c):
                criteria.append(c)
                for column in c.columns {
                    let o = String(column[..<(column.lastIndex(of: ".") ?? column.endIndex)])
                    if !names.contains(o) { names.append(o) }
                }
            case .failure(let e): throw ValidationError("--responder " + e.description)
            }
        }
        if names.isEmpty, let first = definition.outputs.first { names = [first] }
        let metricColumns = spec.columns(outputs: names)
        warnAboutLateOffsets(spec, reference: base.referenceTime ?? 0, tEnd: base.tEnd, timeUnit: definition.timeUnit)

        // Bands hold one varied value's traces at a time: refuse before running what cannot be held.
        let grid = base.grid(timeUnit: definition.timeUnit)
        let held = n * grid.count * names.count
        if held > PercentileBands.maximumValues {
            throw ValidationError("the bands would hold \(n) subjects × \(grid.count) output times × \(names.count) outputs = \(held) values, above ketasim's limit of \(PercentileBands.maximumValues) (200 MB); coarsen the grid with --every, or give fewer --outputs or subjects")
        }

        let design = population.sweepDesign(varied: axes)
        let folder = URL(fileURLWithPath: output)
        let path = { (name: String) in folder.appendingPathComponent(name).path }
        let finalPaths = ["subjects.csv", "traces.csv", "bands.csv"] + (criteria.isEmpty ? [] : ["responders.csv"])
            + (plot ? ["bands.svg"] + (criteria.isEmpty || axes.isEmpty ? [] : ["responders.svg"]) : [])
        if !force && !spread.resume {
            for p in finalPaths.map(path) where FileManager.default.fileExists(atPath: p) {
                throw ValidationError("\(p) already exists; pass --force to overwrite it or --resume to finish it")
            }
        }
        var inputs = [absolutePath(loaded.path)]
        if let c = correlation { inputs.append(absolutePath(c)) }
        if let d = fromFit { inputs.append(absolutePath(URL(fileURLWithPath: d).appendingPathComponent("estimates.csv").path)) }
        if cluster.slurm {
            try submitToSlurm(cluster, command: "population", runs: design.count, output: output,
                              arguments: clusterArguments(dropping: ShardOptions.scriptOwned, model: loaded.path), inputs: inputs,
                              resultFile: "subjects.csv", companionFiles: ["traces.csv"], force: force)
            return
        }
        let shard = try spread.spec()

        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: output, isDirectory: &isDirectory) {
            if !isDirectory.boolValue { throw ValidationError("\(output) is a file; -o takes a folder") }
        } else {
            do { try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: false) } catch {
                printError("cannot create the folder \(output): \(error.localizedDescription)")
                throw Exit.cannotWrite
            }
        }
        let subjectsPath = path("subjects.csv"), tracesPath = path("traces.csv")
        let locks = try lockOutputs(shard == nil ? finalPaths.map(path) : [subjectsPath, tracesPath],
                                    inputs: [loaded.path, scenario.changes.doseTable, correlation])
        defer { withExtendedLifetime(locks) {} }

        // The identity of the runs: what decides whether --resume and merge may join files.
        var meta = RunMetadata(version: Ketasim.version, modelFile: loaded.path, plan: base, model: definition, solver: settings, seed: seed,
                               sweep: axes.isEmpty ? nil : Dictionary(uniqueKeysWithValues: axes.map { ($0.name, $0.values) }))
        meta.extra["design"] = "population"
        meta.extra["runs_total"] = String(design.count)
        meta.extra["subjects"] = String(n)
        meta.extra["iiv"] = specs.map { "\($0.name)=\(formatNumber($0.cv * 100))%" }.joined(separator: ",")
        if let c = correlation { meta.extra["correlation"] = FileManager.default.contents(atPath: c).map { SHA256.hex($0) } ?? "unreadable" }
        if let d = fromFit {
            meta.extra["from_fit"] = FileManager.default.contents(atPath: URL(fileURLWithPath: d).appendingPathComponent("estimates.csv").path).map { SHA256.hex($0) } ?? "unreadable"
        }
        meta.extra["outputs"] = names.joined(separator: ",")
        meta.extra["metric_offsets"] = times.at
        meta.extra["sampling"] = "log-normal, median the scenario's value, sigma = sqrt(ln(1 + CV^2)); subject i seeded from --seed and i"
        if let (i, count) = shard { meta.extra["shard"] = "\(i + 1)/\(count)" }
        meta.describeColumns(names, model: definition)

        let subjectsHeader = ["run_id", "subject_id"] + axes.map(\.name) + population.names + ["status", "message"] + metricColumns
        let tracesHeader = ["run_id"] + names.flatMap { o in grid.map { "\(o)@\(csvNumber($0))" } }
        var subjects: ResumableCSV, traces: ResumableCSV
        do {
            if spread.resume {
                for p in [subjectsPath, tracesPath] where FileManager.default.fileExists(atPath: p) { try meta.checkResumable(p) }
            }
            subjects = try ResumableCSV(path: subjectsPath, header: subjectsHeader, resume: spread.resume, force: true)
            traces = try ResumableCSV(path: tracesPath, header: tracesHeader, resume: spread.resume, force: true, keepRuns: subjects.finished)
            // A subject row is written before its trace: one cut between them is run again.
            if traces.finished != subjects.finished {
                subjects = try ResumableCSV(path: subjectsPath, header: subjectsHeader, resume: true, force: true, keepRuns: traces.finished)
            }
        } catch {
            if case .mismatch = error { throw ValidationError("--resume: " + error.description + "; rerun the command that wrote it, or write a new folder") }
            throw fileError(error)
        }
        for p in [subjectsPath, tracesPath] { try write(meta.json(), to: p + ".meta.json", force: true) }

        var runIDs = shard.map { RunSet.shard($0.index, of: $0.count, total: design.count) } ?? .all(design.count)
        runIDs.done = subjects.finished
        let interrupted = InterruptFlag()
        let progress = Progress(total: runIDs.count, enabled: isatty(STDERR_FILENO) == 1)
        var tally = RunTally()
        let emptyTrace = String(repeating: ",", count: tracesHeader.count - 1)
        let runner = SweepRunner(model: compiled, settings: settings, base: base, design: design, outputs: names, metrics: spec,
                                 jobs: spread.threads(), runIDs: runIDs, keepSeries: true)
        try runner.run(shouldStop: { interrupted.isSet }) { row in
            let subject = (row.runID - 1) % n + 1
            var fields = [String(row.runID), String(subject)] + row.point.map(csvNumber) + [row.succeeded ? "ok" : "failed", csvField(row.message)]
            fields += row.succeeded ? row.metrics.map(csvNumber) : Array(repeating: "", count: metricColumns.count)
            // The trace on the band grid: a run that failed, or one whose grid differs, has none.
            var trace = String(row.runID) + emptyTrace
            if row.succeeded, let r = row.result, r.times.count == grid.count, r.outputNames == names {
                var line = String(row.runID)
                let m = names.count
                for j in 0..<m { for k in 0..<grid.count { line += "," + String(format: "%.9g", r.values[k * m + j]) } }
                trace = line
            }
            do {
                try subjects.append(fields.joined(separator: ",") + "\n")
                try traces.append(trace + "\n")
            } catch let error as OutputFileError { throw fileError(error) }
            tally.add(row, label: "run \(row.runID) (subject \(subject))")
            progress.step(failed: tally.failed)
        }
        progress.finish()
        for line in tally.notes(columns: metricColumns, of: runIDs.count) { printError("note: " + line) }
        if interrupted.isSet {
            printError("interrupted: the runs finished so far are in \(subjectsPath); run the same command with --resume to finish them, the bands and the responders")
            throw ExitCode(130)
        }
        if let (i, count) = shard {
            if tally.failed > 0 { printError("\(tally.failed) of \(runIDs.count) runs of shard \(i + 1)/\(count) failed (first, \(tally.firstFailure ?? "no reason given"))") }
            printStandardError("shard \(i + 1)/\(count): runs in \(subjectsPath) and \(tracesPath); the bands and responders are computed once every shard is merged")
            if tally.failed > 0 { throw ExitCode(3) }
            return
        }

        // The analysis reads every row back from the files, so a fresh, a resumed and a merged
        // population give the same bands and fractions to the last digit.
        let table: CSVRows
        do { table = try CSVRows(path: subjectsPath) } catch { throw fileError(error) }
        guard table.header == subjectsHeader else { throw ValidationError("\(subjectsPath): its columns differ from this population's; write a new folder") }
        let statusColumn = subjectsHeader.firstIndex(of: "status") ?? 0
        let metricStart = statusColumn + 2
        var seen = Set<Int>()
        var counts = [[ResponderCount]](repeating: [ResponderCount](repeating: ResponderCount(), count: criteria.count), count: groups)
        var failedIn = [Int](repeating: 0, count: groups)
        for fields in table.rows {
            guard let id = Int(fields[0]), (1...design.count).contains(id) else { continue }
            seen.insert(id)
            let g = (id - 1) / n
            if fields[statusColumn] != "ok" {
                failedIn[g] += 1
                for c in criteria.indices { counts[g][c].failed += 1 }
                continue
            }
            for (c, criterion) in criteria.enumerated() {
                counts[g][c].add(criterion.outcome { column in
                    metricColumns.firstIndex(of: column).flatMap { Double(fields[metricStart + $0]) } ?? .nan
                })
            }
        }
        if seen.count < design.count {
            printError("\(subjectsPath) holds \(seen.count) of the population's \(design.count) runs; run the same command with --resume to finish it")
            throw Exit.failedRun
        }
        let failedTotal = failedIn.reduce(0, +)
        if failedTotal > 0 {
            let reason = tally.firstFailure.map { "first, \($0)" } ?? "see the status and message columns of \(subjectsPath)"
            printError("\(failedTotal) of \(design.count) runs failed (\(reason)); they are left out of the bands and counted apart in responders.csv")
        }
        let points = (0..<groups).map { g in axes.isEmpty ? [] : SweepDesign(grid: axes).point(g) }

        // Bands, one varied value at a time (one pass over traces.csv each), so memory holds one group.
        let timeColumn = definition.timeUnit.column
        var bandsCSV = (axes.map(\.name) + [timeColumn, "output"] + percentileList.map(percentileColumn)).map(csvField).joined(separator: ",") + "\n"
        var bandsByGroup: [[[[Double]]]] = []
        for g in 0..<groups {
            var acc = PercentileBands(times: grid.count, outputs: names.count)
            let first = g * n + 1, last = (g + 1) * n
            var trace = [Double](repeating: .nan, count: grid.count * names.count)
            do {
                try forEachLine(path: tracesPath) { number, line in
                    guard number > 1 else { return }
                    guard let id = Int(line.prefix { $0 != "," }), id >= first, id <= last else { return }
                    let fields = line.split(separator: ",", omittingEmptySubsequences: false)
                    guard fields.count == tracesHeader.count else { return }
                    // traces.csv is output-major (every time of one output, then the next); bands take time-major.
                    let m = names.count
                    for j in 0..<m { for k in 0..<grid.count { trace[k * m + j] = Double(fields[1 + j * grid.count + k]) ?? .nan } }
                    acc.add(trace)
                }
            } catch { throw fileError(error) }
            let b = acc.bands(percentileList)
            bandsByGroup.append(b)
            let prefix = points[g].map(csvNumber)
            for (j, o) in names.enumerated() {
                for (k, t) in grid.enumerated() {
                    bandsCSV += (prefix + [csvNumber(t), csvField(o)] + b[j][k].map(csvNumber)).joined(separator: ",") + "\n"
                }
            }
        }
        var analysisMeta = meta
        analysisMeta.extra["percentiles"] = percentileList.map(formatNumber).joined(separator: ",")
        analysisMeta.extra["percentile_method"] = "linear between order statistics (type 7), over the runs that succeeded"
        try write(bandsCSV, to: path("bands.csv"), force: true)
        try write(analysisMeta.json(), to: path("bands.csv") + ".meta.json", force: true)

        var report: [String] = []
        if !criteria.isEmpty {
            var csv = (axes.map(\.name) + ["criterion", "n", "responders", "fraction", "ci_low", "ci_high", "failed", "undetermined"]).map(csvField).joined(separator: ",") + "\n"
            for g in 0..<groups {
                for (c, criterion) in criteria.enumerated() {
                    let k = counts[g][c], ci = k.interval
                    csv += (points[g].map(csvNumber) + [csvField(criterion.text), String(k.n), String(k.responders), csvNumber(k.fraction),
                                                        csvNumber(ci.low), csvNumber(ci.high), String(k.failed), String(k.undetermined)]).joined(separator: ",") + "\n"
                    let at = axes.isEmpty ? "" : zip(axes, points[g]).map { "\($0.name) \(formatNumber($1))" }.joined(separator: ", ") + ": "
                    let extra = (k.failed > 0 ? ", \(k.failed) failed" : "") + (k.undetermined > 0 ? ", \(k.undetermined) undetermined" : "")
                    report.append(String(format: "%@%@: %d of %d (%.1f%%, 95%% CI %.1f-%.1f%%)%@", at, criterion.text, k.responders, k.n,
                                         100 * k.fraction, 100 * ci.low, 100 * ci.high, extra))
                }
            }
            var responderMeta = meta
            responderMeta.extra["responders"] = criteria.map(\.text).joined(separator: " ; ")
            responderMeta.extra["interval"] = "Wilson score, 95%"
            try write(csv, to: path("responders.csv"), force: true)
            try write(responderMeta.json(), to: path("responders.csv") + ".meta.json", force: true)
        }

        if plot {
            try drawPlots(definition: definition, base: base, names: names, grid: grid, axes: axes, points: points,
                          percentiles: percentileList, bands: bandsByGroup, criteria: criteria, counts: counts, path: path)
        }
        report.append("wrote " + finalPaths.map(path).joined(separator: ", "))
        try printOut(report.joined(separator: "\n"))
        if failedTotal > 0 { throw ExitCode(3) }
    }

    private func drawPlots(definition: ModelDefinition, base: SimulationPlan, names: [String], grid: [Double], axes: [SweepAxis], points: [[Double]],
                           percentiles: [Double], bands: [[[[Double]]]], criteria: [ResponderCriterion], counts: [[ResponderCount]],
                           path: (String) -> String) throws {
        // Hours over three days read better as days.
        let unit = definition.timeUnit.symbol
        let inDays = unit == "h" && (grid.last ?? 0) > 72
        let scale = inDays ? 1.0 / 24 : 1
        let xLabel = inDays ? "time (d)" : "time (\(unit.isEmpty ? "model units" : unit))"
        func index(_ p: Double) -> Int? { percentiles.firstIndex { abs($0 - p) < 1e-9 } }
        let median = index(50)
        // The widest pair is the outer band, the next the inner one.
        let pairs = percentiles.indices.compactMap { i -> (Int, Int)? in
            guard percentiles[i] < 50, let j = index(100 - percentiles[i]) else { return nil }
            return (i, j)
        }
        let outer = pairs.first, inner = pairs.count > 1 ? pairs[1] : nil
        var note = [median == nil ? nil : "line: median", inner.map { "dark: \(formatNumber(percentiles[$0.0]))-\(formatNumber(percentiles[$0.1]))%" },
                    outer.map { "light: \(formatNumber(percentiles[$0.0]))-\(formatNumber(percentiles[$0.1]))%" }].compactMap { $0 }.joined(separator: ", ")
        note += " of \(n) subjects"
        let panels = names.enumerated().map { j, o -> SVGPlot.BandPanel in
            let unitText = outputUnit(o, definition)
            let series = points.indices.map { g -> SVGPlot.Band in
                let b = bands[g][j]
                func col(_ k: Int) -> [Double] { b.map { $0[k] } }
                let label = axes.isEmpty ? "population" : zip(axes, points[g]).map { "\($0.name) \(formatNumber($1))" }.joined(separator: ", ")
                return SVGPlot.Band(label: label, times: grid.map { $0 * scale }, median: median.map(col) ?? [],
                                    inner: inner.map { (col($0.0), col($0.1)) }, outer: outer.map { (col($0.0), col($0.1)) })
            }
            return SVGPlot.BandPanel(title: readable(o), xLabel: xLabel, yLabel: unitText.isEmpty ? readable(o) : "\(readable(o)) (\(unitText))", bands: series)
        }
        let title = "\(definition.name): \(base.scenarioName), \(n) virtual subjects"
        try write(SVGPlot.bands(title: title, panels: panels, bandNote: note), to: path("bands.svg"), force: true)
        if !criteria.isEmpty, let axis = axes.first {
            let series = criteria.enumerated().map { c, criterion in
                SVGPlot.IntervalSeries(label: criterion.text, xs: points.map { $0[0] }, values: points.indices.map { counts[$0][c].fraction },
                                       low: points.indices.map { counts[$0][c].interval.low }, high: points.indices.map { counts[$0][c].interval.high })
            }
            let xUnit = axis.target == .dose ? base.doses.first { $0.drug == base.treatment }.map { " (\($0.unit.rawValue))" } ?? "" : ""
            try write(SVGPlot.intervals(title: "Responders by \(axis.name) (Wilson 95% intervals, \(n) subjects each)",
                                        xLabel: axis.name + xUnit, yLabel: "fraction responding", series: series),
                      to: path("responders.svg"), force: true)
        }
    }

    private func outputUnit(_ name: String, _ model: ModelDefinition) -> String {
        if let s = model.state(named: name) { return s.unit }
        if let a = model.assignments.first(where: { $0.name == name }) { return a.unit ?? "" }
        return ""
    }

    private func readable(_ name: String) -> String { name.replacingOccurrences(of: "_", with: " ") }
}
