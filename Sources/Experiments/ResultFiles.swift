import Foundation
import Integrator
import Models

/// A CSV file written row by row, each row in one write, so the file is valid at any moment. On resume
/// the rows already in it are kept (a torn last row is dropped) and new rows are appended.
public final class ResumableCSV {
    private let handle: FileHandle
    public let path: String
    /// Run IDs (the first field) of the rows kept from an earlier run.
    public private(set) var finished: Set<Int> = []

    /// - Parameter keepRuns: on resume, keep only rows of these runs (a series file follows its summary).
    public init(path: String, header: [String], resume: Bool, force: Bool, keepRuns: Set<Int>? = nil) throws(OutputFileError) {
        self.path = path
        let headerLine = header.map(csvField).joined(separator: ",")
        if resume, FileManager.default.fileExists(atPath: path) {
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw .cannotWrite(path, "it cannot be read back to resume") }
            var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            guard lines.first == headerLine else { throw .mismatch(path, "its columns differ from this run's") }
            // The text after the last newline is either empty or a row torn by an interruption.
            lines.removeLast()
            var kept = [headerLine]
            for line in lines.dropFirst() {
                guard let id = Int(line.prefix { $0 != "," }) else { continue }
                if let keep = keepRuns, !keep.contains(id) { continue }
                kept.append(line)
                finished.insert(id)
            }
            try writeAtomically(kept.joined(separator: "\n") + "\n", to: path, force: true)
        } else {
            try writeAtomically(headerLine + "\n", to: path, force: force)
        }
        guard let h = FileHandle(forWritingAtPath: path) else { throw .cannotWrite(path, "it cannot be opened for writing") }
        h.seekToEndOfFile()
        handle = h
    }

    public func append(_ text: String) throws(OutputFileError) {
        do { try handle.write(contentsOf: Data(text.utf8)) } catch {
            throw .cannotWrite(path, (error as NSError).localizedDescription)
        }
    }

    deinit { try? handle.close() }
}

extension SimulationResult {
    /// Long-form rows: `label,time,output...` per output time, the label first (a run ID, a scenario).
    public func longRows(label: String) -> String {
        var lines = ""
        let m = outputNames.count
        let first = csvField(label) + ","
        for k in 0..<times.count {
            lines += first + csvNumber(times[k])
            for j in 0..<m { lines += "," + csvNumber(values[k * m + j]) }
            lines += "\n"
        }
        return lines
    }
}

extension RunMetadata {
    /// The sidecar of `path` (`path.meta.json`), or nil when there is none.
    public static func read(besides path: String) throws(OutputFileError) -> RunMetadata? {
        let file = path + ".meta.json"
        guard let data = FileManager.default.contents(atPath: file) else { return nil }
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        do { return try decoder.decode(RunMetadata.self, from: data) } catch {
            throw .mismatch(file, "it is not a ketasim sidecar (\(error))")
        }
    }

    /// What two sidecars must share for their files to hold runs of one design: model (by hash),
    /// scenario, organism, doses, parameters, inputs, run length, output grid, solver, sweep axes, seed,
    /// and every `extra` setting (design, run count, metric offsets, a sensitivity's factors, a fit's
    /// method and tolerances). Not the shard, the files merged, the command line or the time.
    public struct SweepIdentity: Equatable {
        var modelSHA256: String, scenario: String, organism: String?, doses: [String]
        var parametersChanged: [String: Double], inputs: [String: [InputPeriod]]
        var tEnd: Double?, outputEvery: Double?, solver: SolverSettings
        var sweep: [String: [Double]]?, seed: UInt64?, settings: [String: String]
    }

    /// `extra` keys that say which part of a design a file holds or how it was assembled, not what
    /// the design is.
    static let partKeys: Set<String> = ["shard", "merged_from"]

    public var sweepIdentity: SweepIdentity {
        SweepIdentity(modelSHA256: modelSHA256, scenario: scenario, organism: organism, doses: doses,
                      parametersChanged: parametersChanged, inputs: inputs, tEnd: tEnd, outputEvery: outputEvery,
                      solver: solver, sweep: sweep, seed: seed, settings: extra.filter { !RunMetadata.partKeys.contains($0.key) })
    }

    /// The parts of the identity in which `other` differs, named for a message.
    func identityDifferences(from other: RunMetadata) -> String {
        let a = sweepIdentity, b = other.sweepIdentity
        var names: [String] = []
        if a.modelSHA256 != b.modelSHA256 { names.append("model") }
        if a.scenario != b.scenario || a.organism != b.organism { names.append("scenario") }
        if a.doses != b.doses { names.append("doses") }
        if a.parametersChanged != b.parametersChanged || a.inputs != b.inputs { names.append("parameters") }
        if a.tEnd != b.tEnd || a.outputEvery != b.outputEvery { names.append("run length or output grid") }
        if a.solver != b.solver { names.append("solver") }
        if a.sweep != b.sweep { names.append("varied values") }
        if a.seed != b.seed { names.append("seed") }
        for key in Set(a.settings.keys).union(b.settings.keys).sorted() where a.settings[key] != b.settings[key] { names.append(key) }
        return names.isEmpty ? "settings" : names.joined(separator: ", ")
    }

