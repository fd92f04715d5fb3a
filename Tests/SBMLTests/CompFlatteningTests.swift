import Foundation
@testable import SBML
import Testing

/// A document of the comp package: `model` is the top model's content, `rest` what follows the model
/// (model definitions, external model definitions). `prefix` is the one the document gives comp.
func compDocument(_ model: String, _ rest: String = "", prefix: String = "comp") -> String {
    """
    <?xml version="1.0" encoding="UTF-8"?>
    <sbml xmlns="http://www.sbml.org/sbml/level3/version2/core" xmlns:\(prefix)="http://www.sbml.org/sbml/level3/version1/comp/version1"
          level="3" version="2" \(prefix):required="true">
      <model id="top">
    \(model)
      </model>
    \(rest)
    </sbml>
    """
}

private let math = "xmlns=\"http://www.w3.org/1998/Math/MathML\""

/// A model definition `sub` with parameter `x` (rate rule dx/dt = k, k = 2) and y = 3 x.
private let growth = """
    <comp:listOfModelDefinitions>
      <comp:modelDefinition id="sub">
        <listOfParameters>
          <parameter id="x" value="1" constant="false"/>
          <parameter id="k" value="2" constant="true"/>
          <parameter id="y" constant="false"/>
        </listOfParameters>
        <listOfRules>
          <rateRule metaid="growth" variable="x"><math \(math)><ci> k </ci></math></rateRule>
          <assignmentRule variable="y"><math \(math)><apply><times/><cn> 3 </cn><ci> x </ci></apply></math></assignmentRule>
        </listOfRules>
        <comp:listOfPorts><comp:port comp:id="x_port" comp:idRef="x"/></comp:listOfPorts>
      </comp:modelDefinition>
    </comp:listOfModelDefinitions>
    """

private func run(_ xml: String, _ ids: [String], at times: [Double] = [0, 1, 2], file: String = "comp.xml") throws -> [[Double]] {
    let model = try SBMLImporter.importModel(xml: xml, file: file)
    let result = try model.simulate(times: times, ids: ids)
    #expect(result.failure == nil)
    return (0..<times.count).map { row in (0..<ids.count).map { result.value($0, at: row) } }
}

private func close(_ a: Double, _ b: Double) -> Bool { abs(a - b) <= 1e-8 * max(1, abs(b)) }

@Suite struct CompFlatteningTests {
    @Test func submodelsAreInstantiatedWithPrefixedIds() throws {
        let xml = compDocument("""
            <comp:listOfSubmodels>
              <comp:submodel comp:id="A" comp:modelRef="sub"/>
              <comp:submodel comp:id="B" comp:modelRef="sub"/>
            </comp:listOfSubmodels>
            """, growth)
        let v = try run(xml, ["A__x", "B__y"])
        #expect(close(v[2][0], 5) && close(v[2][1], 15))
    }

    @Test func aReplacedElementIsReadAsItsReplacementDividedByTheConversionFactor() throws {
        // x (top, 10) replaces A's x with factor 10: A's rate rule sets x to 10 * k, A's y reads 3 x / 10.
        let xml = compDocument("""
            <listOfParameters>
              <parameter id="x" value="10" constant="false">
                <comp:listOfReplacedElements><comp:replacedElement comp:portRef="x_port" comp:submodelRef="A" comp:conversionFactor="f"/></comp:listOfReplacedElements>
              </parameter>
              <parameter id="f" value="10" constant="true"/>
            </listOfParameters>
            <comp:listOfSubmodels><comp:submodel comp:id="A" comp:modelRef="sub"/></comp:listOfSubmodels>
            """, growth)
        let model = try SBMLImporter.importModel(xml: xml, file: "comp.xml")
        #expect(!model.definition.states.map(\.name).contains("A__x"))
        let v = try run(xml, ["x", "A__y"])
        #expect(close(v[1][0], 30) && close(v[1][1], 9))
    }

    @Test func replacedByKeepsTheSubmodelElementUnderTheParentName() throws {
        // The top's x (value 100) is replaced by A's x (value 1, rate rule): it grows from 1, named x.
        let xml = compDocument("""
            <listOfParameters>
              <parameter id="x" value="100" constant="false"><comp:replacedBy comp:idRef="x" comp:submodelRef="A"/></parameter>
              <parameter id="z" constant="false"/>
            </listOfParameters>
            <listOfRules><assignmentRule variable="z"><math \(math)><apply><plus/><ci> x </ci><cn> 1 </cn></apply></math></assignmentRule></listOfRules>
            <comp:listOfSubmodels><comp:submodel comp:id="A" comp:modelRef="sub"/></comp:listOfSubmodels>
            """, growth)
        let v = try run(xml, ["x", "z", "A__y"])
        #expect(close(v[2][0], 5) && close(v[2][1], 6) && close(v[2][2], 15))
    }

