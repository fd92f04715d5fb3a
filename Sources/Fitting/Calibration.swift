import Experiments
import Foundation
import Models
import PEtab
import SBML
import Yams

/// Why a calibration file or one of its data tables cannot be used; prints as `file:line: message`.
public struct CalibrationError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable { case unreadable, invalid, simulation, unsupported }
    public var kind: Kind
    public var file: String
    public var line: Int?
    public var message: String

    public init(_ kind: Kind, file: String, line: Int? = nil, _ message: String) {
        self.kind = kind
        self.file = file
        self.line = line
        self.message = message
    }

    public var description: String { "\(file)\(line.map { ":\($0)" } ?? ""): \(message)" }
}

/// One published number (or direction) of a data table under `models/data/` (columns in its README).
public struct DataRow: Sendable, Equatable {
    public enum Role: String, Sendable { case calibration, validation }
    public enum Direction: String, Sendable { case increase, decrease, noChange = "no change" }

    public var id: String
    public var role: Role
    public var value: Double?
    public var unit: String
    /// The `error` cell as written (`10`, `4.37-22.29`, `-0.87 to -0.10`).
    public var error: String
    public var errorKind: String
    public var n: String
    public var citation: String
    public var locator: String
    public var obtained: String
    /// `direction=...` in `notes`, for rows that report a direction without a number.
    public var direction: Direction?
    public var file: String
    public var line: Int

    /// The two ends of an `error` cell that is an interval (`lo-hi` or `lo to hi`), nil otherwise.
    public var interval: (low: Double, high: Double)? {
        let text = error.trimmingCharacters(in: .whitespaces)
        var parts = text.components(separatedBy: " to ")
        if parts.count != 2 {
            // `lo-hi`, where either end may carry its own minus sign.
            guard let dash = text.dropFirst().firstIndex(of: "-") else { return nil }
            parts = [String(text[..<dash]), String(text[text.index(after: dash)...])]
        }
        guard let a = Double(parts[0].trimmingCharacters(in: .whitespaces)), let b = Double(parts[1].trimmingCharacters(in: .whitespaces)), a < b else { return nil }
        return (a, b)
    }

    /// The sample size when `n` is one plain integer.
    public var sampleSize: Int? { Int(n.trimmingCharacters(in: .whitespaces)) }

    /// Reads every row of a data table; a duplicated id, a bad role or a bad number is an error at its line.
    public static func read(_ path: String) throws(CalibrationError) -> [DataRow] {
        let table: Table
        do { table = try Table.read(path) } catch {
            throw CalibrationError(error.kind == .unreadable ? .unreadable : .invalid, file: error.file, line: error.row, error.message)
        }
        func column(_ name: String) throws(CalibrationError) -> Int {
            guard let i = table.index(name) else { throw CalibrationError(.invalid, file: path, line: 1, "the data table has no `\(name)` column") }
            return i
        }
        let id = try column("id"), role = try column("role"), value = try column("value"), unit = try column("unit")
        let error = try column("error"), kind = try column("error_kind"), n = try column("n"), citation = try column("citation")
        let locator = try column("locator"), obtained = try column("obtained"), notes = try column("notes")
        var rows: [DataRow] = []
        for row in table.rows {
            let c = row.cells
            guard let r = Role(rawValue: c[role]) else {
                throw CalibrationError(.invalid, file: path, line: row.line, "row `\(c[id])`: role must be calibration or validation, got `\(c[role])`")
            }
            var number: Double?
            if !c[value].isEmpty {
                guard let v = Double(c[value]), v.isFinite else {
                    throw CalibrationError(.invalid, file: path, line: row.line, "row `\(c[id])`: value `\(c[value])` is not a number")
                }
                number = v
            }
            var direction: Direction?
            if let range = c[notes].range(of: "direction=") {
                // `increase (deficit 'rapidly reversed'); ...`: the words before a comment or the next note.
                let word = c[notes][range.upperBound...].prefix { $0 != ";" && $0 != "(" && $0 != "," }.trimmingCharacters(in: .whitespaces)
                direction = Direction(rawValue: word)
            }
            rows.append(DataRow(id: c[id], role: r, value: number, unit: c[unit], error: c[error], errorKind: c[kind], n: c[n],
                                citation: c[citation], locator: c[locator], obtained: c[obtained], direction: direction, file: path, line: row.line))
        }
        return rows
    }
}

