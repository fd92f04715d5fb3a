import Experiments
import Foundation
import Integrator
import PEtab

/// Text of the files a fit writes, apart from writing them (the CLI owns the paths and `--force`).
public enum FitFiles {
    /// Header of `starts.csv`: every estimate on its estimation scale, named by parameter id.
    public static func startsHeader(_ names: [String]) -> [String] {
        ["start", "status", "nllh", "objective", "iterations", "evaluations", "seconds", "message"] + names
    }

    /// One row of `starts.csv` (1-based start); `nllh` is PEtab's at the estimate (NaN when failed).
    public static func startsRow(_ k: Int, _ fit: LocalFit, nllh: Double) -> String {
        var fields = ["\(k)", fit.status.rawValue, csvNumber(nllh), csvNumber(fit.objective), "\(fit.iterations)", "\(fit.evaluations)",
                      String(format: "%.3f", fit.seconds), csvField(fit.message)]
        fields += fit.estimate.map(csvNumber)
        return fields.joined(separator: ",") + "\n"
    }

    /// The sidecar of `starts.csv`: the sweeps' `RunMetadata`, whose identity decides whether a file may
    /// be resumed or shards merged. Everything that changes which fits the starts give is in it: the
    /// problem (a hash of every file it reads), the seed and number of starts, the method, the
    /// optimiser's and the integrator's tolerances.
    public static func sidecar(_ problem: PEtabProblem, version: String, starts: Int, seed: UInt64, options: LeastSquaresOptions) -> RunMetadata {
        sidecar(file: problem.file, sourceFiles: problem.hashedFiles, solver: PEtabProblem.solverSettings,
                version: version, starts: starts, seed: seed, options: options)
    }

    /// The sidecar of any problem: its file, every file it reads (hashed together), its solver settings.
    public static func sidecar(file: String, sourceFiles: [String], solver: SolverSettings, version: String, starts: Int, seed: UInt64,
                               options: LeastSquaresOptions) -> RunMetadata {
        let extra = [
            "design": "multistart", "runs_total": String(starts), "start_design": "latin hypercube on the parameter scale within the bounds",
            "method": options.method.rawValue, "max_iterations": String(options.maxIterations),
            "gradient": options.analyticJacobian ? "sensitivities" : options.centralDifferences ? "central" : "differences", "difference_step": csvNumber(options.differenceStep),
            "xtol": csvNumber(options.xtol), "gtol": csvNumber(options.gtol), "ftol": csvNumber(options.ftol),
        ]
        return RunMetadata(version: version, inputFile: file, inputSHA256: filesSHA256(sourceFiles),
                           solver: solver, seed: seed, extra: extra)
    }

    /// One hash over every file of the problem, in the order the YAML names them.
    public static func problemSHA256(_ problem: PEtabProblem) -> String {
        filesSHA256(problem.hashedFiles)
    }

    /// One hash over the files' hashes, in order.
    public static func filesSHA256(_ files: [String]) -> String {
        let each = files.map { f in FileManager.default.contents(atPath: f).map { SHA256.hex($0) } ?? "unreadable" }
        return SHA256.hex(Array(each.joined(separator: "\n").utf8))
    }

    /// A row of `starts.csv` read back: what choosing the best start needs.
    public struct StartRecord: Sendable, Equatable {
        /// 1-based.
        public var start: Int
        public var status: String
        public var nllh: Double
        public var objective: Double
        public var estimate: [Double]

        public init(start: Int, status: String, nllh: Double, objective: Double, estimate: [Double]) {
            self.start = start
            self.status = status
            self.nllh = nllh
            self.objective = objective
            self.estimate = estimate
        }
    }

    /// The whole rows of `starts.csv` (a torn last row left out), checked against the parameters.
    public static func readStarts(_ path: String, parameters: [String]) throws(OutputFileError) -> [StartRecord] {
        let table = try CSVRows(path: path)
        let header = startsHeader(parameters)
        guard table.header == header else { throw .mismatch(path, "its columns differ from this problem's starts") }
        let fixed = header.count - parameters.count
        var records: [StartRecord] = []
        for (k, f) in table.rows.enumerated() {
            guard let start = Int(f[0]), let nllh = Double(f[2]), let objective = Double(f[3]) else {
                throw .mismatch(path, "line \(k + 2) is not a start (start, nllh or objective is not a number)")
            }
            let estimate = f[fixed...].map { Double($0) ?? .nan }
            records.append(StartRecord(start: start, status: f[1], nllh: nllh, objective: objective, estimate: estimate))
        }
        return records
    }

