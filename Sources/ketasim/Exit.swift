import Experiments
import ArgumentParser
import Foundation
import Models
import SBML

/// sysexits.h codes, so scripts can tell a typo from a broken model from a failed integration.
enum Exit {
    static let usage = ExitCode(64)
    static let badModel = ExitCode(65)
    static let failedRun = ExitCode(70)
    static let cannotWrite = ExitCode(73)
}

func printError(_ message: String) {
    FileHandle.standardError.write(Data(("ketasim: " + message + "\n").utf8))
}

func printStandardError(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}

/// A model as the commands see it: a ketasim YAML file, or an imported SBML document (its events are
/// part of the definition and every command runs them).
struct LoadedModel {
    var path: String
    var definition: ModelDefinition
    var sbml: SBMLModel?
}

/// Loads a model file (`.xml` or `.sbml`: SBML; anything else: ketasim YAML), printing every problem and
/// exiting 65 when it is not valid.
func loadModel(_ path: String?) throws -> LoadedModel {
    guard let path = path ?? ModelLocator.defaultModelPath() else {
        printError("cannot find the default model \(ModelLocator.defaultModelFile); pass --model PATH or set KETASIM_MODEL")
        throw Exit.usage
    }
    let lower = path.lowercased()
    if lower.hasSuffix(".xml") || lower.hasSuffix(".sbml") {
        do {
            let sbml = try SBMLImporter.importModel(path: path)
            return LoadedModel(path: path, definition: sbml.definition, sbml: sbml)
        } catch {
            printStandardError(error.description)
            throw error.kind == .unreadable ? Exit.usage : Exit.badModel
        }
    }
    do {
        return LoadedModel(path: path, definition: try ModelLoader.load(path: path))
    } catch {
        if case .unreadable = error {
            printError(error.description)
            throw Exit.usage
        }
        printStandardError(error.description)
        throw Exit.badModel
    }
}

/// Standard output without stdio's buffer, so it interleaves in order with messages on standard error.
/// A closed pipe or a full disk is a one-line error and exit 73, not a trap in Foundation's `write(_:)`.
func printOut(_ text: String) throws {
    try writeStandardOutput(text + "\n")
}

func writeStandardOutput(_ text: String) throws {
    do {
        try FileHandle.standardOutput.write(contentsOf: Data(text.utf8))
    } catch {
        printError("cannot write to standard output: \(error.localizedDescription)")
        throw Exit.cannotWrite
    }
}