/// A parameter the calibration estimates: its scale, bounds (linear) and optional start (linear).
public struct CalibrationParameter: Sendable, Equatable {
    public var name: String
    public var scale: PEtabScale
    public var lower: Double
    public var upper: Double
    /// Where `--evaluate` evaluates; the model's value when nil.
    public var start: Double?
    /// A normal prior on the parameter's scale around its start (required with a prior), with this standard
    /// deviation: what keeps a parameter that only qualitative rows constrain at its stated assumption
    /// rather than at the first value that satisfies them.
    public var priorSD: Double?
}

/// One simulated arm: a scenario of the model changed as on the command line.
public struct CalibrationExperiment: Sendable {
    public var name: String
    public var plan: SimulationPlan
    /// Where its metrics are measured from, when not its first treatment dose: an untreated arm
    /// compared with a treated one at the treated arm's dose time.
    public var reference: Double?
    public var line: Int
}

/// How a target's simulated quantity is compared with its data row.
public struct CalibrationTarget: Sendable {
    public enum Baseline: Sendable, Equatable {
        /// The metric itself, times `factor`.
        case none
        /// The same output's value just before the first dose of the experiment.
        case pre
        /// The same metric in another experiment (the untreated arm).
        case experiment(String)
    }
    public enum Comparison: String, Sendable { case ratio, difference }
    public enum Distribution: String, Sendable { case normal, lognormal }
    public enum Kind: Sendable {
        /// A reported number with its noise: normal (sigma in data units) or log-normal (sigma of the log).
        case value(Double, sigma: Double, Distribution)
        /// A reported interval the quantity should lie in; outside it, the distance over `sigma`.
        case range(low: Double, high: Double, sigma: Double)
        /// A reported direction: the effect must exceed `margin` (increase), fall below -margin
        /// (decrease) or stay within it (no change); beyond that, the shortfall over `sigma`.
        case direction(DataRow.Direction, margin: Double, sigma: Double)
    }

    public var row: DataRow
    public var experiment: String
    public var output: String
    public var metric: String
    public var baseline: Baseline
    public var comparison: Comparison
    /// Data units per model unit (for `none` and `difference`).
    public var factor: Double
    public var kind: Kind
    public var line: Int

    /// `output.metric`, as a sweep names the column.
    public var column: String { "\(output).\(metric)" }
}

/// A ketasim calibration file: a model, its data tables, the parameters to estimate, the arms to
/// simulate and the targets that tie data rows to metrics of those arms (docs/CALIBRATION.md).
public struct CalibrationProblem: Sendable {
    public var file: String
    public var model: ModelFile
    public var parameters: [CalibrationParameter]
    public var experiments: [CalibrationExperiment]
    /// Every target, calibration and validation rows alike; only calibration rows are fitted.
    public var targets: [CalibrationTarget]
    public var dataFiles: [String]

    /// Every file the problem reads, in a fixed order: its identity in a fit's sidecar.
    public var sourceFiles: [String] { [file, model.path] + dataFiles }

    /// Whether `path` is a ketasim calibration file rather than a PEtab problem: it has `targets`.
    public static func looksLikeCalibration(_ path: String) -> Bool {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8), let node = try? Yams.compose(yaml: text),
              let mapping = node.mapping else { return false }
        return mapping["targets"] != nil
    }

    public static func load(_ path: String) throws(CalibrationError) -> CalibrationProblem {
        var reader = CalibrationReader(file: path)
        return try reader.read()
    }

    public var fitted: [CalibrationTarget] { targets.filter { $0.row.role == .calibration } }
    public var validation: [CalibrationTarget] { targets.filter { $0.row.role == .validation } }
}

/// Reads a calibration file, every error at its line.
struct CalibrationReader {
    let file: String
    let directory: URL

    init(file: String) {
        self.file = file
        directory = URL(fileURLWithPath: file).deletingLastPathComponent()
    }

    func fail(_ node: Node?, _ message: String) -> CalibrationError {
        CalibrationError(.invalid, file: file, line: node?.mark.map { $0.line }, message)
    }

    func resolve(_ path: String) -> String {
        path.hasPrefix("/") ? path : directory.appendingPathComponent(path).standardizedFileURL.path
    }

    func entries(_ node: Node?, _ what: String, allowed: [String]) throws(CalibrationError) -> [String: Node] {
        guard let node, let mapping = node.mapping else { throw fail(node, "\(what) must be a mapping") }
        var out: [String: Node] = [:]
        for (k, v) in mapping {
            guard let key = k.string else { throw fail(k, "\(what): a key must be a name") }
            guard allowed.contains(key) else { throw fail(k, "\(what): unknown key `\(key)`; allowed: \(allowed.joined(separator: ", "))") }
            out[key] = v
        }
        return out
    }

