import ArgumentParser
import Experiments
import Foundation

/// `--slurm` and its options, for every command that runs many independent simulations: instead of
/// running here, the command becomes a job array of shards and a merge job (see `SlurmJob`).
struct SlurmOptions: ParsableArguments {
    @Flag(help: "Submit to Slurm as a job array of shards plus a merge job, instead of running here.")
    var slurm = false

    @Option(parsing: .unconditional, help: "Shards (array tasks); one per 250 runs by default, at most 1000.")
    var shards: Int?

    @Option(parsing: .unconditional, help: "Run at most M shards at once (the %M of sbatch --array).")
    var maxParallel: Int?

    @Option(help: "Slurm partition.")
    var partition: String?

    @Option(help: "Time limit of each shard, as sbatch takes it (e.g. 2:00:00 or 1-00:00:00).")
    var time: String?

    @Option(parsing: .unconditional, help: "Cores of each shard, and so its --jobs; 1 by default.")
    var cpusPerTask: Int?

    @Option(help: "Memory of each shard, as sbatch takes it (e.g. 2G).")
    var mem: String?

    @Option(help: "Slurm account to charge.")
    var account: String?

    @Option(parsing: .unconditionalSingleValue, help: "Another sbatch option, passed through (repeatable), e.g. --sbatch-arg=--qos=long.")
    var sbatchArg: [String] = []

    @Flag(help: "With --slurm: write the job directory and print its scripts; submit nothing.")
    var dryRun = false

    @Flag(help: "With --slurm: wait until the merge job ends; exit 0 only if it succeeded.")
    var wait = false

    /// Options of this group and whether each takes a value: none of them reaches the shards' command line.
    static let names: [String: Bool] = [
        "--slurm": false, "--shards": true, "--max-parallel": true, "--partition": true, "--time": true, "--cpus-per-task": true,
        "--mem": true, "--account": true, "--sbatch-arg": true, "--dry-run": false, "--wait": false,
    ]

    func validate() throws {
        if !slurm {
            let given = [shards.map { _ in "--shards" }, maxParallel.map { _ in "--max-parallel" }, partition.map { _ in "--partition" },
                         time.map { _ in "--time" }, cpusPerTask.map { _ in "--cpus-per-task" }, mem.map { _ in "--mem" },
                         account.map { _ in "--account" }, sbatchArg.isEmpty ? nil : "--sbatch-arg", dryRun ? "--dry-run" : nil, wait ? "--wait" : nil]
            if let first = given.compactMap({ $0 }).first { throw ValidationError("\(first) needs --slurm") }
            return
        }
        if let n = shards, n < 1 { throw ValidationError("--shards must be at least 1") }
        if let m = maxParallel, m < 1 { throw ValidationError("--max-parallel must be at least 1") }
        if let c = cpusPerTask, c < 1 { throw ValidationError("--cpus-per-task must be at least 1") }
        if dryRun && wait { throw ValidationError("--dry-run submits nothing, so there is nothing to --wait for") }
        for arg in sbatchArg where !arg.hasPrefix("-") {
            throw ValidationError("--sbatch-arg `\(arg)` is not an sbatch option; write it as --sbatch-arg=--qos=long")
        }
    }

    var resources: SlurmResources {
        SlurmResources(partition: partition, time: time, cpusPerTask: cpusPerTask ?? 1, mem: mem, account: account, extraArguments: sbatchArg)
    }
}

/// `arguments` without the options in `drop` (name -> takes a value), in any of the spellings
/// argument-parser accepts: `--name value`, `--name=value`, `-o value`.
func removingOptions(_ drop: [String: Bool], from arguments: [String]) -> [String] {
    var kept: [String] = []
    var k = 0
    while k < arguments.count {
        let arg = arguments[k]
        if arg == "--" { kept += arguments[k...]; break }
        let name = arg.split(separator: "=", maxSplits: 1).first.map(String.init) ?? arg
        if let takesValue = drop[name] {
            k += (takesValue && !arg.contains("=")) ? 2 : 1
            continue
        }
        kept.append(arg)
        k += 1
    }
    return kept
}

/// The running executable's absolute path: what the nodes must run.
func currentExecutable() -> String {
    if let path = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") { return path }
    let first = CommandLine.arguments.first ?? "ketasim"
    return URL(fileURLWithPath: first, relativeTo: URL(fileURLWithPath: FileManager.default.currentDirectoryPath)).standardizedFileURL.path
}

func absolutePath(_ path: String) -> String {
    URL(fileURLWithPath: path, relativeTo: URL(fileURLWithPath: FileManager.default.currentDirectoryPath)).standardizedFileURL.path
}

