import Foundation
import Testing

let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
let suiteCase41 = repositoryRoot.deletingLastPathComponent().appendingPathComponent("shared/sbml-test-suite/cases/00041/00041-sbml-l3v2.xml").path
let example = repositoryRoot.appendingPathComponent("models/examples/two_compartment.yaml").path

/// The built `ketasim` beside the test bundle (`swift test` builds the executable it depends on).
func ketasimBinary() throws -> URL {
    let testBinary = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
    var dir = testBinary.deletingLastPathComponent()
    for _ in 0..<4 {
        let candidate = dir.appendingPathComponent("ketasim")
        if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        dir = dir.deletingLastPathComponent()
    }
    let fallback = repositoryRoot.appendingPathComponent(".build/debug/ketasim")
    try #require(FileManager.default.isExecutableFile(atPath: fallback.path), "ketasim binary not found")
    return fallback
}

struct Outcome {
    var status: Int32
    var stdout: String
    var stderr: String
}

func ketasim(_ arguments: [String], cwd: URL? = nil, environment: [String: String]? = nil) throws -> Outcome {
    let process = Process()
    process.executableURL = try ketasimBinary()
    process.arguments = arguments
    if let cwd { process.currentDirectoryURL = cwd }
    if let environment { process.environment = environment }
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let o = out.fileHandleForReading.readDataToEndOfFile()
    let e = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return Outcome(status: process.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
}

func temporaryDirectory() throws -> URL {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ketasim-cli-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    return dir
}

@Suite("ketasim command line")
struct CLITests {
    @Test func runWritesCSVWithTimeUnitToStandardOutput() throws {
        let r = try ketasim(["run", example, "--outputs", "concentration", "--t-end", "2h", "--every", "1h"])
        #expect(r.status == 0, "\(r.stderr)")
        let lines = r.stdout.split(separator: "\n")
        #expect(lines.first == "time_h,concentration")
        #expect(lines.count == 4)  // header + t = 0, 1, 2
        let c1 = Double(lines[2].split(separator: ",")[1]) ?? .nan
        #expect(abs(c1 - 32.3555) < 1e-3)  // Bateman at 1 h: 32.3555 uM
    }

    /// `--repeat` reports the work of a run, including how many states it integrated: an intravenous
    /// ketamine dose leaves the other drugs' compartments (and ketamine's own depot and gut) out.
    @Test func repeatReportsTheStatesIntegrated() throws {
        let r = try ketasim(["run", "--scenario", "human_ketamine_infusion", "--t-end", "2h", "--outputs", "madrs_change", "--repeat", "1"])
        #expect(r.status == 0, "\(r.stderr)")
        let line = try #require(r.stderr.split(separator: "\n").first { $0.hasPrefix("timing: 1 runs") })
        // "... (318 steps, msbdf; 1131 RHS, 11 Jacobian evaluations, 2 restarts, 27 of 45 states integrated)"
        let parts = try #require(line.dropLast().split(separator: ", ").last).split(separator: " ")
        #expect(parts.count == 5 && parts[1] == "of" && parts[3] == "states", "\(line)")
        let integrated = Int(parts.first ?? "") ?? 0, all = Int(parts.count > 2 ? parts[2] : "") ?? 0
        #expect(all > 0 && integrated > 0 && integrated < all, "\(line)")
    }

    /// Without --every the grid is refined to every minute for 6 h after each dose, so the peak a plot
    /// or a reader takes from the file is the run's own: the oral dose at 0 peaks between grid hours.
    @Test func runSamplesEveryMinuteAfterADoseByDefault() throws {
        let r = try ketasim(["run", example, "--outputs", "concentration", "--t-end", "8h"])
        #expect(r.status == 0, "\(r.stderr)")
        let rows = r.stdout.split(separator: "\n").dropFirst().compactMap { line -> (Double, Double)? in
            let f = line.split(separator: ",")
            guard f.count == 2, let t = Double(f[0]), let c = Double(f[1]) else { return nil }
            return (t, c)
        }
        // Minutes 0..360 after the dose, plus the hourly grid past 6 h (7 h, 8 h).
        #expect(rows.count == 361 + 2)
        let peak = rows.max { $0.1 < $1.1 }
        let hourly = rows.filter { $0.0 == $0.0.rounded() }.max { $0.1 < $1.1 }
        #expect(peak.map { $0.0 != $0.0.rounded() } == true, "the peak falls between grid hours")
        #expect((peak?.1 ?? 0) > (hourly?.1 ?? .infinity))
    }

    /// An SBML model in seconds (Test Suite case 00041, with events): durations convert into its unit,
    /// the time column says so, the events fire (S1 is reset to 1 when it falls below 0.1), and a sweep
    /// over one of its parameters runs them too.
    @Test(.enabled(if: FileManager.default.fileExists(atPath: suiteCase41), "the SBML Test Suite is not beside the repository"))
    func sbmlModelRunsInItsOwnTimeUnitWithItsEvents() throws {
        let model = suiteCase41
        let r = try ketasim(["run", model, "--t-end", "1min", "--every", "30s", "--rtol", "1e-10", "--atol", "1e-14"])
        #expect(r.status == 0, "\(r.stderr)")
        let lines = r.stdout.split(separator: "\n")
        #expect(lines.first == "time_s,S1,S2")
        #expect(lines.count == 4)
        #expect(lines.last?.hasPrefix("60,") == true)
        // S1 decays as exp(-k1 t) and is reset to 1 at each crossing of 0.1: at t = 30 it is below 1 and above 0.1.
        let s1 = lines.dropFirst().compactMap { Double($0.split(separator: ",")[1]) }
        #expect(s1.count == 3 && s1.allSatisfy { $0 >= 0.1 - 1e-6 && $0 <= 1 + 1e-9 })
        let dir = try temporaryDirectory()
        let out = dir.appendingPathComponent("k1.csv").path
        let sweep = try ketasim(["sweep", "--model", model, "--vary", "k1=0.5,2", "--t-end", "10", "-o", out])
        #expect(sweep.status == 0, "\(sweep.stderr)")
        let rows = try String(contentsOfFile: out, encoding: .utf8).split(separator: "\n")
        #expect(rows.count == 3 && rows.dropFirst().allSatisfy { $0.contains(",ok,") })
        let tooVague = try ketasim(["run", model, "--t-end", "1 fortnight"])
        #expect(tooVague.status == 64)
    }

    @Test func outputFileIsNotOverwrittenWithoutForce() throws {
        let dir = try temporaryDirectory()
        let path = dir.appendingPathComponent("out.csv").path
        #expect(try ketasim(["run", example, "-o", path]).status == 0)
        try "keep me".write(toFile: path, atomically: true, encoding: .utf8)
        let again = try ketasim(["run", example, "-o", path])
        #expect(again.status == 64)
        #expect(again.stderr.contains("already exists; pass --force to overwrite it"))
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "keep me")
        #expect(try ketasim(["run", example, "-o", path, "--force"]).status == 0)
        #expect(try String(contentsOfFile: path, encoding: .utf8).hasPrefix("time_h,"))
    }

    @Test(arguments: [
        (["run", example, "--scenario", "single_orl"], "unknown scenario `single_orl`; did you mean `single_oral`?"),
        (["run", example, "--dose", "drug 10 mg/kg xx at 0"], "drug has no route `xx`"),
        (["run", example, "--dose", "drug 10 mg/kg oral at 3d"], "not after the last dose at 72 h"),
        (["run", example, "--dose", "drug 10 mg/kg oral at -1d"], "the dose at -24 h lies before the start of the run (t = 0)"),
        (["run", example, "--outputs", "concentration,concentration"], "--outputs names `concentration` twice"),
        (["run", example, "--outputs", ""], "has an empty name"),
        (["run", example, "-o", "/tmp/same.csv", "--plot", "/tmp/same.csv", "--force"], "/tmp/same.csv is given for two outputs"),
        (["run", example, "--t-end", "3 weeks"], "--t-end: `3 weeks` is not a duration"),
        (["run", example, "--set", "kx=2"], "--set: unknown parameter `kx`; did you mean `ka` or `ke`?"),
        (["run", example, "--stepper", "rk5"], "The value 'rk5' is invalid for '--stepper <stepper>'. Expected one of: rk2, rk4, rkf45,"),
        (["run", example, "--rtol=-1"], "relative tolerance must be a finite number >= 0"),
    ])
    func badArgumentsExit64WithOneReason(arguments: [String], message: String) throws {
        let r = try ketasim(arguments)
        #expect(r.status == 64)
        // The whole reason on the first line (a hint to --help may follow it).
        #expect(r.stderr.split(separator: "\n").first?.contains(message) == true, "\(r.stderr)")
        #expect(r.stderr.hasPrefix("ketasim: "), "\(r.stderr)")
        #expect(!r.stderr.contains("Usage:"))
        #expect(r.stdout.isEmpty)
    }

    @Test func aDeviceIsWrittenThroughNotReplaced() throws {
        let r = try ketasim(["run", example, "-o", "/dev/null", "--force"])
        #expect(r.status == 0, "\(r.stderr)")
        let attributes = try FileManager.default.attributesOfItem(atPath: "/dev/null")
        #expect(attributes[.type] as? FileAttributeType == .typeCharacterSpecial)
        #expect(!FileManager.default.fileExists(atPath: "/dev/null.meta.json"))
        try? FileManager.default.removeItem(atPath: "/dev/null.meta.json")
    }

    @Test(.enabled(if: FileManager.default.fileExists(atPath: "/dev/full"), "this system has no /dev/full"))
    func aFullDiskIsOneLineAndExit73() throws {
        let process = Process()
        process.executableURL = try ketasimBinary()
        process.arguments = ["run", example]
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: "/dev/full"))
        let err = Pipe()
        process.standardError = err
        try process.run()
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 73)
        #expect(stderr.hasPrefix("ketasim: cannot write to standard output") && stderr.split(separator: "\n").count == 1, "\(stderr)")
    }

    @Test func badModelFileExits65WithLocations() throws {
        let dir = try temporaryDirectory()
        let path = dir.appendingPathComponent("bad.yaml").path
        let text = try String(contentsOfFile: example, encoding: .utf8)
            .replacingOccurrences(of: "central: ka * depot - ke * central", with: "central: ka * depot - kee * central")
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        for args in [["validate", path], ["run", path]] {
            let r = try ketasim(args)
            #expect(r.status == 65)
            #expect(r.stderr.contains("bad.yaml:45:25: error: unknown symbol `kee`; did you mean `ke`?"), "\(r.stderr)")
            #expect(r.stderr.contains("1 problem in the model file"))
        }
        #expect(try ketasim(["validate", example]).status == 0)
    }

    @Test func helpTeachesDosesAndDurations() throws {
        let r = try ketasim(["run", "--help"])
        #expect(r.status == 0)
        #expect(r.stdout.contains("ketamine 0.5 mg/kg iv over 40min at 0"))
        #expect(r.stdout.contains("30s, 30min, 2h, 21d, 1w"))
        #expect(r.stdout.contains("msbdf"))
    }
}

