import Foundation
import Testing

/// `ketasim fit` on a one-measurement PEtab problem written here: A(0) = a0 = 1 measured as 0.7 with
/// sigma 0.5, so nllh = 0.5 log(2 pi 0.25) + 0.5 (0.3 / 0.5)^2 = 0.405791352644727.
@Suite("fit")
struct FitCLITests {
    static func problem() throws -> URL {
        let dir = try temporaryDirectory()
        let files = [
            "problem.yaml": "format_version: 1\nparameter_file: parameters.tsv\nproblems:\n- sbml_files: [model.xml]\n  condition_files: [conditions.tsv]\n  measurement_files: [measurements.tsv]\n  observable_files: [observables.tsv]\n",
            "model.xml": """
            <?xml version="1.0" encoding="UTF-8"?>
            <sbml xmlns="http://www.sbml.org/sbml/level2/version4" level="2" version="4"><model id="m">
            <listOfCompartments><compartment id="c" size="1"/></listOfCompartments>
            <listOfSpecies><species id="A" compartment="c" initialConcentration="2"/></listOfSpecies>
            <listOfParameters><parameter id="a0" value="3"/><parameter id="k" value="0.5"/></listOfParameters>
            <listOfInitialAssignments><initialAssignment symbol="A"><math xmlns="http://www.w3.org/1998/Math/MathML"><ci>a0</ci></math></initialAssignment></listOfInitialAssignments>
            <listOfReactions><reaction id="decay" reversible="false"><listOfReactants><speciesReference species="A"/></listOfReactants>
            <kineticLaw><math xmlns="http://www.w3.org/1998/Math/MathML"><apply><times/><ci>k</ci><ci>A</ci></apply></math></kineticLaw></reaction></listOfReactions>
            </model></sbml>
            """,
            "parameters.tsv": "parameterId\tparameterScale\tlowerBound\tupperBound\tnominalValue\testimate\na0\tlin\t0\t10\t1\t1\n",
            "conditions.tsv": "conditionId\nc0\n",
            "observables.tsv": "observableId\tobservableFormula\tnoiseFormula\nobs\tA\t0.5\n",
            "measurements.tsv": "observableId\tsimulationConditionId\ttime\tmeasurement\nobs\tc0\t0\t0.7\n",
        ]
        for (name, text) in files { try text.write(to: dir.appendingPathComponent(name), atomically: true, encoding: .utf8) }
        return dir
    }

    @Test func evaluatePrintsTheNegativeLogLikelihoodLastAndWritesSimulations() throws {
        let dir = try Self.problem()
        defer { try? FileManager.default.removeItem(at: dir) }
        let r = try ketasim(["fit", dir.appendingPathComponent("problem.yaml").path, "--evaluate", "--simulations", dir.appendingPathComponent("sim.tsv").path])
        #expect(r.status == 0, "\(r.stderr)")
        let last = r.stdout.split(separator: "\n").last.map(String.init) ?? ""
        #expect(last.hasPrefix("nllh = "))
        let value = Double(last.dropFirst("nllh = ".count)) ?? .nan
        // The parameter table's a0 = 1 (not the model's 3) sets A(0) through the initial assignment.
        #expect(abs(value - 0.405791352644727) < 1e-9)
        let table = try String(contentsOf: dir.appendingPathComponent("sim.tsv"), encoding: .utf8)
        #expect(table.hasPrefix("observableId\tsimulationConditionId\ttime\tsimulation\nobs\tc0\t0\t1.0"))
    }

    /// The fit of a0 to the one measurement puts A(0) on it: nllh = 0.5 log(2 pi 0.25) = 0.225791352644727.
    @Test func aFitPrintsTheBestNllhLastWritesItsFilesAndTheParameterFileEvaluates() throws {
        let dir = try Self.problem()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("fit")
        let yaml = dir.appendingPathComponent("problem.yaml").path
        let r = try ketasim(["fit", yaml, "--starts", "3", "--seed", "7", "--jobs", "2", "-o", out.path])
        #expect(r.status == 0, "\(r.stderr)")
        let last = r.stdout.split(separator: "\n").last.map(String.init) ?? ""
        #expect(last.hasPrefix("best nllh = ") && last.hasSuffix(" (3 of 3 starts within 0.1 of it)"), "\(last)")
        let value = Double(last.dropFirst("best nllh = ".count).prefix { $0 != " " }) ?? .nan
        #expect(abs(value - 0.225791352644727) < 1e-6)
        for file in ["starts.csv", "starts.csv.meta.json", "best.params", "estimates.csv", "residuals.tsv", "simulations.tsv"] {
            #expect(FileManager.default.fileExists(atPath: out.appendingPathComponent(file).path), "\(file)")
        }
        let starts = try String(contentsOf: out.appendingPathComponent("starts.csv"), encoding: .utf8).split(separator: "\n")
        #expect(starts.count == 4)
        #expect(starts.first == "start,status,nllh,objective,iterations,evaluations,seconds,message,a0")
        let again = try ketasim(["fit", yaml, "--evaluate", "--params", out.appendingPathComponent("best.params").path])
        #expect(again.stdout.hasSuffix("nllh = \(value)\n") || abs((Double(again.stdout.split(separator: "\n").last?.dropFirst(7) ?? "") ?? .nan) - value) < 1e-9)
        // A second fit into the same folder without --force is refused before any work.
        let twice = try ketasim(["fit", yaml, "--starts", "1", "-o", out.path])
        #expect(twice.status == 64)
    }

