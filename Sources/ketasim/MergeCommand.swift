import ArgumentParser
import Experiments
import Foundation

struct Merge: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Join sweep shards into one file, checking that they belong to the same sweep.",
        discussion: """
        The shards must have the same columns and, when their FILE.meta.json sidecars exist, the same \
        model (by hash), scenario, doses, parameters, run length, output grid, solver and sweep definition. Rows are sorted by run_id; a run found \
        twice, or missing from the sweep's total, is reported.
        """
    )

    @Argument(help: "Shard files written by `ketasim sweep --shard`.")
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
        var header: String?
        var rows: [Int: String] = [:]
        var signature: String?
        var total: Int?
        for file in files {
            guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { throw ValidationError("cannot read \(file)") }
            let lines = text.split(separator: "\n").map(String.init)
            guard let first = lines.first else { throw ValidationError("\(file) is empty") }
            if let h = header, h != first { throw ValidationError("\(file) has other columns than \(files[0]); it belongs to another sweep") }
            header = first
            if let data = FileManager.default.contents(atPath: file + ".meta.json"), let identity = RunMetadata.sweepIdentity(data) {
                if let s = signature, s != identity {
                    throw ValidationError("\(file) comes from a different sweep than \(files[0]) (model, scenario, doses, parameters, run length, output grid, solver or sweep definition differ)")
                }
                signature = identity
                let extra = (try? JSONSerialization.jsonObject(with: data) as? [String: Any])?["extra"] as? [String: String]
                total = extra?["runs_total"].flatMap(Int.init)
            }
            for line in lines.dropFirst() {
                guard let id = Int(line.prefix { $0 != "," }) else { throw ValidationError("\(file): a row without a run_id: \(line.prefix(40))") }
                if rows[id] != nil { throw ValidationError("run \(id) appears twice (again in \(file)); were shards overlapping?") }
                rows[id] = line
            }
        }
        if let total {
            let missing = (1...max(1, total)).filter { rows[$0] == nil }
            if !missing.isEmpty && !allowMissing {
                let list = missing.prefix(10).map(String.init).joined(separator: ", ")
                throw ValidationError("\(missing.count) of \(total) runs are missing (\(list)\(missing.count > 10 ? ", ..." : "")); pass --allow-missing to merge anyway")
            }
        }
        let body = rows.keys.sorted().compactMap { rows[$0] }.joined(separator: "\n")
        try write((header ?? "") + "\n" + body + (body.isEmpty ? "" : "\n"), to: output, force: force)
        // The first shard's sidecar describes the whole sweep once its shard is replaced by the list merged.
        if let first = files.first, let data = FileManager.default.contents(atPath: first + ".meta.json"),
           var json = try? JSONSerialization.jsonObject(with: data) as? [String: Any] {
            var extra = json["extra"] as? [String: String] ?? [:]
            extra.removeValue(forKey: "shard")
            extra["merged_from"] = files.joined(separator: " ")
            json["extra"] = extra
            if let merged = try? JSONSerialization.data(withJSONObject: json, options: [.prettyPrinted, .sortedKeys]) {
                try write(String(decoding: merged, as: UTF8.self) + "\n", to: output + ".meta.json", force: true)
            }
        }
        printStandardError("merged \(rows.count) runs from \(files.count) files into \(output)")
    }
}
