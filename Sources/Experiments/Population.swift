import Foundation
import Models

// Virtual populations, in the seams sensitivity keeps (sample, evaluate, analyse):
//   design    PopulationDesign: one parameter set per subject (log-normal IIV around the scenario's
//             values, optional correlations, optional draws from a fit's estimates and covariance);
//             subject i's parameters depend only on the seed and i, so a shard, a resume or another
//             --vary value draws the same subject (common random numbers);
//   runs      any SweepRunner over `sweepDesign` (--jobs, --shard, --resume, failed rows come free);
//   analyses  PercentileBands (percentiles over subjects per output time), ResponderCriterion and
//             BinomialInterval (responder fractions with a Wilson 95% interval).

/// A population input that cannot be used, as one sentence.
public struct PopulationError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

// MARK: - Inter-individual variability

/// `--iiv NAME=CV%`: the parameter is log-normal around its typical value, with median the typical
/// value and coefficient of variation CV:
///
///     value = typical · exp(σ η),   η ~ N(0, 1),   σ = sqrt(ln(1 + CV²))
///
/// (the CV of a log-normal with log-sd σ is sqrt(e^σ² − 1), so this σ gives exactly the CV asked for).
public struct IIVSpec: Sendable, Equatable {
    public var name: String
    /// The CV as a fraction (30% is 0.3).
    public var cv: Double

    public init(name: String, cv: Double) {
        self.name = name
        self.cv = cv
    }

    public var sigma: Double { (log1p(cv * cv)).squareRoot() }

    /// `NAME=CV%`, e.g. `cl_ket=30%`. The percent sign is required: a bare 30 could mean 30% or 3000%.
    public static func parse(_ text: String) -> Result<IIVSpec, PopulationError> {
        func fail(_ m: String) -> Result<IIVSpec, PopulationError> { .failure(PopulationError("`\(text)`: \(m)")) }
        let parts = text.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else { return fail("expected NAME=CV%, e.g. cl_ket=30%") }
        guard parts[1].hasSuffix("%") else { return fail("write the coefficient of variation as a percentage, e.g. \(parts[0])=30%") }
        guard let percent = Double(parts[1].dropLast().trimmingCharacters(in: .whitespaces)), percent.isFinite else {
            return fail("`\(parts[1])` is not a percentage")
        }
        guard percent > 0 else { return fail("the CV must be above 0%") }
        guard percent <= 1000 else { return fail("a CV above 1000% is surely a mistake") }
        return .success(IIVSpec(name: parts[0], cv: percent / 100))
    }
}

/// A correlation matrix over named parameters, read from CSV: a header row of names (optionally after
/// an empty or `parameter` first cell, in which case each row starts with its name, in the same order),
/// then one row of numbers per name.
public struct CorrelationMatrix: Sendable, Equatable {
    public var names: [String]
    /// Row-major, names.count².
    public var values: [Double]

    public init(names: [String], values: [Double]) {
        self.names = names
        self.values = values
    }

