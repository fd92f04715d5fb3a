import Expressions
import Foundation
import SBML
import Yams

/// Scale of a parameter (`parameterScale`) or of an observable and its data (`observableTransformation`).
public enum PEtabScale: String, Sendable, Equatable, CaseIterable {
    case lin, log, log10

    /// The value on this scale (natural log for `log`).
    public func apply(_ x: Double) -> Double {
        switch self {
        case .lin: return x
        case .log: return Foundation.log(x)
        case .log10: return Foundation.log10(x)
        }
    }

    /// The linear value of `y` on this scale.
    public func invert(_ y: Double) -> Double {
        switch self {
        case .lin: return y
        case .log: return exp(y)
        case .log10: return pow(10, y)
        }
    }
}

public enum PEtabNoiseDistribution: String, Sendable, Equatable, CaseIterable {
    case normal, laplace
}

/// A table cell that holds either a number or the id of a parameter.
public enum PEtabValue: Sendable, Equatable {
    case number(Double)
    case parameter(String)

    init(_ text: String) {
        if let v = parseNumber(text) { self = .number(v) } else { self = .parameter(text) }
    }
}

public struct PEtabParameter: Sendable, Equatable {
    public var id: String
    public var scale: PEtabScale
    public var lowerBound: Double
    public var upperBound: Double
    /// On the linear scale, as PEtab v1 writes it whatever `parameterScale` says.
    public var nominalValue: Double
    public var estimate: Bool
    /// `objectivePriorType` with its parameters; nil when the column is empty or absent.
    public var prior: PEtabPrior?
    public var row: Int
}

/// An objective prior of the parameter table. Kept apart from the likelihood: PEtab's llh
/// (`petab.calculate_llh`) has none, an optimiser adds the log prior of the estimated parameters.
public struct PEtabPrior: Sendable, Equatable {
    public enum Kind: String, Sendable, Equatable, CaseIterable {
        case uniform, normal, laplace, logNormal, logLaplace
        case parameterScaleUniform, parameterScaleNormal, parameterScaleLaplace
    }
    public var kind: Kind
    /// The two numbers of `objectivePriorParameters` (bounds of a uniform; location and scale otherwise).
    public var a: Double
    public var b: Double

    /// Log density at the parameter's linear value x (`scale` applies to the parameterScale kinds):
    /// ```
    /// uniform(a, b):    -log(b - a) inside [a, b], -inf outside
    /// normal(mu, s):    -0.5 log(2 pi s^2) - (x - mu)^2 / (2 s^2)
    /// laplace(mu, s):   -log(2 s) - |x - mu| / s
    /// logNormal(mu, s): -log(x s sqrt(2 pi)) - (log x - mu)^2 / (2 s^2)
    /// logLaplace(mu, s): -log(2 s x) - |log x - mu| / s
    /// ```
    public func logDensity(_ x: Double, scale: PEtabScale) -> Double {
        func uniform(_ v: Double) -> Double { v >= a && v <= b ? -Foundation.log(b - a) : -.infinity }
        func normal(_ v: Double) -> Double { -0.5 * Foundation.log(2 * Double.pi * b * b) - (v - a) * (v - a) / (2 * b * b) }
        func laplace(_ v: Double) -> Double { -Foundation.log(2 * b) - abs(v - a) / b }
        switch kind {
        case .uniform: return uniform(x)
        case .normal: return normal(x)
        case .laplace: return laplace(x)
        case .logNormal: return x > 0 ? normal(Foundation.log(x)) - Foundation.log(x) : -.infinity
        case .logLaplace: return x > 0 ? laplace(Foundation.log(x)) - Foundation.log(x) : -.infinity
        case .parameterScaleUniform: return uniform(scale.apply(x))
        case .parameterScaleNormal: return normal(scale.apply(x))
        case .parameterScaleLaplace: return laplace(scale.apply(x))
        }
    }
}

