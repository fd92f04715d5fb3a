import Experiments
import Fitting
import Foundation
import Testing

private let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// The oral Bateman function of models/examples/two_compartment.yaml: 250 mg of a 250 g/mol drug
/// (1000 umol), bioavailability 0.5, V = 10 L, so C(t) = 50 ka / (ka - ke) (e^-ke t - e^-ka t) uM.
private func bateman(_ t: Double, ka: Double, ke: Double) -> Double {
    50 * ka / (ka - ke) * (exp(-ke * t) - exp(-ka * t))
}

/// A calibration of the two-compartment example against data computed from the closed form, so the
/// data are not ketasim's own output.
private struct Fixture {
    let dir: URL
    var calibrationFile: String { dir.appendingPathComponent("calibration.yaml").path }

    static let header = "id\trole\tquantity\tmodel_output\tspecies\tstress\tdrug\tdose\tdose_unit\troute\ttime\ttime_unit\tcomparison\tvalue\tunit\terror\terror_kind\tn\tcitation\tlocator\tobtained\tquote\tnotes"

    static func row(_ id: String, _ role: String, value: String, error: String, kind: String, n: String = "", notes: String = "") -> String {
        [id, role, "plasma concentration", "concentration", "human", "none", "drug", "250", "mg", "oral", "", "", "absolute", value, "uM",
         error, kind, n, "closed form", "test", "text", "computed", notes].joined(separator: "\t")
    }

    init(name: String, targets: String? = nil, rows extra: [String] = [], parameters: String? = nil) throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("ketasim-calibration-\(name)-\(ProcessInfo.processInfo.processIdentifier)")
        try? FileManager.default.removeItem(at: dir)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let ka = 1.5, ke = 0.3
        let tmax = log(ka / ke) / (ka - ke)
        let rows = [
            Self.row("cmax", "calibration", value: "\(bateman(tmax, ka: ka, ke: ke))", error: "1.0", kind: "SD", n: "4"),
            Self.row("c8h", "calibration", value: "\(bateman(8, ka: ka, ke: ke))", error: "0.5", kind: "SEM"),
            Self.row("tmax_min", "calibration", value: "\(tmax * 60)", error: "\(tmax * 60 - 4)-\(tmax * 60 + 4)", kind: "95% CI"),
            Self.row("rises", "calibration", value: "", error: "", kind: "", notes: "direction=increase; at 2 h"),
            Self.row("c24h", "validation", value: "\(bateman(24, ka: ka, ke: ke))", error: "0.2", kind: "SD"),
            Self.row("unstated", "calibration", value: "3", error: "", kind: "not stated"),
        ] + extra
        try ([Self.header] + rows).joined(separator: "\n").write(to: dir.appendingPathComponent("data.tsv"), atomically: true, encoding: .utf8)
        let model = root.appendingPathComponent("models/examples/two_compartment.yaml").path
        let text = """
        model: \(model)
        data: data.tsv
        defaults: {margin: 0.1, sigma: 0.05}
        parameters:
        \(parameters ?? """
          - {name: ka, scale: log10, bounds: [0.1, 10], start: 0.8}
          - {name: ke, scale: log10, bounds: [0.01, 3], start: 0.5}
        """)
        experiments:
          oral:
            scenario: single_oral
            t_end: 30h
        targets:
        \(targets ?? """
          - {data: cmax, experiment: oral, metric: concentration.max}
          - {data: c8h, experiment: oral, metric: concentration.at_8h}
          - {data: tmax_min, experiment: oral, metric: concentration.t_max, factor: 60, compare: difference}
          - {data: rises, experiment: oral, metric: concentration.at_2h, versus: pre, compare: difference}
          - {data: c24h, experiment: oral, metric: concentration.at_24h}
        """)
        """
        try text.write(toFile: calibrationFile, atomically: true, encoding: .utf8)
    }

    func remove() { try? FileManager.default.removeItem(at: dir) }
}

