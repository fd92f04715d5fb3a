import Experiments
import Fitting
import Foundation
import Integrator
import Testing

/// A PK/PD calibration on a small YAML model with doses: oral absorption with an estimated
/// bioavailability F, an intravenous infusion, and an indirect response R (production stimulated by the
/// concentration) started from its steady state.
private struct PKPDFixture {
    let dir: URL
    var calibrationFile: String { dir.appendingPathComponent("calibration.yaml").path }

    static let model = """
    name: pkpd
    description: oral and iv dosing into one compartment, an indirect response on the concentration
    time_unit: h
    parameters:
      ka: {value: 1.5, unit: 1/h, description: absorption, assumption: test}
      ke: {value: 0.3, unit: 1/h, description: elimination, assumption: test}
      V: {value: 10, unit: L, description: volume, assumption: test}
      F: {value: 0.5, unit: "1", description: oral bioavailability, assumption: test}
      kin: {value: 2, unit: 1/h, description: response production, assumption: test}
      kout: {value: 0.5, unit: 1/h, description: response loss, assumption: test}
      emax: {value: 3, unit: "1", description: largest stimulation, assumption: test}
      ec50: {value: 4, unit: uM, description: half-stimulating concentration, assumption: test}
      body_weight: {value: 70, unit: kg, description: body weight, assumption: test}
    states:
      depot: {initial: 0, unit: umol, description: absorption site}
      central: {initial: 0, unit: umol, description: plasma}
      R: {initial: 1, unit: "1", description: response}
    assignments:
      concentration: {expression: central / V, unit: uM, description: plasma concentration}
    odes:
      depot: -ka * depot
      central: ka * depot - ke * central
      R: kin * (1 + emax * concentration / (ec50 + concentration)) - kout * R
    outputs: [concentration, R]
    drugs:
      drug:
        molar_mass: 250
        description: a generic drug
        routes:
          oral: {target: depot, bioavailability: F}
          iv: {target: central}
          sc: {target: central, bioavailability: F}
    organisms:
      human: {description: adult, parameters: {body_weight: 70}}
    scenarios:
      base:
        description: at the response's steady state
        organism: human
        t_end: 30h
        output_every: 1h
        start: steady_state
        treatment: drug
    """

    static let header = "id\trole\tquantity\tmodel_output\tspecies\tstress\tdrug\tdose\tdose_unit\troute\ttime\ttime_unit\tcomparison\tvalue\tunit\terror\terror_kind\tn\tcitation\tlocator\tobtained\tquote\tnotes"

    static func row(_ id: String, value: String, error: String = "", kind: String = "", notes: String = "") -> String {
        [id, "calibration", "q", "concentration", "human", "none", "drug", "250", "mg", "oral", "", "", "absolute", value, "uM",
         error, kind, "", "test", "test", "text", "made up", notes].joined(separator: "\t")
    }

