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

/// Loads a model file through the library, printing every problem: exit 64 when it cannot be read,
/// 65 when it is not a valid model.
/// Warnings (an unknown unit, a parameter without a source) are printed too, so a run never hides them.
func loadModel(_ path: String?) throws -> ModelFile {
    do {
        let label = "reading " + (path ?? "the default model")
        let model = try reportingIfSlow(label) { () throws(ModelFile.LoadError) in try ModelFile.load(path) }
        for warning in model.definition.warnings { printStandardError(warning.description) }
        return model
    } catch {
        switch error {
        case .noDefaultModel: printError(error.description + " (or pass --model PATH)"); throw Exit.usage
        case .unreadable: printError(error.description); throw Exit.usage
        case .invalid: printStandardError(error.description); throw Exit.badModel
        }
    }
}

func compile(_ model: ModelFile) throws -> CompiledModel {
    do {
        return try reportingIfSlow("compiling \(model.definition.name)") { () throws(ModelFile.LoadError) in try model.compiled() }
    } catch {
        printStandardError(error.description)
        throw Exit.badModel
    }
}

/// Writes a whole file through the library; an existing file without --force is a usage error.
func write(_ text: String, to path: String, force: Bool) throws {
    do { try writeAtomically(text, to: path, force: force) } catch { throw fileError(error) }
}

/// A file error as the command line reports it: exists and mismatch are usage errors (exit 64), the rest exit 73.
func fileError(_ error: OutputFileError) -> Error {
    switch error {
    case .exists: return ValidationError(error.description + "; pass --force to overwrite it")
    case .mismatch, .incomplete, .isInput: return ValidationError(error.description)
    case .cannotWrite, .busy:
        printError(error.description)
        return Exit.cannotWrite
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

/// Holds a lock on every output path for the life of the returned value; refuses an output that is
/// also an input (the model, a dose table, a shard).
func lockOutputs(_ paths: [String?], inputs: [String?]) throws -> [OutputLock] {
    do { return try OutputLock.outputs(paths.compactMap { $0 }, inputs: inputs.compactMap { $0 }) } catch { throw fileError(error) }
}