/// Exit 75 (EX_TEMPFAIL): the Slurm job failed; `ketasim jobs DIR --resubmit` can finish it.
extension Exit {
    static let slurmFailed = ExitCode(75)
}

/// How a command that runs many independent simulations or fits is spread and continued: worker
/// threads here, one shard of a job array, and resuming what a stopped run left. Sweep, sensitivity and
/// fit share it, so shard I/N means the same runs (every N-th from I, as `RunSet.shard`) everywhere.
struct ShardOptions: ParsableArguments {
    @Option(parsing: .unconditional, help: "Worker threads; all cores by default (1 for fit).")
    var jobs: Int?

    @Option(help: "Run shard I of N (1-based), e.g. 2/8: every N-th run from run I.")
    var shard: String?

    @Flag(help: "Keep the whole rows already in the output and run only the missing ones.")
    var resume = false

    /// Options a job array's scripts set themselves (output, shard, resume, jobs, force) and whether
    /// each takes a value: they never reach the command line the shards run.
    static let scriptOwned: [String: Bool] = ["-o": true, "--output": true, "--force": false, "--resume": false, "--jobs": true, "--shard": true]

    func validate() throws {
        if let j = jobs, j < 1 { throw ValidationError("--jobs must be at least 1") }
    }

    /// Worker threads: `--jobs`, else `byDefault`.
    func threads(byDefault: Int = ProcessInfo.processInfo.activeProcessorCount) -> Int { jobs ?? byDefault }

    /// `--shard`, else the array task Slurm set in the environment; nil for the whole design. The index is 0-based.
    func spec() throws -> (index: Int, count: Int)? {
        if let text = shard {
            let parts = text.split(separator: "/").map { Int($0) }
            guard parts.count == 2, let i = parts[0], let n = parts[1], n >= 1, (1...n).contains(i) else {
                throw ValidationError("--shard takes I/N with 1 <= I <= N, got `\(text)`")
            }
            return (i - 1, n)
        }
        let env = ProcessInfo.processInfo.environment
        if let id = env["SLURM_ARRAY_TASK_ID"].flatMap(Int.init), let count = env["SLURM_ARRAY_TASK_COUNT"].flatMap(Int.init), count >= 1 {
            let base = env["SLURM_ARRAY_TASK_MIN"].flatMap(Int.init) ?? 0
            let index = id - base
            guard (0..<count).contains(index) else { throw ValidationError("SLURM_ARRAY_TASK_ID \(id) lies outside the array of \(count) tasks") }
            return (index, count)
        }
        return nil
    }

    /// `--resume` and `--shard` are what the job array does itself; given with --slurm they are a mistake.
    /// The combinations every sharded command refuses: --resume with --force, and --resume or --shard
    /// with --slurm (the job array owns both).
    func check(with cluster: SlurmOptions, output: String, force: Bool) throws {
        if resume && force { throw ValidationError("--resume and --force exclude each other") }
        guard cluster.slurm else { return }
        if resume { throw ValidationError("--resume with --slurm: resume a submitted job with `ketasim jobs \(output).slurm --resubmit`") }
        if shard != nil { throw ValidationError("--shard with --slurm: the job array chooses the shards; give --shards N") }
    }
}

/// This invocation's arguments (after the executable) for the shards: without the Slurm options and
/// those the scripts set (`localOptions`), with `--model` given by absolute path so the shards do not
/// depend on the folder they start in.
func clusterArguments(dropping localOptions: [String: Bool], model: String) -> [String] {
    var drop = SlurmOptions.names.merging(localOptions) { a, _ in a }
    drop["--model"] = true
    return removingOptions(drop, from: Array(CommandLine.arguments.dropFirst())) + ["--model", absolutePath(model)]
}