    func string(_ node: Node?, _ what: String) throws(CalibrationError) -> String {
        guard let s = node?.scalar?.string, !s.isEmpty else { throw fail(node, "\(what) must be a text") }
        return s
    }

    func number(_ node: Node?, _ what: String) throws(CalibrationError) -> Double {
        guard let s = node?.scalar?.string, let v = Double(s), v.isFinite else { throw fail(node, "\(what) must be a finite number") }
        return v
    }

    func strings(_ node: Node?, _ what: String) throws(CalibrationError) -> [String] {
        guard let node else { return [] }
        if let s = node.scalar?.string { return [s] }
        guard let seq = node.sequence else { throw fail(node, "\(what) must be a text or a list") }
        var out: [String] = []
        for item in seq { out.append(try string(item, what)) }
        return out
    }

    mutating func read() throws(CalibrationError) -> CalibrationProblem {
        let text: String
        do { text = try String(contentsOfFile: file, encoding: .utf8) } catch {
            throw CalibrationError(.unreadable, file: file, "cannot read the calibration file: \(error.localizedDescription)")
        }
        let root: Node
        do {
            guard let node = try Yams.compose(yaml: text) else { throw CalibrationError(.invalid, file: file, "the file is empty") }
            root = node
        } catch let e as CalibrationError { throw e } catch {
            throw CalibrationError(.invalid, file: file, "not valid YAML: \(error)")
        }
        let top = try entries(root, "the calibration file", allowed: ["model", "data", "defaults", "parameters", "experiments", "targets", "description"])
        let modelPath = resolve(try string(top["model"], "`model`"))
        let model: ModelFile
        do { model = try ModelFile.load(modelPath) } catch {
            throw CalibrationError(.invalid, file: file, line: top["model"]?.mark?.line, "model \(modelPath): \(error.description)")
        }
        let definition = model.definition

        var rows: [String: DataRow] = [:]
        var dataFiles: [String] = []
        for path in try strings(top["data"], "`data`") {
            let resolved = resolve(path)
            dataFiles.append(resolved)
            for row in try DataRow.read(resolved) {
                if let other = rows[row.id] {
                    throw CalibrationError(.invalid, file: resolved, line: row.line, "row id `\(row.id)` is also at \(other.file):\(other.line)")
                }
                rows[row.id] = row
            }
        }

        var defaultMargin: Double?
        var defaultSigma: Double?
        if let d = top["defaults"] {
            let e = try entries(d, "`defaults`", allowed: ["margin", "sigma"])
            if let m = e["margin"] { defaultMargin = try number(m, "`defaults.margin`") }
            if let s = e["sigma"] { defaultSigma = try number(s, "`defaults.sigma`") }
        }

        var parameters: [CalibrationParameter] = []
        guard let parameterList = top["parameters"]?.sequence, !parameterList.isEmpty else {
            throw fail(top["parameters"] ?? root, "`parameters` must list at least one parameter to estimate")
        }
        for node in parameterList {
            let e = try entries(node, "a parameter", allowed: ["name", "scale", "bounds", "start", "prior_sd"])
            let name = try string(e["name"], "a parameter's `name`")
            guard let declared = definition.parameter(named: name) else {
                throw fail(e["name"], "`\(name)` is not a parameter of \(modelPath)\(didYouMean(name, among: definition.parameters.map(\.name)))")
            }
            if parameters.contains(where: { $0.name == name }) { throw fail(e["name"], "`\(name)` is estimated twice") }
            let scaleText = e["scale"]?.scalar?.string ?? "log10"
            guard let scale = PEtabScale(rawValue: scaleText) else { throw fail(e["scale"], "`scale` must be lin, log or log10, got `\(scaleText)`") }
            guard let b = e["bounds"]?.sequence, b.count == 2 else { throw fail(e["bounds"] ?? node, "`\(name)`: `bounds` must be [lower, upper] (linear scale)") }
            let lower = try number(b[0], "a lower bound"), upper = try number(b[1], "an upper bound")
            guard lower < upper else { throw fail(e["bounds"], "`\(name)`: the lower bound must be below the upper one") }
            if scale != .lin && lower <= 0 { throw fail(e["bounds"], "`\(name)`: a \(scale.rawValue) parameter needs a positive lower bound") }
            if let declaredBounds = declared.bounds, lower < declaredBounds.lowerBound || upper > declaredBounds.upperBound {
                throw fail(e["bounds"], "`\(name)`: bounds [\(lower), \(upper)] leave the model's own bounds [\(declaredBounds.lowerBound), \(declaredBounds.upperBound)]")
            }
            var start: Double?
            if let s = e["start"] {
                let v = try number(s, "`start`")
                guard v >= lower && v <= upper else { throw fail(s, "`\(name)`: start \(v) lies outside its bounds") }
                start = v
            }
            var priorSD: Double?
            if let p = e["prior_sd"] {
                let v = try number(p, "`prior_sd`")
                guard v > 0 else { throw fail(p, "`\(name)`: prior_sd must be positive (on the parameter's scale)") }
                // The centre must be written down: the model's value changes when a calibration is applied,
                // and a prior that followed it would drift with every run of make calibrate.
                guard start != nil else { throw fail(p, "`\(name)`: a prior needs `start`, its centre (linear scale)") }
                priorSD = v
            }
            parameters.append(CalibrationParameter(name: name, scale: scale, lower: lower, upper: upper, start: start, priorSD: priorSD))
        }
        let estimated = Set(parameters.map(\.name))

        var experiments: [CalibrationExperiment] = []
        guard let experimentMap = top["experiments"]?.mapping, !experimentMap.isEmpty else {
            throw fail(top["experiments"] ?? root, "`experiments` must name at least one simulated arm")
        }
        for (k, v) in experimentMap {
            guard let name = k.string else { throw fail(k, "an experiment needs a name") }
            experiments.append(try experiment(name, v, definition, estimated: estimated))
        }

        var targets: [CalibrationTarget] = []
        guard let targetList = top["targets"]?.sequence, !targetList.isEmpty else { throw fail(top["targets"] ?? root, "`targets` must list at least one data row") }
        var used: Set<String> = []
        for node in targetList {
            let t = try target(node, rows: rows, experiments: experiments, definition: definition, margin: defaultMargin, sigma: defaultSigma)
            guard used.insert(t.row.id).inserted else { throw fail(node, "data row `\(t.row.id)` is a target twice") }
            targets.append(t)
        }
        if !targets.contains(where: { $0.row.role == .calibration }) {
            throw fail(top["targets"], "every target is a validation row; at least one calibration row is needed to fit")
        }
        return CalibrationProblem(file: file, model: model, parameters: parameters, experiments: experiments, targets: targets, dataFiles: dataFiles)
    }

