import ArgumentParser
import Foundation

@main
struct Ketasim: ParsableCommand {
    static let version = "0.1.0"

    static let configuration = CommandConfiguration(
        commandName: "ketasim",
        abstract: "Simulate how chronic stress wears down prefrontal synapses and how ketamine rebuilds them.",
        discussion: """
        ketasim integrates mechanistic ODE models (ketasim YAML files, the bundled default being \
        models/ketamine_stress.yaml, or SBML) with the GNU Scientific Library.

        Examples:
          ketasim run --scenario stress_ketamine -o ketamine.csv
          ketasim run --scenario chronic_stress --dose "ketamine 10 mg/kg ip at 21d" --outputs bdnf,synapse_density
          ketasim validate models/ketamine_stress.yaml
          ketasim inspect

        Exit codes: 0 success, 3 some sweep runs failed, 64 bad arguments, 65 bad model file, \
        70 a simulation failed, 73 an output cannot be written, 75 a Slurm job failed (see `ketasim jobs`), \
        130 interrupted (Ctrl-C).
        """,
        version: version,
        subcommands: [Run.self, Sweep.self, Sensitivity.self, Population.self, Compare.self, Inspect.self, Validate.self, Merge.self, Jobs.self, Export.self, Fit.self, Profile.self, Report.self]
    )

    /// Errors print as one line, `ketasim: <reason>`, with the exit codes of sysexits.h (64 for bad
    /// arguments), instead of argument-parser's usage dump after every mistake found while running.
    static func main() {
        var command: ParsableCommand
        do {
            command = try parseAsRoot()
        } catch {
            fail(error, hint: true)
        }
        do {
            try command.run()
        } catch {
            fail(error, hint: false)
        }
    }

    private static func fail(_ error: Error, hint: Bool) -> Never {
        if let code = error as? ExitCode { Foundation.exit(code.rawValue) }  // already reported
        let code = exitCode(for: error)
        if code == .success { exit(withError: error) }  // --help, --version
        var text = "ketasim: " + oneLine(message(for: error)) + "\n"
        if hint { text += "See 'ketasim --help' or 'ketasim help <command>'.\n" }
        FileHandle.standardError.write(Data(text.utf8))
        Foundation.exit(code == ExitCode.validationFailure ? Exit.usage.rawValue : code.rawValue)
    }

    /// argument-parser lists the values of an enumerated option one per line ("Please provide one of
    /// the following:\n  - rk2\n  - rk4..."); the reason stays one sentence.
    static func oneLine(_ message: String) -> String {
        let lines = message.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "\n", omittingEmptySubsequences: true)
        let items = lines.filter { $0.hasPrefix("  - ") }.map { $0.dropFirst(4) }
        let rest = lines.filter { !$0.hasPrefix("  - ") }.map { $0.trimmingCharacters(in: .whitespaces) }
        var text = rest.joined(separator: " ")
        if !items.isEmpty {
            if text.hasSuffix(":") { text.removeLast() }
            text = text.replacingOccurrences(of: "Please provide one of the following", with: "Expected one of") + ": " + items.joined(separator: ", ")
        }
        return text
    }
}