    public static func read(path: String) throws(PopulationError) -> CorrelationMatrix {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw PopulationError("cannot read the correlation file \(path)") }
        return try parse(text, file: path)
    }

    public static func parse(_ text: String, file: String) throws(PopulationError) -> CorrelationMatrix {
        let lines = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty && !$0.hasPrefix("#") }
        guard let top = lines.first else { throw PopulationError("\(file): the correlation file is empty") }
        var header = csvFields(top).map { $0.trimmingCharacters(in: .whitespaces) }
        let rowNames = header.first == "" || header.first == "parameter"
        if rowNames { header.removeFirst() }
        let n = header.count
        guard n >= 1, !header.contains(where: \.isEmpty) else { throw PopulationError("\(file):1: the header must name the parameters") }
        var seen = Set<String>()
        for name in header where !seen.insert(name).inserted { throw PopulationError("\(file):1: `\(name)` is named twice") }
        guard lines.count == n + 1 else { throw PopulationError("\(file): \(n) parameters need \(n) rows of correlations, found \(lines.count - 1)") }
        var values: [Double] = []
        for (k, line) in lines.dropFirst().enumerated() {
            var fields = csvFields(line).map { $0.trimmingCharacters(in: .whitespaces) }
            if rowNames {
                guard fields.first == header[k] else { throw PopulationError("\(file):\(k + 2): the row should be `\(header[k])`, in the header's order") }
                fields.removeFirst()
            }
            guard fields.count == n else { throw PopulationError("\(file):\(k + 2): \(fields.count) values where \(n) parameters are named") }
            for f in fields {
                guard let v = Double(f), v.isFinite else { throw PopulationError("\(file):\(k + 2): `\(f)` is not a number") }
                values.append(v)
            }
        }
        for i in 0..<n {
            guard abs(values[i * n + i] - 1) < 1e-9 else { throw PopulationError("\(file): the diagonal entry of `\(header[i])` is \(formatNumber(values[i * n + i])), not 1") }
            for j in 0..<i {
                let a = values[i * n + j], b = values[j * n + i]
                guard abs(a - b) < 1e-9 else { throw PopulationError("\(file): the matrix is not symmetric (`\(header[i])`, `\(header[j])`: \(formatNumber(a)) and \(formatNumber(b)))") }
                guard abs(a) <= 1 else { throw PopulationError("\(file): the correlation of `\(header[i])` and `\(header[j])` is \(formatNumber(a)), outside [-1, 1]") }
            }
        }
        guard cholesky(values, size: n) != nil else {
            throw PopulationError("\(file): the correlation matrix is not positive definite, so no population has it; check the signs and sizes of the correlations")
        }
        return CorrelationMatrix(names: header, values: values)
    }
}

/// The lower Cholesky factor L (row-major, L Lᵀ = a) of a symmetric n × n matrix; nil when it is not
/// positive definite (a pivot at or below a tiny fraction of its diagonal: rounding would make draws
/// from such a matrix meaningless).
public func cholesky(_ a: [Double], size n: Int) -> [Double]? {
    var l = [Double](repeating: 0, count: n * n)
    for i in 0..<n {
        for j in 0...i {
            var s = a[i * n + j]
            for k in 0..<j { s -= l[i * n + k] * l[j * n + k] }
            if i == j {
                guard s > 1e-12 * max(1, abs(a[i * n + i])) else { return nil }
                l[i * n + i] = s.squareRoot()
            } else {
                l[i * n + j] = s / l[j * n + j]
            }
        }
    }
    return l
}

/// A fit's estimates and their Fisher covariance, from `DIR/estimates.csv` (`ketasim fit`): draws on
/// each parameter's estimation scale (lin, log, log10) from N(estimate, D R D), D the standard errors
/// and R the correlations, then back to the linear scale. Carries the calibration's uncertainty into
/// predictions.
public struct FitUncertainty: Sendable, Equatable {
    public var names: [String]
    public var scales: [String]
    public var estimates: [Double]
    /// Lower Cholesky factor of the covariance on the estimation scale.
    public var factor: [Double]