    /// Refuses to resume `path` unless its sidecar shows the same sweep and the same shard: otherwise
    /// the file would mix runs of two designs under one set of run IDs.
    public func checkResumable(_ path: String) throws(OutputFileError) {
        guard let old = try RunMetadata.read(besides: path) else {
            throw .mismatch(path, "\(path).meta.json is missing, so nothing shows that it holds this sweep")
        }
        guard old.sweepIdentity == sweepIdentity else {
            throw .mismatch(path, "it holds another design (different \(old.identityDifferences(from: self)))")
        }
        guard old.extra["shard"] == extra["shard"] else {
            throw .mismatch(path, "it holds shard \(old.extra["shard"] ?? "none (the whole sweep)"), not \(extra["shard"] ?? "the whole sweep")")
        }
    }
}

/// Shards of one sweep joined into one file.
public struct MergedSweep {
    /// Header, then every row in run_id order.
    public var text: String
    public var runs: Int
    /// The first shard's sidecar, now describing the whole merge (no shard; the files merged).
    public var metadata: RunMetadata?

    /// Reads `files` (shards written by a sweep), checking that they share columns and sidecar identity,
    /// that no run appears twice, that every row has the header's field count and that no run of the
    /// sweep's total is missing (unless `allowMissing`).
    public init(files: [String], allowMissing: Bool) throws(OutputFileError) {
        var header: String?
        var fieldCount = 0
        var rows: [Int: String] = [:]
        var identity: RunMetadata.SweepIdentity?
        var total: Int?
        var first: RunMetadata?
        for file in files {
            guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { throw .mismatch(file, "it cannot be read") }
            var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            guard let top = lines.first, !top.isEmpty else { throw .mismatch(file, "it is empty") }
            if lines.last == "" { lines.removeLast() } else {
                throw .mismatch(file, "its last line (\(lines.count)) does not end with a newline: the shard was cut off; resume it to finish it")
            }
            if let h = header, h != top { throw .mismatch(file, "its columns differ from those of \(files[0]); it belongs to another sweep") }
            header = top
            fieldCount = csvFieldCount(top)
            if let meta = try RunMetadata.read(besides: file) {
                let id = meta.sweepIdentity
                if let known = identity, known != id, let firstMeta = first {
                    throw .mismatch(file, "it comes from a different design than \(files[0]) (different \(firstMeta.identityDifferences(from: meta)))")
                }
                identity = id
                total = meta.extra["runs_total"].flatMap(Int.init)
                if first == nil { first = meta }
            }
            for (k, line) in lines.enumerated().dropFirst() {
                guard let id = Int(line.prefix { $0 != "," }) else { throw .mismatch(file, "line \(k + 1) has no run_id: \(line.prefix(40))") }
                let n = csvFieldCount(line)
                if n != fieldCount { throw .mismatch(file, "line \(k + 1) has \(n) fields where the header has \(fieldCount)") }
                if rows[id] != nil { throw .mismatch(file, "run \(id) appears twice (again at line \(k + 1)); were shards overlapping?") }
                rows[id] = line
            }
        }
        if let total {
            let missing = (1...max(1, total)).filter { rows[$0] == nil }
            if !missing.isEmpty && !allowMissing {
                let list = missing.prefix(10).map(String.init).joined(separator: ", ")
                throw .incomplete("\(missing.count) of \(total) runs are missing (\(list)\(missing.count > 10 ? ", ..." : ""))")
            }
        }
        let body = rows.keys.sorted().compactMap { rows[$0] }.joined(separator: "\n")
        text = (header ?? "") + "\n" + body + (body.isEmpty ? "" : "\n")
        runs = rows.count
        if var meta = first {
            meta.extra.removeValue(forKey: "shard")
            meta.extra["merged_from"] = files.joined(separator: " ")
            metadata = meta
        }
    }
}

/// Fields of one CSV line (RFC 4180 quotes respected, `""` inside quotes read as one quote).
public func csvFields(_ line: some StringProtocol) -> [String] {
    var fields: [String] = []
    var field = ""
    var quoted = false
    var previous: Character?
    for c in line {
        if c == "\"" {
            // A quote right after a closing one is an escaped quote inside the field.
            if !quoted && previous == "\"" { field.append("\"") }
            quoted.toggle()
        } else if c == "," && !quoted {
            fields.append(field)
            field = ""
        } else {
            field.append(c)
        }
        previous = c
    }
    fields.append(field)
    return fields
}

func csvFieldCount(_ line: String) -> Int {
    var count = 1
    var quoted = false
    for c in line {
        if c == "\"" { quoted.toggle() } else if c == "," && !quoted { count += 1 }
    }
    return count
}

/// The whole rows of a file written row by row (`ResumableCSV`), read back to finish work that needs
/// every row: a sensitivity analysis, the best start of a fit. A torn last row is left out, as
/// `--resume` leaves it out.
public struct CSVRows: Sendable {
    public var header: [String]
    /// Fields of each row, in file order.
    public var rows: [[String]]

    public init(path: String) throws(OutputFileError) {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw .mismatch(path, "it cannot be read") }
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        lines.removeLast()
        guard let top = lines.first else { throw .mismatch(path, "it has no header line") }
        header = csvFields(top)
        rows = []
        for (k, line) in lines.enumerated().dropFirst() {
            let fields = csvFields(line)
            guard fields.count == header.count else { throw .mismatch(path, "line \(k + 1) has \(fields.count) fields where the header has \(header.count)") }
            rows.append(fields)
        }
    }
}