public struct PEtabObservable: Sendable, Equatable {
    public var id: String
    public var formula: Expr
    public var noiseFormula: Expr
    public var transformation: PEtabScale
    public var distribution: PEtabNoiseDistribution
    public var file: String
    public var row: Int
}

public struct PEtabCondition: Sendable, Equatable {
    public var id: String
    /// Column (an SBML id or a parameter of the observables) -> value; NaN keeps the model's value.
    public var values: [String: PEtabValue]
    public var file: String
    public var row: Int
}

public struct PEtabMeasurement: Sendable, Equatable {
    public var observableId: String
    public var preequilibrationConditionId: String?
    public var simulationConditionId: String
    /// `inf` for a measurement at steady state.
    public var time: Double
    public var measurement: Double
    public var observableParameters: [PEtabValue]
    public var noiseParameters: [PEtabValue]
    public var file: String
    public var row: Int
    /// The row as written, to write the simulation table with the same columns.
    public var cells: [String]
}

/// A PEtab v1 problem: the SBML model and the four tables, checked against each other.
public struct PEtabProblem: Sendable {
    public var file: String
    public var model: SBMLModel
    public var parameters: [PEtabParameter]
    public var observables: [String: PEtabObservable]
    public var conditions: [String: PEtabCondition]
    public var measurements: [PEtabMeasurement]
    /// Columns of the (first) measurement table, in order, for the simulation table.
    public var measurementColumns: [String]
    /// Every file the problem was read from (the YAML first): what a fit's identity must hash, since a
    /// changed measurement table is another problem under the same YAML.
    public var sourceFiles: [String] = []
    /// The files a fit's identity hashes: `sourceFiles`, or the YAML alone for a problem built in memory.
    public var hashedFiles: [String] { sourceFiles.isEmpty ? [file] : sourceFiles }