    init(name: String) throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("ketasim-calibration-sensitivities-\(name)-\(ProcessInfo.processInfo.processIdentifier)")
        try? FileManager.default.removeItem(at: dir)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try Self.model.write(to: dir.appendingPathComponent("pkpd.yaml"), atomically: true, encoding: .utf8)
        // Values away from the model's, so that each residual and its slope are not 0; directions and
        // ranges the model violates, so that their penalties are active.
        let rows = [
            Self.row("cmax", value: "9", error: "0.5", kind: "SEM"),
            Self.row("c8h", value: "3", error: "0.3", kind: "SEM"),
            Self.row("rmax", value: "6", error: "0.2", kind: "SEM"),
            Self.row("r_change", value: "0.5", error: "0.05", kind: "SEM"),
            Self.row("auc_ratio", value: "0.6", error: "1.5", kind: "geometric SD (factor)"),
            Self.row("iv_mean", value: "20", error: "2", kind: "SEM"),
            Self.row("r_falls", value: "", notes: "direction=decrease"),
            Self.row("c_range", value: "", error: "1-2", kind: "range"),
            Self.row("tmax_min", value: "90", error: "10", kind: "SEM"),
            Self.row("rmin", value: "3", error: "0.5", kind: "SEM"),
            Self.row("auc_kg", value: "40", error: "4", kind: "SEM"),
            Self.row("sc_c2h", value: "20", error: "2", kind: "SEM"),
        ]
        try ([Self.header] + rows).joined(separator: "\n").write(to: dir.appendingPathComponent("data.tsv"), atomically: true, encoding: .utf8)
        let text = """
        model: pkpd.yaml
        data: data.tsv
        defaults: {margin: 0.1, sigma: 0.05}
        parameters:
          - {name: ka, scale: log10, bounds: [0.1, 10]}
          - {name: ke, scale: log, bounds: [0.01, 3]}
          - {name: F, scale: lin, bounds: [0.05, 1]}
          - {name: emax, scale: log10, bounds: [0.1, 30]}
          - {name: kin, scale: log10, bounds: [0.1, 30], start: 2, prior_sd: 0.5}
        experiments:
          oral: {scenario: base, doses: ["drug 250 mg oral at 0"]}
          twice: {scenario: base, doses: ["drug 100 mg oral at 0h every 12h x2"], reference: 12h}
          infusion: {scenario: base, doses: ["drug 250 mg iv over 2h at 1h"]}
          per_kg: {scenario: base, doses: ["drug 3 mg/kg oral at 0"]}
          sc_infusion: {scenario: base, doses: ["drug 250 mg sc over 2h at 1h"]}
          vehicle: {scenario: base}
        targets:
          - {data: cmax, experiment: oral, metric: concentration.max}
          - {data: c8h, experiment: oral, metric: concentration.at_8h}
          - {data: rmax, experiment: oral, metric: R.max}
          - {data: r_change, experiment: twice, metric: R.change_4h}
          - {data: auc_ratio, experiment: oral, metric: concentration.auc, versus: infusion}
          - {data: iv_mean, experiment: infusion, metric: R.mean_3h, factor: 4}
          - {data: r_falls, experiment: oral, metric: R.at_2h, versus: vehicle}
          - {data: c_range, experiment: twice, metric: concentration.at_3h, versus: pre, compare: difference}
          - {data: tmax_min, experiment: oral, metric: concentration.t_max, factor: 60}
          - {data: rmin, experiment: twice, metric: R.min}
          - {data: auc_kg, experiment: per_kg, metric: concentration.auc}
          - {data: sc_c2h, experiment: sc_infusion, metric: R.at_2h}
        """
        try text.write(toFile: calibrationFile, atomically: true, encoding: .utf8)
    }

    func remove() { try? FileManager.default.removeItem(at: dir) }
}

@Suite struct CalibrationSensitivityTests {
    static let tight = SolverSettings(stepper: .msbdf, relativeTolerance: 1e-12, absoluteTolerance: 1e-14)