/// Peak of the example's oral Bateman curve (F 0.5, ka 1.5/h, ke 0.3/h, V 10 L), at t = ln(ka/ke)/(ka-ke).
func batemanPeak(micromoles dose: Double) -> Double {
    let t = log(1.5 / 0.3) / 1.2
    return 0.5 * dose * 1.5 / (10 * 1.2) * (exp(-0.3 * t) - exp(-1.5 * t))
}

@Suite("sweep, compare, merge")
struct SweepCLITests {
    let sweepArgs = ["sweep", "--model", example, "--vary", "dose=0:500:100", "--vary", "ke=0.1,0.3", "--outputs", "concentration", "--at", "1h,6h"]

    @Test func sweepRowsAreCompleteOrderedAndTraceable() throws {
        let dir = try temporaryDirectory()
        let out = dir.appendingPathComponent("s.csv").path
        let r = try ketasim(sweepArgs + ["-o", out, "--jobs", "2", "--series", dir.appendingPathComponent("series.csv").path])
        #expect(r.status == 0, "\(r.stderr)")
        let lines = try String(contentsOfFile: out, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 13)
        #expect(lines[0].hasPrefix("run_id,dose,ke,status,message,concentration.pre,concentration.min,concentration.max,concentration.t_max"))
        #expect(lines.dropFirst().map { Int($0.prefix { $0 != "," }) ?? 0 } == Array(1...12))
        // Run 12: dose 500 mg, ke 0.3. The Bateman peak lies between two rows of the hourly grid; metrics
        // see it through the per-minute detail after the dose.
        let last = lines[12].split(separator: ",", omittingEmptySubsequences: false)
        #expect(last[1] == "500" && last[2] == "0.3" && last[3] == "ok")
        #expect(abs((Double(last[7]) ?? 0) / batemanPeak(micromoles: 2000) - 1) < 1e-4)  // the minute grid misses the peak by 0.47 min
        #expect(abs((Double(last[8]) ?? 0) - log(5) / 1.2) <= 1.0 / 120)
        let series = try String(contentsOfFile: dir.appendingPathComponent("series.csv").path, encoding: .utf8).split(separator: "\n")
        #expect(series.first == "run_id,time_h,concentration")
        #expect(series.count == 1 + 12 * 25)
        let meta = try String(contentsOfFile: out + ".meta.json", encoding: .utf8)
        #expect(meta.contains("\"modelSHA256\""))
        #expect(meta.contains("\"runs_total\" : \"12\""))
        #expect(try String(contentsOfFile: dir.appendingPathComponent("series.csv").path + ".meta.json", encoding: .utf8) == meta)
    }