    /// Reads the problem YAML and everything it names, relative to the YAML's directory.
    public static func load(_ path: String) throws(PEtabError) -> PEtabProblem {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw PEtabError(.unreadable, file: path, "cannot read the problem file: \(error.localizedDescription)")
        }
        let yaml: Any?
        do { yaml = try Yams.load(yaml: text) } catch {
            throw PEtabError(.invalid, file: path, "not valid YAML: \(error)")
        }
        guard let root = yaml as? [String: Any] else { throw PEtabError(.invalid, file: path, "the problem file must be a YAML mapping") }
        let version = root["format_version"].map { "\($0)" } ?? ""
        guard version == "1" || version.hasPrefix("1.") else {
            if version.hasPrefix("2") { throw PEtabError(.unsupported, file: path, column: "format_version", "PEtab format version \(version); ketasim reads PEtab v1") }
            throw PEtabError(.invalid, file: path, column: "format_version", "expected format_version: 1, got `\(version)`")
        }
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent()
        func resolve(_ name: String) -> String {
            name.hasPrefix("/") ? name : directory.appendingPathComponent(name).path
        }
        func files(_ value: Any?, _ key: String) throws(PEtabError) -> [String] {
            if let s = value as? String { return [resolve(s)] }
            if let list = value as? [Any] {
                var result: [String] = []
                for item in list {
                    guard let s = item as? String else { throw PEtabError(.invalid, file: path, column: key, "expected file names") }
                    result.append(resolve(s))
                }
                return result
            }
            throw PEtabError(.invalid, file: path, column: key, "`\(key)` is missing or not a list of file names")
        }
        let parameterFiles = try files(root["parameter_file"], "parameter_file")
        guard let problems = root["problems"] as? [[String: Any]], let problem = problems.first else {
            throw PEtabError(.invalid, file: path, column: "problems", "`problems` must be a list with one problem")
        }
        if problems.count > 1 { throw PEtabError(.unsupported, file: path, column: "problems", "\(problems.count) problems in one file; ketasim reads one") }
        for key in ["mapping_file", "mapping_files"] where problem[key] != nil || root[key] != nil {
            throw PEtabError(.unsupported, file: path, column: key, "mapping tables (PEtab v2)")
        }
        let sbml = try files(problem["sbml_files"], "sbml_files")
        guard sbml.count == 1 else { throw PEtabError(.unsupported, file: path, column: "sbml_files", "\(sbml.count) SBML files; ketasim reads exactly one") }
        let model: SBMLModel
        do { model = try SBMLImporter.importModel(path: sbml[0]) } catch {
            // The SBML error's own location and sentence, without repeating the file name.
            let kind: PEtabError.Kind = error.kind == .unsupported ? .unsupported : error.kind == .unreadable ? .unreadable : .invalid
            let element = error.id.map { "<\(error.element) id=\"\($0)\">" } ?? "<\(error.element)>"
            throw PEtabError(kind, file: sbml[0], row: error.line > 0 ? error.line : nil, "SBML \(element): \(error.message)")
        }
        var result = PEtabProblem(file: path, model: model, parameters: [], observables: [:], conditions: [:], measurements: [], measurementColumns: [])
        for f in parameterFiles { try result.readParameters(Table.read(f)) }
        let observableFiles = try files(problem["observable_files"], "observable_files")
        let conditionFiles = try files(problem["condition_files"], "condition_files")
        let measurementFiles = try files(problem["measurement_files"], "measurement_files")
        for f in observableFiles { try result.readObservables(Table.read(f)) }
        for f in conditionFiles { try result.readConditions(Table.read(f)) }
        for f in measurementFiles { try result.readMeasurements(Table.read(f)) }
        result.sourceFiles = [path] + parameterFiles + sbml + observableFiles + conditionFiles + measurementFiles
        return result
    }

    /// Builds a problem from tables already read (tests, and callers that generate tables).
    init(file: String, model: SBMLModel, parameters: [PEtabParameter], observables: [String: PEtabObservable],
         conditions: [String: PEtabCondition], measurements: [PEtabMeasurement], measurementColumns: [String]) {
        self.file = file
        self.model = model
        self.parameters = parameters
        self.observables = observables
        self.conditions = conditions
        self.measurements = measurements
        self.measurementColumns = measurementColumns
    }

    mutating func readParameters(_ t: Table) throws(PEtabError) {
        let id = try t.required("parameterId"), scale = try t.required("parameterScale")
        let lower = try t.required("lowerBound"), upper = try t.required("upperBound")
        let nominal = try t.required("nominalValue"), estimate = try t.required("estimate")
        let priorType = t.index("objectivePriorType"), priorParameters = t.index("objectivePriorParameters")
        var seen = Set(parameters.map(\.id))
        for row in t.rows {
            let name = row.cells[id]
            guard isIdentifier(name) else { throw PEtabError(.invalid, file: t.file, row: row.line, column: "parameterId", "`\(name)` is not a valid id") }
            guard seen.insert(name).inserted else { throw PEtabError(.invalid, file: t.file, row: row.line, column: "parameterId", "`\(name)` is defined twice") }
            guard let s = PEtabScale(rawValue: row.cells[scale].isEmpty ? "lin" : row.cells[scale]) else {
                throw PEtabError(.invalid, file: t.file, row: row.line, column: "parameterScale", "`\(row.cells[scale])` is not lin, log or log10")
            }
            let e: Bool
            switch row.cells[estimate] {
            case "1": e = true
            case "0": e = false
            default: throw PEtabError(.invalid, file: t.file, row: row.line, column: "estimate", "`\(row.cells[estimate])` is not 0 or 1")
            }
            let value = try t.number(row, nominal)
            guard value.isFinite else { throw PEtabError(.invalid, file: t.file, row: row.line, column: "nominalValue", "the nominal value must be finite") }
            var prior: PEtabPrior?
            let type = t.cell(row, priorType)
            if !type.isEmpty {
                guard let kind = PEtabPrior.Kind(rawValue: type) else {
                    throw PEtabError(.unsupported, file: t.file, row: row.line, column: "objectivePriorType",
                                     "objective prior `\(type)` (ketasim knows \(PEtabPrior.Kind.allCases.map(\.rawValue).joined(separator: ", ")))")
                }
                let numbers = t.cell(row, priorParameters).split(separator: ";").map { parseNumber($0.trimmingCharacters(in: .whitespaces)) }
                guard numbers.count == 2, let a = numbers[0], let b = numbers[1], a.isFinite, b.isFinite else {
                    throw PEtabError(.invalid, file: t.file, row: row.line, column: "objectivePriorParameters",
                                     "a `\(type)` prior needs two numbers separated by `;`, got `\(t.cell(row, priorParameters))`")
                }
                prior = PEtabPrior(kind: kind, a: a, b: b)
            }
            parameters.append(PEtabParameter(id: name, scale: s, lowerBound: try t.number(row, lower, allowEmpty: -.infinity),
                                             upperBound: try t.number(row, upper, allowEmpty: .infinity), nominalValue: value,
                                             estimate: e, prior: prior, row: row.line))
        }
    }

    mutating func readObservables(_ t: Table) throws(PEtabError) {
        let id = try t.required("observableId"), formula = try t.required("observableFormula"), noise = try t.required("noiseFormula")
        let transformation = t.index("observableTransformation"), distribution = t.index("noiseDistribution")
        for row in t.rows {
            let name = row.cells[id]
            guard isIdentifier(name) else { throw PEtabError(.invalid, file: t.file, row: row.line, column: "observableId", "`\(name)` is not a valid id") }
            guard observables[name] == nil else { throw PEtabError(.invalid, file: t.file, row: row.line, column: "observableId", "`\(name)` is defined twice") }
            let tr = t.cell(row, transformation), di = t.cell(row, distribution)
            guard let scale = PEtabScale(rawValue: tr.isEmpty ? "lin" : tr) else {
                throw PEtabError(.invalid, file: t.file, row: row.line, column: "observableTransformation", "`\(tr)` is not lin, log or log10")
            }
            guard let dist = PEtabNoiseDistribution(rawValue: di.isEmpty ? "normal" : di) else {
                throw PEtabError(.unsupported, file: t.file, row: row.line, column: "noiseDistribution", "noise distribution `\(di)` (normal and laplace are)")
            }
            observables[name] = PEtabObservable(
                id: name, formula: try Self.parseFormula(row.cells[formula], file: t.file, row: row.line, column: "observableFormula"),
                noiseFormula: try Self.parseFormula(row.cells[noise], file: t.file, row: row.line, column: "noiseFormula"),
                transformation: scale, distribution: dist, file: t.file, row: row.line)
        }
    }

    /// PEtab formulas are sympy expressions; ketasim's grammar covers the usual ones once `**` is `^`.
    static func parseFormula(_ text: String, file: String, row: Int, column: String) throws(PEtabError) -> Expr {
        guard !text.isEmpty else { throw PEtabError(.invalid, file: file, row: row, column: column, "the formula is empty") }
        do {
            return try ExpressionParser.parse(text.replacingOccurrences(of: "**", with: "^"), origin: SourceLocation(file: file, line: row, column: 1)).expr
        } catch {
            throw PEtabError(.invalid, file: file, row: row, column: column, "`\(text)` is not a formula ketasim can read: \(error.description.split(separator: "\n").first ?? "")")
        }
    }

    mutating func readConditions(_ t: Table) throws(PEtabError) {
        let id = try t.required("conditionId")
        for row in t.rows {
            let name = row.cells[id]
            guard isIdentifier(name) else { throw PEtabError(.invalid, file: t.file, row: row.line, column: "conditionId", "`\(name)` is not a valid id") }
            guard conditions[name] == nil else { throw PEtabError(.invalid, file: t.file, row: row.line, column: "conditionId", "`\(name)` is defined twice") }
            var values: [String: PEtabValue] = [:]
            for (k, column) in t.columns.enumerated() where column != "conditionId" && column != "conditionName" {
                // pandas reads an empty cell as NaN: the model's value is kept.
                let text = row.cells[k]
                let value = text.isEmpty ? PEtabValue.number(.nan) : PEtabValue(text)
                if case .parameter(let p) = value, !isIdentifier(p) {
                    throw PEtabError(.invalid, file: t.file, row: row.line, column: column, "`\(p)` is neither a number nor a parameter id")
                }
                values[column] = value
            }
            conditions[name] = PEtabCondition(id: name, values: values, file: t.file, row: row.line)
        }
    }

    mutating func readMeasurements(_ t: Table) throws(PEtabError) {
        let obs = try t.required("observableId"), sim = try t.required("simulationConditionId")
        let time = try t.required("time"), value = try t.required("measurement")
        let pre = t.index("preequilibrationConditionId")
        let obsPars = t.index("observableParameters"), noisePars = t.index("noiseParameters")
        if measurementColumns.isEmpty { measurementColumns = t.columns }
        for row in t.rows {
            let o = row.cells[obs]
            guard let observable = observables[o] else {
                throw PEtabError(.invalid, file: t.file, row: row.line, column: "observableId", "unknown observable `\(o)`; the observable table defines \(observables.keys.sorted().joined(separator: ", "))")
            }
            let s = row.cells[sim]
            guard conditions[s] != nil else {
                throw PEtabError(.invalid, file: t.file, row: row.line, column: "simulationConditionId", "unknown condition `\(s)`")
            }
            let p = t.cell(row, pre)
            if !p.isEmpty && conditions[p] == nil {
                throw PEtabError(.invalid, file: t.file, row: row.line, column: "preequilibrationConditionId", "unknown condition `\(p)`")
            }
            let tm = try t.number(row, time)
            guard tm >= 0 && !tm.isNaN else { throw PEtabError(.invalid, file: t.file, row: row.line, column: "time", "the time must be 0 or later, or inf") }
            let y = try t.number(row, value)
            guard y.isFinite else { throw PEtabError(.invalid, file: t.file, row: row.line, column: "measurement", "the measurement must be a finite number") }
            func overrides(_ column: Int?, _ name: String, _ expr: Expr) throws(PEtabError) -> [PEtabValue] {
                let text = t.cell(row, column)
                let values = text.isEmpty ? [] : text.split(separator: ";", omittingEmptySubsequences: false).map { PEtabValue($0.trimmingCharacters(in: .whitespaces)) }
                let needed = placeholderCount(expr, prefix: name, observable: o)
                if values.count != needed {
                    throw PEtabError(.invalid, file: t.file, row: row.line, column: name + "s",
                                     "observable `\(o)` has \(needed) \(name) placeholder(s) but the row gives \(values.count) value(s)")
                }
                for v in values { if case .parameter(let id) = v, !isIdentifier(id) {
                    throw PEtabError(.invalid, file: t.file, row: row.line, column: name + "s", "`\(id)` is neither a number nor a parameter id")
                } }
                return values
            }
            measurements.append(PEtabMeasurement(
                observableId: o, preequilibrationConditionId: p.isEmpty ? nil : p, simulationConditionId: s, time: tm, measurement: y,
                observableParameters: try overrides(obsPars, "observableParameter", observable.formula),
                noiseParameters: try overrides(noisePars, "noiseParameter", observable.noiseFormula),
                file: t.file, row: row.line, cells: row.cells))
        }
    }
}

/// The highest n among `<prefix>{n}_<observable>` symbols of a formula (placeholders are numbered from 1).
func placeholderCount(_ e: Expr, prefix: String, observable: String) -> Int {
    var n = 0
    for s in e.symbols where s.hasPrefix(prefix) && s.hasSuffix("_" + observable) {
        let middle = s.dropFirst(prefix.count).dropLast(observable.count + 1)
        if let k = Int(middle) { n = max(n, k) }
    }
    return n
}

func isIdentifier(_ s: String) -> Bool {
    guard let first = s.unicodeScalars.first, first == "_" || CharacterSet.letters.contains(first) else { return false }
    return s.unicodeScalars.allSatisfy { $0 == "_" || CharacterSet.alphanumerics.contains($0) }
}
