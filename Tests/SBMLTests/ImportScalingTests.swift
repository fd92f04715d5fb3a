import Foundation
import Models
@testable import SBML
import Testing

/// Large chains import correctly; that import and compilation grow about linearly with the model (BioModels
/// holds models with thousands of species, and a quadratic step once made a 10,000-species chain take 18
/// minutes) is the benchmark's to measure.
@Suite struct ImportScalingTests {
    /// S0 -> S1 -> ... -> S(n-1), each reaction `k_i * S_i`, in one compartment.
    static func chain(species n: Int) -> String {
        var species = "", parameters = "", reactions = ""
        species.reserveCapacity(n * 160)
        reactions.reserveCapacity(n * 480)
        for i in 0..<n {
            species += "<species id=\"S\(i)\" compartment=\"c\" initialConcentration=\"\(i == 0 ? 1 : 0)\" hasOnlySubstanceUnits=\"false\" boundaryCondition=\"false\" constant=\"false\"/>\n"
        }
        for i in 0..<(n - 1) {
            parameters += "<parameter id=\"k\(i)\" value=\"\(1 + Double(i % 7) / 10)\" constant=\"true\"/>\n"
            reactions += """
            <reaction id="r\(i)" reversible="false">
              <listOfReactants><speciesReference species="S\(i)" stoichiometry="1" constant="true"/></listOfReactants>
              <listOfProducts><speciesReference species="S\(i + 1)" stoichiometry="1" constant="true"/></listOfProducts>
              <kineticLaw><math xmlns="http://www.w3.org/1998/Math/MathML"><apply><times/><ci>k\(i)</ci><ci>S\(i)</ci></apply></math></kineticLaw>
            </reaction>

            """
        }
        return document("""
            <listOfCompartments><compartment id="c" size="1" constant="true"/></listOfCompartments>
            <listOfSpecies>\(species)</listOfSpecies>
            <listOfParameters>\(parameters)</listOfParameters>
            <listOfReactions>\(reactions)</listOfReactions>
            """)
    }

    /// How the time grows is measured in Benchmarks ("SBML chain import and compile, N species"), not
    /// asserted here: a timed test fails on a busy machine, as this one did beside a sanitizer build.
    @Test(arguments: [2_000, 4_000])
    func chainsImportAndCompile(species n: Int) throws {
        let model = try SBMLImporter.importModel(xml: Self.chain(species: n), file: "chain\(n).xml")
        let compiled = try CompiledModel(model.definition)
        #expect(compiled.stateCount == n)
        #expect(model.definition.assignments.count == n - 1)
    }

    @Test func aChainOfTenThousandSpeciesImportsAndIsCorrect() throws {
        let model = try SBMLImporter.importModel(xml: Self.chain(species: 10_000), file: "chain10000.xml")
        let compiled = try CompiledModel(model.definition)
        // dS1/dt = k0 S0 - k1 S1: (divided by the compartment c) reads exactly these symbols.
        #expect(compiled.stateCount == 10_000)
        let s1 = try #require(compiled.stateIndex("S1"))
        #expect(compiled.expandedODEs[s1].symbols == ["k0", "S0", "k1", "S1", "c"])
    }
}