    func experiment(_ name: String, _ node: Node, _ definition: ModelDefinition, estimated: Set<String>) throws(CalibrationError) -> CalibrationExperiment {
        let e = try entries(node, "experiment `\(name)`", allowed: ["scenario", "organism", "doses", "stress", "set", "t_end", "reference"])
        var plan: SimulationPlan
        if let s = e["scenario"] {
            let scenarioName = try string(s, "`scenario`")
            guard let scenario = definition.scenario(named: scenarioName) else {
                throw fail(s, "experiment `\(name)`: unknown scenario `\(scenarioName)`\(didYouMean(scenarioName, among: definition.scenarios.map(\.name)))")
            }
            plan = SimulationPlan(scenario: scenario)
        } else if let first = definition.scenarios.first {
            plan = SimulationPlan(scenario: first)
        } else {
            plan = SimulationPlan(model: definition, tEnd: 24)
        }
        plan.scenarioName = name
        var change = PlanChange()
        if let o = e["organism"] { change.organism = try string(o, "`organism`") }
        for text in try strings(e["doses"], "`doses`") {
            switch DoseRegimen.parse(text) {
            case .success(let d): change.doses.append(d)
            case .failure(let error): throw fail(e["doses"], "experiment `\(name)`: \(error.description)")
            }
        }
        if let s = e["stress"] { change.stress = try number(s, "`stress`") }
        if let t = e["t_end"] {
            switch definition.timeUnit.value(try string(t, "`t_end`")) {
            case .success(let v): change.tEnd = v
            case .failure(let error): throw fail(t, "experiment `\(name)`: t_end: \(error)")
            }
        }
        if let set = e["set"] {
            guard let mapping = set.mapping else { throw fail(set, "`set` must map parameter names to values") }
            for (k, v) in mapping {
                let p = try string(k, "a parameter name")
                if estimated.contains(p) { throw fail(k, "experiment `\(name)` sets `\(p)`, which the calibration estimates") }
                change.parameters[p] = try number(v, "`\(p)`")
            }
        }
        do { try change.apply(to: &plan, model: definition) } catch {
            throw fail(node, "experiment `\(name)`: \(error.description)")
        }
        var reference: Double?
        if let r = e["reference"] {
            switch definition.timeUnit.value(try string(r, "`reference`")) {
            case .success(let v) where v >= 0 && v <= plan.tEnd: reference = v
            case .success(let v): throw fail(r, "experiment `\(name)`: reference \(v) lies outside the run")
            case .failure(let error): throw fail(r, "experiment `\(name)`: reference: \(error)")
            }
        }
        return CalibrationExperiment(name: name, plan: plan, reference: reference, line: node.mark?.line ?? 0)
    }

