import Foundation

// A command that runs many independent simulations or fits (sweeps, sensitivity designs, multistart
// fits) becomes a Slurm job array of deterministic shards plus one merge job. This file
// knows the job directory, the batch scripts and the scheduler's words; it knows nothing about which
// ketasim command it runs beyond its argument list, so every such command can reuse it.

/// What each array task asks the scheduler for; passed to sbatch as given.
public struct SlurmResources: Codable, Sendable, Equatable {
    public var partition: String?
    public var time: String?
    /// Also the shard's `--jobs`: a shard uses exactly the cores it was given.
    public var cpusPerTask: Int
    public var mem: String?
    public var account: String?
    /// Further sbatch options (`--qos=high`, `--constraint=avx2`), one token each.
    public var extraArguments: [String]

    public init(partition: String? = nil, time: String? = nil, cpusPerTask: Int = 1, mem: String? = nil, account: String? = nil, extraArguments: [String] = []) {
        self.partition = partition
        self.time = time
        self.cpusPerTask = cpusPerTask
        self.mem = mem
        self.account = account
        self.extraArguments = extraArguments
    }
}

/// One `sbatch` of the array (or of the merge alone) and its merge job.
public struct SlurmSubmission: Codable, Sendable, Equatable {
    /// Nil when only the merge was submitted again (every shard was already done).
    public var arrayJobID: String?
    /// Shards (1-based) in this array.
    public var shards: [Int]
    public var mergeJobID: String
    public var submittedAt: String

    public init(arrayJobID: String?, shards: [Int], mergeJobID: String, submittedAt: String = ISO8601DateFormatter().string(from: Date())) {
        self.arrayJobID = arrayJobID
        self.shards = shards
        self.mergeJobID = mergeJobID
        self.submittedAt = submittedAt
    }
}

/// Why a job directory cannot be written, submitted or read. Each description is one sentence that
/// states the fact; the command line adds which of its options would change it.
public enum SlurmError: Error, Sendable, Equatable, CustomStringConvertible {
    case exists(String)
    case cannotWrite(String, String)
    case notAJobDirectory(String, String)
    case toolMissing(String)
    case submitFailed(String, String)
    case unparsableJobID(String, String)
    case stillRunning(Int)
    case nothingToResubmit(String)

    public var description: String {
        switch self {
        case .exists(let dir): return "\(dir) already exists; watch it with `ketasim jobs \(dir)`"
        case let .cannotWrite(path, why): return "cannot write \(path): \(why)"
        case let .notAJobDirectory(dir, why): return "\(dir) is not a ketasim job directory: \(why)"
        case .toolMissing(let tool): return "`\(tool)` is not on the PATH; run this on a Slurm login node"
        case let .submitFailed(script, why): return "sbatch refused \(script): \(why)"
        case let .unparsableJobID(script, text): return "sbatch accepted \(script) but printed `\(text)` instead of a job ID"
        case .stillRunning(let n): return "\(n) shard\(n == 1 ? " is" : "s are") still pending or running; wait for them to end before resubmitting"
        case .nothingToResubmit(let dir): return "every shard of \(dir) is done and its merge succeeded; there is nothing to resubmit"
        }
    }
}

/// A ketasim command split into shards for a Slurm job array, and the directory `<output>.slurm/` that
/// holds its manifest (`job.json`), its batch scripts, the shard files and the logs.
public struct SlurmJob: Codable, Sendable, Equatable {
    /// The subcommand (`sweep`), for messages and job names.
    public var command: String
    /// Absolute path of the ketasim executable the nodes run.
    public var binary: String
    /// Arguments after the executable, starting with the subcommand, without the output, shard,
    /// resume, force, jobs and Slurm options (the scripts add their own).
    public var arguments: [String]
    /// Files the command reads (the model); each task checks it can see them before it starts.
    public var inputFiles: [String]
    /// The folder relative paths of `arguments` are relative to.
    public var workingDirectory: String
    /// Absolute path of the final merged file, where a local run writes it.
    public var output: String
    public var runsTotal: Int
    public var shards: Int
    /// At most this many shards run at once (`%M` of `--array`); nil for the cluster's own limit.
    public var maxParallel: Int?
    public var resources: SlurmResources
    /// Every submission so far, the latest last.
    public var submissions: [SlurmSubmission] = []
    /// Nil for a command that writes one file (sweep): shard I writes `shard-I.csv` and the merge joins
    /// them into `output`. Otherwise the command writes a folder (sensitivity, fit): shard I writes the
    /// folder `shard-I/`, this file of each is joined into `output/<resultFile>`, and the command then
    /// runs once more in `output` with `--resume`, finding every row done and finishing the work that
    /// needs all of them (indices, the best start). Absent in manifests written before it existed.
    public var resultFile: String?
    /// Other files of each shard folder joined the same way, beside `resultFile` (a population's
    /// `traces.csv`, which its bands are computed from). Nil for commands without them.
    public var companionFiles: [String]?