@Suite struct CalibrationTests {
    @Test func residualsAreTheClosedFormsDistanceOverTheRowsError() throws {
        let f = try Fixture(name: "residuals")
        defer { f.remove() }
        let problem = try CalibrationProblem.load(f.calibrationFile)
        #expect(problem.fitted.count == 4 && problem.validation.map(\.row.id) == ["c24h"])
        let residuals = try CalibrationResiduals(problem, includeValidation: true)
        // Away from the truth, the 8-h residual is the closed form's difference over the SEM (0.5), and
        // the 24-h validation row's over its SD (0.2, no n).
        let ka = 1.2, ke = 0.45
        let predictions = try residuals.predict(at: [log10(ka), log10(ke)])
        let byID = Dictionary(uniqueKeysWithValues: predictions.map { ($0.target.row.id, $0) })
        let c8 = try #require(byID["c8h"]), c24 = try #require(byID["c24h"]), cmax = try #require(byID["cmax"])
        #expect(abs(c8.simulated - bateman(8, ka: ka, ke: ke)) < 1e-5)
        #expect(abs(c8.residual - (bateman(8, ka: ka, ke: ke) - bateman(8, ka: 1.5, ke: 0.3)) / 0.5) < 1e-4)
        #expect(abs(c24.residual - (bateman(24, ka: ka, ke: ke) - bateman(24, ka: 1.5, ke: 0.3)) / 0.2) < 1e-3)
        // Cmax: SD 1.0 over sqrt(n = 4) is the mean's error 0.5; the peak is found on the per-minute trace.
        let tmax = log(ka / ke) / (ka - ke)
        #expect(abs(cmax.residual - (bateman(tmax, ka: ka, ke: ke) - bateman(log(5) / 1.2, ka: 1.5, ke: 0.3)) / 0.5) < 0.01)
        // Concentration at 2 h exceeds its pre-dose 0 by far more than the margin: no penalty.
        #expect(byID["rises"]?.residual == 0 && byID["rises"]?.agrees == true)
        // The offset is the normal log-density's constant of each value row.
        let sigmas = [0.5, 0.5, 8 / (2 * 1.959964)]
        let offset = sigmas.reduce(0) { $0 + log($1) + 0.5 * log(2 * Double.pi) }
        #expect(abs(try CalibrationResiduals(problem).objectiveOffset - offset) < 1e-9)
    }

    @Test func aFitRecoversTheParametersOfTheClosedForm() throws {
        let f = try Fixture(name: "recover")
        defer { f.remove() }
        let residuals = try CalibrationResiduals(try CalibrationProblem.load(f.calibrationFile))
        let fit = GSLLeastSquares(options: LeastSquaresOptions()).minimize(residuals, from: residuals.point())
        let values = residuals.values(at: fit.estimate)
        #expect(abs((values["ka"] ?? 0) / 1.5 - 1) < 0.01, "ka = \(values["ka"] ?? .nan)")
        #expect(abs((values["ke"] ?? 0) / 0.3 - 1) < 0.01, "ke = \(values["ke"] ?? .nan)")
        // The start is far from the truth: a fit that did nothing fails the checks above.
        #expect(abs(pow(10, residuals.point()[0]) - 0.8) < 1e-12)
    }

    /// `mean_<d>` is the time average over the window after the dose (a microdialysis fraction), here
    /// against the closed form's integral; a prior adds (x - x0) / sd on the scale and its constant.
    @Test func aWindowMeanAndAPriorAreWhatTheySay() throws {
        let (ka, ke) = (1.5, 0.3)
        let mean8 = 50 * ka / (ka - ke) * ((1 - exp(-ke * 8)) / ke - (1 - exp(-ka * 8)) / ka) / 8
        let f = try Fixture(name: "mean", targets: """
          - {data: mean8, experiment: oral, metric: concentration.mean_8h}
        """, rows: [Fixture.row("mean8", "calibration", value: "\(mean8 * 1.1)", error: "0.5", kind: "SEM")], parameters: """
          - {name: ka, scale: log10, bounds: [0.1, 10], start: 1.5, prior_sd: 0.5}
          - {name: ke, scale: log10, bounds: [0.01, 3], start: 0.3}
        """)
        defer { f.remove() }
        let residuals = try CalibrationResiduals(try CalibrationProblem.load(f.calibrationFile))
        #expect(residuals.residualCount == 2)
        var r = [0.0, 0.0]
        let x = [log10(1.5) + 0.25, log10(0.3)]
        #expect(residuals.residuals(at: x, into: &r))
        #expect(abs(r[1] - 0.5) < 1e-12)
        let p = try #require(try residuals.predict(at: [log10(ka), log10(ke)]).first)
        // Trapezoids on the per-minute trace for 6 h, then on the hourly grid (h^3 C'' / 12 per hour, 8e-4 of it).
        #expect(abs(p.simulated - mean8) < 2e-3 * mean8, "\(p.simulated) vs \(mean8)")
        #expect(abs(residuals.objectiveOffset - 2 * 0.5 * log(2 * Double.pi) - log(0.5) - log(0.5)) < 1e-12)
    }

