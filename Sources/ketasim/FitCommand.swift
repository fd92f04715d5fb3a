import ArgumentParser
import Foundation
import PEtab

struct Fit: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Evaluate (and, later, fit) a PEtab v1 parameter estimation problem.",
        discussion: """
        With --evaluate, simulates every measurement at the parameter table's nominal values and prints \
        chi2, the log prior of the estimated parameters when the parameter table has objective priors, and \
        the negative log-likelihood (PEtab's, with every constant term, priors not included), the last line \
        being `nllh = <value>`. Optimisation is not implemented yet.

        Examples:
          ketasim fit problem.yaml --evaluate
          ketasim fit problem.yaml --evaluate --simulations simulations.tsv
        """
    )

    @Argument(help: "PEtab problem file (YAML, format_version: 1).")
    var problem: String

    @Flag(help: "Compute the objective at the nominal parameters instead of fitting.")
    var evaluate = false

    @Option(help: "Write the PEtab simulation table (the measurement table with `simulation` values) to this file.")
    var simulations: String?

    @Flag(help: "Overwrite the simulation table if it exists.")
    var force = false

    func validate() throws {
        guard evaluate else {
            throw ValidationError("fitting is not implemented yet; pass --evaluate to compute the objective at the nominal parameters")
        }
        if let simulations, FileManager.default.fileExists(atPath: simulations) && !force {
            throw ValidationError("\(simulations) already exists; pass --force to overwrite it")
        }
    }

    func run() throws {
        let loaded: PEtabProblem
        let evaluation: PEtabEvaluation
        do {
            loaded = try PEtabProblem.load(problem)
            evaluation = try loaded.evaluate()
        } catch {
            printError(error.description)
            switch error.kind {
            case .unreadable: throw Exit.usage
            case .invalid, .unsupported: throw Exit.badModel
            case .simulation: throw Exit.failedRun
            }
        }
        if let simulations { try write(loaded.simulationTable(evaluation), to: simulations, force: force) }
        try printOut("chi2 = \(evaluation.chi2)")
        // The priors are reported, not added: nllh is PEtab's likelihood alone, comparable with other tools.
        if loaded.parameters.contains(where: { $0.estimate && $0.prior != nil }) { try printOut("log prior = \(evaluation.logPrior)") }
        try printOut("nllh = \(evaluation.nllh)")
    }
}