    public init(command: String, binary: String, arguments: [String], inputFiles: [String], workingDirectory: String, output: String,
                runsTotal: Int, shards: Int, maxParallel: Int?, resources: SlurmResources, resultFile: String? = nil) {
        self.command = command
        self.binary = binary
        self.arguments = arguments
        self.inputFiles = inputFiles
        self.workingDirectory = workingDirectory
        self.output = output
        self.runsTotal = runsTotal
        self.shards = shards
        self.maxParallel = maxParallel
        self.resources = resources
        self.resultFile = resultFile
    }

    /// The default shard count: about 250 runs per shard, so a shard takes minutes rather than seconds
    /// (scheduling overhead) or days (lost work on failure), at most 1000 shards (a common MaxArraySize
    /// is 1001) and never more shards than runs.
    public static func defaultShards(runs: Int) -> Int {
        max(1, min(1000, (runs + 249) / 250, runs))
    }

    /// Rows shard `shard` (1-based) writes when complete: the run IDs shard, shard + N, ... up to the total.
    public static func expectedRows(shard: Int, of count: Int, total: Int) -> Int {
        RunSet.shard(shard - 1, of: count, total: total).count
    }

    public var directory: String { output + ".slurm" }
    public var manifestPath: String { directory + "/job.json" }
    public var arrayScriptPath: String { directory + "/array.sbatch" }
    public var mergeScriptPath: String { directory + "/merge.sbatch" }
    /// The rows of shard `shard` (1-based): what its state is counted from and what the merge joins.
    public func shardFile(_ shard: Int) -> String {
        resultFile.map { directory + "/shard-\(shard)/" + $0 } ?? directory + "/shard-\(shard).csv"
    }
    /// The file the merge writes the joined rows to.
    public var mergedFile: String { resultFile.map { output + "/" + $0 } ?? output }
    public var jobName: String { "ketasim-\(command)-" + URL(fileURLWithPath: output).deletingPathExtension().lastPathComponent }

    /// The command one shard runs, as a shell line with `$I` for the 1-based shard number.
    var shardCommandLine: String {
        ([binary] + arguments).map(shellQuoted).joined(separator: " ")
            + " --jobs \(resources.cpusPerTask) --shard \"$I/\(shards)\" -o " + shellQuoted(directory) + "/shard-\"$I\"" + (resultFile == nil ? ".csv" : "")
            + " --resume"
    }

    var mergeCommandLine: String {
        let merge = ([binary, "merge"] + (1...shards).map(shardFile) + ["-o", mergedFile, "--force"]).map(shellQuoted).joined(separator: " ")
        guard let result = resultFile else { return merge }
        var joins = [merge]
        for companion in companionFiles ?? [] {
            let files = (1...shards).map { shardFile($0).dropLast(result.count) + companion }.map(String.init)
            joins.append(([binary, "merge"] + files + ["-o", output + "/" + companion, "--force"]).map(shellQuoted).joined(separator: " "))
        }
        // The finishing run reads every row from the merged file and simulates nothing, so one core.
        let finish = ([binary] + arguments + ["--jobs", "1", "-o", output, "--resume"]).map(shellQuoted).joined(separator: " ")
        return "mkdir -p \(shellQuoted(output)) && " + joins.joined(separator: " && ") + " && \(finish)"
    }

    /// `#SBATCH` lines both scripts share.
    private var commonDirectives: [String] {
        var lines = ["--chdir=\(workingDirectory)"]
        if let p = resources.partition { lines.append("--partition=\(p)") }
        if let t = resources.time { lines.append("--time=\(t)") }
        if let m = resources.mem { lines.append("--mem=\(m)") }
        if let a = resources.account { lines.append("--account=\(a)") }
        lines += resources.extraArguments
        return lines
    }

