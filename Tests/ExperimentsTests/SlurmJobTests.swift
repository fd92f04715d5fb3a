import Foundation
import Testing
@testable import Experiments

/// Answers sbatch with increasing job IDs and everything else with canned text; records every call.
private final class FakeScheduler: SlurmScheduler, @unchecked Sendable {
    private let lock = NSLock()
    private var nextID = 100
    private var log: [[String]] = []
    let answers: [String: SlurmToolResult]

    init(answers: [String: SlurmToolResult] = [:]) { self.answers = answers }

    var calls: [[String]] { lock.withLock { log } }

    func run(_ tool: String, _ arguments: [String]) -> SlurmToolResult {
        lock.withLock {
            log.append([tool] + arguments)
            if tool == "sbatch" {
                nextID += 1
                return SlurmToolResult(status: 0, stdout: "\(nextID)\n", stderr: "")
            }
            return answers[tool] ?? SlurmToolResult(status: 1, stdout: "", stderr: "\(tool): no answer")
        }
    }
}

private func temporaryFolder() throws -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ketasim-slurm-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}

private func job(in dir: String, runs: Int = 10, shards: Int = 4, maxParallel: Int? = 2, resources: SlurmResources = SlurmResources()) -> SlurmJob {
    SlurmJob(command: "sweep", binary: "/opt/ketasim/bin/ketasim", arguments: ["sweep", "--vary", "dose=1:10:1", "--model", "/data/my model.yaml"],
             inputFiles: ["/data/my model.yaml"], workingDirectory: dir, output: dir + "/grid.csv",
             runsTotal: runs, shards: shards, maxParallel: maxParallel, resources: resources)
}

/// A shard file with a header and `rows` whole rows (run IDs from `ids`), optionally a torn row after them.
private func writeShard(_ path: String, ids: [Int], torn: Bool = false) throws {
    var text = "run_id,dose,status\n" + ids.map { "\($0),\($0),ok\n" }.joined()
    if torn { text += "99,9" }
    try text.write(toFile: path, atomically: true, encoding: .utf8)
}

@Suite("Slurm job arithmetic and scripts")
struct SlurmJobScriptTests {
    @Test(arguments: [(1, 1), (3, 1), (250, 1), (251, 2), (400, 2), (10_000, 40), (100_000_000, 1000)])
    func defaultShardCountIsAbout250RunsEachAtMost1000(runs: Int, shards: Int) {
        #expect(SlurmJob.defaultShards(runs: runs) == shards)
    }

    @Test func shardsSplitTheRunsWithoutOverlapOrGap() {
        #expect((1...4).map { SlurmJob.expectedRows(shard: $0, of: 4, total: 10) } == [3, 3, 2, 2])
        for (total, n) in [(400, 8), (401, 8), (7, 7), (5, 9), (1000, 3)] {
            #expect((1...n).map { SlurmJob.expectedRows(shard: $0, of: n, total: total) }.reduce(0, +) == total, "\(total) runs in \(n) shards")
        }
        #expect(SlurmJob.expectedRows(shard: 9, of: 9, total: 5) == 0)
    }

    @Test func arraySpecUsesZeroBasedTaskRangesAndTheLimit() throws {
        let j = job(in: try temporaryFolder(), shards: 8)
        #expect(j.arraySpec(Array(1...8)) == "0-7%2")
        #expect(j.arraySpec([8, 2, 3, 4]) == "1-3,7%2")
        var unlimited = j
        unlimited.maxParallel = nil
        #expect(unlimited.arraySpec([5]) == "4")
    }