    public static func read(directory: String) throws(PopulationError) -> FitUncertainty {
        let path = URL(fileURLWithPath: directory).appendingPathComponent("estimates.csv").path
        guard FileManager.default.fileExists(atPath: path) else { throw PopulationError("\(path) does not exist; it must be the output folder of a fit") }
        let table: CSVRows
        do { table = try CSVRows(path: path) } catch { throw PopulationError(error.description) }
        func column(_ name: String) throws(PopulationError) -> Int {
            guard let k = table.header.firstIndex(of: name) else { throw PopulationError("\(path) has no `\(name)` column; is it a ketasim fit's estimates.csv?") }
            return k
        }
        let (cName, cScale, cEstimate, cSE) = (try column("parameter"), try column("scale"), try column("estimate"), try column("standard_error"))
        let names = table.rows.map { $0[cName] }
        guard !names.isEmpty else { throw PopulationError("\(path) lists no parameters") }
        let corr = try names.map { (n) throws(PopulationError) in try column("corr_" + n) }
        let p = names.count
        var scales: [String] = [], estimates: [Double] = [], se: [Double] = []
        for (k, row) in table.rows.enumerated() {
            guard ["lin", "log", "log10"].contains(row[cScale]) else { throw PopulationError("\(path):\(k + 2): unknown scale `\(row[cScale])` of `\(names[k])`") }
            guard let e = Double(row[cEstimate]), e.isFinite else { throw PopulationError("\(path):\(k + 2): the estimate of `\(names[k])` is not a number") }
            guard let s = Double(row[cSE]), !s.isNaN else {
                throw PopulationError("\(path): `\(names[k])` has no standard error (the fit computed no Fisher information); refit, or give it a variability (CV) instead")
            }
            guard s.isFinite else {
                throw PopulationError("\(path): `\(names[k])` has an infinite standard error (the data do not determine it), so its uncertainty cannot be sampled; fix it in the fit or give it a variability (CV) instead")
            }
            scales.append(row[cScale]); estimates.append(e); se.append(s)
        }
        var cov = [Double](repeating: 0, count: p * p)
        for i in 0..<p {
            for j in 0..<p {
                let r = i == j ? 1 : (Double(table.rows[i][corr[j]]) ?? .nan)
                guard r.isFinite else { throw PopulationError("\(path): the correlation of `\(names[i])` and `\(names[j])` is not a number") }
                cov[i * p + j] = r * se[i] * se[j]
            }
        }
        // A parameter with a zero standard error is held at its estimate: give it a tiny variance so
        // the factorisation still works, rather than refusing a fit with one exactly fixed direction.
        for i in 0..<p where se[i] == 0 { cov[i * p + i] = 1e-300 }
        guard let l = cholesky(cov, size: p) else {
            throw PopulationError("\(path): the covariance of the estimates is not positive definite (parameters correlated at ±1 are not identifiable); fix one of them in the fit")
        }
        return FitUncertainty(names: names, scales: scales, estimates: estimates, factor: l)
    }

    /// The parameters on the linear scale for standard normal deviates `z` (one per parameter).
    public func linear(_ z: [Double]) -> [Double] {
        let p = names.count
        return (0..<p).map { i in
            var x = estimates[i]
            for k in 0...i { x += factor[i * p + k] * z[k] }
            switch scales[i] {
            case "log": return exp(x)
            case "log10": return pow(10, x)
            default: return x
            }
        }
    }
}

// MARK: - Design

/// N subjects' parameter sets: `names` are the sampled parameters in column order (the fit's, then
/// those with IIV not in the fit). For parameter p of subject i:
///
///     value = base_p · exp(σ_p η_p)     η = L z_iiv (L the Cholesky factor of the correlations)
///
/// where base_p is the fit's draw for p when --from-fit names it, else the scenario's typical value,
/// and σ_p = 0 without --iiv on p. Subject i's deviates come from its own generator, seeded from the
/// seed and i alone, so a subject is the same in every shard, resume and --vary value.
public struct PopulationDesign: Sendable {
    public let names: [String]
    public let typical: [Double]
    public let iiv: [IIVSpec]
    public let subjects: Int
    public let seed: UInt64
    public let fit: FitUncertainty?
    /// Cholesky factor of the IIV correlations, over `iiv` in order.
    let iivFactor: [Double]
    /// For each name: its index in the fit, its index in `iiv`.
    let fitIndex: [Int?], iivIndex: [Int?]

    /// The most subjects: the design holds its parameter sets in memory (8 bytes per subject, sampled
    /// parameter and --vary value), as a Latin hypercube sweep does.
    public static let maximumSubjects = 1_000_000