    @Test func deletionsRemoveTheElementTheyPointAt() throws {
        // Deleting the rate rule (by metaid) leaves x at 1.
        let xml = compDocument("""
            <comp:listOfSubmodels>
              <comp:submodel comp:id="A" comp:modelRef="sub">
                <comp:listOfDeletions><comp:deletion comp:metaIdRef="growth"/></comp:listOfDeletions>
              </comp:submodel>
            </comp:listOfSubmodels>
            """, growth)
        let v = try run(xml, ["A__x", "A__y"])
        #expect(close(v[2][0], 1) && close(v[2][1], 3))
    }

    @Test func timeAndExtentConversionFactorsRescaleTheSubmodel() throws {
        // Submodel in minutes inside a model in seconds (t = 60): dx/dt = k per minute, y = time in
        // minutes; a reaction of rate 1 per minute, extent x 1000: S gains 1000/60 per second.
        let xml = compDocument("""
            <listOfParameters>
              <parameter id="t" value="60" constant="true"/>
              <parameter id="e" value="1000" constant="true"/>
            </listOfParameters>
            <comp:listOfSubmodels><comp:submodel comp:id="A" comp:modelRef="m" comp:timeConversionFactor="t" comp:extentConversionFactor="e"/></comp:listOfSubmodels>
            """, """
            <comp:listOfModelDefinitions>
              <comp:modelDefinition id="m">
                <listOfCompartments><compartment id="c" size="1" constant="true"/></listOfCompartments>
                <listOfSpecies><species id="S" compartment="c" initialAmount="0" hasOnlySubstanceUnits="true" boundaryCondition="false" constant="false"/></listOfSpecies>
                <listOfParameters>
                  <parameter id="x" value="0" constant="false"/>
                  <parameter id="y" constant="false"/>
                  <parameter id="r" constant="false"/>
                </listOfParameters>
                <listOfRules>
                  <rateRule variable="x"><math \(math)><cn> 2 </cn></math></rateRule>
                  <assignmentRule variable="y"><math \(math)><csymbol encoding="text" definitionURL="http://www.sbml.org/sbml/symbols/time"> time </csymbol></math></assignmentRule>
                  <assignmentRule variable="r"><math \(math)><ci> J </ci></math></assignmentRule>
                </listOfRules>
                <listOfReactions>
                  <reaction id="J" reversible="false">
                    <listOfProducts><speciesReference species="S" stoichiometry="1" constant="true"/></listOfProducts>
                    <kineticLaw><math \(math)><cn> 1 </cn></math></kineticLaw>
                  </reaction>
                </listOfReactions>
              </comp:modelDefinition>
            </comp:listOfModelDefinitions>
            """)
        let v = try run(xml, ["A__x", "A__y", "A__S", "A__r"], at: [0, 30])
        #expect(close(v[1][0], 1) && close(v[1][1], 0.5))
        #expect(close(v[1][2], 30 * 1000 / 60.0))
        // The reaction's rate read inside the submodel is in its own units.
        #expect(close(v[1][3], 1))
    }

    @Test func aLocalParameterCanBeReplaced() throws {
        let xml = compDocument("""
            <listOfParameters>
              <parameter id="k" value="0.5" constant="true">
                <comp:listOfReplacedElements><comp:replacedElement comp:metaIdRef="J_k" comp:submodelRef="A"/></comp:listOfReplacedElements>
              </parameter>
            </listOfParameters>
            <comp:listOfSubmodels><comp:submodel comp:id="A" comp:modelRef="m"/></comp:listOfSubmodels>
            """, """
            <comp:listOfModelDefinitions>
              <comp:modelDefinition id="m">
                <listOfCompartments><compartment id="c" size="1" constant="true"/></listOfCompartments>
                <listOfSpecies><species id="S" compartment="c" initialAmount="1" hasOnlySubstanceUnits="true" boundaryCondition="false" constant="false"/></listOfSpecies>
                <listOfReactions>
                  <reaction id="J" reversible="false">
                    <listOfReactants><speciesReference species="S" stoichiometry="1" constant="true"/></listOfReactants>
                    <kineticLaw>
                      <math \(math)><apply><times/><ci> k </ci><ci> S </ci></apply></math>
                      <listOfLocalParameters><localParameter metaid="J_k" id="k" value="100"/></listOfLocalParameters>
                    </kineticLaw>
                  </reaction>
                </listOfReactions>
              </comp:modelDefinition>
            </comp:listOfModelDefinitions>
            """)
        let v = try run(xml, ["A__S"])
        #expect(close(v[2][0], exp(-1)))
    }

