import Foundation
import PEtab

/// A small PEtab problem written to a temporary folder: A -> B -> (nothing) with rates k1 A and k2 B,
/// A(0) = 10, observed as A (normal, sigma 0.1) and as scale * B (`obsB_transformation`, `obsB_noise`,
/// its sigma the estimated `sd_B`). Data are simulated by ketasim at `truth`, plus a fixed
/// pseudo-noise `noise[i]` per measurement (the same every run).
struct SyntheticProblem {
    static let truth: [String: Double] = ["k1": 0.5, "k2": 0.2, "scale": 2, "sd_B": 0.05]
    static let times: [Double] = [0.5, 1, 2, 3, 4, 6, 8, 10, 12, 15]

    var folder: URL
    var obsBTransformation = "lin"
    var obsBNoise = "normal"
    /// `objectivePriorType` and parameters of k2, or empty.
    var k2Prior = ("", "")
    /// SBML events (the content of `listOfEvents`), and further estimated parameters they read (log10,
    /// nominal value, bounds a factor of 100 either side).
    var events = ""
    var extraParameters: [(id: String, value: Double)] = []

    init(name: String) throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("ketasim-fit-\(name)-\(getpid())")
        try? FileManager.default.removeItem(at: folder)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }

    func write(_ name: String, _ text: String) throws {
        try text.write(to: folder.appendingPathComponent(name), atomically: true, encoding: .utf8)
    }

    /// A PEtab problem of one model and one table of each kind, by the names these fixtures write.
    static let problemYAML = """
        format_version: 1
        parameter_file: parameters.tsv
        problems:
          - sbml_files: [model.xml]
            condition_files: [conditions.tsv]
            measurement_files: [measurements.tsv]
            observable_files: [observables.tsv]

        """

    static func noise(_ i: Int) -> Double { [0.04, -0.03, 0.05, -0.06, 0.02, -0.04, 0.06, -0.05, 0.03, -0.02][i % 10] }

    /// Writes every file; `measurements` nil writes placeholder data (to simulate the truth first).
    func writeFiles(measurements: [Double]?) throws {
        try write("model.xml", """
        <?xml version="1.0" encoding="UTF-8"?>
        <sbml xmlns="http://www.sbml.org/sbml/level3/version2/core" level="3" version="2"><model id="chain">
        <listOfCompartments><compartment id="c" size="1" constant="true"/></listOfCompartments>
        <listOfSpecies>
        <species id="A" compartment="c" initialConcentration="10" hasOnlySubstanceUnits="false" boundaryCondition="false" constant="false"/>
        <species id="B" compartment="c" initialConcentration="0" hasOnlySubstanceUnits="false" boundaryCondition="false" constant="false"/>
        </listOfSpecies>
        <listOfParameters>
        <parameter id="k1" value="1" constant="true"/><parameter id="k2" value="1" constant="true"/>
        \(extraParameters.map { "<parameter id=\"\($0.id)\" value=\"\($0.value)\" constant=\"true\"/>" }.joined())
        </listOfParameters>
        <listOfReactions>
        <reaction id="r1" reversible="false"><listOfReactants><speciesReference species="A" stoichiometry="1" constant="true"/></listOfReactants>
        <listOfProducts><speciesReference species="B" stoichiometry="1" constant="true"/></listOfProducts>
        <kineticLaw><math xmlns="http://www.w3.org/1998/Math/MathML"><apply><times/><ci>k1</ci><ci>A</ci></apply></math></kineticLaw></reaction>
        <reaction id="r2" reversible="false"><listOfReactants><speciesReference species="B" stoichiometry="1" constant="true"/></listOfReactants>
        <kineticLaw><math xmlns="http://www.w3.org/1998/Math/MathML"><apply><times/><ci>k2</ci><ci>B</ci></apply></math></kineticLaw></reaction>
        </listOfReactions>
        \(events.isEmpty ? "" : "<listOfEvents>\(events)</listOfEvents>")
        </model></sbml>
        """)
        try write("conditions.tsv", "conditionId\nc0\n")
        try write("observables.tsv", """
        observableId\tobservableFormula\tnoiseFormula\tobservableTransformation\tnoiseDistribution
        obsA\tA\t0.1\tlin\tnormal
        obsB\tscale * B\tnoiseParameter1_obsB\t\(obsBTransformation)\t\(obsBNoise)

        """)
        var parameters = "parameterId\tparameterScale\tlowerBound\tupperBound\tnominalValue\testimate\tobjectivePriorType\tobjectivePriorParameters\n"
        for (id, scale) in [("k1", "log10"), ("k2", "log10"), ("scale", "log10"), ("sd_B", "log10")] {
            let prior = id == "k2" ? k2Prior : ("", "")
            parameters += "\(id)\t\(scale)\t0.001\t100\t1\t1\t\(prior.0)\t\(prior.1)\n"
        }
        for (id, value) in extraParameters {
            parameters += "\(id)\tlog10\t\(value / 100)\t\(value * 100)\t\(value)\t1\t\t\n"
        }
        try write("parameters.tsv", parameters)
        var rows = "observableId\tsimulationConditionId\ttime\tmeasurement\tnoiseParameters\n"
        var i = 0
        for observable in ["obsA", "obsB"] {
            for t in Self.times {
                let y = measurements?[i] ?? 1
                rows += "\(observable)\tc0\t\(t)\t\(y)\t\(observable == "obsB" ? "sd_B" : "")\n"
                i += 1
            }
        }
        try write("measurements.tsv", rows)
        try write("problem.yaml", Self.problemYAML)
    }

    var yaml: String { folder.appendingPathComponent("problem.yaml").path }

    /// Simulates the truth, adds the pseudo-noise (relative for obsB on a log scale), and loads the problem.
    func make() throws -> PEtabProblem {
        try writeFiles(measurements: nil)
        let exact = try PEtabProblem.load(yaml).evaluate(values: Self.truth).simulations
        let data = exact.enumerated().map { i, y in
            i < Self.times.count ? y + Self.noise(i) : (obsBTransformation == "lin" ? y + Self.noise(i) : y * exp(Self.noise(i)))
        }
        try writeFiles(measurements: data)
        return try PEtabProblem.load(yaml)
    }

    func remove() { try? FileManager.default.removeItem(at: folder) }
}