    /// - Parameters:
    ///   - typical: the scenario's value of every parameter named by `iiv` (and any other in `names`).
    public init(iiv: [IIVSpec], typical: [String: Double], correlation: CorrelationMatrix?, fit: FitUncertainty?,
                subjects: Int, seed: UInt64) throws(PopulationError) {
        guard subjects >= 1 else { throw PopulationError("the number of subjects must be at least 1") }
        guard subjects <= Self.maximumSubjects else {
            throw PopulationError("\(subjects) subjects is more than \(Self.maximumSubjects), ketasim's limit; split the population into several runs with different seeds")
        }
        guard !iiv.isEmpty || fit != nil else { throw PopulationError("no variability is given: name parameters with a CV, or a fit to draw parameters from") }
        var seen = Set<String>()
        for s in iiv where !seen.insert(s.name).inserted { throw PopulationError("the variability of `\(s.name)` is given twice") }
        let fitNames = fit?.names ?? []
        names = fitNames + iiv.map(\.name).filter { !fitNames.contains($0) }
        self.typical = names.map { typical[$0] ?? .nan }
        self.iiv = iiv
        self.subjects = subjects
        self.seed = seed
        self.fit = fit
        fitIndex = names.map { fitNames.firstIndex(of: $0) }
        iivIndex = names.map { n in iiv.firstIndex { $0.name == n } }
        for (k, n) in names.enumerated() where fitIndex[k] == nil && !(self.typical[k] > 0 && self.typical[k].isFinite) {
            throw PopulationError("`\(n)`: its typical value \(formatNumber(self.typical[k])) is not positive, so it cannot vary log-normally")
        }
        // Correlations among the IIV parameters; those the file does not name are independent.
        let d = iiv.count
        var r = [Double](repeating: 0, count: d * d)
        for i in 0..<d { r[i * d + i] = 1 }
        if let c = correlation {
            for n in c.names where !iiv.contains(where: { $0.name == n }) {
                throw PopulationError("the correlation file names `\(n)`, which has no variability; give it a CV or drop it from the file")
            }
            let m = c.names.count
            for (a, na) in c.names.enumerated() {
                for (b, nb) in c.names.enumerated() {
                    guard let i = iiv.firstIndex(where: { $0.name == na }), let j = iiv.firstIndex(where: { $0.name == nb }) else { continue }
                    r[i * d + j] = c.values[a * m + b]
                }
            }
        }
        guard let l = cholesky(r, size: d) else { throw PopulationError("the correlation matrix is not positive definite") }
        iivFactor = l
    }

    /// Deviates of subject `index` (0-based): the fit's, then the IIV's.
    func deviates(_ index: Int) -> [Double] {
        var hash = SplitMix64(seed: seed ^ (0xD1B5_4A32_D192_ED03 &* UInt64(index + 1)))
        var rng = SplitMix64(seed: hash.next())
        let count = (fit?.names.count ?? 0) + iiv.count
        var z: [Double] = []
        z.reserveCapacity(count + 1)
        // Box–Muller, both normals of each pair used.
        while z.count < count {
            let u1 = 1 - Double.random(in: 0..<1, using: &rng)  // (0, 1]: log(u1) finite
            let u2 = Double.random(in: 0..<1, using: &rng)
            let radius = (-2 * log(u1)).squareRoot()
            z.append(radius * cos(2 * .pi * u2))
            z.append(radius * sin(2 * .pi * u2))
        }
        return Array(z.prefix(count))
    }

    /// The parameters of subject `index` (0-based), in `names` order.
    public func subject(_ index: Int) -> [Double] {
        let z = deviates(index)
        let p = fit?.names.count ?? 0, d = iiv.count
        let fitted = fit.map { $0.linear(Array(z.prefix(p))) }
        // η = L z over the IIV parameters.
        var eta = [Double](repeating: 0, count: d)
        for i in 0..<d {
            for k in 0...i { eta[i] += iivFactor[i * d + k] * z[p + k] }
        }
        return names.indices.map { k in
            var v = fitIndex[k].flatMap { i in fitted?[i] } ?? typical[k]
            if let j = iivIndex[k] { v *= exp(iiv[j].sigma * eta[j]) }
            return v
        }
    }