    @Test func nestedSubmodelsAreReachedThroughSBaseRefs() throws {
        // The top's x replaces the x of submodel B inside submodel A (A__B__x), through a nested sBaseRef.
        let xml = compDocument("""
            <listOfParameters>
              <parameter id="x" value="7" constant="false">
                <comp:listOfReplacedElements>
                  <comp:replacedElement comp:idRef="B" comp:submodelRef="A"><comp:sBaseRef comp:portRef="x_port"/></comp:replacedElement>
                </comp:listOfReplacedElements>
              </parameter>
            </listOfParameters>
            <comp:listOfSubmodels><comp:submodel comp:id="A" comp:modelRef="outer"/></comp:listOfSubmodels>
            """, growth.replacingOccurrences(of: "</comp:listOfModelDefinitions>", with: """
              <comp:modelDefinition id="outer">
                <comp:listOfSubmodels><comp:submodel comp:id="B" comp:modelRef="sub"/></comp:listOfSubmodels>
              </comp:modelDefinition>
            </comp:listOfModelDefinitions>
            """))
        let v = try run(xml, ["x", "A__B__y"])
        #expect(close(v[1][0], 9) && close(v[1][1], 27))
    }

    @Test func anyPrefixMayNameThePackage() throws {
        let xml = compDocument("<c:listOfSubmodels><c:submodel c:id=\"A\" c:modelRef=\"sub\"/></c:listOfSubmodels>",
                               growth.replacingOccurrences(of: "comp:", with: "c:"), prefix: "c")
        #expect(close(try run(xml, ["A__x"])[2][0], 5))
    }

    @Test func externalModelDefinitionsAreReadNextToTheDocument() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("ketasim-comp-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        // The library is Level 3 Version 1: its elements join the Version 2 model.
        let library = compDocument("", growth).replacingOccurrences(of: "level3/version2/core", with: "level3/version1/core")
            .replacingOccurrences(of: "version=\"2\"", with: "version=\"1\"")
        try library.write(to: folder.appendingPathComponent("library.xml"), atomically: true, encoding: .utf8)
        let main = folder.appendingPathComponent("main.xml")
        let external = """
            <comp:listOfExternalModelDefinitions>
              <comp:externalModelDefinition comp:id="ext" comp:source="library.xml" comp:modelRef="sub"/>
            </comp:listOfExternalModelDefinitions>
            """
        try compDocument("<comp:listOfSubmodels><comp:submodel comp:id=\"A\" comp:modelRef=\"ext\"/></comp:listOfSubmodels>", external)
            .write(to: main, atomically: true, encoding: .utf8)
        let model = try SBMLImporter.importModel(path: main.path)
        let run = try model.simulate(times: [0, 2], ids: ["A__y"])
        #expect(close(run.value(0, at: 1), 15))

        // A missing source is named with the element that names it.
        try compDocument("<comp:listOfSubmodels><comp:submodel comp:id=\"A\" comp:modelRef=\"ext\"/></comp:listOfSubmodels>",
                         external.replacingOccurrences(of: "library.xml", with: "missing.xml"))
            .write(to: main, atomically: true, encoding: .utf8)
        #expect(throws: SBMLError.self) { try SBMLImporter.importModel(path: main.path) }
        do {
            _ = try SBMLImporter.importModel(path: main.path)
        } catch {
            #expect(error.kind == .invalid && error.element == "externalModelDefinition" && error.id == "ext" && error.line == 8)
            #expect(error.description.contains("missing.xml"))
        }

        // A device never ends: only regular files are read.
        try compDocument("<comp:listOfSubmodels><comp:submodel comp:id=\"A\" comp:modelRef=\"ext\"/></comp:listOfSubmodels>",
                         external.replacingOccurrences(of: "library.xml", with: "/dev/zero"))
            .write(to: main, atomically: true, encoding: .utf8)
        #expect(importError(try String(contentsOf: main, encoding: .utf8))?.message.contains("not a regular file") == true)

        // Two files naming each other: a cycle.
        let loop = """
            <comp:listOfExternalModelDefinitions>
              <comp:externalModelDefinition comp:id="ext" comp:source="other.xml" comp:modelRef="ext"/>
            </comp:listOfExternalModelDefinitions>
            """
        try compDocument("", loop.replacingOccurrences(of: "other.xml", with: "main.xml")).write(to: folder.appendingPathComponent("other.xml"), atomically: true, encoding: .utf8)
        try compDocument("<comp:listOfSubmodels><comp:submodel comp:id=\"A\" comp:modelRef=\"ext\"/></comp:listOfSubmodels>", loop)
            .write(to: main, atomically: true, encoding: .utf8)
        do {
            _ = try SBMLImporter.importModel(path: main.path)
            Issue.record("a cycle of external model definitions was imported")
        } catch {
            #expect(error.kind == .invalid && error.message.contains("cycle"))
        }
    }

