import ArgumentParser
import Experiments
import Foundation
import Integrator
import Models
import SBML

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a model and one scenario as SBML Level 3 Version 2 core.",
        discussion: """
        Parameters carry their units; states become species or rate-rule parameters; assignments become \
        assignment rules; doses, infusions (a rate switched on and off by two events) and the stress \
        schedule become events; state identifiers (HGNC, Entrez, MeSH) become MIRIAM annotations.
        A scenario that starts from steady state is exported with that equilibrium as its initial \
        values (SBML has no such notion). Time is in the model's unit: hours for ketasim models; an imported SBML model keeps its own. Its events are exported too.

        Examples:
          ketasim export --sbml stress_ketamine.xml --scenario stress_ketamine
          ketasim export --sbml infusion.xml --scenario human_ketamine_infusion --stress 0.5
        """
    )

    @Option(help: "SBML file to write.")
    var sbml: String

    @OptionGroup var scenario: ScenarioOptions

    @Flag(help: "Overwrite the output file.")
    var force = false

    func validate() throws {
        try scenario.validateValues()
        if FileManager.default.fileExists(atPath: sbml) && !force { throw ValidationError("\(sbml) already exists; pass --force to overwrite it") }
    }

    func run() throws {
        let loaded = try loadModel(scenario.model)
        let definition = loaded.definition
        let locks = try lockOutputs([sbml], inputs: [loaded.path, scenario.changes.doseTable])
        defer { withExtendedLifetime(locks) {} }
        let plan = try scenario.plan(definition)
        let compiled = try compile(loaded)
        var initial: [Double]?
        if plan.start == .steadyState {
            do { initial = try Simulator(model: compiled).initialState(for: plan) } catch {
                printError("\(error)")
                throw Exit.failedRun
            }
        }
        let exported = definition.scenarios.isEmpty ? nil : Scenario(plan: plan, model: definition)
        let document: SBMLExport
        do {
            document = try SBMLExporter.exportDocument(definition, scenario: exported, parameters: plan.parameters, initialState: initial)
        } catch {
            printError(error.description)
            throw Exit.badModel
        }
        try write(document.xml, to: sbml, force: force)
        if !isSpecialFile(sbml) {
            let meta = RunMetadata(version: Ketasim.version, modelFile: loaded.path, plan: plan, model: definition, solver: SolverSettings())
            try write(meta.json(), to: sbml + ".meta.json", force: true)
        }
        for note in document.notes { printStandardError("note: \(note)") }
        printStandardError("wrote \(sbml) (\(definition.states.count) states, scenario \(plan.scenarioName))")
    }
}
