import Experiments
import ArgumentParser
import Foundation
import Models

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

/// Loads a model file, printing every problem and exiting 65 when it is not valid.
func loadModel(_ path: String?) throws -> (path: String, model: ModelDefinition) {
    guard let path = path ?? ModelLocator.defaultModelPath() else {
        printError("cannot find the default model \(ModelLocator.defaultModelFile); pass --model PATH or set KETASIM_MODEL")
        throw Exit.usage
    }
    do {
        return (path, try ModelLoader.load(path: path))
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
func printOut(_ text: String) {
    FileHandle.standardOutput.write(Data((text + "\n").utf8))
}