    @Test func aBadTableIsOneLineNamingFileRowAndColumnWithExit65() throws {
        let dir = try Self.problem()
        defer { try? FileManager.default.removeItem(at: dir) }
        try "observableId\tsimulationConditionId\ttime\tmeasurement\nobs\tc0\tsoon\t0.7\n".write(to: dir.appendingPathComponent("measurements.tsv"), atomically: true, encoding: .utf8)
        let r = try ketasim(["fit", dir.appendingPathComponent("problem.yaml").path, "--evaluate"])
        #expect(r.status == 65)
        #expect(r.stderr.hasSuffix("measurements.tsv:2: column `time`: `soon` is not a number\n"))
        #expect(r.stderr.split(separator: "\n").count == 1)
    }

    /// A ketasim calibration file (docs/CALIBRATION.md) on the two-compartment example: one row at 8 h
    /// computed from the closed form C(t) = 50 ka / (ka - ke) (e^-ke t - e^-ka t) at ka = 1.5, ke = 0.3,
    /// and one validation row at 24 h.
    static func calibration() throws -> URL {
        let dir = try temporaryDirectory()
        func c(_ t: Double) -> Double { 50 * 1.5 / 1.2 * (exp(-0.3 * t) - exp(-1.5 * t)) }
        let header = "id\trole\tvalue\tunit\terror\terror_kind\tn\tcitation\tlocator\tobtained\tnotes"
        let data = [header, "c8h\tcalibration\t\(c(8))\tuM\t0.05\tSEM\t\tclosed form\ttest\ttext\t",
                    "c24h\tvalidation\t\(c(24))\tuM\t0.01\tSEM\t\tclosed form\ttest\ttext\t"].joined(separator: "\n")
        try data.write(to: dir.appendingPathComponent("data.tsv"), atomically: true, encoding: .utf8)
        try """
        model: \(repositoryRoot.appendingPathComponent("models/examples/two_compartment.yaml").path)
        data: data.tsv
        parameters:
          - {name: ke, scale: log10, bounds: [0.05, 1], start: 0.5}
        experiments:
          oral: {scenario: single_oral, t_end: 30h}
        targets:
          - {data: c8h, experiment: oral, metric: concentration.at_8h}
          - {data: c24h, experiment: oral, metric: concentration.at_24h}
        """.write(to: dir.appendingPathComponent("calibration.yaml"), atomically: true, encoding: .utf8)
        return dir
    }

    @Test func aCalibrationFileIsEvaluatedAndFittedWithItsValidationRowsPredicted() throws {
        let dir = try Self.calibration()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("calibration.yaml").path
        let e = try ketasim(["fit", file, "--evaluate"])
        #expect(e.status == 0, "\(e.stderr)")
        #expect(e.stdout.contains("c8h\tcalibration\toral\tconcentration.at_8h"))
        #expect(e.stdout.contains("validation rows in agreement: 0 of 1"))
        let f = try ketasim(["fit", file, "--starts", "3", "-o", dir.appendingPathComponent("fit").path])
        #expect(f.status == 0, "\(f.stderr)")
        #expect(f.stdout.hasPrefix("best nllh = ") && f.stdout.contains("(3 of 3 starts within 0.1 of it)"))
        // A calibration file fits with sensitivities by default and says so.
        #expect(f.stderr.contains("note: Jacobian from forward sensitivities for 1 of 1 targets\n"), "\(f.stderr)")
        let params = try String(contentsOf: dir.appendingPathComponent("fit/best.params"), encoding: .utf8)
        let ke = params.split(separator: "\n").first { $0.hasPrefix("ke ") }.flatMap { Double($0.dropFirst(3)) } ?? .nan
        #expect(abs(ke / 0.3 - 1) < 1e-3, "ke = \(ke)")
        // The 24-h row was never fitted, and the fitted model predicts it.
        let validation = try String(contentsOf: dir.appendingPathComponent("fit/validation.tsv"), encoding: .utf8)
        #expect(validation.contains("c24h\tvalidation") && validation.contains("\tyes\t"))
        let r = try ketasim(["fit", file, "--evaluate", "--params", dir.appendingPathComponent("fit/best.params").path])
        #expect(r.stdout.contains("validation rows in agreement: 1 of 1"), "\(r.stdout)")
        // The profile of ke brackets the truth 0.3 and is closed on both sides.
        let p = try ketasim(["profile", file, "--fit", dir.appendingPathComponent("fit").path, "--plot"])
        #expect(p.status == 0, "\(p.stderr)")
        #expect(p.stdout.hasSuffix("identifiable: 1 of 1 profiled parameters\n"), "\(p.stdout)")
        // Progress after every point (a re-fit of a real model takes minutes): the first after the estimate.
        #expect(p.stderr.contains("profile: ke: 2 of at most 61 points, "), "\(p.stderr)")
        let intervals = try String(contentsOf: dir.appendingPathComponent("fit/profiles/intervals.csv"), encoding: .utf8)
        let fields = intervals.split(separator: "\n").last?.split(separator: ",").map(String.init) ?? []
        #expect(fields.count == 9 && fields[0] == "ke" && fields[8] == "yes")
        if fields.count == 9, let low = Double(fields[6]), let high = Double(fields[7]) { #expect(low < 0.3 && 0.3 < high && high - low < 0.05) }
        #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent("fit/profiles/profiles.svg").path))
        let again = try ketasim(["profile", file, "--fit", dir.appendingPathComponent("fit").path])
        #expect(again.status == 73 && again.stderr.contains("--force"), "\(again.stderr)")
        // The fit's own files: no note. Once the problem changes, the profile says its estimate may be stale.
        #expect(!p.stderr.contains("changed since the fit"), "\(p.stderr)")
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: file))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data("# edited after the fit\n".utf8))
        try handle.close()
        let stale = try ketasim(["profile", file, "--fit", dir.appendingPathComponent("fit").path, "--force"])
        #expect(stale.status == 0 && stale.stderr.contains("changed since the fit in"), "\(stale.stderr)")
    }
}