    /// Every smooth target's Jacobian row from sensitivities (max, min, at_, change_, auc, mean_, a ratio
    /// to another experiment, a difference to pre, values, a log-normal, a range and a direction with an
    /// active penalty, a prior; doses scaled by an estimated bioavailability, an infusion, a start at
    /// steady state) against central differences; t_max's row is a forward difference.
    @Test func theJacobianOfSmoothTargetsMatchesCentralDifferences() throws {
        let f = try PKPDFixture(name: "jacobian")
        defer { f.remove() }
        let residuals = try CalibrationResiduals(try CalibrationProblem.load(f.calibrationFile), settings: Self.tight)
        #expect(residuals.differencedTargets.map { residuals.targets[$0].row.id } == ["tmax_min"])
        let tmax = try #require(residuals.targets.firstIndex { $0.row.id == "tmax_min" })
        for x in [residuals.point(), [log10(1.2), log(0.4), 0.7, log10(2), log10(2.5)]] {
            var r = [Double](repeating: 0, count: residuals.residualCount)
            var jacobian = [Double](repeating: 0, count: residuals.residualCount * x.count)
            #expect(residuals.residualsAndJacobian(at: x, residuals: &r, jacobian: &jacobian) == true, "\(residuals.lastError ?? residuals.sensitivityRefusal ?? "")")
            #expect(r.prefix(residuals.targets.count).allSatisfy { $0 != 0 }, "every target's residual active at \(x): \(r)")
            // A small step: max and min are over the samples of the per-minute trace, and a step that moves
            // the peak to the next sample averages the two samples' slopes.
            let worst = try SensitivityCheck.deviation(residuals, at: x, step: 1e-5, rows: Set(0..<residuals.residualCount).subtracting([tmax]))
            #expect(worst < 1e-4, "at \(x): max relative deviation \(worst)")
            print("sensitivities: calibration targets at \(x): max relative deviation \(worst)")
            // The t_max row: a forward difference of that residual alone, as the optimiser would take it.
            var up = r
            let h = 1e-6 * max(1, abs(x[0]))
            var moved = x
            moved[0] += h
            #expect(residuals.residuals(at: moved, into: &up))
            #expect(abs(jacobian[tmax * x.count] - (up[tmax] - r[tmax]) / h) <= 1e-9 * max(1, abs(jacobian[tmax * x.count])))
        }
        #expect(residuals.sensitivityRefusal == nil)
    }

    /// At a calibration's own settings (S controlled to relative 1e-6) the Jacobian is that of the
    /// sensitivities integrated to 1e-12 within 1e-5 of its largest entry.
    @Test func theDefaultSettingsKeepTheJacobianAccurate() throws {
        let f = try PKPDFixture(name: "settings")
        defer { f.remove() }
        let problem = try CalibrationProblem.load(f.calibrationFile)
        let usual = try CalibrationResiduals(problem), tight = try CalibrationResiduals(problem, settings: Self.tight)
        let x = [log10(1.2), log(0.4), 0.7, log10(2), log10(2.5)]
        var r = [Double](repeating: 0, count: usual.residualCount)
        var a = [Double](repeating: 0, count: usual.residualCount * x.count), b = a
        #expect(usual.residualsAndJacobian(at: x, residuals: &r, jacobian: &a) == true)
        #expect(tight.residualsAndJacobian(at: x, residuals: &r, jacobian: &b) == true)
        let rows = (0..<a.count).filter { !usual.differencedTargets.contains($0 / x.count) }
        let largest = rows.map { abs(b[$0]) }.max() ?? 1
        let worst = rows.map { abs(a[$0] - b[$0]) }.max() ?? .infinity
        #expect(worst < 1e-5 * largest, "\(worst) of \(largest)")
        print("sensitivities: calibration settings against 1e-12: \(worst / largest) of the largest entry")
    }

    /// Doses scaled by F: the oral concentration is F D ka / (V (ka - ke)) (e^(-ke t) - e^(-ka t)), so
    /// d/dF is the concentration over F, whatever the other parameters; so is a subcutaneous infusion's
    /// (its rate F D / 2 h forces the sensitivities while it runs); the iv infusion does not move with F.
    @Test func aBioavailabilityMovesTheDoses() throws {
        let f = try PKPDFixture(name: "bioavailability")
        defer { f.remove() }
        let problem = try CalibrationProblem.load(f.calibrationFile)
        let simulator = try Simulator(model: try problem.model.compiled(), settings: Self.tight)
        for name in ["oral", "infusion", "sc_infusion"] {
            var plan = try #require(problem.experiments.first { $0.name == name }).plan
            plan.parameters["F"] = 0.7
            let run = try simulator.run(plan, columns: try simulator.columns(["concentration"]), sensitivities: SensitivityPlan(parameters: ["F", "ka"], stateCount: 3))
            for (k, t) in run.result.times.enumerated() where t > 0 {
                let c = run.result.values[k], dF = run.gradient(time: k, output: 0, direction: 0)
                switch name {
                case "oral":
                    let closed = 0.7 * 1000 / 10 * 1.5 / 1.2 * (exp(-0.3 * t) - exp(-1.5 * t))
                    #expect(abs(c - closed) < 1e-8 * closed)
                    #expect(abs(dF - c / 0.7) < 1e-7 * c / 0.7, "t = \(t): \(dF) vs \(c / 0.7)")
                case "sc_infusion":
                    #expect(abs(dF - c / 0.7) < 1e-7 * max(c / 0.7, 1e-3), "t = \(t): \(dF) vs \(c / 0.7)")
                default:
                    #expect(dF == 0)
                }
            }
        }
    }
}