    /// One column per name, `subjects` rows.
    public var columns: [[Double]] {
        var columns = [[Double]](repeating: [], count: names.count)
        for i in 0..<subjects {
            for (k, v) in subject(i).enumerated() { columns[k].append(v) }
        }
        return columns
    }

    /// The runs: for each point of the --vary grid (`varied`, the first axis slowest), every subject,
    /// so run r (1-based) is subject ((r − 1) mod N) + 1 at grid point (r − 1) / N. Columns: the
    /// varied axes, then the sampled parameters.
    public func sweepDesign(varied axes: [SweepAxis]) -> SweepDesign {
        let grid = SweepDesign(grid: axes)
        let groups = axes.isEmpty ? 1 : grid.count
        let sampled = columns
        var columns = [[Double]](repeating: [], count: axes.count + names.count)
        for g in 0..<groups {
            let point = axes.isEmpty ? [] : grid.point(g)
            for (k, v) in point.enumerated() { columns[k] += [Double](repeating: v, count: subjects) }
            for k in names.indices { columns[axes.count + k] += sampled[k] }
        }
        let factors = names.map { SweepAxis(name: $0, target: .parameter($0), values: [0, 0], isLogarithmic: false) }
        let all = axes + factors
        return SweepDesign(axes: all.enumerated().map { k, a in
            SweepAxis(name: a.name, target: a.target, values: [columns[k].min() ?? 0, columns[k].max() ?? 0], isLogarithmic: false)
        }, columns: columns)
    }
}

// MARK: - Percentile bands

/// Percentiles over subjects at each output time, exact: the values of one group of subjects (one
/// --vary value) are held as an N × T × outputs array and sorted per time. Memory is therefore
/// bounded by `maximumValues` per group rather than flat in N; exact percentiles are what users
/// compare with other tools, and a P² estimate's error is hard to state for the 5% tail of 100
/// subjects. Percentiles interpolate linearly between order statistics (Hyndman & Fan type 7, the
/// default of numpy and R).
public struct PercentileBands {
    /// 25 million doubles, 200 MB: far above the issue's studies (500 subjects × 2017 times × 2
    /// outputs is 2 million), low enough for a laptop or a cluster node's default memory.
    public static let maximumValues = 25_000_000

    public let times: Int
    public let outputs: Int
    public private(set) var subjects = 0
    private var values: [Double] = []

    public init(times: Int, outputs: Int) {
        self.times = times
        self.outputs = outputs
    }

    /// One subject's trace, row-major time × output (as `SimulationResult.values`).
    public mutating func add(_ trace: [Double]) {
        precondition(trace.count == times * outputs)
        values += trace
        subjects += 1
    }

    /// `result[output][time][k]` is percentile `percentiles[k]` (0–100) over the subjects; NaN values
    /// (a time a subject never reached) are left out; NaN when no subject has a value.
    public func bands(_ percentiles: [Double]) -> [[[Double]]] {
        let n = subjects, stride = times * outputs
        var result = [[[Double]]](repeating: [[Double]](repeating: [], count: times), count: outputs)
        var column = [Double]()
        column.reserveCapacity(n)
        for j in 0..<outputs {
            for t in 0..<times {
                column.removeAll(keepingCapacity: true)
                for i in 0..<n {
                    let v = values[i * stride + t * outputs + j]
                    if !v.isNaN { column.append(v) }
                }
                column.sort()
                result[j][t] = percentiles.map { percentile(sorted: column, $0) }
            }
        }
        return result
    }
}

/// Percentile p (0–100) of sorted values, linear between order statistics (type 7); NaN when empty.
public func percentile(sorted x: [Double], _ p: Double) -> Double {
    guard !x.isEmpty else { return .nan }
    let h = Double(x.count - 1) * p / 100
    let lo = Int(h.rounded(.down)), hi = min(lo + 1, x.count - 1)
    return x[lo] + (h - Double(lo)) * (x[hi] - x[lo])
}