    /// The start with the lowest objective among those with a finite nllh (the lower start number on a
    /// tie, so the choice does not depend on the order rows were written in), and how many starts lie
    /// within `tolerance` of it.
    public static func best(of records: [StartRecord], tolerance: Double = 0.1) -> (best: StartRecord, within: Int)? {
        let usable = records.filter { $0.nllh.isFinite }
        guard let best = usable.min(by: { ($0.objective, $0.start) < ($1.objective, $1.start) }) else { return nil }
        let within = records.filter { $0.objective.isFinite && $0.objective - best.objective <= tolerance }.count
        return (best, within)
    }

    /// `best.params`: one `id value` per line, the value on the linear scale (as PEtab's nominalValue),
    /// `#` comments; `ketasim fit --evaluate --params` reads it back.
    public static func parameterFile(names: [String], linearValues: [Double], comment: String) -> String {
        var text = comment.split(separator: "\n").map { "# " + $0 }.joined(separator: "\n") + "\n"
        for (n, v) in zip(names, linearValues) { text += "\(n) \(String(format: "%.17g", v))\n" }
        return text
    }

    public enum ParameterFileError: Error, CustomStringConvertible {
        case unreadable(String)
        case badLine(String, Int, String)
        public var description: String {
            switch self {
            case .unreadable(let f): return "\(f): cannot read the parameter file"
            case .badLine(let f, let n, let why): return "\(f):\(n): \(why)"
            }
        }
    }

    /// Reads a parameter file: `id value` per line, blank lines and `#` comments ignored.
    public static func readParameterFile(_ path: String) throws(ParameterFileError) -> [String: Double] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw .unreadable(path) }
        var values: [String: Double] = [:]
        for (n, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
            let parts = line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" })
            if parts.isEmpty { continue }
            guard parts.count == 2, let v = Double(parts[1]), v.isFinite else {
                throw .badLine(path, n + 1, "expected `id value`, got `\(line.trimmingCharacters(in: .whitespaces))`")
            }
            guard values.updateValue(v, forKey: String(parts[0])) == nil else { throw .badLine(path, n + 1, "`\(parts[0])` is given twice") }
        }
        return values
    }

    /// `estimates.csv`: per parameter its scale, estimate (estimation scale), linear value, bounds
    /// (estimation scale), standard error (estimation scale; inf when the data do not determine it) and
    /// a column of correlations with each parameter.
    public static func estimates(_ residuals: some FitProblem, at x: [Double], fisher: FisherSummary?) -> String {
        let names = residuals.parameterNames
        let p = names.count
        var lines = [(["parameter", "scale", "estimate", "value", "lower", "upper", "standard_error"] + names.map { "corr_" + $0 }).map(csvField).joined(separator: ",")]
        let linear = residuals.values(at: x)
        for (i, name) in names.enumerated() {
            var fields = [csvField(name), residuals.parameterScales[i].rawValue, csvNumber(x[i]), csvNumber(linear[name] ?? .nan),
                          csvNumber(residuals.lowerBounds[i]), csvNumber(residuals.upperBounds[i]),
                          csvNumber(fisher?.standardErrors[i] ?? .nan)]
            fields += (0..<p).map { csvNumber(fisher?.correlation[i * p + $0] ?? .nan) }
            lines.append(fields.joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// `residuals.tsv`: per measurement its location, data, simulation, sigma and normalised residual
    /// (T(m) - T(s)) / sigma on the observable's transformation.
    public static func residualTable(_ problem: PEtabProblem, _ e: PEtabEvaluation) -> String {
        var lines = ["observableId\tsimulationConditionId\ttime\tmeasurement\tsimulation\tsigma\tresidual"]
        for (i, m) in problem.measurements.enumerated() {
            let scale = problem.observables[m.observableId]?.transformation ?? .lin
            let r = petabResidual(measurement: m.measurement, simulation: e.simulations[i], sigma: e.sigmas[i], scale: scale)
            lines.append([m.observableId, m.simulationConditionId, "\(m.time)", "\(m.measurement)", "\(e.simulations[i])", "\(e.sigmas[i])", "\(r)"].joined(separator: "\t"))
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