/// The bundled model's calibrations (`make calibrate`): objective + Jacobian with sensitivities against
/// p + 1 evaluations for forward differences, after one warm-up evaluation, and the two Jacobians' largest
/// difference, printed for docs/PERFORMANCE.md; only with KETASIM_TIMING=1, never asserted.
@Suite(.enabled(if: ProcessInfo.processInfo.environment["KETASIM_TIMING"] == "1"))
struct CalibrationTimingTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test(arguments: ["human_ketamine_pk", "rat_ketamine_pd", "human_ketamine_madrs"])
    func objectiveAndJacobian(name: String) throws {
        let residuals = try CalibrationResiduals(try CalibrationProblem.load(Self.root.appendingPathComponent("models/calibration/\(name).yaml").path))
        let x = residuals.point(), n = residuals.residualCount, p = x.count
        var r = [Double](repeating: 0, count: n), analytic = [Double](repeating: 0, count: n * p)
        // A warm-up: compiling the sensitivity equations and finding the equilibrium happen once per fit worker.
        _ = residuals.residualsAndJacobian(at: x, residuals: &r, jacobian: &analytic)
        var began = Date()
        let ok = residuals.residualsAndJacobian(at: x, residuals: &r, jacobian: &analytic)
        let sensitivities = Date().timeIntervalSince(began)
        #expect(ok == true, "\(residuals.sensitivityRefusal ?? residuals.lastError ?? "")")
        began = Date()
        var r0 = r, up = r, differences = [Double](repeating: 0, count: n * p)
        _ = residuals.residuals(at: x, into: &r0)
        for j in 0..<p {
            var a = x
            let h = 1e-6 * max(1, abs(x[j]))
            a[j] += h
            _ = residuals.residuals(at: a, into: &up)
            for i in 0..<n { differences[i * p + j] = (up[i] - r0[i]) / h }
        }
        let forward = Date().timeIntervalSince(began)
        // The reference: sensitivities with x and S integrated to 1e-11; the t_max row (differenced either way) left out.
        let tight = try CalibrationResiduals(residuals.calibration, settings: SolverSettings(stepper: .msbdf, relativeTolerance: 1e-11, absoluteTolerance: 1e-14,
                                                                                           sensitivityRelativeTolerance: 1e-11, sensitivityAbsoluteTolerance: 1e-14))
        var reference = analytic
        _ = tight.residualsAndJacobian(at: x, residuals: &r, jacobian: &reference)
        let rows = (0..<(n * p)).filter { !residuals.differencedTargets.contains($0 / p) }
        let largest = rows.map { abs(reference[$0]) }.max() ?? 1
        let sensitivityError = rows.map { abs(analytic[$0] - reference[$0]) }.max() ?? 0
        let differenceError = rows.map { abs(differences[$0] - reference[$0]) }.max() ?? 0
        print("timing: \(name): p = \(p), \(residuals.targets.count) targets (\(residuals.differencedTargets.count) differenced), objective+Jacobian \(String(format: "%.2f", sensitivities)) s with sensitivities, \(String(format: "%.2f", forward)) s with forward differences; largest error relative to the largest entry: sensitivities \(sensitivityError / largest), forward differences \(differenceError / largest)")
    }
}