    func target(_ node: Node, rows: [String: DataRow], experiments: [CalibrationExperiment], definition: ModelDefinition,
                margin defaultMargin: Double?, sigma defaultSigma: Double?) throws(CalibrationError) -> CalibrationTarget {
        let e = try entries(node, "a target", allowed: ["data", "experiment", "metric", "versus", "compare", "factor", "distribution", "noise", "margin", "sigma"])
        let id = try string(e["data"], "a target's `data` (a row id)")
        guard let row = rows[id] else { throw fail(e["data"], "no data table has a row `\(id)`\(didYouMean(id, among: Array(rows.keys)))") }
        let experimentName = try string(e["experiment"], "`experiment`")
        guard experiments.contains(where: { $0.name == experimentName }) else {
            throw fail(e["experiment"], "`\(id)`: unknown experiment `\(experimentName)`\(didYouMean(experimentName, among: experiments.map(\.name)))")
        }
        let column = try string(e["metric"], "`metric` (OUTPUT.METRIC)")
        guard let dot = column.lastIndex(of: ".") else { throw fail(e["metric"], "`\(id)`: metric `\(column)` must be OUTPUT.METRIC, e.g. synapse_density.at_24h") }
        let output = String(column[..<dot]), metric = String(column[column.index(after: dot)...])
        guard definition.outputs.contains(output) || definition.states.contains(where: { $0.name == output })
            || definition.assignments.contains(where: { $0.name == output }) else {
            throw fail(e["metric"], "`\(id)`: `\(output)` is not an output of the model\(didYouMean(output, among: definition.outputs))")
        }
        guard CalibrationMetrics.offset(metric, timeUnit: definition.timeUnit) != nil else {
            throw fail(e["metric"], "`\(id)`: unknown metric `\(metric)`; one of pre, min, max, t_max, auc, duration, at_<duration>, change_<duration>, mean_<duration>")
        }
        var baseline = CalibrationTarget.Baseline.none
        if let v = e["versus"] {
            let text = try string(v, "`versus`")
            if text == "pre" { baseline = .pre } else {
                guard experiments.contains(where: { $0.name == text }) else {
                    throw fail(v, "`\(id)`: `versus` must be `pre` or an experiment, got `\(text)`\(didYouMean(text, among: experiments.map(\.name)))")
                }
                baseline = .experiment(text)
            }
        }
        let compareText = e["compare"]?.scalar?.string ?? "ratio"
        guard let comparison = CalibrationTarget.Comparison(rawValue: compareText) else { throw fail(e["compare"], "`compare` must be ratio or difference") }
        let factor = try e["factor"].map { (n) throws(CalibrationError) in try number(n, "`factor`") } ?? 1
        let distText = e["distribution"]?.scalar?.string ?? "normal"
        guard let distribution = CalibrationTarget.Distribution(rawValue: distText) else { throw fail(e["distribution"], "`distribution` must be normal or lognormal") }
        let margin = try e["margin"].map { (n) throws(CalibrationError) in try number(n, "`margin`") } ?? defaultMargin
        let sigma = try e["sigma"].map { (n) throws(CalibrationError) in try number(n, "`sigma`") } ?? defaultSigma
        var noiseSD: Double?
        var noiseCV: Double?
        if let n = e["noise"] {
            let ne = try entries(n, "`noise`", allowed: ["sd", "cv"])
            if let s = ne["sd"] { noiseSD = try number(s, "`noise.sd`") }
            if let c = ne["cv"] { noiseCV = try number(c, "`noise.cv`") }
            guard (noiseSD == nil) != (noiseCV == nil) else { throw fail(n, "`noise` takes one of sd or cv") }
        }
        let place = "\(row.file):\(row.line)"

        let kind: CalibrationTarget.Kind
        if let value = row.value {
            if let sd = noiseSD {
                guard sd > 0 else { throw fail(e["noise"], "`\(id)`: noise.sd must be positive") }
                kind = .value(value, sigma: sd, distribution)
            } else if let cv = noiseCV {
                guard cv > 0, value > 0 else { throw fail(e["noise"], "`\(id)`: noise.cv needs a positive cv and a positive value") }
                kind = .value(value, sigma: (log(1 + cv * cv)).squareRoot(), .lognormal)
            } else {
                guard let derived = Self.sigma(of: row, distribution: distribution) else {
                    throw fail(node, "`\(id)` (\(place)) states no usable error (`\(row.error)`, \(row.errorKind.isEmpty ? "no kind" : row.errorKind)); give `noise: {sd: ...}` or `noise: {cv: ...}` and say why in a comment")
                }
                kind = .value(value, sigma: derived.sigma, derived.distribution)
            }
        } else if row.errorKind == "range", let interval = row.interval {
            let s = noiseSD ?? (interval.high - interval.low) / 4
            kind = .range(low: interval.low, high: interval.high, sigma: s)
        } else if let direction = row.direction {
            guard let m = margin, let s = sigma, m >= 0, s > 0 else {
                throw fail(node, "`\(id)` reports a direction (\(direction.rawValue)); it needs `margin` and `sigma` (here or in `defaults`)")
            }
            guard baseline != .none else {
                throw fail(node, "`\(id)` reports a direction (\(direction.rawValue)); say against what with `versus: pre` or `versus: EXPERIMENT`")
            }
            kind = .direction(direction, margin: m, sigma: s)
        } else {
            throw fail(node, "`\(id)` (\(place)) has neither a value, a range nor a direction to fit")
        }
        if case .value(_, _, .lognormal) = kind, case .value(let v, _, _) = kind, v <= 0 {
            throw fail(node, "`\(id)`: a log-normal target needs a positive value, got \(v)")
        }
        return CalibrationTarget(row: row, experiment: experimentName, output: output, metric: metric, baseline: baseline, comparison: comparison,
                                 factor: factor, kind: kind, line: node.mark?.line ?? 0)
    }