/// `--percentiles 5,25,50,75,95`: numbers in (0, 100), ascending, no repeats.
public func parsePercentiles(_ text: String) -> Result<[Double], PopulationError> {
    var out: [Double] = []
    for item in text.split(separator: ",", omittingEmptySubsequences: false) {
        let s = item.trimmingCharacters(in: .whitespaces)
        guard let p = Double(s), p > 0, p < 100 else { return .failure(PopulationError("`\(s)` is not a percentile between 0 and 100")) }
        if let last = out.last, p <= last { return .failure(PopulationError("percentiles must ascend without repeats, e.g. 5,25,50,75,95")) }
        out.append(p)
    }
    return .success(out)
}

/// Column name of a percentile: p5, p50, p2.5.
public func percentileColumn(_ p: Double) -> String { "p" + formatNumber(p) }

// MARK: - Responders

/// `--responder "OUT.METRIC > X"`: one or more conditions joined by `and`, optionally restricted to a
/// subgroup with `given`: `"synapse_density.at_24h > 0.9 given synapse_density.pre < 0.8"` counts,
/// among the subjects with pre < 0.8, those with at_24h > 0.9 (the share of susceptible animals that
/// a dose rescues).
public struct ResponderCriterion: Sendable, Equatable {
    public enum Relation: String, Sendable, CaseIterable { case ge = ">=", le = "<=", gt = ">", lt = "<" }

    public struct Condition: Sendable, Equatable {
        public var column: String
        public var relation: Relation
        public var threshold: Double

        func holds(_ v: Double) -> Bool {
            switch relation {
            case .gt: return v > threshold
            case .ge: return v >= threshold
            case .lt: return v < threshold
            case .le: return v <= threshold
            }
        }
    }

    public var text: String
    public var conditions: [Condition]
    public var given: [Condition]

    /// Every metric column the criterion reads.
    public var columns: [String] { (conditions + given).map(\.column) }

    /// Reads `text`; `columns` are the metric columns a subject row has (to catch a typo before any run).
    /// `outputs` are the model's outputs: a criterion may name any of them, and the caller adds it to
    /// the simulated outputs.
    public static func parse(_ text: String, metricNames: [String], outputs: [String]) -> Result<ResponderCriterion, PopulationError> {
        func fail(_ m: String) -> Result<ResponderCriterion, PopulationError> { .failure(PopulationError("\"\(text)\": \(m)")) }
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let halves = trimmed.components(separatedBy: " given ")
        guard halves.count <= 2 else { return fail("use `given` once") }
        var parsed: [[Condition]] = []
        for half in halves {
            var list: [Condition] = []
            for part in half.components(separatedBy: " and ") {
                let s = part.trimmingCharacters(in: .whitespaces)
                guard let relation = Relation.allCases.first(where: { s.contains($0.rawValue) }),
                      let range = s.range(of: relation.rawValue) else {
                    return fail("`\(s)` has no comparison; write OUT.METRIC > X (or >=, <, <=), e.g. synapse_density.change_24h > 0.05")
                }
                let column = s[..<range.lowerBound].trimmingCharacters(in: .whitespaces)
                let number = s[range.upperBound...].trimmingCharacters(in: .whitespaces)
                guard let threshold = Double(number), threshold.isFinite else { return fail("`\(number)` is not a number") }
                guard let dot = column.lastIndex(of: ".") else { return fail("`\(column)` is not OUT.METRIC, e.g. synapse_density.change_24h") }
                let output = String(column[..<dot]), metric = String(column[column.index(after: dot)...])
                guard outputs.contains(output) else { return fail("unknown output `\(output)`\(didYouMean(output, among: outputs))") }
                guard metricNames.contains(metric) else { return fail("unknown metric `\(metric)`\(didYouMean(metric, among: metricNames)); metrics are \(metricNames.joined(separator: ", "))") }
                list.append(Condition(column: column, relation: relation, threshold: threshold))
            }
            parsed.append(list)
        }
        return .success(ResponderCriterion(text: trimmed, conditions: parsed[0], given: parsed.count > 1 ? parsed[1] : []))
    }

