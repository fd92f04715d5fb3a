import Foundation
import Models
@testable import SBML
import Testing

/// Import and compilation must grow about linearly with the model: BioModels holds models with
/// thousands of species, and a quadratic step once made a 10,000-species chain take 18 minutes.
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

    /// Seconds to import and compile, the best of `repeats` (the machine is shared; the minimum is the
    /// least disturbed measurement).
    static func importAndCompileSeconds(species n: Int, repeats: Int = 2) throws -> Double {
        let xml = chain(species: n)
        var best = Double.infinity
        for _ in 0..<repeats {
            let started = Date()
            let model = try SBMLImporter.importModel(xml: xml, file: "chain\(n).xml")
            let compiled = try CompiledModel(model.definition)
            best = min(best, Date().timeIntervalSince(started))
            #expect(compiled.stateCount == n)
            #expect(model.definition.assignments.count == n - 1)
        }
        return best
    }

    @Test func importAndCompileGrowAboutLinearly() throws {
        let small = try Self.importAndCompileSeconds(species: 2_000)
        let large = try Self.importAndCompileSeconds(species: 4_000)
        print("import and compile: 2,000 species \(String(format: "%.2f", small)) s, 4,000 species \(String(format: "%.2f", large)) s")
        // Linear growth gives 2x, quadratic 4x; 3x leaves room for noise and n log n.
        #expect(large < 3 * small, "4,000 species took \(large) s, 2,000 took \(small) s: more than 3x")
    }

    @Test func aChainOfTenThousandSpeciesImportsAndIsCorrect() throws {
        let started = Date()
        let model = try SBMLImporter.importModel(xml: Self.chain(species: 10_000), file: "chain10000.xml")
        let compiled = try CompiledModel(model.definition)
        print("import and compile: 10,000 species \(String(format: "%.2f", Date().timeIntervalSince(started))) s")
        // dS1/dt = k0 S0 - k1 S1: (divided by the compartment c) reads exactly these symbols.
        #expect(compiled.stateCount == 10_000)
        let s1 = try #require(compiled.stateIndex("S1"))
        #expect(compiled.expandedODEs[s1].symbols == ["k0", "S0", "k1", "S1", "c"])
    }
}