    @Test func arrayScriptRunsEachShardResumablyWithTheGivenResources() throws {
        let dir = try temporaryFolder()
        let j = job(in: dir, shards: 4, resources: SlurmResources(partition: "short", time: "1:00:00", cpusPerTask: 4, mem: "2G", account: "lab", extraArguments: ["--qos=long"]))
        let s = j.arrayScript
        for line in ["#SBATCH --array=0-3%2", "#SBATCH --cpus-per-task=4", "#SBATCH --partition=short", "#SBATCH --time=1:00:00",
                     "#SBATCH --mem=2G", "#SBATCH --account=lab", "#SBATCH --qos=long", "#SBATCH --chdir=\(dir)", "I=$((SLURM_ARRAY_TASK_ID + 1))"] {
            #expect(s.contains(line + "\n"), "missing \(line)")
        }
        // The model path has a space: quoted once, in the check and in the command.
        #expect(s.contains("/opt/ketasim/bin/ketasim sweep --vary dose=1:10:1 --model '/data/my model.yaml' --jobs 4 --shard \"$I/4\" -o \(dir)/grid.csv.slurm/shard-\"$I\".csv --resume\n"))
        #expect(s.contains("if [ ! -r '/data/my model.yaml' ]"))
        #expect(s.hasPrefix("#!/bin/bash\n"))
        let merge = j.mergeScript(afterArray: "1234")
        #expect(merge.contains("#SBATCH --dependency=afterok:1234\n"))
        #expect(merge.contains("#SBATCH --kill-on-invalid-dep=yes\n"))
        #expect(merge.contains("merge \(dir)/grid.csv.slurm/shard-1.csv \(dir)/grid.csv.slurm/shard-2.csv \(dir)/grid.csv.slurm/shard-3.csv \(dir)/grid.csv.slurm/shard-4.csv -o \(dir)/grid.csv --force\n"))
        #expect(!j.mergeScript(afterArray: nil).contains("--dependency"))
    }

    /// The script stops on a node that cannot see the binary: one line, exit 66, before any work.
    @Test func aTaskThatCannotSeeTheBinaryFailsEarlyWithOneLine() throws {
        let dir = try temporaryFolder()
        let j = job(in: dir, shards: 2)
        try j.write(force: false)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [j.arrayScriptPath]
        process.environment = ["SLURM_ARRAY_TASK_ID": "0", "PATH": "/usr/bin:/bin"]
        let err = Pipe()
        process.standardError = err
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 66)
        #expect(text.hasPrefix("ketasim: /opt/ketasim/bin/ketasim is not an executable file on "), "\(text)")
        #expect(text.split(separator: "\n").count == 1)
        #expect(!FileManager.default.fileExists(atPath: j.shardFile(1)))
    }

    @Test func writingTwiceNeedsForceAndTheManifestRoundTrips() throws {
        let dir = try temporaryFolder()
        let j = job(in: dir)
        try j.write(force: false)
        #expect(throws: SlurmError.exists(j.directory)) { try j.write(force: false) }
        #expect(try SlurmJob.load(directory: j.directory) == j)
        #expect(throws: SlurmError.self) { try SlurmJob.load(directory: dir) }
        try j.write(force: true)
        #expect(FileManager.default.fileExists(atPath: j.arrayScriptPath) && FileManager.default.fileExists(atPath: j.directory + "/logs"))
    }
}

@Suite("Slurm state from sacct and squeue")
struct SlurmStateTests {
    @Test func sacctLinesBecomeOneRecordPerTaskStepsSkipped() {
        let text = """
        4711_0|COMPLETED|0:0
        4711_0.batch|COMPLETED|0:0
        4711_0.extern|COMPLETED|0:0
        4711_1|CANCELLED by 1000|0:15
        4711_2|FAILED|1:0
        4711_[3-5,7%2]|PENDING|0:0
        4712|PENDING|0:0
        sacct: error: something odd
        garbage without bars

        """
        let r = SlurmParsing.sacct(text)
        #expect(r.count == 8)
        #expect(r[0] == SchedulerRecord(jobID: "4711", task: 0, state: "COMPLETED"))
        #expect(r[1].state == "CANCELLED" && r[1].category == .failed)
        #expect(r[2].category == .failed)
        #expect(r.filter { $0.state == "PENDING" && $0.task != nil }.compactMap(\.task) == [3, 4, 5, 7])
        #expect(r.last == SchedulerRecord(jobID: "4712", task: nil, state: "PENDING"))
    }