    public enum Outcome: Sendable, Equatable {
        case responder, nonResponder
        /// Outside the `given` subgroup: not in the denominator.
        case outside
        /// A metric the criterion reads is NaN (e.g. an at_ time after the end).
        case undetermined
    }

    public func outcome(_ value: (String) -> Double) -> Outcome {
        for c in given {
            let v = value(c.column)
            if v.isNaN { return .undetermined }
            if !c.holds(v) { return .outside }
        }
        for c in conditions {
            let v = value(c.column)
            if v.isNaN { return .undetermined }
            if !c.holds(v) { return .nonResponder }
        }
        return .responder
    }
}

/// Counts of one criterion over one group of subjects.
public struct ResponderCount: Sendable, Equatable {
    /// Subjects in the denominator (succeeded, in the `given` subgroup, criterion determined).
    public var n = 0
    public var responders = 0
    public var failed = 0
    public var undetermined = 0
    public init() {}

    public mutating func add(_ outcome: ResponderCriterion.Outcome) {
        switch outcome {
        case .responder: n += 1; responders += 1
        case .nonResponder: n += 1
        case .outside: break
        case .undetermined: undetermined += 1
        }
    }

    public var fraction: Double { n > 0 ? Double(responders) / Double(n) : .nan }
    public var interval: (low: Double, high: Double) { BinomialInterval.wilson(successes: responders, trials: n) }
}

public enum BinomialInterval {
    /// z of a two-sided 95% interval.
    public static let z95 = 1.959963984540054

    /// Wilson's score interval (Wilson 1927), which keeps its coverage near the nominal level for small
    /// n and fractions near 0 or 1 where the Wald interval fails (Newcombe 1998; Brown, Cai & DasGupta 2001):
    ///
    ///     (p̂ + z²/2n ± z sqrt(p̂(1 − p̂)/n + z²/4n²)) / (1 + z²/n)
    ///
    /// NaN for n = 0.
    public static func wilson(successes k: Int, trials n: Int, z: Double = z95) -> (low: Double, high: Double) {
        guard n > 0 else { return (.nan, .nan) }
        let nn = Double(n), p = Double(k) / nn, z2 = z * z
        let centre = p + z2 / (2 * nn)
        let half = z * (p * (1 - p) / nn + z2 / (4 * nn * nn)).squareRoot()
        let denominator = 1 + z2 / nn
        // Exact ends at k = 0 and k = n (the formula gives them up to rounding).
        return (k == 0 ? 0 : (centre - half) / denominator, k == n ? 1 : (centre + half) / denominator)
    }
}

/// Calls `body` with each line of a file (1-based line number, without its newline), reading it in
/// pieces so that a file of many wide rows (traces.csv) is never held whole. A torn last line (no
/// newline) is left out, as `--resume` leaves it out.
public func forEachLine(path: String, _ body: (Int, Substring) throws -> Void) throws(OutputFileError) {
    guard let file = fopen(path, "r") else { throw .mismatch(path, "it cannot be read") }
    defer { fclose(file) }
    var buffer: UnsafeMutablePointer<CChar>?
    var capacity = 0
    defer { free(buffer) }
    var number = 0
    while true {
        let length = getline(&buffer, &capacity, file)
        guard length > 0, let buffer else { break }
        guard buffer[length - 1] == 10 else { break }
        number += 1
        let line = String(decoding: UnsafeRawBufferPointer(start: buffer, count: length - 1), as: UTF8.self)
        do { try body(number, line[...]) } catch let error as OutputFileError { throw error } catch { throw .mismatch(path, "\(error)") }
    }
}
