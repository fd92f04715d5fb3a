import Experiments
import Foundation
import Integrator
import Models
import PEtab

/// What one target's simulation gave: the quantity compared with the data, its residual and its
/// contribution to the objective.
public struct CalibrationPrediction: Sendable {
    public var target: CalibrationTarget
    /// The quantity in the data's terms (metric times factor, or the ratio or difference to the baseline).
    public var simulated: Double
    public var residual: Double
    /// Whether the prediction meets the row: within 2 sigma of a value, inside a range, in the
    /// reported direction by at least the margin.
    public var agrees: Bool
}

/// A calibration file as least-squares residuals over its parameters (on their scales):
/// ```
/// 0.5 |r|^2 + objectiveOffset = -log L (value rows) + 0.5 sum (penalty / sigma)^2 (range and direction rows)
/// ```
/// - a value y with normal noise sigma: r = (q - y) / sigma, offset log(sigma sqrt(2 pi));
/// - log-normal: r = (log q - log y) / sigma, offset log(sigma sqrt(2 pi) y) (the density of y itself);
/// - a range [lo, hi]: r = (distance of q outside it) / sigma, no offset;
/// - a direction, on the effect e (q - 1 for a ratio, q for a difference): r = shortfall / sigma with
///   increase: max(0, margin - e), decrease: max(0, e + margin), no change: max(0, |e| - margin).
/// Qualitative rows enter as such one-sided penalties (the static-penalty form of Mitra et al. 2018,
/// doi:10.1038/s41467-018-06439-z), so "rises", "no change" and "falls" constrain a fit without a number
/// being made up for them. Each evaluation simulates every experiment once.
public final class CalibrationResiduals: FitProblem {
    public let calibration: CalibrationProblem
    /// The targets these residuals are made of (the calibration rows, or all rows when predicting).
    public let targets: [CalibrationTarget]
    let simulator: Simulator
    let arms: [Arm]
    public let parameterNames: [String]
    public let parameterScales: [PEtabScale]
    public let lowerBounds: [Double]
    public let upperBounds: [Double]
    public let residualCount: Int
    public let objectiveOffset: Double
    public private(set) var lastError: String?

    /// Tighter than a single run's default: the fit differentiates the objective by finite differences
    /// with a relative step of 1e-6, which the integration error must stay well below.
    public static let solverSettings = SolverSettings(stepper: .msbdf, relativeTolerance: 1e-8, absoluteTolerance: 1e-12)

    struct Arm {
        var name: String
        var plan: SimulationPlan
        var reference: Double?
        var outputs: [String]
        var spec: MetricSpec
        var detailTimes: [Double]
        /// `mean_<d>` metrics: output and window.
        var means: [(String, (label: String, length: Double))]
    }

    /// The time average of `output` over [from, to] (trapezoids on the grid and detail rows): what a
    /// microdialysis fraction or a behavioural session integrates.
    static func mean(_ r: SimulationResult, _ output: String, from: Double, to: Double) -> Double {
        guard let j = r.outputNames.firstIndex(of: output), to > from else { return .nan }
        let m = r.outputNames.count
        var points = r.times.indices.map { (r.times[$0], r.values[$0 * m + j]) } + r.detailTimes.indices.map { (r.detailTimes[$0], r.detailValues[$0 * m + j]) }
        points.sort { $0.0 < $1.0 }
        func at(_ t: Double) -> Double? {
            guard let k = points.firstIndex(where: { $0.0 >= t }) else { return nil }
            if k == 0 || points[k].0 == t { return points[k].1 }
            let (t0, v0) = points[k - 1], (t1, v1) = points[k]
            return v0 + (v1 - v0) * (t - t0) / (t1 - t0)
        }
        guard let first = at(from), let last = at(to) else { return .nan }
        let inside = [(from, first)] + points.filter { $0.0 > from && $0.0 < to } + [(to, last)]
        var area = 0.0
        for k in 1..<inside.count { area += 0.5 * (inside[k].1 + inside[k - 1].1) * (inside[k].0 - inside[k - 1].0) }
        return area / (to - from)
    }