    @Test func squeueLinesKeepTheReason() {
        let r = SlurmParsing.squeue("15_2|PENDING|JobArrayTaskLimit\n15_0|RUNNING|None\n16|PENDING|DependencyNeverSatisfied\n")
        #expect(r == [SchedulerRecord(jobID: "15", task: 2, state: "PENDING", reason: "JobArrayTaskLimit"),
                      SchedulerRecord(jobID: "15", task: 0, state: "RUNNING"),
                      SchedulerRecord(jobID: "16", task: nil, state: "PENDING", reason: "DependencyNeverSatisfied")])
        #expect(SlurmParsing.expand("12_[1-") == nil)
        #expect(SlurmParsing.expand("x_1") == nil)
    }

    /// Shard 1 complete; 2 torn and cancelled; 3 pending; 4 never heard of; 5 left the queue unfinished;
    /// 6 complete although sacct still says RUNNING (the file wins).
    @Test func shardStatesCombineFilesExitFilesAndTheScheduler() throws {
        let dir = try temporaryFolder()
        var j = job(in: dir, runs: 12, shards: 6)
        try j.write(force: false)
        j.submissions = [SlurmSubmission(arrayJobID: "50", shards: [1, 2, 3, 5, 6], mergeJobID: "51")]
        try writeShard(j.shardFile(1), ids: [1, 7])
        try writeShard(j.shardFile(2), ids: [2], torn: true)
        try writeShard(j.shardFile(6), ids: [6, 12])
        let records = SlurmParsing.sacct("50_0|COMPLETED|0:0\n50_1|CANCELLED by 0|0:15\n50_[2%2]|PENDING|0:0\n50_5|RUNNING|0:0\n")
            + SlurmParsing.squeue("51|PENDING|Dependency\n")
        let s = j.status(records: records)
        #expect(s.shards == [.done, .failed, .pending, .missing, .failed, .done])
        #expect(s.rows == [2, 1, 0, 0, 0, 2])
        #expect(s.rowsWritten == 5 && s.rowsTotal == 12)
        #expect(s.reasons[1] == "CANCELLED")
        #expect(s.merge == .pending && !s.finished)

        // The merge's own exit file decides, once written.
        try "1\n".write(toFile: j.directory + "/merge.exit", atomically: true, encoding: .utf8)
        #expect(j.status(records: records).merge == .failed)
        try "0\n".write(toFile: j.directory + "/merge.exit", atomically: true, encoding: .utf8)
        #expect(j.status(records: records).merge == .completed)
    }

    @Test func aMergeThatCanNeverRunCountsAsFailed() throws {
        let dir = try temporaryFolder()
        var j = job(in: dir, runs: 4, shards: 2)
        j.submissions = [SlurmSubmission(arrayJobID: "7", shards: [1, 2], mergeJobID: "8")]
        let s = j.status(records: SlurmParsing.squeue("8|PENDING|DependencyNeverSatisfied\n"))
        #expect(s.merge == .failed && s.finished)
        #expect(j.status(records: []).merge == .unknown)
    }

    @Test func resubmissionTakesFailedAndMissingShardsOnly() throws {
        func status(_ shards: [ShardState], merge: MergeState) -> SlurmJobStatus {
            SlurmJobStatus(shards: shards, rows: shards.map { _ in 0 }, reasons: shards.map { _ in nil }, rowsTotal: 10, merge: merge)
        }
        #expect(try SlurmJob.resubmission(status([.done, .failed, .done, .missing], merge: .failed), directory: "d") == [2, 4])
        #expect(throws: SlurmError.stillRunning(2)) {
            try SlurmJob.resubmission(status([.running, .failed, .pending], merge: .pending), directory: "d")
        }
        #expect(throws: SlurmError.nothingToResubmit("d")) {
            try SlurmJob.resubmission(status([.done, .done], merge: .completed), directory: "d")
        }
        // Every shard done but the merge failed: the merge alone.
        #expect(try SlurmJob.resubmission(status([.done, .done], merge: .failed), directory: "d") == [])
    }

    @Test func submitAndResubmitCallSbatchAsExpected() throws {
        let dir = try temporaryFolder()
        var j = job(in: dir, runs: 8, shards: 4)
        try j.write(force: false)
        let fake = FakeScheduler()
        try j.submit(with: fake)
        #expect(fake.calls[0] == ["sbatch", "--parsable", "--array=0-3%2", j.arrayScriptPath])
        #expect(fake.calls[1] == ["sbatch", "--parsable", "--dependency=afterok:101", j.mergeScriptPath])
        #expect(j.submissions == [SlurmSubmission(arrayJobID: "101", shards: [1, 2, 3, 4], mergeJobID: "102", submittedAt: j.submissions[0].submittedAt)])
        #expect(try SlurmJob.load(directory: j.directory).submissions.count == 1)
        #expect(try String(contentsOfFile: j.mergeScriptPath, encoding: .utf8).contains("--dependency=afterok:101"))

        // Shards 1 and 3 done; 2 cancelled; 4 left the queue; the merge waits for ever.
        try writeShard(j.shardFile(1), ids: [1, 5])
        try writeShard(j.shardFile(3), ids: [3, 7])
        let answers = FakeScheduler(answers: [
            "sacct": SlurmToolResult(status: 1, stdout: "", stderr: "Slurm accounting storage is disabled"),
            "squeue": SlurmToolResult(status: 0, stdout: "101_0|COMPLETED|None\n101_1|CANCELLED|None\n101_2|COMPLETED|None\n102|PENDING|DependencyNeverSatisfied\n", stderr: ""),
            "scancel": SlurmToolResult(status: 0, stdout: "", stderr: ""),
        ])
        // The fake numbers its own jobs from 101 again: the new array is 101, its merge 102.
        let again = try j.resubmit(with: answers)
        #expect(again == [2, 4])
        let sbatch = answers.calls.filter { $0[0] == "sbatch" }
        #expect(sbatch.first == ["sbatch", "--parsable", "--array=1,3%2", j.arrayScriptPath])
        #expect(j.submissions.count == 2 && j.submissions[1].shards == [2, 4])
        // The old merge is no longer pending once its dependency failed, so nothing is cancelled.
        #expect(!answers.calls.contains { $0[0] == "scancel" })
    }

    @Test func aRefusedSubmissionIsOneSentence() throws {
        struct Refusing: SlurmScheduler {
            func run(_ tool: String, _ arguments: [String]) -> SlurmToolResult {
                SlurmToolResult(status: 1, stdout: "", stderr: "sbatch: error: invalid partition specified: nope\nmore\n")
            }
        }
        struct Missing: SlurmScheduler {
            func run(_ tool: String, _ arguments: [String]) -> SlurmToolResult { SlurmToolResult(status: 127, stdout: "", stderr: "") }
        }
        var j = job(in: try temporaryFolder())
        try j.write(force: false)
        #expect(throws: SlurmError.submitFailed(j.arrayScriptPath, "sbatch: error: invalid partition specified: nope")) { try j.submit(with: Refusing()) }
        #expect(throws: SlurmError.toolMissing("sbatch")) { try j.submit(with: Missing()) }
        #expect(SlurmError.toolMissing("sbatch").description.hasPrefix("`sbatch` is not on the PATH"))
    }
}