    /// The noise of a reported mean, from its error cell:
    /// SEM: sigma = SEM; SD: SD / sqrt(n) when n is one integer (the mean's error), SD otherwise;
    /// 95% CI lo-hi: (hi - lo) / (2 * 1.96) on the distribution's scale (log ends for log-normal);
    /// geometric SD (factor) f: log-normal with sigma = log f / sqrt(n) (or log f without n).
    static func sigma(of row: DataRow, distribution: CalibrationTarget.Distribution) -> (sigma: Double, distribution: CalibrationTarget.Distribution)? {
        let kind = row.errorKind.lowercased()
        let root = row.sampleSize.map { Double($0).squareRoot() } ?? 1
        if kind == "95% ci", let ci = row.interval {
            if distribution == .lognormal {
                guard ci.low > 0 else { return nil }
                return ((log(ci.high) - log(ci.low)) / (2 * 1.959964), .lognormal)
            }
            return ((ci.high - ci.low) / (2 * 1.959964), .normal)
        }
        guard let e = Double(row.error.trimmingCharacters(in: .whitespaces)), e > 0 else { return nil }
        switch kind {
        case "sem": return distribution == .lognormal ? nil : (e, .normal)
        case "sd": return distribution == .lognormal ? nil : (e / root, .normal)
        case "geometric sd (factor)": return e > 1 ? (log(e) / root, .lognormal) : nil
        default: return nil
        }
    }
}

/// Metric names of calibration targets on the metric engine of sweeps.
enum CalibrationMetrics {
    static let plain: Set<String> = ["pre", "min", "max", "t_max", "auc", "duration"]

    /// nil: not a metric; `.some(nil)`: a metric without an offset; `.some(t)`: `at_`/`change_` at t.
    static func offset(_ metric: String, timeUnit: TimeUnit) -> Double?? {
        if plain.contains(metric) { return .some(nil) }
        for prefix in ["at_", "change_", "mean_"] where metric.hasPrefix(prefix) {
            if case .success(let t) = timeUnit.value(String(metric.dropFirst(prefix.count))), t >= 0 { return .some(t) }
        }
        return nil
    }
}