/// Turns this invocation into a job directory and, unless --dry-run, submits it.
/// - Parameters:
///   - arguments: the command line each shard runs (see `clusterArguments`); the scripts add output,
///     shard, resume and jobs.
///   - inputs: files the command reads, by absolute path; every task checks it can see them.
///   - resultFile: nil for a command writing one file; for one writing a folder, the file its shards'
///     rows are in (see `SlurmJob.resultFile`).
func submitToSlurm(_ options: SlurmOptions, command: String, runs: Int, output: String, arguments: [String], inputs: [String],
                   resultFile: String? = nil, companionFiles: [String]? = nil, force: Bool) throws {
    let shards = min(options.shards ?? SlurmJob.defaultShards(runs: runs), max(1, runs))
    var job = SlurmJob(command: command, binary: currentExecutable(), arguments: arguments, inputFiles: inputs,
                       workingDirectory: FileManager.default.currentDirectoryPath, output: absolutePath(output),
                       runsTotal: runs, shards: shards, maxParallel: options.maxParallel, resources: options.resources, resultFile: resultFile)
    job.companionFiles = companionFiles
    do { try job.write(force: force) } catch { throw slurmError(error) }
    if options.dryRun {
        try printOut("# \(job.arrayScriptPath)\n\(job.arrayScript)\n# \(job.mergeScriptPath)\n\(job.mergeScript(afterArray: nil))")
        printStandardError("""
        wrote \(job.directory) (\(runs) runs in \(shards) shards); submit it with
          ketasim jobs \(shellQuoted(job.directory)) --resubmit
        or by hand:
          id=$(sbatch --parsable \(shellQuoted(job.arrayScriptPath))) && sbatch --dependency=afterok:$id \(shellQuoted(job.mergeScriptPath))
        """)
        return
    }
    let scheduler = SystemSlurmScheduler()
    do { try job.submit(with: scheduler) } catch { throw slurmError(error) }
    let submission = job.submissions.last
    let limit = options.maxParallel.map { ", at most \($0) at once" } ?? ""
    try printOut("submitted array job \(submission?.arrayJobID ?? "?") (\(shards) shards\(limit)) and merge job \(submission?.mergeJobID ?? "?") writing \(job.output)")
    if options.wait {
        try waitForSlurm(job, scheduler: scheduler)
    } else {
        printStandardError("watch it with: ketasim jobs \(shellQuoted(job.directory))")
    }
}

/// Blocks until the merge job ends, showing progress on a terminal; throws exit 75 unless it succeeded.
func waitForSlurm(_ job: SlurmJob, scheduler: some SlurmScheduler) throws {
    let tty = isatty(STDERR_FILENO) == 1
    let final = job.wait(with: scheduler) { s in
        guard tty else { return }
        let line = String(format: "\rslurm: %d/%d shards done, %d running, %d pending, %d failed; %d/%d rows; merge %@   ",
                          s.count(.done), s.shards.count, s.count(.running), s.count(.pending), s.count(.failed), s.rowsWritten, s.rowsTotal, s.merge.rawValue)
        FileHandle.standardError.write(Data(line.utf8))
    }
    if tty { FileHandle.standardError.write(Data("\n".utf8)) }
    if final.merge == .completed {
        printStandardError("merged \(final.rowsWritten) runs into \(job.output)")
        // As a local sweep: failed runs are rows of the file, and exit 3 says there are some.
        // A fit's failed starts are rows a local fit does not count as a failure either.
        if job.command != "fit", let (failed, total) = failedRows(in: job.mergedFile), failed > 0 {
            printError("\(failed) of \(total) runs failed; see the status and message columns of \(job.output)")
            throw ExitCode(3)
        }
        return
    }
    let failed = final.shards(.failed) + final.shards(.missing)
    let which = failed.isEmpty ? "" : "; shards not done: " + failed.map(String.init).joined(separator: ", ")
    let what = final.merge == .unknown ? "was lost" : final.merge == .notSubmitted ? "was never submitted" : "failed"
    printError("the merge job \(what)\(final.mergeReason.map { " (\($0))" } ?? "")\(which); `ketasim jobs \(shellQuoted(job.directory)) --resubmit` runs what is missing")
    throw Exit.slurmFailed
}

/// Maps a job-layer error to its exit code, naming the option that would change the outcome (the
/// library states only the fact).
func slurmError(_ error: SlurmError) -> Error {
    switch error {
    case .exists: return ValidationError(error.description + ", or pass --force to start again")
    case .stillRunning: return ValidationError(error.description + " (`ketasim jobs DIR --wait`)")
    case .nothingToResubmit, .notAJobDirectory: return ValidationError(error.description)
    case .cannotWrite:
        printError(error.description)
        return Exit.cannotWrite
    case .toolMissing:
        printError(error.description + " (or pass --dry-run to write the scripts only)")
        return Exit.slurmFailed
    case .submitFailed, .unparsableJobID:
        printError(error.description)
        return Exit.slurmFailed
    }
}

/// Rows whose `status` field is `failed`, and all rows; nil when the file has no status column. The
/// fields before `status` (run_id, varied values) are numbers, so splitting on commas up to it is safe.
func failedRows(in path: String) -> (Int, Int)? {
    guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
    let lines = text.split(separator: "\n")
    guard let header = lines.first, let column = header.split(separator: ",").firstIndex(of: "status") else { return nil }
    let failed = lines.dropFirst().filter { line in
        let fields = line.split(separator: ",", maxSplits: column + 1, omittingEmptySubsequences: false)
        return fields.count > column && fields[column] == "failed"
    }.count
    return (failed, lines.count - 1)
}
