import Foundation
@testable import PEtab
import SBML
import Testing

/// Each formula of `petab.calculate_single_llh` against a value computed by hand (in Python, from the
/// formula as PEtab writes it), so a dropped constant or Jacobian term shows.
struct LogLikelihoodTests {
    @Test func normalOnTheLinearScale() {
        // -0.5 log(2 pi 0.5^2) - 0.5 ((1 - 0.5) / 0.5)^2
        let llh = petabLogLikelihood(measurement: 1, simulation: 0.5, sigma: 0.5, scale: .lin, distribution: .normal)
        #expect(abs(llh - -0.7257913526447274) < 1e-12)
    }

    @Test func normalOnTheLog10ScaleIncludesTheJacobian() {
        // -0.5 log(2 pi 1^2 10^2 log(10)^2) - 0.5 ((log10 10 - log10 1) / 1)^2
        let llh = petabLogLikelihood(measurement: 10, simulation: 1, sigma: 1, scale: .log10, distribution: .normal)
        #expect(abs(llh - -4.5555560714466745) < 1e-12)
    }

    @Test func normalOnTheLogScale() {
        // -0.5 log(2 pi 0.7^2 0.8^2) - 0.5 ((log 0.8 - log 0.4) / 0.7)^2
        let llh = petabLogLikelihood(measurement: 0.8, simulation: 0.4, sigma: 0.7, scale: .log, distribution: .normal)
        #expect(abs(llh - -0.829378215419283) < 1e-12)
    }

    @Test func laplaceOnTheLinearScale() {
        // -log(2 0.5) - |1 - 0.5| / 0.5
        let llh = petabLogLikelihood(measurement: 1, simulation: 0.5, sigma: 0.5, scale: .lin, distribution: .laplace)
        #expect(abs(llh - -1) < 1e-12)
    }

    @Test func laplaceOnTheLogScaleIncludesTheJacobian() {
        // -log(2 2 e) - |log e - log 1| / 2
        let llh = petabLogLikelihood(measurement: M_E, simulation: 1, sigma: 2, scale: .log, distribution: .laplace)
        #expect(abs(llh - -2.8862943611198904) < 1e-12)
    }

    @Test func priorDensitiesMatchHandComputedValues() {
        // parameterScaleNormal(0, 2) at log10(10) = 1: -0.5 log(2 pi 4) - 1/8
        #expect(abs(PEtabPrior(kind: .parameterScaleNormal, a: 0, b: 2).logDensity(10, scale: .log10) - -1.7370857137646178) < 1e-12)
        // uniform(0, 4): -log 4 inside, -inf outside
        #expect(abs(PEtabPrior(kind: .uniform, a: 0, b: 4).logDensity(1, scale: .lin) - -log(4)) < 1e-12)
        #expect(PEtabPrior(kind: .uniform, a: 0, b: 4).logDensity(5, scale: .lin) == -.infinity)
        // logLaplace(0, 1) at e: -log(2 e) - 1
        #expect(abs(PEtabPrior(kind: .logLaplace, a: 0, b: 1).logDensity(M_E, scale: .lin) - (-log(2 * M_E) - 1)) < 1e-12)
    }

    @Test func residualIsOnTheObservableScale() {
        #expect(abs(petabResidual(measurement: 100, simulation: 10, sigma: 0.5, scale: .log10) - 2) < 1e-12)
        #expect(abs(petabResidual(measurement: 3, simulation: 1, sigma: 4, scale: .lin) - 0.5) < 1e-12)
    }
}

