import ArgumentParser
import Experiments
import Fitting
import Foundation
import Integrator
import PEtab

extension LeastSquaresOptions.Method: ExpressibleByArgument {}

struct Fit: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Fit (or evaluate) a PEtab v1 parameter estimation problem.",
        discussion: """
        Fits the estimated parameters of the parameter table by nonlinear least squares (GSL's trust region, \
        Levenberg-Marquardt by default) from --starts Latin hypercube starts within the bounds, on the \
        parameters' scales, and prints a line per start and, last, `best nllh = <value> (<k> of <N> starts \
        within 0.1 of it)`. With -o DIR it writes starts.csv (every start, with a .meta.json sidecar), \
        best.params (`id value` per line, linear scale), estimates.csv (estimates, standard errors and \
        correlations from the Fisher information), residuals.tsv and simulations.tsv (PEtab's simulation table) \
        at the best start.

        With --evaluate, simulates every measurement at the parameter table's nominal values (or --params FILE) \
        and prints chi2, the log prior of the estimated parameters when the parameter table has objective \
        priors, and the negative log-likelihood (PEtab's, with every constant term, priors not included), the \
        last line being `nllh = <value>`.

        Examples:
          ketasim fit problem.yaml --starts 20 --jobs 2 -o fit
          ketasim fit problem.yaml --evaluate
          ketasim fit problem.yaml --evaluate --params fit/best.params --simulations simulations.tsv
        """
    )

    @Argument(help: "PEtab problem file (YAML, format_version: 1).")
    var problem: String

    @Flag(help: "Compute the objective at the nominal parameters (or --params) instead of fitting.")
    var evaluate = false

    @Option(help: "Parameter file (`id value` per line, linear scale, as best.params) overriding nominal values.")
    var params: String?

    @Option(help: "Write the PEtab simulation table (the measurement table with `simulation` values) to this file.")
    var simulations: String?

    @Option(help: "Number of starts.")
    var starts = 10

    @Option(help: "Seed of the Latin hypercube of starts.")
    var seed: UInt64 = 1

    @Option(help: "Worker threads, each with its own integrator.")
    var jobs = 1

    @Option(help: "Iterations per start.")
    var maxIterations = 200

    @Option(help: "Trust-region subproblem: \(LeastSquaresOptions.Method.allCases.map(\.rawValue).joined(separator: ", ")).")
    var method: LeastSquaresOptions.Method = .levenbergMarquardt

    @Option(help: "Jacobian of the residuals: differences (forward) or central.")
    var gradient: String = "differences"

    @Option(name: .shortAndLong, help: "Output folder for the fit's files.")
    var output: String?

    @Flag(help: "Overwrite existing files.")
    var force = false

    func validate() throws {
        if let simulations, FileManager.default.fileExists(atPath: simulations) && !force {
            throw ValidationError("\(simulations) already exists; pass --force to overwrite it")
        }
        guard starts >= 1 else { throw ValidationError("--starts must be at least 1") }
        guard jobs >= 1 else { throw ValidationError("--jobs must be at least 1") }
        guard maxIterations >= 1 else { throw ValidationError("--max-iterations must be at least 1") }
        guard ["differences", "central"].contains(gradient) else {
            throw ValidationError("--gradient must be differences or central (forward sensitivities are not implemented yet)")
        }
        if evaluate, output != nil { throw ValidationError("-o is for a fit; with --evaluate use --simulations FILE") }
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
            files: { [self] (r: PEtabResiduals, x: [Double]) throws -> [(String, String)] in
                let evaluation: PEtabEvaluation
                do throws(PEtabError) { evaluation = try r.evaluate(at: x) } catch { throw fail(error) }
                if let simulations { try write(loaded.simulationTable(evaluation), to: simulations, force: force) }
                return [("residuals.tsv", FitFiles.residualTable(loaded, evaluation)), ("simulations.tsv", loaded.simulationTable(evaluation))]
            },
            fileNames: ["residuals.tsv", "simulations.tsv"], solver: PEtabProblem.solverSettings))
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
        case .invalid: return Exit.badModel
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
            files: { [self] (_: CalibrationResiduals, x: [Double]) throws -> [(String, String)] in
                let predictions: [CalibrationPrediction]
                do throws(CalibrationError) { predictions = try all.predict(at: x) } catch { throw fail(error) }
                let fitted = predictions.filter { $0.target.row.role == .calibration }
                let validation = predictions.filter { $0.target.row.role == .validation }
                printStandardError("calibration rows in agreement: \(fitted.filter(\.agrees).count) of \(fitted.count)"
                    + (validation.isEmpty ? "" : "; validation rows (not fitted) in agreement: \(validation.filter(\.agrees).count) of \(validation.count)"))
                return [("residuals.tsv", CalibrationResiduals.table(fitted)), ("validation.tsv", CalibrationResiduals.table(validation))]
            },
            fileNames: ["residuals.tsv", "validation.tsv"], solver: CalibrationResiduals.solverSettings))
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
        var files: (Residuals, [Double]) throws -> [(String, String)]
        var fileNames: [String]
        var solver: SolverSettings
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
            let files = (["starts.csv", "starts.csv.meta.json", "best.params", "estimates.csv"] + subject.fileNames).map(path)
            locks = try lockOutputs(files.map { Optional($0) } + [simulations], inputs: [problem])
            do { startsFile = try ResumableCSV(path: path("starts.csv"), header: FitFiles.startsHeader(names), resume: false, force: force) } catch {
                throw fileError(error)
            }
        }
        defer { withExtendedLifetime(locks) {} }

        var options = LeastSquaresOptions()
        options.method = method
        options.maxIterations = maxIterations
        options.centralDifferences = gradient == "central"
        let points = latinHypercubeStarts(lower: residuals.lowerBounds, upper: residuals.upperBounds, count: starts, seed: seed)
        let engine = Multistart(starts: points, jobs: jobs, optimizer: GSLLeastSquares(options: options))
        let began = Date()
        var fits: [LocalFit] = []
        var nllhs: [Double] = []
        try engine.run(makeProblem: subject.makeWorker) { k, fit in
            let nllh = fit.status == .failed ? Double.nan : subject.nllh(residuals, fit.estimate)
            fits.append(fit)
            nllhs.append(nllh)
            if let startsFile {
                do throws(OutputFileError) { try startsFile.append(FitFiles.startsRow(k + 1, fit, nllh: nllh)) } catch { throw fileError(error) }
            }
            let line = "start \(k + 1)/\(starts): \(fit.status.rawValue), nllh = \(nllh), \(fit.iterations) iterations, "
                + "\(fit.evaluations) evaluations, \(String(format: "%.1f", fit.seconds)) s" + (fit.status == .failed ? " (\(fit.message))" : "")
            printStandardError(line)
        }
        let order = fits.indices.filter { nllhs[$0].isFinite }.sorted { fits[$0].objective < fits[$1].objective }
        guard let best = order.first else {
            try writeSidecar(path, subject.solver, seconds: Date().timeIntervalSince(began), failure: "every start failed")
            printError("every one of the \(starts) starts failed; the first: \(fits.first?.message ?? "")")
            throw Exit.failedRun
        }
        let bestObjective = fits[best].objective
        let within = fits.filter { $0.objective.isFinite && $0.objective - bestObjective <= 0.1 }.count
        let x = fits[best].estimate
        if folder != nil {
            try writeSidecar(path, subject.solver, seconds: Date().timeIntervalSince(began), failure: nil)
            let linear = residuals.values(at: x)
            try write(FitFiles.parameterFile(names: names, linearValues: names.map { linear[$0] ?? .nan },
                                              comment: "ketasim fit \(problem): best of \(starts) starts (start \(best + 1)), nllh = \(nllhs[best])\nid value (linear scale)"),
                      to: path("best.params"), force: force)
            try write(FitFiles.estimates(residuals, at: x, fisher: residuals.fisherSummary(at: x)), to: path("estimates.csv"), force: force)
        }
        let tables = try subject.files(residuals, x)
        if folder != nil {
            for (name, text) in tables { try write(text, to: path(name), force: force) }
        }
        if subject.hasPriors {
            try printOut("best objective = \(bestObjective) (nllh - log prior, which the fit minimises)")
        }
        try printOut("best nllh = \(nllhs[best]) (\(within) of \(starts) starts within 0.1 of it)")
    }

    private func writeSidecar(_ path: (String) -> String, _ settings: SolverSettings, seconds: Double, failure: String?) throws {
        guard output != nil else { return }
        var fields: [String: Any] = [
            "ketasimVersion": Ketasim.version, "command": CommandLine.arguments, "problem": problem,
            "problemSHA256": FileManager.default.contents(atPath: problem).map { SHA256.hex(SHA256.digest([UInt8]($0))) } ?? "", "starts": starts, "seed": "\(seed)", "jobs": jobs,
            "maxIterations": maxIterations, "method": method.rawValue, "gradient": gradient,
            "solver": ["stepper": "\(settings.stepper)", "relativeTolerance": settings.relativeTolerance, "absoluteTolerance": settings.absoluteTolerance] as [String: Any],
            "startDesign": "latin hypercube on the parameter scale within the bounds", "seconds": seconds,
            "createdAt": ISO8601DateFormatter().string(from: Date()),
        ]
        if let failure { fields["failure"] = failure }
        let data = try JSONSerialization.data(withJSONObject: fields, options: [.prettyPrinted, .sortedKeys])
        try write(String(decoding: data, as: UTF8.self) + "\n", to: path("starts.csv.meta.json"), force: true)
    }
}