    @Test func aDirectionIsAOneSidedPenalty() throws {
        // ke above ka turns nothing around, but a row that says the level falls is violated by the rise.
        let f = try Fixture(name: "direction", targets: """
          - {data: falls, experiment: oral, metric: concentration.at_2h, versus: pre, compare: difference, margin: 1, sigma: 2}
        """, rows: [Fixture.row("falls", "calibration", value: "", error: "", kind: "", notes: "direction=decrease")])
        defer { f.remove() }
        let residuals = try CalibrationResiduals(try CalibrationProblem.load(f.calibrationFile))
        let x = [log10(1.5), log10(0.3)]
        let p = try #require(try residuals.predict(at: x).first)
        #expect(abs(p.residual - (bateman(2, ka: 1.5, ke: 0.3) + 1) / 2) < 1e-4)
        #expect(!p.agrees)
    }

    @Test func mistakesAreReportedAtTheirLine() throws {
        let cases: [(targets: String, message: String, line: Int)] = [
            ("  - {data: nosuch, experiment: oral, metric: concentration.max}", "no data table has a row `nosuch`", 12),
            ("  - {data: cmax, experiment: iv, metric: concentration.max}", "unknown experiment `iv`", 12),
            ("  - {data: cmax, experiment: oral, metric: concentration.peak}", "unknown metric `peak`", 12),
            ("  - {data: cmax, experiment: oral, metric: plasma.max}", "`plasma` is not an output", 12),
            ("  - {data: rises, experiment: oral, metric: concentration.max}", "say against what with `versus", 12),
            ("  - {data: unstated, experiment: oral, metric: concentration.max}", "states no usable error", 12),
            ("  - {data: cmax, experiment: oral, metric: concentration.max}\n  - {data: cmax, experiment: oral, metric: concentration.min}", "is a target twice", 13),
        ]
        for c in cases {
            let f = try Fixture(name: "errors", targets: c.targets)
            defer { f.remove() }
            #expect {
                _ = try CalibrationProblem.load(f.calibrationFile)
            } throws: { error in
                let text = "\(error)"
                return text.contains(c.message) && text.hasPrefix("\(f.calibrationFile):\(c.line):")
            }
        }
        let f = try Fixture(name: "parameter", parameters: "  - {name: kb, scale: log10, bounds: [0.1, 10]}")
        defer { f.remove() }
        #expect(throws: CalibrationError.self) { try CalibrationProblem.load(f.calibrationFile) }
    }

    /// Every row of the repository's data tables reads, and the error cells that are intervals parse.
    @Test func theRepositorysDataTablesRead() throws {
        let folder = root.appendingPathComponent("models/data")
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".tsv") }
        #expect(!files.isEmpty)
        var rows: [DataRow] = []
        for file in files { rows += try DataRow.read(folder.appendingPathComponent(file).path) }
        #expect(Set(rows.map(\.id)).count == rows.count)
        for row in rows where row.errorKind == "95% CI" || row.errorKind == "range" {
            #expect(row.interval != nil, "\(row.id): `\(row.error)`")
        }
        let smd = try #require(rows.first { $0.id == "cochrane2021_madrs_smd_24h" })
        #expect(smd.interval.map { $0.low == -0.87 && $0.high == -0.10 } == true)
        #expect(rows.contains { $0.direction == .noChange } && rows.contains { $0.direction == .decrease })
    }

    /// The bundled model holds what `make calibrate` fitted: every value of each calibration's
    /// best.params, in the organism its experiments use, to the 6 digits the script writes. Editing a
    /// fitted value by hand, or re-fitting without writing the result back, fails here.
    static let results = root.appendingPathComponent("models/calibration/results")

    @Test(.enabled(if: FileManager.default.fileExists(atPath: results.path), "no calibration results (run make calibrate)"))
    func theModelHoldsTheCalibratedValues() throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: Self.results.path).sorted()
        #expect(!names.isEmpty)
        for name in names {
            let file = root.appendingPathComponent("models/calibration/\(name).yaml").path
            let problem = try CalibrationProblem.load(file)
            let fitted = try FitFiles.readParameterFile(Self.results.appendingPathComponent("\(name)/best.params").path)
            let definition = problem.model.definition
            for experiment in problem.experiments {
                let values = definition.parameterValues(organism: experiment.plan.organism)
                for (parameter, value) in fitted {
                    let k = try #require(definition.parameters.firstIndex { $0.name == parameter })
                    #expect(abs(values[k] / value - 1) < 1e-5, "\(name): \(parameter) is \(values[k]) in the model, \(value) fitted (experiment \(experiment.name))")
                }
            }
        }
    }
}