    public init(_ calibration: CalibrationProblem, includeValidation: Bool = false,
                settings: SolverSettings = CalibrationResiduals.solverSettings) throws(CalibrationError) {
        self.calibration = calibration
        targets = includeValidation ? calibration.targets : calibration.fitted
        let definition = calibration.model.definition
        let compiled: CompiledModel
        do { compiled = try calibration.model.compiled() } catch { throw CalibrationError(.invalid, file: calibration.model.path, error.description) }
        do { simulator = try Simulator(model: compiled, settings: settings) } catch {
            throw CalibrationError(.invalid, file: calibration.file, error.description)
        }
        var arms: [Arm] = []
        for experiment in calibration.experiments {
            var outputs: [String] = []
            var offsets: [(label: String, hours: Double)] = []
            var means: [(String, (label: String, length: Double))] = []
            for t in targets {
                let uses = t.experiment == experiment.name || t.baseline == .experiment(experiment.name)
                guard uses else { continue }
                if !outputs.contains(t.output) { outputs.append(t.output) }
                if case .some(.some(let at)) = CalibrationMetrics.offset(t.metric, timeUnit: definition.timeUnit) {
                    let label = String(t.metric.drop { $0 != "_" }.dropFirst())
                    if t.metric.hasPrefix("mean_") {
                        if !means.contains(where: { $0.0 == t.output && $0.1.label == label }) { means.append((t.output, (label, at))) }
                    } else if !offsets.contains(where: { $0.label == label }) {
                        offsets.append((label, at))
                    }
                }
            }
            guard !outputs.isEmpty else { continue }
            let spec = MetricSpec(offsets: offsets)
            arms.append(Arm(name: experiment.name, plan: experiment.plan, reference: experiment.reference, outputs: outputs, spec: spec,
                            detailTimes: spec.detailTimes(for: experiment.plan, reference: experiment.reference, timeUnit: definition.timeUnit),
                            means: means))
        }
        self.arms = arms
        parameterNames = calibration.parameters.map(\.name)
        parameterScales = calibration.parameters.map(\.scale)
        lowerBounds = calibration.parameters.map { $0.scale.apply($0.lower) }
        upperBounds = calibration.parameters.map { $0.scale.apply($0.upper) }
        residualCount = targets.count + calibration.parameters.filter { $0.priorSD != nil }.count
        var offset = 0.0
        for p in calibration.parameters { if let sd = p.priorSD { offset += log(sd) + 0.5 * log(2 * Double.pi) } }
        for t in targets {
            if case let .value(y, sigma, distribution) = t.kind {
                offset += log(sigma) + 0.5 * log(2 * Double.pi) + (distribution == .lognormal ? log(y) : 0)
            }
        }
        objectiveOffset = offset
    }

    /// The estimation-scale point of linear values by name (each parameter's start, or the model's value).
    /// Without a start, the value the first experiment runs with (its organism's, where the organism
    /// overrides the parameter), not the file's default: what `--evaluate` should show is the model as run.
    public func point(_ values: [String: Double] = [:]) -> [Double] {
        let definition = calibration.model.definition
        let plan = calibration.experiments.first?.plan
        let asRun = definition.parameterValues(organism: plan?.organism, overrides: plan?.parameters ?? [:])
        return calibration.parameters.map { p in
            let model = definition.parameters.firstIndex { $0.name == p.name }.map { asRun[$0] } ?? p.lower
            return p.scale.apply(values[p.name] ?? p.start ?? model)
        }
    }