@Suite("Slurm jobs of commands that write a folder")
struct SlurmFolderJobTests {
    private func folderJob(in dir: String) -> SlurmJob {
        SlurmJob(command: "fit", binary: "/opt/ketasim/bin/ketasim", arguments: ["fit", "/data/problem.yaml", "--starts", "4"],
                 inputFiles: ["/data/problem.yaml"], workingDirectory: dir, output: dir + "/fit",
                 runsTotal: 4, shards: 2, maxParallel: nil, resources: SlurmResources(cpusPerTask: 3), resultFile: "starts.csv")
    }

    @Test func shardsWriteFoldersAndTheMergeFinishesWithResume() throws {
        let dir = try temporaryFolder()
        let j = folderJob(in: dir)
        #expect(j.shardFile(2) == dir + "/fit.slurm/shard-2/starts.csv")
        #expect(j.mergedFile == dir + "/fit/starts.csv")
        #expect(j.arrayScript.contains("ketasim fit /data/problem.yaml --starts 4 --jobs 3 --shard \"$I/2\" -o \(dir)/fit.slurm/shard-\"$I\" --resume\n"))
        let merge = j.mergeScript(afterArray: "7")
        #expect(merge.contains("mkdir -p \(dir)/fit && /opt/ketasim/bin/ketasim merge \(dir)/fit.slurm/shard-1/starts.csv \(dir)/fit.slurm/shard-2/starts.csv -o \(dir)/fit/starts.csv --force && /opt/ketasim/bin/ketasim fit /data/problem.yaml --starts 4 --jobs 1 -o \(dir)/fit --resume\n"))
        // The state is counted from the rows file inside each shard's folder.
        try FileManager.default.createDirectory(atPath: dir + "/fit.slurm/shard-1", withIntermediateDirectories: true)
        try writeShard(j.shardFile(1), ids: [1, 3])
        let s = j.status(records: [])
        #expect(s.shards == [.done, .missing] && s.rowsWritten == 2)
    }