    @Test func aModelContainingItselfIsRefused() {
        let xml = compDocument("<comp:listOfSubmodels><comp:submodel comp:id=\"A\" comp:modelRef=\"m\"/></comp:listOfSubmodels>", """
            <comp:listOfModelDefinitions>
              <comp:modelDefinition id="m">
                <comp:listOfSubmodels><comp:submodel comp:id="B" comp:modelRef="m"/></comp:listOfSubmodels>
              </comp:modelDefinition>
            </comp:listOfModelDefinitions>
            """)
        let error = importError(xml)
        #expect(error?.kind == .invalid && error?.element == "submodel" && error?.id == "B" && error?.line == 9)
        #expect(error?.message.contains("cycle") == true)
    }

    @Test func brokenReferencesAreNamedWithTheirLine() {
        let unknown = compDocument("""
            <listOfParameters>
              <parameter id="x" value="1" constant="true">
                <comp:listOfReplacedElements><comp:replacedElement comp:idRef="nothing" comp:submodelRef="A"/></comp:listOfReplacedElements>
              </parameter>
            </listOfParameters>
            <comp:listOfSubmodels><comp:submodel comp:id="A" comp:modelRef="sub"/></comp:listOfSubmodels>
            """, growth)
        let e1 = importError(unknown)
        #expect(e1?.kind == .invalid && e1?.element == "replacedElement" && e1?.line == 7)
        #expect(e1?.message.contains("`nothing`") == true)

        let noSubmodel = unknown.replacingOccurrences(of: "comp:idRef=\"nothing\" comp:submodelRef=\"A\"", with: "comp:idRef=\"x\" comp:submodelRef=\"Z\"")
        #expect(importError(noSubmodel)?.message.contains("no submodel `Z`") == true)

        let noModel = compDocument("<comp:listOfSubmodels><comp:submodel comp:id=\"A\" comp:modelRef=\"nope\"/></comp:listOfSubmodels>")
        let e3 = importError(noModel)
        #expect(e3?.kind == .invalid && e3?.element == "submodel" && e3?.id == "A")
    }

    @Test func anExponentialNumberOfInstancesIsRefused() {
        // Each model holds 20 submodels of the next: 20^5 instances from a few lines.
        var definitions = "<comp:listOfModelDefinitions>"
        for level in 1...5 {
            let submodels = level < 5 ? (0..<20).map { "<comp:submodel comp:id=\"s\($0)\" comp:modelRef=\"m\(level + 1)\"/>" }.joined() : ""
            definitions += "<comp:modelDefinition id=\"m\(level)\"><listOfParameters><parameter id=\"p\" value=\"1\" constant=\"true\"/></listOfParameters>"
                + (submodels.isEmpty ? "" : "<comp:listOfSubmodels>\(submodels)</comp:listOfSubmodels>") + "</comp:modelDefinition>"
        }
        definitions += "</comp:listOfModelDefinitions>"
        let xml = compDocument("<comp:listOfSubmodels><comp:submodel comp:id=\"a\" comp:modelRef=\"m1\"/></comp:listOfSubmodels>", definitions)
        let error = importError(xml)
        #expect(error?.kind == .unsupported && error?.element == "submodel")
        #expect(error?.message.contains("more than") == true)
    }

    @Test func deepMathInASubmodelIsRefusedWithoutOverflowingTheStack() {
        let deep = String(repeating: "<apply><minus/>", count: 1_900) + "<ci> k </ci>" + String(repeating: "</apply>", count: 1_900)
        let xml = compDocument("<comp:listOfSubmodels><comp:submodel comp:id=\"A\" comp:modelRef=\"sub\"/></comp:listOfSubmodels>",
                               growth.replacingOccurrences(of: "<math \(math)><ci> k </ci></math>", with: "<math \(math)>\(deep)</math>"))
        let error = importError(xml)
        #expect(error?.kind == .unsupported && error?.element == "rateRule")
        #expect(error?.message.hasPrefix("the math nests deeper than 500 levels") == true)
    }

