import ArgumentParser
import Experiments
import Foundation

struct Jobs: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the state of a Slurm job written by --slurm, and resubmit its failed or missing shards.",
        discussion: """
        JOBDIR is the folder <output>.slurm/ that `ketasim sweep|sensitivity|fit --slurm -o <output>` \
        wrote (the output path itself is accepted too). A shard is done when its file holds all its rows; running or \
        pending as squeue/sacct say; failed when the scheduler or its exit file says it ended without \
        all its rows (cancelled, timed out, out of memory, node failure); missing when nothing shows it \
        ever ran. Rows so far count the whole rows of every shard file.

        --resubmit submits the failed and missing shards again as one array (each resumes from the last \
        whole row of its file) and a new merge job after it, replacing a merge still waiting on the old \
        array. With every shard done it submits the merge alone.

        Examples:
          ketasim jobs grid.csv.slurm
          ketasim jobs grid.csv.slurm --resubmit --wait
        """
    )

    @Argument(help: "Job directory (<output>.slurm).")
    var directory: String

    @Flag(help: "Submit the failed and missing shards again, and a new merge job.")
    var resubmit = false

    @Flag(help: "Wait until the merge job ends; exit 0 only if it succeeded (75 otherwise).")
    var wait = false

    func run() throws {
        var dir = absolutePath(directory)
        if dir.hasSuffix("/") { dir.removeLast() }
        let fm = FileManager.default
        if !fm.fileExists(atPath: dir + "/job.json"), fm.fileExists(atPath: dir + ".slurm/job.json") { dir += ".slurm" }
        var job: SlurmJob
        do { job = try SlurmJob.load(directory: dir) } catch { throw slurmError(error) }
        let scheduler = SystemSlurmScheduler()
        if resubmit {
            let again: [Int]
            do { again = try job.resubmit(with: scheduler) } catch { throw slurmError(error) }
            let s = job.submissions.last
            let shards = again.isEmpty ? "no shards (all done)" : "shard\(again.count == 1 ? "" : "s") " + again.map(String.init).joined(separator: ", ")
            try printOut("resubmitted \(shards)\(s?.arrayJobID.map { " as array job \($0)" } ?? "") and merge job \(s?.mergeJobID ?? "?")")
        }
        if wait {
            try waitForSlurm(job, scheduler: scheduler)
            return
        }
        try printOut(Jobs.report(job, job.status(with: scheduler)))
    }

    static func report(_ job: SlurmJob, _ s: SlurmJobStatus) -> String {
        var lines = ["\(job.directory): \(job.command), \(job.runsTotal) runs in \(job.shards) shards -> \(job.output)"]
        if let last = job.submissions.last {
            lines.append("jobs: " + (last.arrayJobID.map { "array \($0), " } ?? "") + "merge \(last.mergeJobID)" + (job.submissions.count > 1 ? " (submission \(job.submissions.count))" : ""))
        } else {
            lines.append("jobs: none submitted yet")
        }
        lines.append("shards: \(s.count(.done)) done, \(s.count(.running)) running, \(s.count(.pending)) pending, \(s.count(.failed)) failed, \(s.count(.missing)) missing")
        lines.append("rows: \(s.rowsWritten) of \(s.rowsTotal)")
        let failed = s.shards(.failed)
        if !failed.isEmpty {
            lines.append("failed: " + failed.map { k in "\(k)" + (s.reasons[k - 1].map { " (\($0))" } ?? "") }.joined(separator: ", "))
        }
        let missing = s.shards(.missing)
        if !missing.isEmpty { lines.append("missing: " + missing.map(String.init).joined(separator: ", ")) }
        lines.append("merge: \(s.merge.rawValue)" + (s.mergeReason.map { " (\($0))" } ?? "") + (s.merge == .completed ? ", \(job.output) written" : ""))
        if !failed.isEmpty || !missing.isEmpty || s.merge == .failed {
            lines.append("next: ketasim jobs \(shellQuoted(job.directory)) --resubmit")
        }
        return lines.joined(separator: "\n")
    }
}