    @Test func aManifestWithoutAResultFileIsASweepJob() throws {
        let dir = try temporaryFolder()
        let j = job(in: dir)
        try j.write(force: false)
        var text = try String(contentsOfFile: j.manifestPath, encoding: .utf8)
        #expect(!text.contains("resultFile"))
        text = text.replacingOccurrences(of: "\"command\"", with: "\"resultFile\" : \"runs.csv\",\n  \"command\"")
        try text.write(toFile: j.manifestPath, atomically: true, encoding: .utf8)
        #expect(try SlurmJob.load(directory: j.directory).shardFile(1) == j.directory + "/shard-1/runs.csv")
        try j.write(force: true)
        #expect(try SlurmJob.load(directory: j.directory).shardFile(1) == j.directory + "/shard-1.csv")
    }

    /// The library states facts; which option changes them is the command line's to say.
    @Test(arguments: [SlurmError.exists("/d"), .cannotWrite("/d", "full"), .notAJobDirectory("/d", "no job.json"), .toolMissing("sbatch"),
                      .submitFailed("/d/a.sbatch", "bad"), .unparsableJobID("/d/a.sbatch", "x"), .stillRunning(2), .nothingToResubmit("/d")])
    func slurmErrorsNameNoOption(error: SlurmError) {
        #expect(!error.description.contains("--"), "\(error.description)")
        #expect(!error.description.contains("\n"))
    }
}

@Suite("Ordered work queue")
struct OrderedWorkQueueTests {
    /// Workers finishing in scrambled order still hand results over in position order.
    @Test func resultsComeBackInOrder() {
        let queue = OrderedWorkQueue<Int>(total: 200, window: 5)
        for _ in 0..<4 {
            Thread {
                while let k = queue.claim() {
                    usleep(UInt32((k * 7919) % 13) * 100)
                    queue.deliver(k * k, at: k)
                }
            }.start()
        }
        var got: [Int] = []
        while let x = queue.next() { got.append(x) }
        #expect(got == (0..<200).map { $0 * $0 })
    }

    /// A worker cannot claim more than the window ahead of the consumer: memory stays bounded.
    @Test func claimsWaitForTheConsumerBeyondTheWindow() {
        let queue = OrderedWorkQueue<Int>(total: 10, window: 2)
        #expect(queue.claim() == 0 && queue.claim() == 1)
        let third = Claimed()
        Thread { third.set(queue.claim()) }.start()
        usleep(200_000)
        #expect(third.get() == nil, "a third claim must wait")
        queue.deliver(0, at: 0)
        #expect(queue.next() == 0)
        for _ in 0..<100 where third.get() == nil { usleep(10_000) }
        #expect(third.get() == 2)
        queue.finish()
    }

    /// A stop hands back what was already claimed, and no position after it.
    @Test func aStopKeepsTheClaimedWorkAndClaimsNoMore() {
        let queue = OrderedWorkQueue<Int>(total: 100, window: 3)
        let a = queue.claim(), b = queue.claim()
        #expect(a == 0 && b == 1)
        queue.deliver(10, at: 0)
        queue.deliver(11, at: 1)
        var got: [Int] = []
        while let x = queue.next(shouldStop: { true }) { got.append(x) }
        #expect(got == [10, 11])
        #expect(queue.claim() == nil)
    }
}

private final class Claimed: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Int?
    func set(_ v: Int?) { lock.withLock { value = v } }
    func get() -> Int? { lock.withLock { value } }
}
