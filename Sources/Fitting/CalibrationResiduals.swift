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
///
/// The Jacobian (`residualsAndJacobian`) comes from forward sensitivities for every target whose metric
/// is smooth (`MetricSpec.isSmooth`: the metric's derivative follows from the outputs' at the samples),
/// and from forward differences of the other targets' residuals alone, which simulate only the
/// experiments those targets read.
public final class CalibrationResiduals: FitProblem {
    public let calibration: CalibrationProblem
    public var sourceFiles: [String] { calibration.sourceFiles }
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
    /// Indices in `targets` of the targets whose Jacobian rows are forward differences: their metric
    /// (`t_max`, `duration`) is not smooth.
    public let differencedTargets: [Int]
    /// Relative step of those differences, on the estimation scale (as `LeastSquaresOptions.differenceStep`).
    public var differenceStep = 1e-6
    /// Why this problem has no forward sensitivities, once they were asked for and refused; nil while
    /// they work or were never asked for.
    public private(set) var sensitivityRefusal: String?

    /// Tighter than a single run's default: the fit differentiates the objective by finite differences
    /// with a relative step of 1e-6, which the integration error must stay well below. The sensitivities
    /// are controlled to relative 1e-6, absolute 1e-10: on the bundled model's calibrations that halves
    /// the time of their integration against 1e-8 and leaves the Jacobian within 2e-7 (of its largest
    /// entry) of the one integrated to 1e-11, where forward differences are off by up to 1%
    /// (docs/PERFORMANCE.md).
    public static let solverSettings = SolverSettings(stepper: .msbdf, relativeTolerance: 1e-8, absoluteTolerance: 1e-12,
                                                      sensitivityRelativeTolerance: 1e-6, sensitivityAbsoluteTolerance: 1e-10)

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
        let chosen = targets
        differencedTargets = chosen.indices.filter { !MetricSpec.isSmooth(chosen[$0].metric) }
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
        try predict(values(at: x), targets: Array(targets.indices), sensitivities: false).map(\.prediction)
    }

    /// The metrics of one experiment by column (`output.metric`), and with `sensitivities` the
    /// derivatives of its smooth ones by the parameters (linear values, in `parameterNames` order).
    private func metrics(_ arm: Arm, values: [String: Double], sensitivities: Bool) throws(CalibrationError) -> (values: [String: Double], gradients: [String: [Double]]) {
        var plan = arm.plan
        for (name, v) in values { plan.parameters[name] = v }
        let result: SimulationResult
        var run: SensitivityResult?
        do {
            if sensitivities {
                let directions = SensitivityPlan(parameters: parameterNames, stateCount: simulator.model.stateCount)
                let s = try simulator.run(plan, columns: try simulator.columns(arm.outputs), sensitivities: directions, detailTimes: arm.detailTimes)
                run = s
                result = s.result
            } else {
                result = try simulator.run(plan, outputs: arm.outputs, detailTimes: arm.detailTimes)
            }
        } catch {
            if case .sensitivitiesUnavailable = error { throw CalibrationError(.unsupported, file: calibration.file, "experiment `\(arm.name)`: \(error.description)") }
            throw CalibrationError(.simulation, file: calibration.file, "experiment `\(arm.name)`: \(error.description)")
        }
        if let failure = result.failure {
            throw CalibrationError(.simulation, file: calibration.file, "experiment `\(arm.name)`: \(failure)")
        }
        let columns = arm.spec.columns(outputs: arm.outputs)
        var byColumn: [String: Double] = [:]
        for (column, v) in zip(columns, arm.spec.evaluate(result, reference: arm.reference)) { byColumn[column] = v }
        var gradients: [String: [Double]] = [:]
        if let run {
            for (column, g) in zip(columns, arm.spec.gradients(run, reference: arm.reference)) { gradients[column] = g }
        }
        let reference = arm.reference ?? arm.plan.referenceTime ?? result.firstDoseTime ?? 0
        for (output, window) in arm.means {
            guard let j = result.outputNames.firstIndex(of: output) else { continue }
            let column = "\(output).mean_\(window.label)"
            byColumn[column] = MetricSpec.windowMean(result, output: j, from: reference, to: reference + window.length)
            if let run { gradients[column] = MetricSpec.windowMeanGradient(run, output: j, from: reference, to: reference + window.length) }
        }
        return (byColumn, gradients)
    }

    /// The predictions of `targets[i]` for each i in `indices`, simulating only the experiments they read;
    /// with `sensitivities`, also dq/dθ (by the linear parameter values), nil where the metric is not smooth.
    private func predict(_ values: [String: Double], targets indices: [Int], sensitivities: Bool) throws(CalibrationError)
        -> [(prediction: CalibrationPrediction, slope: [Double]?)] {
        var needed: Set<String> = []
        for i in indices {
            needed.insert(targets[i].experiment)
            if case .experiment(let other) = targets[i].baseline { needed.insert(other) }
        }
        // An experiment runs with sensitivities when a smooth target reads it.
        var differentiated: Set<String> = []
        if sensitivities {
            for i in indices where MetricSpec.isSmooth(targets[i].metric) {
                differentiated.insert(targets[i].experiment)
                if case .experiment(let other) = targets[i].baseline { differentiated.insert(other) }
            }
        }
        var metrics: [String: [String: Double]] = [:]
        var gradients: [String: [String: [Double]]] = [:]
        for arm in arms where needed.contains(arm.name) {
            let m = try self.metrics(arm, values: values, sensitivities: differentiated.contains(arm.name))
            metrics[arm.name] = m.values
            gradients[arm.name] = m.gradients
        }
        return indices.map { i in
            let t = targets[i]
            let m = metrics[t.experiment]?[t.column] ?? .nan
            var dm = gradients[t.experiment]?[t.column]
            let base: Double?
            var db: [Double]?
            switch t.baseline {
            case .none: base = nil
            case .pre:
                base = metrics[t.experiment]?["\(t.output).pre"] ?? .nan
                db = gradients[t.experiment]?["\(t.output).pre"]
            case .experiment(let other):
                base = metrics[other]?[t.column] ?? .nan
                db = gradients[other]?[t.column]
            }
            let q: Double
            if let b = base {
                q = t.factor * (t.comparison == .ratio ? m / b : m - b)
                if let g = dm, let h = db {
                    dm = t.comparison == .ratio ? zip(g, h).map { t.factor * ($0 * b - m * $1) / (b * b) } : zip(g, h).map { t.factor * ($0 - $1) }
                } else {
                    dm = nil
                }
            } else {
                q = t.factor * m
                dm = dm?.map { t.factor * $0 }
            }
            let (r, agrees) = Self.residual(t, q)
            return (CalibrationPrediction(target: t, simulated: q, residual: r, agrees: agrees), dm)
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

    /// Which targets' Jacobian rows come from what, in one sentence.
    public var gradientSummary: String {
        let differenced = differencedTargets.map { "`\(targets[$0].row.id)` (\(targets[$0].metric))" }
        let analytic = "Jacobian from forward sensitivities for \(targets.count - differenced.count) of \(targets.count) targets"
        if differenced.isEmpty { return analytic }
        return analytic + "; forward differences for \(differenced.joined(separator: ", ")), whose metric is not smooth"
    }

    /// dr/dq of `residual(t, q)`: 0 where a one-sided penalty is not active.
    static func residualSlope(_ t: CalibrationTarget, _ q: Double) -> Double {
        switch t.kind {
        case let .value(_, sigma, .normal): return 1 / sigma
        case let .value(_, sigma, .lognormal): return 1 / (q * sigma)
        case let .range(low, high, sigma): return q < low ? -1 / sigma : q > high ? 1 / sigma : 0
        case let .direction(direction, margin, sigma):
            let e = t.comparison == .ratio ? q - 1 : q
            switch direction {
            case .increase: return margin - e > 0 ? -1 / sigma : 0
            case .decrease: return e + margin > 0 ? 1 / sigma : 0
            case .noChange: return abs(e) - margin > 0 ? (e > 0 ? 1 : -1) / sigma : 0
            }
        }
    }

    /// The residuals and their Jacobian on the estimation scale: rows of smooth targets from forward
    /// sensitivities (the metric's derivative, then the baseline's quotient or difference rule, the
    /// residual's slope and dθ/dx = 1, θ, θ log 10 for lin, log, log10 parameters), rows of the others
    /// (`differencedTargets`) by forward differences with `differenceStep`, prior rows exactly. Nil, with
    /// `sensitivityRefusal` set, where the model has no sensitivities.
    public func residualsAndJacobian(at x: [Double], residuals r: inout [Double], jacobian: inout [Double]) -> Bool? {
        if sensitivityRefusal != nil { return nil }
        let p = parameterNames.count
        let all: [(prediction: CalibrationPrediction, slope: [Double]?)]
        do { all = try predict(values(at: x), targets: Array(targets.indices), sensitivities: true) } catch {
            if error.kind == .unsupported {
                sensitivityRefusal = error.message
                return nil
            }
            lastError = error.description
            return false
        }
        guard fill(all.map(\.prediction), x, into: &r) else { return false }
        for k in jacobian.indices { jacobian[k] = 0 }
        let chain = parameterScales.indices.map { j -> Double in
            let theta = parameterScales[j].invert(x[j])
            switch parameterScales[j] {
            case .lin: return 1
            case .log: return theta
            case .log10: return theta * log(10)
            }
        }
        let differenced = Set(differencedTargets)
        for (i, entry) in all.enumerated() where !differenced.contains(i) {
            guard let dq = entry.slope else { continue }
            let slope = Self.residualSlope(targets[i], entry.prediction.simulated)
            for j in 0..<p { jacobian[i * p + j] = slope * dq[j] * chain[j] }
        }
        if !differencedTargets.isEmpty {
            // Forward differences of those rows alone, backward where the forward point fails.
            for j in 0..<p {
                let h = differenceStep * max(abs(x[j]), 1)
                var column: [Double]?
                for step in [h, -h] {
                    var moved = x
                    moved[j] += step
                    guard let rows = try? predict(values(at: moved), targets: differencedTargets, sensitivities: false),
                          rows.allSatisfy({ $0.prediction.residual.isFinite }) else { continue }
                    column = zip(differencedTargets, rows).map { i, row in (row.prediction.residual - r[i]) / step }
                    break
                }
                guard let column else {
                    lastError = "the finite differences of the targets without sensitivities cannot be evaluated around \(parameterNames[j]) = \(parameterScales[j].invert(x[j]))"
                    return false
                }
                for (i, v) in zip(differencedTargets, column) { jacobian[i * p + j] = v }
            }
        }
        var k = targets.count
        for (j, parameter) in calibration.parameters.enumerated() {
            guard let sd = parameter.priorSD else { continue }
            jacobian[k * p + j] = 1 / sd
            k += 1
        }
        return jacobian.allSatisfy(\.isFinite)
    }

    public func residuals(at x: [Double], into r: inout [Double]) -> Bool {
        let predictions: [CalibrationPrediction]
        do { predictions = try predict(at: x) } catch {
            lastError = error.description
            return false
        }
        return fill(predictions, x, into: &r)
    }

    /// The residuals of every target's prediction, then the priors'.
    private func fill(_ predictions: [CalibrationPrediction], _ x: [Double], into r: inout [Double]) -> Bool {
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