    @Test func aReplacementInsideAReplacedElementIsRefused() {
        // The top's reaction R is replaced by A's J, yet R's species reference r replaces A's sr:
        // r would vanish with R.
        let xml = compDocument("""
            <listOfCompartments><compartment id="c" size="1" constant="true"/></listOfCompartments>
            <listOfSpecies><species id="S" compartment="c" initialAmount="0" hasOnlySubstanceUnits="true" boundaryCondition="false" constant="false"/></listOfSpecies>
            <listOfReactions>
              <reaction id="R" reversible="false">
                <listOfProducts>
                  <speciesReference id="r" species="S" stoichiometry="1" constant="true">
                    <comp:listOfReplacedElements><comp:replacedElement comp:idRef="sr" comp:submodelRef="A"/></comp:listOfReplacedElements>
                  </speciesReference>
                </listOfProducts>
                <kineticLaw><math \(math)><cn> 1 </cn></math></kineticLaw>
                <comp:replacedBy comp:idRef="J" comp:submodelRef="A"/>
              </reaction>
            </listOfReactions>
            <comp:listOfSubmodels><comp:submodel comp:id="A" comp:modelRef="m"/></comp:listOfSubmodels>
            """, """
            <comp:listOfModelDefinitions>
              <comp:modelDefinition id="m">
                <listOfCompartments><compartment id="c" size="1" constant="true"/></listOfCompartments>
                <listOfSpecies><species id="S" compartment="c" initialAmount="0" hasOnlySubstanceUnits="true" boundaryCondition="false" constant="false"/></listOfSpecies>
                <listOfReactions>
                  <reaction id="J" reversible="false">
                    <listOfProducts><speciesReference id="sr" species="S" stoichiometry="2" constant="true"/></listOfProducts>
                    <kineticLaw><math \(math)><cn> 1 </cn></math></kineticLaw>
                  </reaction>
                </listOfReactions>
              </comp:modelDefinition>
            </comp:listOfModelDefinitions>
            """)
        let error = importError(xml)
        #expect(error?.kind == .unsupported && error?.element == "speciesReference" && error?.id == "r")
        #expect(error?.message.contains("<reaction> `R`") == true)
    }

    /// n submodels of `growth`, each with its x replaced by a top parameter.
    static func instances(_ n: Int) -> String {
        var parameters = "", submodels = ""
        for i in 0..<n {
            parameters += "<parameter id=\"x\(i)\" value=\"1\" constant=\"false\"><comp:listOfReplacedElements><comp:replacedElement comp:portRef=\"x_port\" comp:submodelRef=\"s\(i)\"/></comp:listOfReplacedElements></parameter>\n"
            submodels += "<comp:submodel comp:id=\"s\(i)\" comp:modelRef=\"sub\"/>\n"
        }
        return compDocument("<listOfParameters>\(parameters)</listOfParameters><comp:listOfSubmodels>\(submodels)</comp:listOfSubmodels>", growth)
    }

    /// Many instances of one definition flatten into one parameter set each. How the time grows with the
    /// count is measured by the benchmark "comp flattening and import, N submodels" (Benchmarks/), not here.
    @Test func fourThousandSubmodelsFlattenIntoTheirOwnParameters() throws {
        let n = 4_000
        let root = try XMLNode.parse(data: Data(Self.instances(n).utf8), file: "many.xml")
        let flat = try CompFlattening.flatten(root, file: "many.xml")
        #expect(flat.child("model")?.child("listOfParameters")?.children.count == 3 * n)
    }

    @Test func twoElementsOfOneModelMergedIntoOneAreRefused() {
        let xml = compDocument("""
            <listOfParameters>
              <parameter id="a" value="1" constant="false"><comp:replacedBy comp:idRef="x" comp:submodelRef="A"/></parameter>
              <parameter id="b" value="1" constant="false"><comp:replacedBy comp:idRef="x" comp:submodelRef="A"/></parameter>
            </listOfParameters>
            <comp:listOfSubmodels><comp:submodel comp:id="A" comp:modelRef="sub"/></comp:listOfSubmodels>
            """, growth)
        let error = importError(xml)
        #expect(error?.kind == .unsupported && error?.element == "replacedBy")
    }
}