    /// Shell lines that stop a task with one clear line when the node cannot see the binary or an input.
    private var visibilityChecks: String {
        var text = """
        if [ ! -x \(shellQuoted(binary)) ]; then
          echo "ketasim: \(binary) is not an executable file on $(hostname); install ketasim where every node sees it (a shared file system) and submit again" >&2
          exit 66
        fi

        """
        for file in inputFiles {
            text += """
            if [ ! -r \(shellQuoted(file)) ]; then
              echo "ketasim: the input file \(file) cannot be read on $(hostname); put it on a file system every node shares and submit again" >&2
              exit 66
            fi

            """
        }
        return text
    }

    /// `--array` value for `shards` (1-based): 0-based task IDs, consecutive ones as ranges, `%M` appended.
    public func arraySpec(_ shards: [Int]) -> String {
        var parts: [String] = []
        var start: Int?, previous = -2
        for task in shards.map({ $0 - 1 }).sorted() {
            if task == previous + 1 { previous = task; continue }
            if let s = start { parts.append(s == previous ? "\(s)" : "\(s)-\(previous)") }
            start = task
            previous = task
        }
        if let s = start { parts.append(s == previous ? "\(s)" : "\(s)-\(previous)") }
        return parts.joined(separator: ",") + (maxParallel.map { "%\($0)" } ?? "")
    }

    /// The array script. Each task runs its shard with `--resume`, so a task that is requeued or
    /// resubmitted after dying keeps the whole rows already written. Exit 3 (some runs failed) is a
    /// success for the scheduler: failed runs are rows of the file, as in a local run, and the merge
    /// must still happen.
    public var arrayScript: String {
        var text = "#!/bin/bash\n"
        text += "#SBATCH --job-name=\(jobName)\n"
        text += "#SBATCH --array=\(arraySpec(Array(1...shards)))\n"
        text += "#SBATCH --cpus-per-task=\(resources.cpusPerTask)\n"
        text += "#SBATCH --output=\(directory)/logs/task-%a.log\n"
        for line in commonDirectives { text += "#SBATCH \(line)\n" }
        text += """
        # Written by ketasim for \(runsTotal) runs in \(shards) shards. The state: ketasim jobs \(shellQuoted(directory))
        # Failed or missing shards again: ketasim jobs \(shellQuoted(directory)) --resubmit
        set -u
        \(visibilityChecks)I=$((SLURM_ARRAY_TASK_ID + 1))
        \(shardCommandLine)
        status=$?
        if [ "$status" -eq 3 ]; then status=0; fi
        echo "$status" > \(shellQuoted(directory))/shard-"$I".exit
        exit "$status"

        """
        return text
    }

    /// The merge script; `dependency` (the array's job ID) is written into it once known. A finishing
    /// run's exit 3 (some runs failed) counts as success, as for the shards: the failures are rows.
    public func mergeScript(afterArray dependency: String?) -> String {
        var text = "#!/bin/bash\n"
        text += "#SBATCH --job-name=\(jobName)-merge\n"
        text += "#SBATCH --cpus-per-task=1\n"
        text += "#SBATCH --output=\(directory)/logs/merge-%j.log\n"
        if let d = dependency { text += "#SBATCH --dependency=afterok:\(d)\n" }
        // Without this a failed shard leaves the merge pending for ever (DependencyNeverSatisfied).
        text += "#SBATCH --kill-on-invalid-dep=yes\n"
        for line in commonDirectives { text += "#SBATCH \(line)\n" }
        text += """
        # Joins the \(shards) shard files into \(mergedFile) and its .meta.json, where a local run writes them.
        set -u
        \(visibilityChecks)\(mergeCommandLine)
        status=$?
        if [ "$status" -eq 3 ]; then status=0; fi
        echo "$status" > \(shellQuoted(directory))/merge.exit
        exit "$status"

        """
        return text
    }

    /// Writes the job directory: manifest, both scripts, an empty `logs/`. An existing directory is
    /// replaced (shard files included) only with `force`.
    public func write(force: Bool) throws(SlurmError) {
        let fm = FileManager.default
        if fm.fileExists(atPath: directory) {
            guard force else { throw .exists(directory) }
            do { try fm.removeItem(atPath: directory) } catch { throw .cannotWrite(directory, (error as NSError).localizedDescription) }
        }
        do { try fm.createDirectory(atPath: directory + "/logs", withIntermediateDirectories: true) } catch {
            throw .cannotWrite(directory, (error as NSError).localizedDescription)
        }
        try save(arrayScript, to: arrayScriptPath)
        try save(mergeScript(afterArray: nil), to: mergeScriptPath)
        try saveManifest()
    }