    /// Every target's prediction at `x`.
    public func predict(at x: [Double]) throws(CalibrationError) -> [CalibrationPrediction] {
        let values = self.values(at: x)
        var metrics: [String: [String: Double]] = [:]
        for arm in arms {
            var plan = arm.plan
            for (name, v) in values { plan.parameters[name] = v }
            let result: SimulationResult
            do { result = try simulator.run(plan, outputs: arm.outputs, detailTimes: arm.detailTimes) } catch {
                throw CalibrationError(.simulation, file: calibration.file, "experiment `\(arm.name)`: \(error.description)")
            }
            if let failure = result.failure {
                throw CalibrationError(.simulation, file: calibration.file, "experiment `\(arm.name)`: \(failure)")
            }
            let numbers = arm.spec.evaluate(result, reference: arm.reference)
            var byColumn: [String: Double] = [:]
            for (column, v) in zip(arm.spec.columns(outputs: arm.outputs), numbers) { byColumn[column] = v }
            let reference = arm.reference ?? arm.plan.referenceTime ?? result.firstDoseTime ?? 0
            for (output, window) in arm.means {
                byColumn["\(output).mean_\(window.label)"] = Self.mean(result, output, from: reference, to: reference + window.length)
            }
            metrics[arm.name] = byColumn
        }
        return targets.map { t in
            let m = metrics[t.experiment]?[t.column] ?? .nan
            let base: Double?
            switch t.baseline {
            case .none: base = nil
            case .pre: base = metrics[t.experiment]?["\(t.output).pre"] ?? .nan
            case .experiment(let other): base = metrics[other]?[t.column] ?? .nan
            }
            let q: Double
            if let b = base { q = t.factor * (t.comparison == .ratio ? m / b : m - b) } else { q = t.factor * m }
            let (r, agrees) = Self.residual(t, q)
            return CalibrationPrediction(target: t, simulated: q, residual: r, agrees: agrees)
        }
    }

    static func residual(_ t: CalibrationTarget, _ q: Double) -> (Double, Bool) {
        switch t.kind {
        case let .value(y, sigma, .normal):
            let r = (q - y) / sigma
            return (r, abs(r) <= 2)
        case let .value(y, sigma, .lognormal):
            let r = q > 0 ? (log(q) - log(y)) / sigma : .nan
            return (r, abs(r) <= 2)
        case let .range(low, high, sigma):
            let outside = max(0, low - q) + max(0, q - high)
            return (outside / sigma, outside == 0)
        case let .direction(direction, margin, sigma):
            let e = t.comparison == .ratio ? q - 1 : q
            let shortfall: Double
            switch direction {
            case .increase: shortfall = max(0, margin - e)
            case .decrease: shortfall = max(0, e + margin)
            case .noChange: shortfall = max(0, abs(e) - margin)
            }
            return (shortfall / sigma, shortfall == 0)
        }
    }

    public func residuals(at x: [Double], into r: inout [Double]) -> Bool {
        let predictions: [CalibrationPrediction]
        do { predictions = try predict(at: x) } catch {
            lastError = error.description
            return false
        }
        for (i, p) in predictions.enumerated() {
            guard p.residual.isFinite else {
                lastError = "target `\(p.target.row.id)` cannot be evaluated (\(p.target.column) gives \(p.simulated))"
                return false
            }
            r[i] = p.residual
        }
        var k = predictions.count
        let centre = point()
        for (i, p) in calibration.parameters.enumerated() {
            guard let sd = p.priorSD else { continue }
            r[k] = (x[i] - centre[i]) / sd
            k += 1
        }
        return true
    }

    /// The objective at x (`0.5 |r|^2 + offset`), and +inf where the model cannot be evaluated.
    public func negativeLogLikelihood(at x: [Double]) -> Double { objective(at: x) }

    /// `residuals.tsv`: one line per target with its row, the data, the simulation and whether they agree.
    public static func table(_ predictions: [CalibrationPrediction]) -> String {
        var lines = ["id\trole\texperiment\tmetric\tversus\tkind\tdata\tsigma\tsimulated\tresidual\tagrees\tcitation\tlocator"]
        for p in predictions {
            let t = p.target
            let versus: String
            switch t.baseline {
            case .none: versus = ""
            case .pre: versus = "pre (\(t.comparison.rawValue))"
            case .experiment(let e): versus = "\(e) (\(t.comparison.rawValue))"
            }
            let kind: String, data: String, sigma: Double
            switch t.kind {
            case let .value(y, s, d): (kind, data, sigma) = ("value (\(d.rawValue))", "\(y)", s)
            case let .range(lo, hi, s): (kind, data, sigma) = ("range", "\(lo) to \(hi)", s)
            case let .direction(dir, m, s): (kind, data, sigma) = ("direction", "\(dir.rawValue) (margin \(m))", s)
            }
            lines.append([t.row.id, t.row.role.rawValue, t.experiment, t.column, versus, kind, data, "\(sigma)", "\(p.simulated)", "\(p.residual)",
                          p.agrees ? "yes" : "no", t.row.citation, t.row.locator].joined(separator: "\t"))
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