    @Test func heatMapShowsTheRequestedMetric() throws {
        let dir = try temporaryDirectory()
        let out = dir.appendingPathComponent("h.csv").path, svg = dir.appendingPathComponent("h.svg").path
        let r = try ketasim(["sweep", "--model", example, "--vary", "dose=100,200", "--vary", "ke=0.1,0.3", "--outputs", "concentration",
                             "-o", out, "--plot", svg, "--plot-metric", "concentration.max"])
        #expect(r.status == 0, "\(r.stderr)")
        // Each cell carries its value as a tooltip; run 4 (dose 200 mg, ke 0.3) has max 26.750 uM.
        let rows = try String(contentsOfFile: out, encoding: .utf8).split(separator: "\n")
        let header = rows[0].split(separator: ",").map(String.init)
        let column = try #require(header.firstIndex(of: "concentration.max"))
        let max4 = try #require(Double(rows[4].split(separator: ",", omittingEmptySubsequences: false)[column]))
        #expect(abs(max4 / batemanPeak(micromoles: 800) - 1) < 1e-4)
        let picture = try String(contentsOfFile: svg, encoding: .utf8)
        #expect(picture.contains("<title>26.75</title>"))
        #expect(picture.contains("concentration.max"))
    }

    @Test func shardsMergeIntoTheWholeSweepAndResumeFinishesAPartialFile() throws {
        let dir = try temporaryDirectory()
        func path(_ n: String) -> String { dir.appendingPathComponent(n).path }
        #expect(try ketasim(sweepArgs + ["-o", path("all.csv")]).status == 0)
        #expect(try ketasim(sweepArgs + ["-o", path("a.csv"), "--shard", "1/2"]).status == 0)
        #expect(try ketasim(sweepArgs + ["-o", path("b.csv"), "--shard", "2/2"]).status == 0)
        let missing = try ketasim(["merge", path("a.csv"), "-o", path("m.csv")])
        #expect(missing.status == 64 && missing.stderr.contains("6 of 12 runs are missing"))
        #expect(try ketasim(["merge", path("a.csv"), path("b.csv"), "-o", path("m.csv")]).status == 0)
        #expect(try String(contentsOfFile: path("m.csv"), encoding: .utf8) == String(contentsOfFile: path("all.csv"), encoding: .utf8))
        let twice = try ketasim(["merge", path("a.csv"), path("a.csv"), "-o", path("m2.csv")])
        #expect(twice.status == 64 && twice.stderr.contains("appears twice"))

        // A file cut after run 5, with a torn sixth row, is finished by --resume.
        let all = try String(contentsOfFile: path("all.csv"), encoding: .utf8).split(separator: "\n")
        try (all.prefix(6).joined(separator: "\n") + "\n" + all[6].prefix(10)).write(toFile: path("part.csv"), atomically: true, encoding: .utf8)
        let noSidecar = try ketasim(sweepArgs + ["-o", path("part.csv"), "--resume"])
        #expect(noSidecar.status == 64 && noSidecar.stderr.contains("part.csv.meta.json is missing"), "\(noSidecar.stderr)")
        try FileManager.default.copyItem(atPath: path("all.csv.meta.json"), toPath: path("part.csv.meta.json"))
        // Same columns, other grid or other shard: appending would mix two designs under one set of run IDs.
        var otherGrid = sweepArgs
        otherGrid[4] = "dose=0:500:50"
        let mixed = try ketasim(otherGrid + ["-o", path("part.csv"), "--resume"])
        #expect(mixed.status == 64 && mixed.stderr.contains("holds another design (different varied values, runs_total)"), "\(mixed.stderr)")
        let shard = try ketasim(sweepArgs + ["-o", path("part.csv"), "--resume", "--shard", "1/2"])
        #expect(shard.status == 64 && shard.stderr.contains("holds shard none (the whole sweep), not 1/2"), "\(shard.stderr)")
        let resumed = try ketasim(sweepArgs + ["-o", path("part.csv"), "--resume"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(try String(contentsOfFile: path("part.csv"), encoding: .utf8) == String(contentsOfFile: path("all.csv"), encoding: .utf8))
        let other = try ketasim(["sweep", "--model", example, "--vary", "dose=1,2", "-o", path("part.csv"), "--resume"])
        #expect(other.status == 64 && other.stderr.contains("holds another design ("), "\(other.stderr)")

        // Shards of different run lengths do not merge; a merge's sidecar names no shard.
        #expect(try ketasim(sweepArgs + ["-o", path("c.csv"), "--shard", "2/2", "--t-end", "30h"]).status == 0)
        let lengths = try ketasim(["merge", path("a.csv"), path("c.csv"), "-o", path("m3.csv")])
        #expect(lengths.status == 64 && lengths.stderr.contains("(different run length or output grid)"), "\(lengths.stderr)")
        let meta = try String(contentsOfFile: path("m.csv.meta.json"), encoding: .utf8)
        #expect(!meta.contains("\"shard\"") && meta.contains("merged_from"))
    }

    @Test func anAtTimePastTheEndIsNamed() throws {
        let dir = try temporaryDirectory()
        let r = try ketasim(["sweep", "--model", example, "--vary", "dose=100,200", "-o", dir.appendingPathComponent("late.csv").path])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("note: at_7d falls after the end of the run at 24 h"), "\(r.stderr)")
    }

    @Test func failedRunsAreRowsAndTheSweepExits3() throws {
        let dir = try temporaryDirectory()
        let out = dir.appendingPathComponent("f.csv").path
        // An explicit stepper with a small step budget fails on the stiff ke = 3000 run only.
        let r = try ketasim(["sweep", "--model", example, "--vary", "ke=0.3,3000", "--stepper", "rkf45", "--max-steps", "200", "-o", out, "--outputs", "concentration"])
        let rows = try String(contentsOfFile: out, encoding: .utf8).split(separator: "\n")
        #expect(rows.count == 3)
        #expect(rows[1].contains(",ok,"))
        #expect(rows[2].hasPrefix("2,3000,failed,gave up after 200 steps at t = "))
        #expect(r.status == 3)
        #expect(r.stderr.contains("1 of 2 runs failed"))
    }

    @Test func compareWritesSeriesSummaryAndPlot() throws {
        let dir = try temporaryDirectory()
        let r = try ketasim(["compare", "--model", example, "--scenarios", "single_oral", "-o", dir.path, "--plot", "--table-metric", "max"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("concentration"))
        let summary = try String(contentsOfFile: dir.appendingPathComponent("summary.csv").path, encoding: .utf8)
        #expect(summary.hasPrefix("scenario,concentration.pre,"))
        #expect(summary.contains(".vs_single_oral"))
        let svg = try String(contentsOfFile: dir.appendingPathComponent("compare.svg").path, encoding: .utf8)
        #expect(svg.hasPrefix("<svg") && svg.contains("<polyline"))
        for file in ["summary.csv", "timeseries.csv", "compare.svg"] {
            #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent(file + ".meta.json").path), "\(file) has no sidecar")
        }
        let again = try ketasim(["compare", "--model", example, "--scenarios", "single_oral", "-o", dir.path])
        #expect(again.status == 64 && again.stderr.contains("already exists"))
        let bad = try ketasim(["compare", "--model", example, "--scenarios", "single_orall"])
        #expect(bad.status == 64 && bad.stderr.contains("did you mean `single_oral`?"))
    }
}

@Suite("Interrupting a sweep")
struct InterruptTests {
    @Test func ctrlCKeepsEveryFinishedRunAndResumeFinishesTheRest() throws {
        let dir = try temporaryDirectory()
        let out = dir.appendingPathComponent("big.csv").path
        let args = ["sweep", "--model", example, "--vary", "dose=1:4000:1", "--outputs", "concentration", "--every", "5min", "--jobs", "2", "-o", out]
        let process = Process()
        process.executableURL = try ketasimBinary()
        process.arguments = args
        let err = Pipe()
        process.standardError = err
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        // Wait until some rows are on disk, then interrupt.
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            let text = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
            if text.split(separator: "\n").count > 20 { break }
            Thread.sleep(forTimeInterval: 0.02)
        }
        kill(process.processIdentifier, SIGINT)
        process.waitUntilExit()
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let lines = try String(contentsOfFile: out, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
        // 4000 runs take seconds; the signal comes within milliseconds of the 20th row.
        #expect(process.terminationStatus == 130)
        #expect(stderr.contains("--resume"))
        // A valid file: a header, whole rows in run order with no gap, ending in a newline.
        #expect(lines.last == "")
        let ids = lines.dropFirst().dropLast().map { Int($0.prefix { $0 != "," }) ?? -1 }
        #expect(ids == Array(1...ids.count))
        #expect(ids.count < 4000)
        let resumed = try ketasim(args + ["--resume"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        let all = try String(contentsOfFile: out, encoding: .utf8).split(separator: "\n")
        #expect(all.dropFirst().map { Int($0.prefix { $0 != "," }) ?? -1 } == Array(1...4000))
    }
}

/// Issue 11: no lost or damaged data, and numbers taken at face value.
@Suite("Files are never lost or mixed")
struct FileSafetyTests {
    @Test func aSecondSweepOnTheSameFileStopsWithExit73() throws {
        let dir = try temporaryDirectory()
        let out = dir.appendingPathComponent("grid.csv").path
        let args = ["sweep", "--model", example, "--vary", "dose=1:4000:1", "--outputs", "concentration", "--every", "5min", "--jobs", "1", "-o", out]
        let first = Process()
        first.executableURL = try ketasimBinary()
        first.arguments = args
        first.standardOutput = FileHandle.nullDevice
        first.standardError = FileHandle.nullDevice
        try first.run()
        defer { if first.isRunning { kill(first.processIdentifier, SIGKILL); first.waitUntilExit() } }
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline, ((try? String(contentsOfFile: out, encoding: .utf8)) ?? "").split(separator: "\n").count < 5 {
            Thread.sleep(forTimeInterval: 0.02)
        }
        let second = try ketasim(args + ["--force"])
        #expect(second.status == 73)
        #expect(second.stderr.contains("another ketasim run is writing"), "\(second.stderr)")
        #expect(first.isRunning, "the first sweep was disturbed")
    }

    @Test func anOutputThatIsAnInputIsRefusedEvenWithForce() throws {
        let dir = try temporaryDirectory()
        let model = dir.appendingPathComponent("m.yaml").path
        try FileManager.default.copyItem(atPath: example, toPath: model)
        let before = try String(contentsOfFile: model, encoding: .utf8)
        let r = try ketasim(["run", model, "-o", model, "--force"])
        #expect(r.status == 64)
        #expect(r.stderr.contains("is an input of this run"), "\(r.stderr)")
        #expect(try String(contentsOfFile: model, encoding: .utf8) == before)
    }

    @Test func aMissingFolderIsNotCreated() throws {
        let dir = try temporaryDirectory()
        let out = dir.appendingPathComponent("no/such/folder/x.csv").path
        let r = try ketasim(["run", example, "-o", out])
        #expect(r.status == 73)
        #expect(r.stderr.contains("does not exist"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("no").path))
    }

    @Test func mergeRefusesATornShard() throws {
        let dir = try temporaryDirectory()
        let a = dir.appendingPathComponent("a.csv").path, b = dir.appendingPathComponent("b.csv").path
        for (i, path) in [(1, a), (2, b)] {
            let r = try ketasim(["sweep", "--model", example, "--vary", "dose=1:6:1", "--outputs", "concentration", "--shard", "\(i)/2", "-o", path])
            #expect(r.status == 0, "\(r.stderr)")
        }
        // Cut the last row of b in the middle: a shard killed while writing (without --resume after).
        var text = try String(contentsOfFile: b, encoding: .utf8)
        text.removeLast(text.count - (text.dropLast().lastIndex(of: ",").map { text.distance(from: text.startIndex, to: $0) } ?? text.count))
        try text.write(toFile: b, atomically: true, encoding: .utf8)
        let r = try ketasim(["merge", a, b, "-o", dir.appendingPathComponent("all.csv").path])
        #expect(r.status == 64)
        #expect(r.stderr.contains(b) && r.stderr.contains("line"), "\(r.stderr)")
    }

    @Test func aFailedRunSaysSoInItsSidecar() throws {
        let dir = try temporaryDirectory()
        let out = dir.appendingPathComponent("f.csv").path
        let r = try ketasim(["run", example, "--t-end", "30h", "--max-steps", "3", "--stepper", "rk4", "-o", out])
        #expect(r.status == 70)
        let meta = try String(contentsOfFile: out + ".meta.json", encoding: .utf8)
        #expect(meta.contains("\"failure\""), "\(meta)")
    }

    @Test func negativeDurationsGetTheRealReason() throws {
        let r = try ketasim(["run", example, "--t-end", "-5h"])
        #expect(r.status == 64)
        #expect(r.stderr.contains("--t-end must be positive"), "\(r.stderr)")
    }

    /// Any negative number given to a numeric option is read as its value and refused for what it is,
    /// not taken for an unknown option ("Missing value").
    @Test(arguments: [(["run", "--rtol", "-1"], "relative tolerance must be a finite number >= 0"),
                      (["population", "--n", "-5", "-o", "p"], "--n must be at least 1"),
                      (["sweep", "--samples", "-3", "--vary", "dose=1:2", "-o", "s.csv"], "--samples must be at least 1"),
                      (["sweep", "--jobs", "-2", "--vary", "dose=1", "-o", "s.csv"], "--jobs must be at least 1"),
                      (["run", "--max-steps", "-5"], "maximum number of steps must be at least 1"),
                      (["run", "--max-step", "-1h"], "--max-step must be positive")])
    func negativeNumbersGetTheRealReason(arguments: [String], reason: String) throws {
        let r = try ketasim(arguments)
        #expect(r.status == 64 && r.stderr.contains(reason) && !r.stderr.contains("Missing value"), "\(r.status): \(r.stderr)")
    }
}

@Suite("model warnings")
struct ModelWarningCLITests {
    /// A warning of the loader (an unknown unit) reaches the user of every command, not only the library.
    @Test func aModelsWarningsArePrintedByTheCommandsThatLoadIt() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let text = try String(contentsOf: repositoryRoot.appendingPathComponent("models/examples/two_compartment.yaml"), encoding: .utf8)
            .replacingOccurrences(of: "unit: 1/h\n    description: absorption", with: "unit: furlongs/fortnight\n    description: absorption")
        let file = dir.appendingPathComponent("model.yaml").path
        try text.write(toFile: file, atomically: true, encoding: .utf8)
        for arguments in [["validate", file], ["run", "--model", file, "--outputs", "concentration"]] {
            let r = try ketasim(arguments)
            #expect(r.status == 0, "\(r.stderr)")
            #expect(r.stderr.contains("unknown unit `furlongs/fortnight`") && r.stderr.contains("model.yaml:"), "\(arguments[0]): \(r.stderr)")
        }
    }
}

@Suite("large models")
struct LargeModelCLITests {
    /// An implicit stepper on thousands of states factorizes a dense Jacobian (memory quadratic, time cubic
    /// in the states): ketasim says so before it starts, and stays quiet with an explicit stepper. The run
    /// stops at the --max-step check right after the note, so the test does not pay for the factorization.
    @Test func anImplicitStepperOnThousandsOfStatesIsNamedBeforeTheRun() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let n = 2_000
        let species = (0..<n).map { "<species id=\"S\($0)\" compartment=\"c\" initialConcentration=\"\($0 == 0 ? 1 : 0)\" hasOnlySubstanceUnits=\"false\" boundaryCondition=\"false\" constant=\"false\"/>" }.joined()
        let reactions = (0..<(n - 1)).map { i in
            "<reaction id=\"R\(i)\" reversible=\"false\"><listOfReactants><speciesReference species=\"S\(i)\" stoichiometry=\"1\" constant=\"true\"/></listOfReactants><listOfProducts><speciesReference species=\"S\(i + 1)\" stoichiometry=\"1\" constant=\"true\"/></listOfProducts><kineticLaw><math xmlns=\"http://www.w3.org/1998/Math/MathML\"><apply><times/><ci>k</ci><ci>S\(i)</ci></apply></math></kineticLaw></reaction>"
        }.joined()
        let xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><sbml xmlns=\"http://www.sbml.org/sbml/level3/version2/core\" level=\"3\" version=\"2\"><model id=\"chain\"><listOfCompartments><compartment id=\"c\" size=\"1\" constant=\"true\"/></listOfCompartments><listOfSpecies>\(species)</listOfSpecies><listOfParameters><parameter id=\"k\" value=\"1\" constant=\"true\"/></listOfParameters><listOfReactions>\(reactions)</listOfReactions></model></sbml>"
        let file = dir.appendingPathComponent("chain.xml").path
        try xml.write(toFile: file, atomically: true, encoding: .utf8)
        let implicit = try ketasim(["run", file, "--t-end", "0.01", "--max-step", "0h"])
        #expect(implicit.stderr.contains("note: 2000 states: the msbdf stepper factorizes a dense 2000 x 2000 Jacobian (32 MB a copy"), "\(implicit.stderr)")
        let explicit = try ketasim(["run", file, "--t-end", "0.01", "--max-step", "0h", "--stepper", "rkf45"])
        #expect(explicit.status != 0 && !explicit.stderr.contains("dense"), "\(explicit.stderr)")
    }
}

@Suite("model docs")
struct ModelDocsTests {
    /// docs/MODEL.md's parameter tables are the model's own values (scripts/model-docs writes them from
    /// `ketasim inspect --markdown`): a value changed in the model, by hand or by make calibrate, without
    /// regenerating the docs fails here.
    @Test func theDocumentedParametersAreTheModels() throws {
        let r = try ketasim(["inspect", "--markdown"])
        #expect(r.status == 0, "\(r.stderr)")
        let docs = try String(contentsOf: repositoryRoot.appendingPathComponent("docs/MODEL.md"), encoding: .utf8)
        #expect(!r.stdout.isEmpty && docs.contains(r.stdout), "docs/MODEL.md's Parameters section is out of date: run scripts/model-docs")
    }
}

@Suite("model robustness")
struct ModelRobustnessTests {
    /// Issue 14's robustness criterion: no parameter has an elasticity above 2 on the 24-h effect. It holds since
    /// burst translation saturates (docs/MODEL.md, "Robustness"); before, eight parameters were above 2.
    @Test func noParameterHasAnElasticityAboveTwoOnThe24hEffect() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let r = try ketasim(["sensitivity", "--scenario", "stress_continuing_ketamine", "--metrics", "synapse_density.change_24h",
                             "--local", "--all-parameters", "--at", "24h", "--jobs", "2", "-o", dir.path])
        #expect(r.status == 0, "\(r.stderr)")
        let rows = try String(contentsOf: dir.appendingPathComponent("local.csv"), encoding: .utf8)
            .split(separator: "\n").dropFirst().map { $0.split(separator: ",").map(String.init) }
        let elasticities = rows.compactMap { row -> (String, Double)? in
            guard row.count == 4, let e = Double(row[3]) else { return nil }
            return (row[0], e)
        }
        // Every parameter has a finite elasticity: none is left out (one-sided differences at bounds).
        #expect(elasticities.count == rows.count && elasticities.allSatisfy { $0.1.isFinite }, "\(rows.filter { $0.count != 4 || Double($0[3]) == nil })")
        let over = elasticities.filter { abs($0.1) > 2 }.sorted { abs($0.1) > abs($1.1) }
        #expect(over.isEmpty, "\(over.map { "\($0.0) \(String(format: "%+.2f", $0.1))" }.joined(separator: ", "))")
    }
}

@Suite("compare notes")
struct CompareNoteCLITests {
    /// An empty cell says why: the depot of the oral example is 0 before the dose, so its relative change
    /// is undefined, and compare says so under the table instead of printing a bare nan.
    @Test func anEmptyRelativeChangeIsExplained() throws {
        let example = repositoryRoot.appendingPathComponent("models/examples/two_compartment.yaml").path
        let r = try ketasim(["compare", "--model", example, "--scenarios", "single_oral", "--outputs", "depot,concentration", "--table-metric", "change_2h"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("note: single_oral: depot.change_2h is empty: the baseline `pre` is 0"), "\(r.stderr)")
    }
}
