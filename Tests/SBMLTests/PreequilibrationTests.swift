import Experiments
import Integrator
import Models
import SBML
import Testing

/// A <=> B with A = a0 and B = b0 by initial assignments: a conserved total, so the equilibrium depends
/// on where the flow starts, and the initial values depend on parameters.
private let conversion = """
<?xml version="1.0" encoding="UTF-8"?>
<sbml xmlns="http://www.sbml.org/sbml/level2/version4" level="2" version="4"><model id="m">
<listOfCompartments><compartment id="c" size="1"/></listOfCompartments>
<listOfSpecies><species id="A" compartment="c" initialConcentration="2"/><species id="B" compartment="c" initialConcentration="2"/></listOfSpecies>
<listOfParameters><parameter id="a0" value="1"/><parameter id="b0" value="1"/><parameter id="k1" value="0.8"/><parameter id="k2" value="0.6"/></listOfParameters>
<listOfInitialAssignments>
<initialAssignment symbol="A"><math xmlns="http://www.w3.org/1998/Math/MathML"><ci>a0</ci></math></initialAssignment>
<initialAssignment symbol="B"><math xmlns="http://www.w3.org/1998/Math/MathML"><ci>b0</ci></math></initialAssignment>
</listOfInitialAssignments>
<listOfReactions>
<reaction id="fwd" reversible="false"><listOfReactants><speciesReference species="A"/></listOfReactants><listOfProducts><speciesReference species="B"/></listOfProducts>
<kineticLaw><math xmlns="http://www.w3.org/1998/Math/MathML"><apply><times/><ci>c</ci><ci>k1</ci><ci>A</ci></apply></math></kineticLaw></reaction>
<reaction id="rev" reversible="false"><listOfReactants><speciesReference species="B"/></listOfReactants><listOfProducts><speciesReference species="A"/></listOfProducts>
<kineticLaw><math xmlns="http://www.w3.org/1998/Math/MathML"><apply><times/><ci>c</ci><ci>k2</ci><ci>B</ci></apply></math></kineticLaw></reaction>
</listOfReactions></model></sbml>
"""

@Test func initialValuesFollowTheParametersTheirInitialAssignmentsRead() throws {
    let model = try SBMLImporter.importModel(xml: conversion)
    let initial = model.initialStates(parameters: ["b0": 0.25])
    #expect(initial["A"] == 1)
    #expect(initial["B"] == 0.25)
}

@Test func equilibriumUnderOtherParametersKeepsTheConservedTotalWhenFoundBySimulation() throws {
    let model = try SBMLImporter.importModel(xml: conversion)
    let simulator = try Simulator(model: CompiledModel(model.definition), settings: SBMLTestSuite.solverSettings)
    var plan = SimulationPlan(model: model.definition, tEnd: 1)
    plan.outputTimes = [0]
    plan.start = .steadyState
    plan.equilibriumMethod = .simulation
    plan.equilibriumParameters = ["k1": 0.3]
    plan.equilibriumStates = ["A": 1, "B": 0]
    plan.initialStates = ["B": 1]
    let result = try simulator.run(plan, columns: model.columns(ids: ["A", "B"]))
    // Total 1 at k1/k2 = 0.3/0.6: A = 1 * 0.6 / 0.9 at equilibrium; then B is set to 1.
    #expect(abs((result.value("A", at: 0) ?? .nan) - 0.6 / 0.9) < 1e-8)
    #expect(result.value("B", at: 0) == 1)
}