    public func saveManifest() throws(SlurmError) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(self) else { throw .cannotWrite(manifestPath, "the manifest cannot be encoded") }
        try save(String(decoding: data, as: UTF8.self) + "\n", to: manifestPath)
    }

    private func save(_ text: String, to path: String) throws(SlurmError) {
        do { try writeAtomically(text, to: path, force: true) } catch {
            if case let .cannotWrite(p, why) = error { throw .cannotWrite(p, why) }
            throw .cannotWrite(path, error.description)
        }
    }

    /// Reads `directory/job.json`.
    public static func load(directory: String) throws(SlurmError) -> SlurmJob {
        let path = directory + "/job.json"
        guard let data = FileManager.default.contents(atPath: path) else { throw .notAJobDirectory(directory, "it has no readable job.json") }
        do { return try JSONDecoder().decode(SlurmJob.self, from: data) } catch {
            throw .notAJobDirectory(directory, "job.json cannot be read (\(error))")
        }
    }

    /// Submits the array, then the merge depending on it, and records both in the manifest.
    public mutating func submit(with scheduler: some SlurmScheduler) throws(SlurmError) {
        try submit(shards: Array(1...shards), with: scheduler)
    }

    private mutating func submit(shards selected: [Int], with scheduler: some SlurmScheduler) throws(SlurmError) {
        let fm = FileManager.default
        for shard in selected { try? fm.removeItem(atPath: directory + "/shard-\(shard).exit") }
        try? fm.removeItem(atPath: directory + "/merge.exit")
        var arrayID: String?
        if !selected.isEmpty {
            arrayID = try sbatch(["--array=\(arraySpec(selected))", arrayScriptPath], scheduler)
        }
        try save(mergeScript(afterArray: arrayID), to: mergeScriptPath)
        let mergeID = try sbatch((arrayID.map { ["--dependency=afterok:\($0)"] } ?? []) + [mergeScriptPath], scheduler)
        submissions.append(SlurmSubmission(arrayJobID: arrayID, shards: selected, mergeJobID: mergeID))
        try saveManifest()
    }

    private func sbatch(_ arguments: [String], _ scheduler: some SlurmScheduler) throws(SlurmError) -> String {
        let script = arguments.last ?? ""
        let r = scheduler.run("sbatch", ["--parsable"] + arguments)
        if r.status == 127 { throw .toolMissing("sbatch") }
        guard r.status == 0 else { throw .submitFailed(script, firstLine(r.stderr) ?? "exit status \(r.status)") }
        // --parsable prints `jobid` or `jobid;cluster`.
        guard let line = firstLine(r.stdout), let id = line.split(separator: ";").first, id.allSatisfy(\.isNumber), !id.isEmpty else {
            throw .unparsableJobID(script, r.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        return String(id)
    }

    /// Shards to submit again: the failed and the missing ones. Refuses while shards are still queued
    /// or running (the new merge could not depend on an array that already failed); with every shard
    /// done and the merge not completed, resubmits the merge alone.
    public static func resubmission(_ status: SlurmJobStatus, directory: String) throws(SlurmError) -> [Int] {
        let active = status.shards.filter { $0 == .running || $0 == .pending }.count
        if active > 0 { throw .stillRunning(active) }
        let again = status.shards.indices.filter { status.shards[$0] == .failed || status.shards[$0] == .missing }.map { $0 + 1 }
        if again.isEmpty, status.merge == .completed { throw .nothingToResubmit(directory) }
        return again
    }

    /// Resubmits the failed and missing shards and a new merge job (cancelling the old one if it is
    /// still queued). Returns the shards submitted.
    @discardableResult
    public mutating func resubmit(with scheduler: some SlurmScheduler) throws(SlurmError) -> [Int] {
        let current = status(with: scheduler)
        let again = try SlurmJob.resubmission(current, directory: directory)
        if let old = submissions.last?.mergeJobID, current.merge == .pending {
            _ = scheduler.run("scancel", [old])
        }
        try submit(shards: again, with: scheduler)
        return again
    }

    /// Polls until the merge job has ended (completed or failed) or was never submitted, calling `progress` after each look,
    /// the pause growing from the lower to the upper bound of `interval` so a long array costs the
    /// scheduler little. A merge that neither the scheduler nor an exit file knows of for three looks
    /// in a row counts as ended (it was lost); the caller sees `.unknown`.
    public func wait(with scheduler: some SlurmScheduler, interval: ClosedRange<Double> = 2...30, progress: (SlurmJobStatus) -> Void) -> SlurmJobStatus {
        var pause = interval.lowerBound
        var unknown = 0
        while true {
            let current = status(with: scheduler)
            progress(current)
            if current.finished { return current }
            if current.merge == .notSubmitted { return current }
            unknown = current.merge == .unknown ? unknown + 1 : 0
            if unknown >= 3 { return current }
            Thread.sleep(forTimeInterval: pause)
            pause = min(pause * 1.5, interval.upperBound)
        }
    }

    /// Complete rows in a shard file: lines after the header that end with a newline (a torn last row
    /// does not count; `--resume` drops it).
    public static func completeRows(in path: String) -> Int? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        let newlines = data.reduce(0) { $0 + ($1 == 0x0A ? 1 : 0) }
        return max(0, newlines - 1)
    }

    /// The state of every shard and of the merge, from the shard files, the exit files the scripts
    /// leave, and what the scheduler says (sacct when there is accounting, squeue for recent jobs).
    public func status(with scheduler: some SlurmScheduler) -> SlurmJobStatus {
        var ids = submissions.compactMap(\.arrayJobID) + submissions.map(\.mergeJobID)
        ids = Array(Set(ids)).sorted()
        var records: [SchedulerRecord] = []
        if !ids.isEmpty {
            let acct = scheduler.run("sacct", ["--noheader", "--parsable2", "--format=JobID,State,ExitCode", "-j", ids.joined(separator: ",")])
            if acct.status == 0 { records += SlurmParsing.sacct(acct.stdout) }
            // One query per job: squeue fails as a whole when one ID has left its memory.
            for id in ids {
                let queue = scheduler.run("squeue", ["--noheader", "--array", "--states=all", "--jobs=\(id)", "--format=%i|%T|%r"])
                if queue.status == 0 { records += SlurmParsing.squeue(queue.stdout) }
            }
        }
        return status(records: records)
    }

    /// The state from scheduler records already read (squeue's records come after sacct's and win).
    public func status(records: [SchedulerRecord]) -> SlurmJobStatus {
        var byKey: [String: SchedulerRecord] = [:]
        for r in records { byKey[r.key] = r }
        let arraysSeen = Set(records.filter { $0.task != nil }.map(\.jobID))
        var shardStates: [ShardState] = []
        var rows: [Int] = []
        var reasons: [String?] = []
        for shard in 1...shards {
            let expected = SlurmJob.expectedRows(shard: shard, of: shards, total: runsTotal)
            let written = SlurmJob.completeRows(in: shardFile(shard))
            rows.append(min(written ?? 0, expected))
            let latest = submissions.last { $0.shards.contains(shard) }
            let record = latest.flatMap { s in s.arrayJobID.flatMap { byKey["\($0)_\(shard - 1)"] } }
            let exit = (try? String(contentsOfFile: directory + "/shard-\(shard).exit", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
            var reason: String?
            let state: ShardState
            if let written, written >= expected, exit == nil || exit == "0" {
                state = .done
            } else if let r = record, r.category == .pending || r.category == .running {
                state = r.category == .pending ? .pending : .running
            } else if let r = record, r.category == .failed || r.category == .completed {
                state = .failed
                reason = r.state + (exit.map { ", exit \($0)" } ?? "")
            } else if let exit {
                state = .failed
                reason = "exit \(exit)"
            } else if let array = latest?.arrayJobID, arraysSeen.contains(array) {
                // squeue lists the other tasks of its array but not this one: a pending task that was
                // cancelled leaves no record at all there.
                state = .failed
                reason = "left the queue unfinished, cancelled before it started?"
            } else if latest != nil, written != nil {
                state = .failed
                reason = "stopped with \(written ?? 0) of \(expected) rows"
            } else {
                state = .missing
            }
            shardStates.append(state)
            reasons.append(reason)
        }
        var merge = MergeState.notSubmitted
        var mergeReason: String?
        let mergeID = submissions.last?.mergeJobID
        // The merge script's exit file is the surest word (and the only one for scripts run by hand).
        if let exit = (try? String(contentsOfFile: directory + "/merge.exit", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) {
            merge = exit == "0" ? .completed : .failed
            if exit != "0" { mergeReason = "exit \(exit); see \(directory)/logs/merge-\(mergeID ?? "JOBID").log" }
        } else if let id = mergeID {
            if let r = byKey[id] {
                switch r.category {
                case .pending:
                    // A dependency that can no longer be met leaves the job pending on clusters that do
                    // not kill it; it will never run.
                    if r.reason == "DependencyNeverSatisfied" { merge = .failed; mergeReason = "a shard failed (DependencyNeverSatisfied)" } else { merge = .pending }
                case .running: merge = .running
                case .completed: merge = .completed
                case .failed: merge = .failed; mergeReason = r.state + (r.reason.map { " (\($0))" } ?? "")
                }
            } else {
                merge = .unknown
            }
        }
        return SlurmJobStatus(shards: shardStates, rows: rows, reasons: reasons, rowsTotal: runsTotal, merge: merge, mergeReason: mergeReason)
    }
}

public enum ShardState: String, Sendable, Equatable {
    case done, running, pending, failed, missing
}

public enum MergeState: String, Sendable, Equatable {
    /// `unknown`: submitted, but neither the scheduler nor an exit file knows of it any more.
    case notSubmitted = "not submitted", pending, running, completed, failed, unknown
}

public struct SlurmJobStatus: Sendable, Equatable {
    /// Index k is shard k + 1.
    public var shards: [ShardState]
    public var rows: [Int]
    /// Why a failed shard failed, when known.
    public var reasons: [String?]
    public var rowsTotal: Int
    public var merge: MergeState
    public var mergeReason: String?

    public var rowsWritten: Int { rows.reduce(0, +) }
    public func count(_ state: ShardState) -> Int { shards.filter { $0 == state }.count }
    /// 1-based shard numbers in `state`.
    public func shards(_ state: ShardState) -> [Int] { shards.indices.filter { shards[$0] == state }.map { $0 + 1 } }
    /// The merge has ended, one way or the other.
    public var finished: Bool { merge == .completed || merge == .failed }
}

/// One line of sacct or squeue about a job or an array task.
public struct SchedulerRecord: Sendable, Equatable {
    public var jobID: String
    /// The array task ID, nil for a job that is not an array task.
    public var task: Int?
    /// Slurm's state word (COMPLETED, CANCELLED, ...), without `by <uid>`.
    public var state: String
    public var reason: String?

    public init(jobID: String, task: Int?, state: String, reason: String? = nil) {
        self.jobID = jobID
        self.task = task
        self.state = state
        self.reason = reason
    }

    var key: String { task.map { "\(jobID)_\($0)" } ?? jobID }

    public enum Category: Sendable { case pending, running, completed, failed }

    public var category: Category {
        switch state {
        case "PENDING", "CONFIGURING", "REQUEUED", "REQUEUE_FED", "REQUEUE_HOLD", "RESV_DEL_HOLD", "SPECIAL_EXIT": return .pending
        case "RUNNING", "COMPLETING", "SUSPENDED", "STAGE_OUT", "SIGNALING", "RESIZING", "STOPPED": return .running
        case "COMPLETED": return .completed
        default: return .failed  // FAILED, CANCELLED, TIMEOUT, OUT_OF_MEMORY, NODE_FAIL, PREEMPTED, BOOT_FAIL, DEADLINE, ...
        }
    }
}

/// Reading the scheduler's output without trusting its shape: unknown lines are skipped, not fatal.
public enum SlurmParsing {
    /// `sacct --noheader --parsable2 --format=JobID,State,ExitCode`: one line per job, array task or
    /// step (`123_4.batch`, skipped); pending tasks may be folded as `123_[5-7%2]`.
    public static func sacct(_ text: String) -> [SchedulerRecord] {
        records(text) { fields in
            guard fields.count >= 2 else { return nil }
            return (fields[0], fields[1], nil)
        }
    }

    /// `squeue --noheader --array --states=all --format=%i|%T|%r`.
    public static func squeue(_ text: String) -> [SchedulerRecord] {
        records(text) { fields in
            guard fields.count >= 2 else { return nil }
            let reason = fields.count > 2 && fields[2] != "None" && !fields[2].isEmpty ? fields[2] : nil
            return (fields[0], fields[1], reason)
        }
    }

    private static func records(_ text: String, fields pick: ([String]) -> (String, String, String?)?) -> [SchedulerRecord] {
        var out: [SchedulerRecord] = []
        for line in text.split(whereSeparator: \.isNewline) {
            let fields = line.split(separator: "|", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard let (id, stateText, reason) = pick(fields), !id.contains(".") else { continue }
            // `CANCELLED by 1000` -> CANCELLED; `CANCELLED+` (sacct's truncation) -> CANCELLED.
            let state = String(stateText.split(separator: " ").first ?? "").trimmingCharacters(in: CharacterSet(charactersIn: "+"))
            guard !state.isEmpty, state.allSatisfy({ $0.isLetter || $0 == "_" }) else { continue }
            guard let (job, tasks) = expand(id) else { continue }
            if tasks.isEmpty {
                out.append(SchedulerRecord(jobID: job, task: nil, state: state, reason: reason))
            } else {
                out += tasks.map { SchedulerRecord(jobID: job, task: $0, state: state, reason: reason) }
            }
        }
        return out
    }

    /// `123` -> (123, []); `123_4` -> (123, [4]); `123_[0-2,5%2]` -> (123, [0, 1, 2, 5]). Nil when malformed.
    public static func expand(_ id: String) -> (String, [Int])? {
        let parts = id.split(separator: "_", maxSplits: 1).map(String.init)
        guard let job = parts.first, !job.isEmpty, job.allSatisfy(\.isNumber) else { return nil }
        guard parts.count == 2 else { return (job, []) }
        var spec = parts[1]
        if let single = Int(spec) { return (job, [single]) }
        guard spec.hasPrefix("["), spec.hasSuffix("]") else { return nil }
        spec = String(spec.dropFirst().dropLast())
        if let percent = spec.firstIndex(of: "%") { spec = String(spec[..<percent]) }
        var tasks: [Int] = []
        for piece in spec.split(separator: ",") {
            let bounds = piece.split(separator: "-").map { Int($0) }
            if bounds.count == 1, let a = bounds[0] { tasks.append(a) }
            else if bounds.count == 2, let a = bounds[0], let b = bounds[1], a <= b, b - a < 1_000_000 { tasks += Array(a...b) }
            else { return nil }
        }
        return (job, tasks)
    }
}

/// Runs a Slurm client (sbatch, sacct, squeue, scancel). Tests give canned answers.
public protocol SlurmScheduler: Sendable {
    /// Exit status 127 when the tool is not found.
    func run(_ tool: String, _ arguments: [String]) -> SlurmToolResult
}

public struct SlurmToolResult: Sendable, Equatable {
    public var status: Int32
    public var stdout: String
    public var stderr: String

    public init(status: Int32, stdout: String, stderr: String) {
        self.status = status
        self.stdout = stdout
        self.stderr = stderr
    }
}

/// The Slurm clients on the PATH.
public struct SystemSlurmScheduler: SlurmScheduler {
    public init() {}

    public func run(_ tool: String, _ arguments: [String]) -> SlurmToolResult {
        let path = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
            .map { "\($0)/\(tool)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
        guard let path else { return SlurmToolResult(status: 127, stdout: "", stderr: "\(tool): not found") }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        do { try process.run() } catch {
            return SlurmToolResult(status: 127, stdout: "", stderr: "\(tool): \((error as NSError).localizedDescription)")
        }
        // Read both pipes to the end before waiting, so a chatty tool cannot block on a full pipe.
        let errData = LockedData()
        let group = DispatchGroup()
        group.enter()
        DispatchQueue.global().async {
            errData.set(err.fileHandleForReading.readDataToEndOfFile())
            group.leave()
        }
        let o = out.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        process.waitUntilExit()
        return SlurmToolResult(status: process.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: errData.get(), as: UTF8.self))
    }
}

private final class LockedData: @unchecked Sendable {
    private let lock = NSLock()
    private var data = Data()
    func set(_ d: Data) { lock.withLock { data = d } }
    func get() -> Data { lock.withLock { data } }
}

/// A word for a POSIX shell: single quotes unless it is plainly safe.
public func shellQuoted(_ word: String) -> String {
    let safe = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,+@%")
    if !word.isEmpty, word.unicodeScalars.allSatisfy(safe.contains) { return word }
    return "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
}

private func firstLine(_ text: String) -> String? {
    text.split(whereSeparator: \.isNewline).first.map { $0.trimmingCharacters(in: .whitespaces) }.flatMap { $0.isEmpty ? nil : $0 }
}
