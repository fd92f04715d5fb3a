import Experiments
import Foundation
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
