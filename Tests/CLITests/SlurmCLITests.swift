import Foundation
import Testing

/// A Latin hypercube over two axes of the small example: quick, and the seed matters.
private func sweepArguments(samples: Int) -> [String] {
    ["sweep", "--model", example, "--vary", "dose=1:500:1", "--vary", "ke=0.1:0.5:0.1", "--samples", String(samples), "--seed", "7",
     "--outputs", "concentration", "--at", "1h,6h"]
}

/// Runs a batch script with bash as a Slurm node would (the `#SBATCH` lines are comments to bash).
private func bash(_ script: String, task: Int? = nil) throws -> Int32 {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/bin/bash")
    process.arguments = [script]
    var env = ProcessInfo.processInfo.environment
    if let task { env["SLURM_ARRAY_TASK_ID"] = String(task) }
    process.environment = env
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    try process.run()
    process.waitUntilExit()
    return process.terminationStatus
}

private func text(_ path: String) throws -> String { try String(contentsOfFile: path, encoding: .utf8) }

@Suite("sweep --slurm without a cluster")
struct SlurmDryRunTests {
    /// The scripts that --dry-run writes, run by hand task by task, merge into exactly the rows of a
    /// local run, for any shard count; a shard cut mid-row finishes with its own script again.
    @Test func theScriptsRunByHandGiveTheLocalRowsWhateverTheShardCount() throws {
        let dir = try temporaryDirectory()
        let local = dir.appendingPathComponent("local.csv").path
        let args = sweepArguments(samples: 60)
        #expect(try ketasim(args + ["-o", local]).status == 0)
        let expected = try text(local)
        for shards in [1, 3, 7] {
            let out = dir.appendingPathComponent("s\(shards).csv").path
            let r = try ketasim(args + ["-o", out, "--jobs", "3", "--slurm", "--shards", String(shards), "--cpus-per-task", "2", "--dry-run"])
            #expect(r.status == 0, "\(r.stderr)")
            #expect(r.stdout.contains("#SBATCH --array=\(shards == 1 ? "0" : "0-\(shards - 1)")\n"))
            #expect(r.stderr.contains("ketasim jobs \(out).slurm --resubmit"))
            let script = try text(out + ".slurm/array.sbatch")
            // The shard's own options replace the user's: --jobs from --cpus-per-task, its own output.
            #expect(script.contains("--jobs 2 --shard \"$I/\(shards)\" -o \(out).slurm/shard-\"$I\".csv --resume"))
            #expect(!script.contains("--jobs 3") && !script.contains("--slurm") && !script.contains("--dry-run"))
            #expect(!FileManager.default.fileExists(atPath: out), "a dry run writes no output")
            for task in 0..<shards { #expect(try bash(out + ".slurm/array.sbatch", task: task) == 0) }
            #expect(try bash(out + ".slurm/merge.sbatch") == 0)
            #expect(try text(out) == expected, "\(shards) shards")
            let meta = try text(out + ".meta.json")
            #expect(meta.contains("\"runs_total\" : \"60\"") && !meta.contains("\"shard\""))
            #expect(try text(out + ".slurm/merge.exit") == "0\n")

            if shards == 3 {
                // Shard 2 dies after one whole row and half of the next; its task runs again and resumes.
                let shard = out + ".slurm/shard-2.csv"
                let lines = try text(shard).split(separator: "\n")
                try (lines.prefix(2).joined(separator: "\n") + "\n" + lines[2].prefix(12)).write(toFile: shard, atomically: true, encoding: .utf8)
                #expect(try ketasim(["jobs", out + ".slurm"]).stdout.contains("rows: \(60 - 20 + 1) of 60"))
                #expect(try bash(out + ".slurm/array.sbatch", task: 1) == 0)
                #expect(try bash(out + ".slurm/merge.sbatch") == 0)
                #expect(try text(out) == expected)
            }
        }
    }

    /// A run that fails is a row, as in a local sweep: its shard succeeds for the scheduler (so the merge
    /// runs) and waiting for the job ends with exit 3, not 75.
    @Test func failedRunsAreRowsAndWaitingExits3() throws {
        let dir = try temporaryDirectory()
        let out = dir.appendingPathComponent("f.csv").path
        let r = try ketasim(["sweep", "--model", example, "--vary", "ke=0.3,3000", "--stepper", "rkf45", "--max-steps", "200", "--outputs", "concentration",
                             "-o", out, "--slurm", "--shards", "2", "--dry-run"])
        #expect(r.status == 0, "\(r.stderr)")
        for task in 0..<2 { #expect(try bash(out + ".slurm/array.sbatch", task: task) == 0) }
        #expect(try text(out + ".slurm/shard-2.exit") == "0\n")
        #expect(try bash(out + ".slurm/merge.sbatch") == 0)
        #expect(try text(out).contains("\n2,3000,failed,gave up after 200 steps"))
        let waited = try ketasim(["jobs", out + ".slurm", "--wait"])
        #expect(waited.status == 3, "\(waited.stderr)")
        #expect(waited.stderr.contains("1 of 2 runs failed; see the status and message columns of \(out)"), "\(waited.stderr)")
        let state = try ketasim(["jobs", out + ".slurm"])
        #expect(state.stdout.contains("shards: 2 done") && state.stdout.contains("merge: completed"), "\(state.stdout)")
    }

    @Test(arguments: [
        (["--shards", "4"], "--shards needs --slurm"),
        (["--slurm", "--series", "/tmp/series.csv"], "--series runs locally only"),
        (["--slurm", "--resume"], "--resume with --slurm"),
        (["--slurm", "--shard", "1/2"], "--shard with --slurm"),
        (["--slurm", "--dry-run", "--wait"], "nothing to --wait for"),
        (["--slurm", "--max-parallel", "0"], "--max-parallel must be at least 1"),
        (["--slurm", "--sbatch-arg", "qos=long"], "write it as --sbatch-arg=--qos=long"),
    ])
    func badSlurmOptionsExit64(extra: [String], message: String) throws {
        let dir = try temporaryDirectory()
        let r = try ketasim(sweepArguments(samples: 4) + ["-o", dir.appendingPathComponent("x.csv").path] + extra)
        #expect(r.status == 64)
        #expect(r.stderr.split(separator: "\n").first?.contains(message) == true, "\(r.stderr)")
    }

    @Test func anExistingJobDirectoryNeedsForceAndJobsNeedsOne() throws {
        let dir = try temporaryDirectory()
        let out = dir.appendingPathComponent("x.csv").path
        #expect(try ketasim(sweepArguments(samples: 4) + ["-o", out, "--slurm", "--dry-run", "--sbatch-arg=--qos=long"]).status == 0)
        #expect(try text(out + ".slurm/array.sbatch").contains("#SBATCH --qos=long\n"))
        let again = try ketasim(sweepArguments(samples: 4) + ["-o", out, "--slurm", "--dry-run"])
        #expect(again.status == 64 && again.stderr.contains("x.csv.slurm already exists; watch it with `ketasim jobs"), "\(again.stderr)")
        #expect(try ketasim(sweepArguments(samples: 4) + ["-o", out, "--slurm", "--dry-run", "--force"]).status == 0)
        // Never submitted: every shard is missing, and the output path finds its job directory.
        let state = try ketasim(["jobs", out])
        #expect(state.status == 0, "\(state.stderr)")
        #expect(state.stdout.contains("shards: 0 done, 0 running, 0 pending, 0 failed, 1 missing"), "\(state.stdout)")
        #expect(state.stdout.contains("jobs: none submitted yet"))
        let none = try ketasim(["jobs", dir.path])
        #expect(none.status == 64 && none.stderr.contains("is not a ketasim job directory: it has no readable job.json"), "\(none.stderr)")
    }

    @Test func helpTeachesTheClusterWorkflow() throws {
        let sweep = try ketasim(["sweep", "--help"])
        #expect(sweep.status == 0)
        for text in ["--slurm", "--max-parallel", "--cpus-per-task", "--sbatch-arg", "ketasim jobs big.csv.slurm --resubmit", "docs/HPC.md"] {
            #expect(sweep.stdout.contains(text), "sweep --help lacks \(text)")
        }
        for command in ["sensitivity", "fit"] {
            let help = try ketasim([command, "--help"]).stdout.replacingOccurrences(of: "\n", with: " ")
            for text in ["--slurm", "--shards", "--shard", "--resume", "--cpus-per-task", ".slurm/shard-I/", "docs/HPC.md"] {
                #expect(help.contains(text), "\(command) --help lacks \(text)")
            }
        }
        let jobs = try ketasim(["jobs", "--help"])
        #expect(jobs.stdout.contains("--resubmit") && jobs.stdout.contains("ketasim jobs grid.csv.slurm --resubmit --wait"))
        // The prose reflows to the terminal's width; compare it with the line breaks taken out.
        let root = try ketasim(["--help"]).stdout.replacingOccurrences(of: "\n", with: " ")
        #expect(root.contains("75 a Slurm job failed"))
    }
}

/// A small Morris design of the example (12 runs), and a fit of a decay rate and an initial amount
/// from three measurements (4 starts): quick, and every row depends on the seed.
private func morrisArguments() -> [String] {
    ["sensitivity", "--model", example, "--metrics", "concentration.auc,concentration.max", "--morris", "4", "--parameters", "ka,ke", "--fold", "2"]
}

private func fitProblem() throws -> String {
    let dir = try FitCLITests.problem()
    try "parameterId\tparameterScale\tlowerBound\tupperBound\tnominalValue\testimate\na0\tlin\t0\t10\t1\t1\nk\tlog10\t0.01\t10\t0.5\t1\n"
        .write(to: dir.appendingPathComponent("parameters.tsv"), atomically: true, encoding: .utf8)
    try "observableId\tsimulationConditionId\ttime\tmeasurement\nobs\tc0\t0\t0.7\nobs\tc0\t1\t0.5\nobs\tc0\t3\t0.2\n"
        .write(to: dir.appendingPathComponent("measurements.tsv"), atomically: true, encoding: .utf8)
    return dir.appendingPathComponent("problem.yaml").path
}

private func fitArguments(_ problem: String) -> [String] { ["fit", problem, "--starts", "4", "--seed", "3"] }

/// starts.csv without its seconds column: the only field that differs between two runs of one fit.
private func startsWithoutSeconds(_ path: String) throws -> [String] {
    try text(path).split(separator: "\n").map { line in
        var fields = line.split(separator: ",", omittingEmptySubsequences: false)
        fields.remove(at: 6)
        return fields.joined(separator: ",")
    }
}

@Suite("sensitivity and fit --slurm without a cluster")
struct SlurmFolderDryRunTests {
    /// The design's runs are the shards; the merge job joins their runs.csv and computes the indices
    /// with --resume, giving the local files byte for byte.
    @Test func aMorrisDesignRunByHandFromItsScriptsGivesTheLocalFiles() throws {
        let dir = try temporaryDirectory()
        let local = dir.appendingPathComponent("local").path, out = dir.appendingPathComponent("sens").path
        #expect(try ketasim(morrisArguments() + ["-o", local]).status == 0)
        let r = try ketasim(morrisArguments() + ["-o", out, "--jobs", "2", "--slurm", "--shards", "3", "--cpus-per-task", "2", "--dry-run"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out), "a dry run writes no output")
        let array = try text(out + ".slurm/array.sbatch"), merge = try text(out + ".slurm/merge.sbatch")
        #expect(array.contains("#SBATCH --array=0-2\n"))
        #expect(array.contains(" sensitivity --metrics concentration.auc,concentration.max --morris 4 --parameters ka,ke --fold 2 --model \(example) --jobs 2 --shard \"$I/3\" -o \(out).slurm/shard-\"$I\" --resume\n"), "\(array)")
        #expect(!array.contains("--slurm") && !array.contains("--dry-run") && !array.contains("--shards"))
        #expect(merge.contains(" merge \(out).slurm/shard-1/runs.csv \(out).slurm/shard-2/runs.csv \(out).slurm/shard-3/runs.csv -o \(out)/runs.csv --force && "), "\(merge)")
        #expect(merge.contains(" --fold 2 --model \(example) --jobs 1 -o \(out) --resume\n"), "\(merge)")
        for task in 0..<3 { #expect(try bash(out + ".slurm/array.sbatch", task: task) == 0) }
        #expect(!FileManager.default.fileExists(atPath: out + ".slurm/shard-1/morris.csv"), "a shard computes no indices")
        #expect(try text(out + ".slurm/shard-2/runs.csv").split(separator: "\n").count == 1 + 4)
        let state = try ketasim(["jobs", out + ".slurm"])
        #expect(state.stdout.contains("sensitivity, 12 runs in 3 shards") && state.stdout.contains("shards: 3 done") && state.stdout.contains("rows: 12 of 12"), "\(state.stdout)")
        #expect(try bash(out + ".slurm/merge.sbatch") == 0)
        for file in ["samples.csv", "runs.csv", "morris.csv"] {
            #expect(try text(out + "/" + file) == text(local + "/" + file), "\(file)")
        }
        #expect(try !text(out + "/runs.csv.meta.json").contains("\"shard\""))
        #expect(try ketasim(["jobs", out + ".slurm"]).stdout.contains("merge: completed, \(out) written"))
    }

    /// Four starts in two shards: the merge job's starts.csv is the local one but for the seconds, and
    /// best.params, estimates.csv and the tables are the local ones exactly.
    @Test func aMultistartRunByHandFromItsScriptsGivesTheLocalFit() throws {
        let problem = try fitProblem()
        let dir = URL(fileURLWithPath: problem).deletingLastPathComponent()
        let local = dir.appendingPathComponent("local").path, out = dir.appendingPathComponent("fit").path
        let fitted = try ketasim(fitArguments(problem) + ["-o", local])
        #expect(fitted.status == 0, "\(fitted.stderr)")
        let r = try ketasim(fitArguments(problem) + ["-o", out, "--slurm", "--shards", "2", "--dry-run"])
        #expect(r.status == 0, "\(r.stderr)")
        let array = try text(out + ".slurm/array.sbatch"), merge = try text(out + ".slurm/merge.sbatch")
        #expect(array.contains("ketasim fit \(problem) --starts 4 --seed 3 --jobs 1 --shard \"$I/2\" -o \(out).slurm/shard-\"$I\" --resume\n"), "\(array)")
        // Every file of the problem is checked on the node, not only the YAML.
        #expect(array.contains("if [ ! -r \(dir.appendingPathComponent("measurements.tsv").path) ]"))
        #expect(merge.contains("mkdir -p \(out) && ") && merge.contains("-o \(out)/starts.csv --force && ") && merge.contains("ketasim fit \(problem) --starts 4 --seed 3 --jobs 1 -o \(out) --resume\n"), "\(merge)")
        for task in 0..<2 { #expect(try bash(out + ".slurm/array.sbatch", task: task) == 0) }
        #expect(try text(out + ".slurm/shard-2/starts.csv").split(separator: "\n").map { $0.prefix(2) } == ["st", "2,", "4,"])
        #expect(try bash(out + ".slurm/merge.sbatch") == 0)
        #expect(try startsWithoutSeconds(out + "/starts.csv") == startsWithoutSeconds(local + "/starts.csv"))
        for file in ["best.params", "estimates.csv", "residuals.tsv", "simulations.tsv"] {
            #expect(try text(out + "/" + file) == text(local + "/" + file), "\(file)")
        }
        let meta = try text(out + "/starts.csv.meta.json")
        #expect(meta.contains("\"design\" : \"multistart\"") && meta.contains("\"runs_total\" : \"4\"") && !meta.contains("\"shard\""), "\(meta)")
    }

    /// --resume keeps the whole rows (a torn one dropped), runs the missing starts and finishes from
    /// the best of all; a file of another seed, method or problem is refused before any fitting.
    @Test func aCutStartsFileResumesAndAnotherIdentityIsRefused() throws {
        let problem = try fitProblem()
        let dir = URL(fileURLWithPath: problem).deletingLastPathComponent()
        let local = dir.appendingPathComponent("local").path, cut = dir.appendingPathComponent("cut").path
        #expect(try ketasim(fitArguments(problem) + ["-o", local]).status == 0)
        try FileManager.default.createDirectory(atPath: cut, withIntermediateDirectories: false)
        let lines = try text(local + "/starts.csv").split(separator: "\n")
        try (lines.prefix(3).joined(separator: "\n") + "\n" + lines[3].prefix(15)).write(toFile: cut + "/starts.csv", atomically: true, encoding: .utf8)
        try FileManager.default.copyItem(atPath: local + "/starts.csv.meta.json", toPath: cut + "/starts.csv.meta.json")
        let seed = try ketasim(["fit", problem, "--starts", "4", "--seed", "4", "-o", cut, "--resume"])
        #expect(seed.status == 64 && seed.stderr.contains("holds another design (different seed)"), "\(seed.stderr)")
        let method = try ketasim(fitArguments(problem) + ["--method", "dogleg", "-o", cut, "--resume"])
        #expect(method.status == 64 && method.stderr.contains("(different method)"), "\(method.stderr)")
        let resumed = try ketasim(fitArguments(problem) + ["-o", cut, "--resume"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(!resumed.stderr.contains("start 1/4") && !resumed.stderr.contains("start 2/4") && resumed.stderr.contains("start 3/4"), "\(resumed.stderr)")
        #expect(resumed.stdout.hasSuffix("(4 of 4 starts within 0.1 of it)\n"), "\(resumed.stdout)")
        #expect(try startsWithoutSeconds(cut + "/starts.csv") == startsWithoutSeconds(local + "/starts.csv"))
        #expect(try text(cut + "/best.params") == text(local + "/best.params"))
        // A changed measurement table is another problem under the same YAML.
        try "observableId\tsimulationConditionId\ttime\tmeasurement\nobs\tc0\t0\t0.8\n".write(to: dir.appendingPathComponent("measurements.tsv"), atomically: true, encoding: .utf8)
        let data = try ketasim(fitArguments(problem) + ["-o", cut, "--resume"])
        #expect(data.status == 64 && data.stderr.contains("(different model)"), "\(data.stderr)")
    }

    /// An interrupted design (a torn runs.csv) finishes with --resume into the local indices.
    @Test func aCutDesignResumesIntoTheLocalIndices() throws {
        let dir = try temporaryDirectory()
        let local = dir.appendingPathComponent("local").path, cut = dir.appendingPathComponent("cut").path
        #expect(try ketasim(morrisArguments() + ["-o", local]).status == 0)
        try FileManager.default.createDirectory(atPath: cut, withIntermediateDirectories: false)
        let lines = try text(local + "/runs.csv").split(separator: "\n")
        try (lines.prefix(6).joined(separator: "\n") + "\n" + lines[6].prefix(5)).write(toFile: cut + "/runs.csv", atomically: true, encoding: .utf8)
        try FileManager.default.copyItem(atPath: local + "/runs.csv.meta.json", toPath: cut + "/runs.csv.meta.json")
        let other = try ketasim(morrisArguments() + ["--seed", "2", "-o", cut, "--resume"])
        #expect(other.status == 64 && other.stderr.contains("(different seed)"), "\(other.stderr)")
        let resumed = try ketasim(morrisArguments() + ["-o", cut, "--resume"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        for file in ["samples.csv", "runs.csv", "morris.csv"] {
            #expect(try text(cut + "/" + file) == text(local + "/" + file), "\(file)")
        }
        #expect(resumed.stdout == (try ketasim(morrisArguments() + ["-o", local, "--force"])).stdout)
    }

    @Test(arguments: [
        (["--slurm"], "--slurm needs -o DIR"),
        (["-o", "/tmp/x", "--slurm", "--resume"], "--resume with --slurm"),
        (["-o", "/tmp/x", "--slurm", "--simulations", "/tmp/s.tsv"], "--simulations runs locally only"),
        (["--evaluate", "-o", "/tmp/x", "--shard", "1/2"], "--shard, --resume and --slurm are for a fit"),
        (["-o", "/tmp/x", "--shard", "3/2"], "--shard takes I/N with 1 <= I <= N, got `3/2`"),
    ])
    func badFitClusterOptionsExit64(extra: [String], message: String) throws {
        let r = try ketasim(fitArguments(try fitProblem()) + extra)
        #expect(r.status == 64)
        #expect(r.stderr.contains(message), "\(r.stderr)")
    }
}

private func scancel(_ target: String) throws -> Int32 {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["scancel", target]
    try process.run()
    process.waitUntilExit()
    return process.terminationStatus
}

/// Against a real Slurm: `scripts/slurm-tests` brings a one-node cluster up, sets KETASIM_SLURM_TESTS=1
/// and SLURM_CONF, runs this suite and takes the cluster down.
@Suite("sweep, sensitivity, population and fit --slurm on a Slurm cluster", .serialized,
       .enabled(if: ProcessInfo.processInfo.environment["KETASIM_SLURM_TESTS"] == "1", "KETASIM_SLURM_TESTS=1 is not set (scripts/slurm-tests sets it)"))
struct SlurmClusterTests {
    @Test(.timeLimit(.minutes(10)))
    func an8ShardArrayMergesToTheLocalRowsAndACancelledShardIsResubmitted() throws {
        let dir = try temporaryDirectory()
        func path(_ n: String) -> String { dir.appendingPathComponent(n).path }
        let args = sweepArguments(samples: 400)
        #expect(try ketasim(args + ["-o", path("local.csv")]).status == 0)
        let expected = try text(path("local.csv"))

        let r = try ketasim(args + ["-o", path("slurm.csv"), "--slurm", "--shards", "8", "--max-parallel", "2", "--wait"])
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        #expect(r.stdout.contains("(8 shards, at most 2 at once)"))
        #expect(try text(path("slurm.csv")) == expected)
        let done = try ketasim(["jobs", path("slurm.csv.slurm")])
        #expect(done.stdout.contains("shards: 8 done") && done.stdout.contains("rows: 400 of 400") && done.stdout.contains("merge: completed"), "\(done.stdout)")

        // Task 7 (shard 8) waits behind the limit of 2; cancelling it fails the array and so the merge.
        let submitted = try ketasim(args + ["-o", path("cut.csv"), "--slurm", "--shards", "8", "--max-parallel", "2"])
        #expect(submitted.status == 0, "\(submitted.stderr)")
        let manifest = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path("cut.csv.slurm/job.json")))) as? [String: Any]
        let array = try #require((manifest?["submissions"] as? [[String: Any]])?.first?["arrayJobID"] as? String)
        #expect(try scancel("\(array)_7") == 0)
        let waited = try ketasim(["jobs", path("cut.csv.slurm"), "--wait"])
        #expect(waited.status == 75, "\(waited.stderr)")
        #expect(waited.stderr.contains("shards not done: 8"), "\(waited.stderr)")
        let state = try ketasim(["jobs", path("cut.csv.slurm")])
        #expect(state.stdout.contains("shards: 7 done, 0 running, 0 pending, 1 failed, 0 missing"), "\(state.stdout)")
        #expect(state.stdout.contains("failed: 8") && state.stdout.contains("rows: 350 of 400"), "\(state.stdout)")
        #expect(!FileManager.default.fileExists(atPath: path("cut.csv")))

        let again = try ketasim(["jobs", path("cut.csv.slurm"), "--resubmit", "--wait"])
        #expect(again.status == 0, "\(again.stdout)\(again.stderr)")
        #expect(again.stdout.contains("resubmitted shard 8 as array job"))
        #expect(try text(path("cut.csv")) == expected)
        let nothing = try ketasim(["jobs", path("cut.csv.slurm"), "--resubmit"])
        #expect(nothing.status == 64 && nothing.stderr.contains("there is nothing to resubmit"))
    }

    @Test(.timeLimit(.minutes(5)))
    func aMorrisDesignAsA2ShardArrayGivesTheLocalIndices() throws {
        let dir = try temporaryDirectory()
        let local = dir.appendingPathComponent("local").path, out = dir.appendingPathComponent("sens").path
        #expect(try ketasim(morrisArguments() + ["-o", local]).status == 0)
        let r = try ketasim(morrisArguments() + ["-o", out, "--slurm", "--shards", "2", "--wait"])
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        #expect(r.stdout.contains("(2 shards)"), "\(r.stdout)")
        for file in ["samples.csv", "runs.csv", "morris.csv"] {
            #expect(try text(out + "/" + file) == text(local + "/" + file), "\(file)")
        }
        let state = try ketasim(["jobs", out + ".slurm"])
        #expect(state.stdout.contains("shards: 2 done") && state.stdout.contains("rows: 12 of 12") && state.stdout.contains("merge: completed"), "\(state.stdout)")
    }

    @Test(.timeLimit(.minutes(5)))
    func aMultistartAsA2ShardArrayGivesTheLocalFit() throws {
        let problem = try fitProblem()
        let dir = URL(fileURLWithPath: problem).deletingLastPathComponent()
        let local = dir.appendingPathComponent("local").path, out = dir.appendingPathComponent("fit").path
        #expect(try ketasim(fitArguments(problem) + ["-o", local]).status == 0)
        let r = try ketasim(fitArguments(problem) + ["-o", out, "--slurm", "--shards", "2", "--wait"])
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        #expect(try startsWithoutSeconds(out + "/starts.csv") == startsWithoutSeconds(local + "/starts.csv"))
        for file in ["best.params", "estimates.csv", "residuals.tsv", "simulations.tsv"] {
            #expect(try text(out + "/" + file) == text(local + "/" + file), "\(file)")
        }
        let state = try ketasim(["jobs", out + ".slurm"])
        #expect(state.stdout.contains("fit, 4 runs in 2 shards") && state.stdout.contains("shards: 2 done") && state.stdout.contains("merge: completed"), "\(state.stdout)")
    }

    @Test(.timeLimit(.minutes(5)))
    func aPopulationAsA3ShardArrayGivesTheLocalFiles() throws {
        let dir = try temporaryDirectory()
        let example = repositoryRoot.appendingPathComponent("models/examples/two_compartment.yaml").path
        let args = ["population", "--model", example, "--n", "12", "--iiv", "V=30%", "--vary", "dose=100,250",
                    "--responder", "concentration.max > 30", "--at", "2h"]
        let local = dir.appendingPathComponent("local").path, out = dir.appendingPathComponent("pop").path
        #expect(try ketasim(args + ["-o", local]).status == 0)
        let r = try ketasim(args + ["-o", out, "--slurm", "--shards", "3", "--wait"])
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        for file in ["subjects.csv", "traces.csv", "bands.csv", "responders.csv"] {
            #expect(try text(out + "/" + file) == text(local + "/" + file), "\(file)")
        }
        let state = try ketasim(["jobs", out + ".slurm"])
        #expect(state.stdout.contains("shards: 3 done") && state.stdout.contains("rows: 24 of 24") && state.stdout.contains("merge: completed"), "\(state.stdout)")
    }
}
