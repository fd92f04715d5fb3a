import ArgumentParser
import Experiments
import Foundation

struct Merge: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Join shards into one file, checking that they belong to the same sweep, design or fit.",
        discussion: """
        The shards (a sweep's CSV files, the runs.csv of sensitivity shards or the starts.csv of fit \
        shards) must have the same columns and, when their FILE.meta.json sidecars exist, the same \
        model or problem (by hash), scenario, doses, parameters, run length, output grid, solver, seed \
        and settings. Rows are sorted by their first column (run, sample or start); one found twice, or \
        missing from the total, is reported. A merged runs.csv or starts.csv is finished by running \
        the sensitivity or fit command with --resume in its folder.
        """
    )

    @Argument(help: "Shard files written with --shard (sweep CSV, runs.csv, starts.csv).")
    var files: [String]

    @Option(name: .shortAndLong, help: "Merged CSV file.")
    var output: String

    @Flag(help: "Overwrite the output file.")
    var force = false

    @Flag(help: "Write the merge even when runs are missing.")
    var allowMissing = false

    func validate() throws {
        if files.isEmpty { throw ValidationError("give the shard files to merge") }
        if FileManager.default.fileExists(atPath: output) && !force { throw ValidationError("\(output) already exists; pass --force to overwrite it") }
    }

    func run() throws {
        let locks = try lockOutputs([output], inputs: files)
        defer { withExtendedLifetime(locks) {} }
        let merged: MergedSweep
        do { merged = try MergedSweep(files: files, allowMissing: allowMissing) } catch {
            if case .incomplete = error { throw ValidationError(error.description + "; pass --allow-missing to merge anyway") }
            throw fileError(error)
        }
        try write(merged.text, to: output, force: force)
        if let meta = merged.metadata { try write(meta.json(), to: output + ".meta.json", force: true) }
        printStandardError("merged \(merged.runs) runs from \(files.count) files into \(output)")
    }
}
