import ArgumentParser
import Experiments
import Fitting
import Foundation
import Integrator
import PEtab

extension LeastSquaresOptions.Method: ExpressibleByArgument {}

struct Fit: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Fit (or evaluate) a PEtab v1 problem or a ketasim calibration file.",
        discussion: """
        Fits the estimated parameters of the parameter table by nonlinear least squares (GSL's trust region, \
        Levenberg-Marquardt by default) from --starts Latin hypercube starts within the bounds, on the \
        parameters' scales, and prints a line per start and, last, `best nllh = <value> (<k> of <N> starts \
        within 0.1 of it)`. With -o DIR it writes starts.csv (every start, with a .meta.json sidecar), \
        best.params (`id value` per line, linear scale), estimates.csv (estimates, standard errors and \
        correlations from the Fisher information), residuals.tsv and simulations.tsv (PEtab's simulation table) \
        at the best start. --plot adds waterfall.svg (the starts sorted by nllh) and fit.svg (the fit \
        against the data; residuals.svg too for a calibration file).

        Multistart on many machines: --shard I/N -o DIR runs only the starts k with (k - 1) mod N = I - 1 \
        and writes DIR/starts.csv and its sidecar; `ketasim merge` joins shards' starts.csv files into \
        one, and `fit ... -o DIR --resume` keeps the whole rows of DIR/starts.csv, runs only the missing \
        starts (refusing a file of another problem, seed, method, number of starts or tolerances) and \
        writes best.params, estimates.csv and the tables from the best start of them all. --slurm does \
        this on a Slurm cluster: a job array of --shards shards into DIR.slurm/shard-I/ and a merge job \
        that joins them into DIR/starts.csv and finishes with --resume (see docs/HPC.md).

        A ketasim calibration file (a YAML file with `targets`, docs/CALIBRATION.md) fits a ketasim model to \
        rows of data tables: it writes residuals.tsv (the calibration rows) and validation.tsv (the validation \
        rows, never fitted, predicted at the estimate) instead of the PEtab tables.

        With --evaluate, simulates every measurement at the parameter table's nominal values (or --params FILE) \
        and prints chi2, the log prior of the estimated parameters when the parameter table has objective \
        priors, and the negative log-likelihood (PEtab's, with every constant term, priors not included), the \
        last line being `nllh = <value>`.

        Examples:
          ketasim fit problem.yaml --starts 20 --jobs 2 -o fit
          ketasim fit problem.yaml --evaluate
          ketasim fit problem.yaml --evaluate --params fit/best.params --simulations simulations.tsv
          ketasim fit models/calibration/human_ketamine_pk.yaml --starts 20 -o pkfit
          ketasim fit problem.yaml --starts 200 -o fit --slurm --shards 20 --cpus-per-task 2 --time 4:00:00 --wait
        """
    )

    @Argument(help: "PEtab problem file (YAML, format_version: 1) or ketasim calibration file.")
    var problem: String

    @Flag(help: "Compute the objective at the nominal parameters (or --params) instead of fitting.")
    var evaluate = false

    @Option(help: "Parameter file (`id value` per line, linear scale, as best.params) overriding nominal values.")
    var params: String?

    @Option(help: "Write the PEtab simulation table (the measurement table with `simulation` values) to this file.")
    var simulations: String?

    @Option(parsing: .unconditional, help: "Number of starts.")
    var starts = 10

    @Option(parsing: .unconditional, help: "Seed of the Latin hypercube of starts.")
    var seed: UInt64 = 1

    @Option(parsing: .unconditional, help: "Iterations per start.")
    var maxIterations = 200

    @Option(help: "Trust-region subproblem: \(LeastSquaresOptions.Method.allCases.map(\.rawValue).joined(separator: ", ")).")
    var method: LeastSquaresOptions.Method = .levenbergMarquardt

    @Option(help: ArgumentHelp("Jacobian of the residuals: sensitivities, differences (forward) or central (default: sensitivities for a calibration file, differences for a PEtab problem).", discussion: """
        sensitivities: forward sensitivity equations integrated with the states, through doses and events; \
        a calibration file's targets whose metric is not smooth (t_max, duration) are differenced, and the \
        fit says which in one line. Where a problem has none (an event time without a derivative) the fit \
        says so and uses forward differences.
        """))
    var gradient: String?

    @Option(name: .shortAndLong, help: "Output folder for the fit's files.")
    var output: String?

    @Flag(help: "Overwrite existing files.")
    var force = false

    @Flag(help: "With -o DIR: draw waterfall.svg (starts sorted by nllh) and fit.svg (the fit against the data; a calibration file adds residuals.svg).")
    var plot = false

    @OptionGroup var spread: ShardOptions

    @OptionGroup(title: "Slurm") var cluster: SlurmOptions

    func validate() throws {
        try spread.check(with: cluster, output: output ?? "DIR", force: force)
        if output == nil, let needs = [spread.shard.map { _ in "--shard" }, spread.resume ? "--resume" : nil, cluster.slurm ? "--slurm" : nil].compactMap({ $0 }).first {
            throw ValidationError("\(needs) needs -o DIR: the starts are kept in DIR/starts.csv")
        }
        if evaluate, spread.shard != nil || spread.resume || cluster.slurm { throw ValidationError("--shard, --resume and --slurm are for a fit, not --evaluate") }
        if cluster.slurm && simulations != nil { throw ValidationError("--simulations runs locally only; the merge job writes DIR/simulations.tsv") }
        if let simulations, FileManager.default.fileExists(atPath: simulations) && !force {
            throw ValidationError("\(simulations) already exists; pass --force to overwrite it")
        }
        guard starts >= 1 else { throw ValidationError("--starts must be at least 1") }
        guard maxIterations >= 1 else { throw ValidationError("--max-iterations must be at least 1") }
        if let gradient, !["sensitivities", "differences", "central"].contains(gradient) {
            throw ValidationError("--gradient must be sensitivities, differences or central, not `\(gradient)`")
        }
        if evaluate, output != nil { throw ValidationError("-o is for a fit; with --evaluate use --simulations FILE") }
        if plot && (output == nil || evaluate) { throw ValidationError("--plot draws the fit's figures into -o DIR") }
    }

    private func fail(_ error: PEtabError) -> Error {
        printError(error.description)
        switch error.kind {
        case .unreadable: return Exit.usage
        case .invalid, .unsupported: return Exit.badModel
        case .simulation: return Exit.failedRun
        }
    }

    func run() throws {
        if CalibrationProblem.looksLikeCalibration(problem) { return try runCalibration() }
        let loaded: PEtabProblem
        do { loaded = try PEtabProblem.load(problem) } catch { throw fail(error) }
        let overrides = try readOverrides(known: Set(loaded.parameters.map(\.id)), what: "the parameter table")
        if evaluate { return try runEvaluate(loaded, overrides) }
        let residuals: PEtabResiduals
        do { residuals = try PEtabResiduals(loaded) } catch { throw fail(error) }
        let hasPriors = loaded.parameters.contains(where: { $0.estimate && $0.prior != nil })
        try runFit(FitSubject(
            residuals: residuals, makeWorker: { try PEtabResiduals(loaded) }, hasPriors: hasPriors,
            nllh: { (r: PEtabResiduals, x: [Double]) in (try? r.evaluate(at: x).nllh) ?? .nan },
            tables: { [self] (r: PEtabResiduals, x: [Double]) throws -> [(String, String)] in
                let evaluation: PEtabEvaluation
                do throws(PEtabError) { evaluation = try r.evaluate(at: x) } catch { throw fail(error) }
                if let simulations { try write(loaded.simulationTable(evaluation), to: simulations, force: force) }
                return [("residuals.tsv", FitFiles.residualTable(loaded, evaluation)), ("simulations.tsv", loaded.simulationTable(evaluation))]
            },
            tableNames: ["residuals.tsv", "simulations.tsv"], solver: PEtabProblem.solverSettings))
    }

    /// The residuals of a PEtab problem or a calibration file, for commands that only need the objective.
    static func loadFitProblem(_ path: String) throws -> any FitProblem {
        if CalibrationProblem.looksLikeCalibration(path) {
            do { return try CalibrationResiduals(try CalibrationProblem.load(path)) } catch {
                printError(error.description)
                throw error.kind == .simulation ? Exit.failedRun : error.kind == .unreadable ? Exit.usage : Exit.badModel
            }
        }
        do { return try PEtabResiduals(try PEtabProblem.load(path)) } catch {
            printError(error.description)
            switch error.kind {
            case .unreadable: throw Exit.usage
            case .invalid, .unsupported: throw Exit.badModel
            case .simulation: throw Exit.failedRun
            }
        }
    }

    /// `--params FILE`, checked against the names the problem knows.
    private func readOverrides(known: Set<String>, what: String) throws -> [String: Double] {
        guard let params else { return [:] }
        let overrides: [String: Double]
        do { overrides = try FitFiles.readParameterFile(params) } catch {
            printError(error.description)
            throw Exit.usage
        }
        if let unknown = overrides.keys.sorted().first(where: { !known.contains($0) }) {
            printError("\(params): `\(unknown)` is not in \(what)")
            throw Exit.usage
        }
        return overrides
    }

    private func fail(_ error: CalibrationError) -> Error {
        printError(error.description)
        switch error.kind {
        case .unreadable: return Exit.usage
        case .invalid, .unsupported: return Exit.badModel
        case .simulation: return Exit.failedRun
        }
    }

    /// A ketasim calibration file: its fitted rows make the objective; validation rows are predicted
    /// at the end (and by --evaluate), never fitted.
    private func runCalibration() throws {
        let loaded: CalibrationProblem
        do { loaded = try CalibrationProblem.load(problem) } catch { throw fail(error) }
        if simulations != nil { throw ValidationError("--simulations is for PEtab problems; a calibration fit writes residuals.tsv and validation.tsv in -o DIR") }
        let residuals: CalibrationResiduals
        do { residuals = try CalibrationResiduals(loaded) } catch { throw fail(error) }
        let overrides = try readOverrides(known: Set(residuals.parameterNames), what: "the calibration's parameters")
        let all: CalibrationResiduals
        do { all = try CalibrationResiduals(loaded, includeValidation: true) } catch { throw fail(error) }
        if evaluate {
            let x = residuals.point(overrides)
            let predictions: [CalibrationPrediction]
            do { predictions = try all.predict(at: x) } catch { throw fail(error) }
            try writeStandardOutput(CalibrationResiduals.table(predictions))
            let fitted = predictions.filter { $0.target.row.role == .calibration }
            let validation = predictions.filter { $0.target.row.role == .validation }
            try printOut("calibration rows in agreement: \(fitted.filter(\.agrees).count) of \(fitted.count)")
            if !validation.isEmpty { try printOut("validation rows in agreement: \(validation.filter(\.agrees).count) of \(validation.count)") }
            try printOut("nllh = \(residuals.objective(at: x))")
            return
        }
        try runFit(FitSubject(
            residuals: residuals, makeWorker: { try CalibrationResiduals(loaded) }, hasPriors: false,
            nllh: { (r: CalibrationResiduals, x: [Double]) in r.objective(at: x) },
            tables: { [self] (_: CalibrationResiduals, x: [Double]) throws -> [(String, String)] in
                let predictions: [CalibrationPrediction]
                do throws(CalibrationError) { predictions = try all.predict(at: x) } catch { throw fail(error) }
                let fitted = predictions.filter { $0.target.row.role == .calibration }
                let validation = predictions.filter { $0.target.row.role == .validation }
                printStandardError("calibration rows in agreement: \(fitted.filter(\.agrees).count) of \(fitted.count)"
                    + (validation.isEmpty ? "" : "; validation rows (not fitted) in agreement: \(validation.filter(\.agrees).count) of \(validation.count)"))
                return [("residuals.tsv", CalibrationResiduals.table(fitted)), ("validation.tsv", CalibrationResiduals.table(validation))]
            },
            tableNames: ["residuals.tsv", "validation.tsv"], solver: CalibrationResiduals.solverSettings))
    }

    private func runEvaluate(_ loaded: PEtabProblem, _ overrides: [String: Double]) throws {
        let evaluation: PEtabEvaluation
        do { evaluation = try loaded.evaluate(values: overrides) } catch { throw fail(error) }
        if let simulations { try write(loaded.simulationTable(evaluation), to: simulations, force: force) }
        try printOut("chi2 = \(evaluation.chi2)")
        // The priors are reported, not added: nllh is PEtab's likelihood alone, comparable with other tools.
        if loaded.parameters.contains(where: { $0.estimate && $0.prior != nil }) { try printOut("log prior = \(evaluation.logPrior)") }
        try printOut("nllh = \(evaluation.nllh)")
    }

    /// What the fit loop needs of a problem beyond its residuals: a way to build one per worker, the
    /// reported negative log-likelihood, and the result tables at the best point.
    struct FitSubject<Residuals: FitProblem> {
        var residuals: Residuals
        var makeWorker: @Sendable () throws -> any LeastSquaresProblem
        var hasPriors: Bool
        var nllh: (Residuals, [Double]) -> Double
        /// The tables written at the best start, by file name.
        var tables: (Residuals, [Double]) throws -> [(String, String)]
        var tableNames: [String]
        var solver: SolverSettings
        /// Every file the problem reads: its identity in the sidecar, and what a cluster node must see.
        var sourceFiles: [String] { residuals.sourceFiles }

        /// The files a fit writes into its folder.
        var files: [String] { ["starts.csv", "starts.csv.meta.json", "best.params", "estimates.csv"] + tableNames }
    }

    private func runFit<R: FitProblem>(_ subject: FitSubject<R>) throws {
        let residuals = subject.residuals
        let names = residuals.parameterNames
        guard !names.isEmpty else {
            printError("\(problem): no parameter has estimate = 1; nothing to fit")
            throw Exit.badModel
        }
        for (i, name) in names.enumerated() where !(residuals.lowerBounds[i].isFinite && residuals.upperBounds[i].isFinite && residuals.upperBounds[i] > residuals.lowerBounds[i]) {
            printError("\(problem): parameter `\(name)` needs finite bounds, lower below upper, on its scale to draw starts")
            throw Exit.badModel
        }

        var options = LeastSquaresOptions()
        options.method = method
        options.maxIterations = maxIterations
        // Calibration files default to sensitivities: their Jacobian is then exact where forward
        // differences at the fit's tolerances are off by about 1% (docs/CALIBRATION.md).
        let chosen = gradient ?? (residuals is CalibrationResiduals ? "sensitivities" : "differences")
        options.centralDifferences = chosen == "central"
        options.analyticJacobian = chosen == "sensitivities"
        if options.analyticJacobian {
            // One evaluation at the start point tells whether this problem has sensitivities at all,
            // so the fallback is announced once, not discovered silently by every worker.
            var r = [Double](repeating: 0, count: residuals.residualCount)
            var jacobian = [Double](repeating: 0, count: residuals.residualCount * names.count)
            if residuals.residualsAndJacobian(at: residuals.point([:]), residuals: &r, jacobian: &jacobian) == nil {
                let reason = (residuals as? PEtabResiduals)?.sensitivityRefusal ?? (residuals as? CalibrationResiduals)?.sensitivityRefusal
                    ?? "the problem has no forward sensitivities"
                printError("note: \(reason); using finite differences")
            } else if let calibration = residuals as? CalibrationResiduals {
                printError("note: " + calibration.gradientSummary)
            }
        }
        var meta = FitFiles.sidecar(file: problem, sourceFiles: subject.sourceFiles, solver: subject.solver, version: Ketasim.version,
                                    starts: starts, seed: seed, options: options)

        if cluster.slurm, let output {
            let finals = subject.files.map { URL(fileURLWithPath: output).appendingPathComponent($0).path }
            if !force, let existing = finals.first(where: { FileManager.default.fileExists(atPath: $0) }) {
                throw ValidationError("\(existing) already exists; pass --force to overwrite it")
            }
            try submitToSlurm(cluster, command: "fit", runs: starts, output: output, arguments: clusterArguments(),
                              inputs: subject.sourceFiles.map(absolutePath), resultFile: "starts.csv", force: force)
            return
        }
        let shard = output == nil ? nil : try spread.spec()
        if let (i, n) = shard { meta.extra["shard"] = "\(i + 1)/\(n)" }

        // The folder and its files are claimed before hours of fitting, not after.
        var folder: URL?
        var locks: [OutputLock] = []
        var startsFile: ResumableCSV?
        func path(_ file: String) -> String { folder?.appendingPathComponent(file).path ?? file }
        if let output {
            folder = URL(fileURLWithPath: output)
            if !FileManager.default.fileExists(atPath: output) {
                do { try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: false) } catch {
                    printError("cannot create \(output): \(error.localizedDescription)")
                    throw Exit.cannotWrite
                }
            }
            let files = (shard == nil ? subject.files : ["starts.csv", "starts.csv.meta.json"]).map(path)
            locks = try lockOutputs(files.map { Optional($0) } + [simulations], inputs: [problem])
            do {
                if spread.resume && FileManager.default.fileExists(atPath: path("starts.csv")) { try meta.checkResumable(path("starts.csv")) }
                startsFile = try ResumableCSV(path: path("starts.csv"), header: FitFiles.startsHeader(names), resume: spread.resume, force: force)
            } catch {
                if case .mismatch = error { throw ValidationError("--resume: " + error.description + "; rerun the fit that wrote it, or write a new folder") }
                throw fileError(error)
            }
            // Written before fitting, so an interrupted fit can be resumed.
            try write(meta.json(), to: path("starts.csv.meta.json"), force: true)
        }
        defer { withExtendedLifetime(locks) {} }

        var runs = shard.map { RunSet.shard($0.index, of: $0.count, total: starts) } ?? .all(starts)
        runs.done = startsFile?.finished ?? []
        let points = latinHypercubeStarts(lower: residuals.lowerBounds, upper: residuals.upperBounds, count: starts, seed: seed)
        let engine = Multistart(starts: points, jobs: spread.threads(byDefault: 1), optimizer: GSLLeastSquares(options: options))
        var records: [FitFiles.StartRecord] = []
        var firstFailure: String?
        try engine.run(indices: runs.map { $0 - 1 }, makeProblem: subject.makeWorker) { k, fit in
            let nllh = fit.status == .failed ? Double.nan : subject.nllh(residuals, fit.estimate)
            records.append(FitFiles.StartRecord(start: k + 1, status: fit.status.rawValue, nllh: nllh, objective: fit.objective, estimate: fit.estimate))
            if fit.status == .failed && firstFailure == nil { firstFailure = fit.message }
            if let startsFile {
                do throws(OutputFileError) { try startsFile.append(FitFiles.startsRow(k + 1, fit, nllh: nllh)) } catch { throw fileError(error) }
            }
            let line = "start \(k + 1)/\(starts): \(fit.status.rawValue), nllh = \(nllh), \(fit.iterations) iterations, "
                + "\(fit.evaluations) evaluations, \(String(format: "%.1f", fit.seconds)) s" + (fit.status == .failed ? " (\(fit.message))" : "")
            printStandardError(line)
        }
        if let (i, n) = shard {
            printStandardError("shard \(i + 1)/\(n): \(records.count) starts fitted, \((startsFile?.finished.count ?? 0)) kept; merge the shards' starts.csv with `ketasim merge` and finish with --resume")
            return
        }
        // With a folder the best start is chosen from the file, kept rows included: the one path for a
        // fresh, a resumed and a merged fit.
        if output != nil {
            do { records = try FitFiles.readStarts(path("starts.csv"), parameters: names) } catch { throw fileError(error) }
        }
        try finish(subject, records: records, meta: meta, firstFailure: firstFailure, path: path)
    }


    /// Finishing from the best start: best.params, estimates.csv (the Fisher information needs the
    /// residuals at the best point, so it is evaluated again there), residuals.tsv, simulations.tsv and
    /// the summary lines. A fresh fit, a resumed one and a merge of shards (which finishes with
    /// --resume) all end here.
    private func finish<R: FitProblem>(_ subject: FitSubject<R>, records: [FitFiles.StartRecord], meta: RunMetadata,
                                       firstFailure: String?, path: (String) -> String) throws {
        let residuals = subject.residuals
        let names = residuals.parameterNames
        guard let (best, within) = FitFiles.best(of: records) else {
            if output != nil {
                var failed = meta
                failed.failure = "every start failed"
                try write(failed.json(), to: path("starts.csv.meta.json"), force: true)
            }
            printError("every one of the \(starts) starts failed; the first: \(firstFailure ?? "see the message column of \(path("starts.csv"))")")
            throw Exit.failedRun
        }
        let x = best.estimate
        let overwrite = force || spread.resume
        if output != nil {
            let linear = residuals.values(at: x)
            try write(FitFiles.parameterFile(names: names, linearValues: names.map { linear[$0] ?? .nan },
                                              comment: "ketasim fit \(problem): best of \(starts) starts (start \(best.start)), nllh = \(best.nllh)\nid value (linear scale)"),
                      to: path("best.params"), force: overwrite)
            try write(FitFiles.estimates(residuals, at: x, fisher: residuals.fisherSummary(at: x)), to: path("estimates.csv"), force: overwrite)
        }
        let tables = try subject.tables(residuals, x)
        if output != nil {
            for (name, text) in tables { try write(text, to: path(name), force: overwrite) }
            if plot { try drawPlots(records: records, tables: tables, meta: meta, path: path) }
        }
        if subject.hasPriors {
            try printOut("best objective = \(best.objective) (nllh - log prior, which the fit minimises)")
        }
        try printOut("best nllh = \(best.nllh) (\(within) of \(starts) starts within 0.1 of it)")
    }

    /// The figures beside the tables, each with the fit's sidecar.
    private func drawPlots(records: [FitFiles.StartRecord], tables: [(String, String)], meta: RunMetadata, path: (String) -> String) throws {
        var figures = [("waterfall.svg", FitPlots.waterfall(records, problem: problem))]
        if let residuals = tables.first(where: { $0.0 == "residuals.tsv" })?.1 {
            if CalibrationProblem.looksLikeCalibration(problem) {
                if let (fit, bars) = FitPlots.calibration(residuals, problem: problem) { figures += [("fit.svg", fit), ("residuals.svg", bars)] }
            } else if let fit = FitPlots.petab(residuals, problem: problem) {
                figures.append(("fit.svg", fit))
            }
        }
        for (name, svg) in figures {
            try write(svg, to: path(name), force: true)
            try write(meta.json(), to: path(name) + ".meta.json", force: true)
        }
    }

    /// This invocation for the shards: without the Slurm options and those the scripts set, the
    /// problem by absolute path. The problem is the one positional argument, found by its text.
    private func clusterArguments() -> [String] {
        var arguments = removingOptions(SlurmOptions.names.merging(ShardOptions.scriptOwned) { a, _ in a }, from: Array(CommandLine.arguments.dropFirst()))
        if let k = arguments.firstIndex(of: problem) { arguments[k] = absolutePath(problem) }
        return arguments
    }
}