/// Table errors name the file, the row (line in the file) and the column.
struct TableErrorTests {
    @Test func aMissingRequiredColumnIsNamed() throws {
        let t = try Table.parse("parameterId\tparameterScale\nk\tlin\n", file: "p.tsv")
        #expect(throws: PEtabError(.invalid, file: "p.tsv", row: 1, "the required column `nominalValue` is missing (columns: parameterId, parameterScale)")) {
            _ = try t.required("nominalValue")
        }
    }

    @Test func aBadNumberNamesFileRowAndColumn() throws {
        let t = try Table.parse("parameterId\tparameterScale\tlowerBound\tupperBound\tnominalValue\testimate\nk\tlin\t0\t10\tabc\t1\n", file: "p.tsv")
        var problem = try emptyProblem()
        do {
            try problem.readParameters(t)
            Issue.record("a nominal value `abc` was accepted")
        } catch {
            #expect(error.file == "p.tsv" && error.row == 2 && error.column == "nominalValue")
            #expect(error.description == "p.tsv:2: column `nominalValue`: `abc` is not a number")
        }
    }

    @Test func anUnknownScaleIsRefusedWithItsCell() throws {
        let t = try Table.parse("parameterId\tparameterScale\tlowerBound\tupperBound\tnominalValue\testimate\n\nk\tlog2\t0\t10\t1\t1\n", file: "p.tsv")
        var problem = try emptyProblem()
        #expect(throws: PEtabError(.invalid, file: "p.tsv", row: 3, column: "parameterScale", "`log2` is not lin, log or log10")) {
            try problem.readParameters(t)
        }
    }

    @Test func anUnknownPriorIsRefusedAsUnsupportedNamingTheCell() throws {
        let t = try Table.parse("parameterId\tparameterScale\tlowerBound\tupperBound\tnominalValue\testimate\tobjectivePriorType\tobjectivePriorParameters\nk\tlin\t0\t10\t1\t1\tcauchy\t0;1\n", file: "p.tsv")
        var problem = try emptyProblem()
        do {
            try problem.readParameters(t)
            Issue.record("an unknown prior was accepted")
        } catch {
            #expect(error.kind == .unsupported && error.row == 2 && error.column == "objectivePriorType")
            #expect(error.description.contains("not supported: objective prior `cauchy`"))
        }
    }

    @Test func priorsAreReadWithTheirParameters() throws {
        let t = try Table.parse("parameterId\tparameterScale\tlowerBound\tupperBound\tnominalValue\testimate\tobjectivePriorType\tobjectivePriorParameters\nk\tlog10\t0.01\t100\t10\t1\tparameterScaleNormal\t0;2\n", file: "p.tsv")
        var problem = try emptyProblem()
        try problem.readParameters(t)
        #expect(problem.parameters.first?.prior == PEtabPrior(kind: .parameterScaleNormal, a: 0, b: 2))
    }

    @Test func windowsLineEndingsAndAByteOrderMarkAreRead() throws {
        let t = try Table.parse("\u{FEFF}conditionId\tk1\r\nc0\t1\r\nc1\t2\r\n", file: "c.tsv")
        #expect(t.columns == ["conditionId", "k1"])
        #expect(t.rows.map(\.cells) == [["c0", "1"], ["c1", "2"]])
        #expect(t.rows.map(\.line) == [2, 3])
    }

    @Test func tooManyCellsIsAnErrorOnThatRow() {
        #expect(throws: PEtabError(.invalid, file: "c.tsv", row: 2, "the row has 3 cells but the header names 2 columns")) {
            _ = try Table.parse("conditionId\tk1\nc0\t1\t2\n", file: "c.tsv")
        }
    }

    @Test func overridesMustMatchThePlaceholders() throws {
        var problem = try emptyProblem()
        try problem.readObservables(Table.parse("observableId\tobservableFormula\tnoiseFormula\nobs\tobservableParameter1_obs * A + observableParameter2_obs\t1\n", file: "o.tsv"))
        try problem.readConditions(Table.parse("conditionId\nc0\n", file: "c.tsv"))
        let m = try Table.parse("observableId\tsimulationConditionId\ttime\tmeasurement\tobservableParameters\nobs\tc0\t1\t0.5\t2\n", file: "m.tsv")
        #expect(throws: PEtabError(.invalid, file: "m.tsv", row: 2, column: "observableParameters", "observable `obs` has 2 observableParameter placeholder(s) but the row gives 1 value(s)")) {
            try problem.readMeasurements(m)
        }
    }

    @Test func aPEtabV2ProblemIsRefused() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("ketasim-petab-v2-\(getpid()).yaml").path
        try "format_version: 2.0.0\nproblems: []\n".write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        do {
            _ = try PEtabProblem.load(path)
            Issue.record("a PEtab v2 file was accepted")
        } catch {
            #expect(error.kind == .unsupported && error.column == "format_version")
        }
    }
}

/// A problem with an empty model, to test the table readers alone.
func emptyProblem() throws -> PEtabProblem {
    let xml = """
    <?xml version="1.0" encoding="UTF-8"?>
    <sbml xmlns="http://www.sbml.org/sbml/level3/version2/core" level="3" version="2"><model id="m">
    <listOfCompartments><compartment id="c" size="1" constant="true"/></listOfCompartments>
    <listOfSpecies><species id="A" compartment="c" initialConcentration="1" hasOnlySubstanceUnits="false" boundaryCondition="false" constant="false"/></listOfSpecies>
    </model></sbml>
    """
    let model = try SBMLImporter.importModel(xml: xml)
    return PEtabProblem(file: "problem.yaml", model: model, parameters: [], observables: [:], conditions: [:], measurements: [], measurementColumns: [])
}
