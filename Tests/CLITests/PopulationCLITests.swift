import Foundation
import Testing

/// Standard normal distribution function.
func normalCDF(_ x: Double) -> Double { 0.5 * erfc(-x / 2.0.squareRoot()) }

@Suite("ketasim population")
struct PopulationCLITests {
    func folder() -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("ketasim-population-\(UUID().uuidString)")
    }

    func read(_ url: URL) throws -> String { try String(contentsOf: url, encoding: .utf8) }

    /// Rows of a CSV as dictionaries by header.
    func table(_ url: URL) throws -> [[String: String]] {
        let lines = try read(url).split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        guard let header = lines.first else { return [] }
        return lines.dropFirst().map { Dictionary(uniqueKeysWithValues: zip(header, $0)) }
    }

    /// The two-compartment model with CV on V only: C(t) = central(t) / V and central does not depend
    /// on V, so the p-th percentile of C is the typical subject's C times exp(σ z_p) (1/V is log-normal
    /// with the same σ), and P(Cmax > X) = Φ(ln(Cmax_typ / X) / σ). The typical subject is the Bateman
    /// function: 250 mg of a 250 g/mol drug orally with F = 0.5 is 500 umol into V = 10 L.
    @Test func bandsAndResponderFractionMatchTheLogNormalAnalytically() throws {
        let dir = folder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let n = 2000
        let r = try ketasim(["population", "--model", example, "--n", String(n), "--iiv", "V=30%", "--seed", "11",
                             "--responder", "concentration.max > 40", "--at", "2h", "-o", dir.path, "--plot"])
        #expect(r.status == 0, "\(r.stderr)")
        for file in ["subjects.csv", "traces.csv", "bands.csv", "responders.csv"] {
            #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent(file + ".meta.json").path), "\(file) sidecar")
        }
        let svg = try read(dir.appendingPathComponent("bands.svg"))
        #expect(svg.contains("concentration (uM)") && svg.contains("time (h)") && svg.contains("<polygon"))
        let subjects = try read(dir.appendingPathComponent("subjects.csv")).split(separator: "\n")
        #expect(subjects.first?.hasPrefix("run_id,subject_id,V,status,message,concentration.pre,") == true)
        #expect(subjects.count == n + 1)
        let sigma = (log(1 + 0.09)).squareRoot(), z95 = 1.6448536269514722
        let (ka, ke, amount, v) = (1.5, 0.3, 500.0, 10.0)
        func bateman(_ t: Double) -> Double { amount * ka / (v * (ka - ke)) * (exp(-ke * t) - exp(-ka * t)) }
        let bands = try table(dir.appendingPathComponent("bands.csv"))
        #expect(try read(dir.appendingPathComponent("bands.csv")).hasPrefix("time_h,output,p5,p25,p50,p75,p95\n"))
        #expect(bands.count == 25)
        for row in bands {
            let t = Double(row["time_h"] ?? "") ?? .nan
            guard t > 0 else { continue }
            let c = bateman(t)
            let p50 = Double(row["p50"]!)!, p5 = Double(row["p5"]!)!, p95 = Double(row["p95"]!)!
            // Sampling error of a quantile's log: about 0.007 at the median and 0.014 at 5% and 95% for n = 2000.
            #expect(abs(log(p50 / c)) < 0.03, "median at \(t) h: \(p50) vs \(c)")
            #expect(abs(log(p95 / c) - sigma * z95) < 0.05, "p95 at \(t) h")
            #expect(abs(log(p5 / c) + sigma * z95) < 0.05, "p5 at \(t) h")
        }
        let tMax = log(ka / ke) / (ka - ke)
        let probability = normalCDF(log(bateman(tMax) / 40) / sigma)
        let responders = try table(dir.appendingPathComponent("responders.csv"))
        #expect(try read(dir.appendingPathComponent("responders.csv")).hasPrefix("criterion,n,responders,fraction,ci_low,ci_high,failed,undetermined\n"))
        let row = try #require(responders.first)
        #expect(row["n"] == String(n) && row["failed"] == "0")
        let low = Double(row["ci_low"]!)!, high = Double(row["ci_high"]!)!
        #expect(low < probability && probability < high, "P = \(probability) outside [\(low), \(high)]")
    }

    /// A population cut mid-row and resumed, and one run as two shards merged, finish with the files of
    /// one local run; with --vary the same subjects are at each value.
    @Test func resumeAndShardsGiveTheLocalFiles() throws {
        let root = folder()
        defer { try? FileManager.default.removeItem(at: root) }
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        let args = ["population", "--model", example, "--n", "12", "--iiv", "V=30%", "--iiv", "ke=20%", "--vary", "dose=100,250",
                    "--responder", "concentration.max > 30", "--at", "2h", "--jobs", "2"]
        let local = root.appendingPathComponent("local")
        let r = try ketasim(args + ["-o", local.path])
        #expect(r.status == 0, "\(r.stderr)")
        let subjects = try table(local.appendingPathComponent("subjects.csv"))
        #expect(subjects.count == 24)
        #expect(subjects[0]["dose"] == "100" && subjects[12]["dose"] == "250")
        #expect(subjects[3]["V"] == subjects[15]["V"] && subjects[3]["subject_id"] == subjects[15]["subject_id"], "common random numbers")
        #expect(try read(local.appendingPathComponent("bands.csv")).hasPrefix("dose,time_h,output,p5,"))
        #expect(try read(local.appendingPathComponent("responders.csv")).hasPrefix("dose,criterion,n,"))
        let files = ["subjects.csv", "bands.csv", "responders.csv"]
        func rows(_ dir: URL, _ file: String) throws -> [String] { try read(dir.appendingPathComponent(file)).split(separator: "\n").map(String.init).sorted() }

        // Cut: the first 7 whole subject rows and half of the 8th; traces with 5 rows.
        let cut = root.appendingPathComponent("cut")
        try FileManager.default.createDirectory(at: cut, withIntermediateDirectories: true)
        for file in ["subjects.csv", "traces.csv"] {
            let lines = try read(local.appendingPathComponent(file)).split(separator: "\n").map(String.init)
            let keep = file == "subjects.csv" ? 8 : 6
            let text = lines.prefix(keep).joined(separator: "\n") + "\n" + lines[keep].prefix(lines[keep].count / 2)
            try text.write(to: cut.appendingPathComponent(file), atomically: true, encoding: .utf8)
            try FileManager.default.copyItem(at: local.appendingPathComponent(file + ".meta.json"), to: cut.appendingPathComponent(file + ".meta.json"))
        }
        let resumed = try ketasim(args + ["-o", cut.path, "--resume"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        for file in files + ["traces.csv"] { #expect(try rows(cut, file) == rows(local, file), "resumed \(file)") }

        // Two shards, merged, then finished with --resume.
        let shards = (1...2).map { root.appendingPathComponent("shard\($0)") }
        for (k, dir) in shards.enumerated() {
            let s = try ketasim(args + ["-o", dir.path, "--shard", "\(k + 1)/2"])
            #expect(s.status == 0, "\(s.stderr)")
            #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("bands.csv").path), "a shard computes no bands")
        }
        let merged = root.appendingPathComponent("merged")
        try FileManager.default.createDirectory(at: merged, withIntermediateDirectories: true)
        for file in ["subjects.csv", "traces.csv"] {
            let m = try ketasim(["merge"] + shards.map { $0.appendingPathComponent(file).path } + ["-o", merged.appendingPathComponent(file).path])
            #expect(m.status == 0, "\(m.stderr)")
        }
        let finished = try ketasim(args + ["-o", merged.path, "--resume"])
        #expect(finished.status == 0, "\(finished.stderr)")
        for file in files { #expect(try read(merged.appendingPathComponent(file)) == read(local.appendingPathComponent(file)), "merged \(file)") }

        // Another seed is another population: resuming it into this folder is refused.
        let other = try ketasim(args + ["-o", local.path, "--resume", "--seed", "2"])
        #expect(other.status == 64)
        #expect(other.stderr.contains("different seed"), "\(other.stderr)")
    }

    @Test func slurmDryRunWritesTheJobDirectory() throws {
        let root = folder()
        defer { try? FileManager.default.removeItem(at: root) }
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        let out = root.appendingPathComponent("pop").path
        let r = try ketasim(["population", "--model", example, "--n", "100", "--iiv", "V=30%", "--responder", "concentration.max > 30",
                             "-o", out, "--slurm", "--shards", "4", "--dry-run"])
        #expect(r.status == 0, "\(r.stderr)")
        let array = try read(URL(fileURLWithPath: out + ".slurm/array.sbatch"))
        #expect(array.contains("#SBATCH --array=0-3"))
        #expect(array.contains("population") && array.contains("--iiv V=30%") && array.contains("--shard \"$I/4\""))
        #expect(!array.contains("--dry-run") && !array.contains("--slurm"))
        let merge = try read(URL(fileURLWithPath: out + ".slurm/merge.sbatch"))
        #expect(merge.contains("shard-1/subjects.csv") && merge.contains("shard-4/traces.csv"))
        #expect(merge.contains(out + "/traces.csv") && merge.contains("--resume"))
        let manifest = try read(URL(fileURLWithPath: out + ".slurm/job.json"))
        #expect(manifest.contains("\"resultFile\" : \"subjects.csv\"") && manifest.contains("traces.csv"))
    }

    /// The dry run's scripts, run by hand with bash as the nodes would, give the local files: each task
    /// writes its shard folder, and the merge joins subjects.csv and traces.csv and finishes with --resume.
    @Test func slurmScriptsRunByHandGiveTheLocalFiles() throws {
        let root = folder()
        defer { try? FileManager.default.removeItem(at: root) }
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        let args = ["population", "--model", example, "--n", "9", "--iiv", "V=30%", "--vary", "dose=100,250", "--responder", "concentration.max > 30", "--at", "2h"]
        let local = root.appendingPathComponent("local").path, out = root.appendingPathComponent("pop").path
        #expect(try ketasim(args + ["-o", local]).status == 0)
        #expect(try ketasim(args + ["-o", out, "--slurm", "--shards", "3", "--dry-run"]).status == 0)
        for task in 0..<3 {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/bin/bash")
            p.arguments = [out + ".slurm/array.sbatch"]
            p.environment = ProcessInfo.processInfo.environment.merging(["SLURM_ARRAY_TASK_ID": String(task)]) { $1 }
            try p.run()
            p.waitUntilExit()
            #expect(p.terminationStatus == 0)
        }
        let state = try ketasim(["jobs", out + ".slurm"])
        #expect(state.stdout.contains("population, 18 runs in 3 shards") && state.stdout.contains("rows: 18 of 18"), "\(state.stdout)")
        let merge = Process()
        merge.executableURL = URL(fileURLWithPath: "/bin/bash")
        merge.arguments = [out + ".slurm/merge.sbatch"]
        try merge.run()
        merge.waitUntilExit()
        #expect(merge.terminationStatus == 0)
        for file in ["subjects.csv", "traces.csv", "bands.csv", "responders.csv"] {
            #expect(try read(URL(fileURLWithPath: out + "/" + file)) == read(URL(fileURLWithPath: local + "/" + file)), "\(file)")
        }
    }

    /// --covariates draws what the organism declares, as if the user had typed it: the same subjects as
    /// --iiv with the declared CV, an explicit --iiv of the parameter wins, and an organism that
    /// declares nothing is refused rather than silently giving a population without variability.
    @Test func covariatesDrawTheOrganismsDeclaredVariability() throws {
        let root = folder()
        defer { try? FileManager.default.removeItem(at: root) }
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        let text = try read(URL(fileURLWithPath: example))
        let declared = text.replacingOccurrences(of: "    parameters: {body_weight: 70}\n",
                                                 with: "    parameters: {body_weight: 70}\n    variability:\n      V: {cv: 0.3, source: \"test fixture\"}\n")
        #expect(declared != text)
        let model = root.appendingPathComponent("declared.yaml").path
        try declared.write(toFile: model, atomically: true, encoding: .utf8)
        func subjects(_ modelPath: String, _ extra: [String], _ name: String) throws -> String {
            let out = root.appendingPathComponent(name).path
            let r = try ketasim(["population", "--model", modelPath, "--n", "50", "--seed", "3", "--at", "2h", "-o", out] + extra)
            #expect(r.status == 0, "\(r.stderr)")
            return try read(URL(fileURLWithPath: out + "/subjects.csv"))
        }
        let covariates = try subjects(model, ["--covariates"], "covariates")
        #expect(covariates.hasPrefix("run_id,subject_id,V,status,"))
        #expect(covariates == (try subjects(example, ["--iiv", "V=30%"], "explicit")))
        let overridden = try subjects(model, ["--covariates", "--iiv", "V=10%"], "overridden")
        #expect(overridden == (try subjects(example, ["--iiv", "V=10%"], "explicit10")))
        #expect(overridden != covariates)

        let none = try ketasim(["population", "--model", example, "--n", "5", "--covariates", "-o", root.appendingPathComponent("none").path])
        #expect(none.status == 64)
        #expect(none.stderr.contains("--covariates: organism `human` declares no variability"), "\(none.stderr)")
    }

    @Test func badInputsAreOneSentenceAndExit64() throws {
        let dir = folder()
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let base = ["population", "--model", example, "--n", "10", "-o", dir.appendingPathComponent("out").path]
        let corr = dir.appendingPathComponent("corr.csv")
        try "V,ke,ka\n1,0.9,-0.9\n0.9,1,0.9\n-0.9,0.9,1\n".write(to: corr, atomically: true, encoding: .utf8)
        let cases: [([String], String)] = [
            (["--iiv", "V=30"], "--iiv `V=30`: write the coefficient of variation as a percentage"),
            (["--iiv", "Vol=30%"], "did you mean `V`"),
            ([], "no variability is given"),
            (["--iiv", "V=30%", "--responder", "concentration.max 3"], "has no comparison"),
            (["--iiv", "V=30%", "--responder", "concentraton.max > 3"], "unknown output `concentraton`"),
            (["--iiv", "V=30%", "--iiv", "ke=20%", "--iiv", "ka=20%", "--correlation", corr.path], "corr.csv: the correlation matrix is not positive definite"),
            (["--iiv", "V=30%", "--vary", "V=5,10"], "already samples `V`"),
            (["--iiv", "V=30%", "--percentiles", "50,5"], "ascend"),
            (["--iiv", "V=30%", "--from-fit", dir.path], "estimates.csv does not exist"),
        ]
        for (extra, says) in cases {
            let r = try ketasim(base + extra)
            #expect(r.status == 64, "\(extra): \(r.stderr)")
            #expect(r.stderr.contains(says), "\(extra): \(r.stderr)")
        }
    }
}

@Suite("human responder share")
struct HumanResponderShareTests {
    /// One row of models/data/human_clinical.tsv: value, error, n.
    func row(_ id: String) throws -> (value: Double, error: String, n: Double) {
        let text = try String(contentsOf: repositoryRoot.appendingPathComponent("models/data/human_clinical.tsv"), encoding: .utf8)
        let lines = text.split(separator: "\n").map { $0.split(separator: "\t", omittingEmptySubsequences: false).map(String.init) }
        let header = try #require(lines.first)
        let column = { (name: String) in try #require(header.firstIndex(of: name)) }
        let line = try #require(lines.first { $0.first == id }, "row \(id)")
        let value = try #require(Double(line[try column("value")]))
        let n = Double(line[try column("n")].prefix { $0.isNumber }) ?? .nan
        return (value, line[try column("error")], n)
    }

    /// Issue 14: the responder share of a virtual 0.5 mg/kg trial lies within the pooled 24-h share of the
    /// trials against midazolam (Cochrane 2021, 95% CI, whose lower end is the control risk: so this says at
    /// least as often as with midazolam, and not above the pooled upper end), and above the midazolam arm's
    /// share. No calibration fits shares: the spread is Murrough 2013's pooled per-arm SD put on the shared
    /// expectancy, as scripts/model-docs derives it for docs/MODEL.md ("Human responder share"); the virtual
    /// arms' spread must come out near that SD, which a wrong split of the spread would miss.
    @Test func theKetamineArmRespondsAsOftenAsThePooledTrialsReport() throws {
        let ket = try row("murrough2013apa_madrs_ketamine_24h"), mid = try row("murrough2013apa_madrs_midazolam_24h")
        let base = try row("su2023_madrs_baseline_ketamine"), pooled = try row("cochrane2021_response_24h_ketamine")
        let sdKet = try #require(Double(ket.error)) * ket.n.squareRoot(), sdMid = try #require(Double(mid.error)) * mid.n.squareRoot()
        let sdPooled = (((ket.n - 1) * sdKet * sdKet + (mid.n - 1) * sdMid * sdMid) / (ket.n + mid.n - 2)).squareRoot()
        let course = try ketasim(["run", "--scenario", "human_ketamine_infusion", "--t-end", "25h", "--every", "1h", "--outputs", "expectancy"])
        let at24 = try #require(course.stdout.split(separator: "\n").first { $0.hasPrefix("24,") })
        let expectancy = try #require(Double(at24.split(separator: ",")[1]))
        let cvExpectancy = sdPooled / expectancy, cvBaseline = try #require(Double(base.error)) / base.value
        let model = try String(contentsOf: repositoryRoot.appendingPathComponent("models/ketamine_stress.yaml"), encoding: .utf8)
        let block = try #require(model.range(of: "\n  r_placebo:\n    value: "))
        let rPlacebo = try #require(Double(model[block.upperBound...].prefix { $0 != "\n" })) / (1 + cvExpectancy * cvExpectancy).squareRoot()
        var shares: [String: (fraction: Double, low: Double, high: Double)] = [:]
        for arm in ["human_ketamine_infusion", "human_midazolam_infusion"] {
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ketasim-responders-\(UUID().uuidString)")
            defer { try? FileManager.default.removeItem(at: dir) }
            let r = try ketasim(["population", "--scenario", arm, "--n", "500", "--seed", "1", "--t-end", "25h", "--every", "1h",
                                 "--jobs", "2", "--outputs", "madrs_change,madrs_relative_change",
                                 "--iiv", String(format: "r_placebo=%.1f%%", 100 * cvExpectancy),
                                 "--iiv", String(format: "madrs_baseline_rating=%.1f%%", 100 * cvBaseline),
                                 "--set", "r_placebo=\(rPlacebo)", "--responder", "madrs_relative_change.at_24h <= -0.5", "-o", dir.path])
            // Exit 3: subjects drawn outside a parameter's bounds failed; responders.csv counts them apart.
            #expect(r.status == 0 || r.status == 3, "\(r.stderr)")
            let lines = try String(contentsOf: dir.appendingPathComponent("responders.csv"), encoding: .utf8).split(separator: "\n")
            let fields = try #require(lines.dropFirst().first).split(separator: ",").map(String.init)
            let failed = try #require(Int(fields[6]))
            #expect(failed < 25, "\(arm): \(failed) of 500 subjects failed")
            shares[arm] = (try #require(Double(fields[3])), try #require(Double(fields[4])), try #require(Double(fields[5])))
            let subjects = try String(contentsOf: dir.appendingPathComponent("subjects.csv"), encoding: .utf8).split(separator: "\n")
            let header = try #require(subjects.first).split(separator: ",").map(String.init)
            let status = try #require(header.firstIndex(of: "status")), change = try #require(header.firstIndex(of: "madrs_change.at_24h"))
            let values = subjects.dropFirst().map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
                .filter { $0[status] == "ok" }.compactMap { Double($0[change]) }
            let mean = values.reduce(0, +) / Double(values.count)
            let sd = (values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(values.count - 1)).squareRoot()
            #expect(abs(sd - sdPooled) < 0.3 * sdPooled, "\(arm): virtual SD \(sd) against the trials' pooled \(sdPooled)")
        }
        let k = try #require(shares["human_ketamine_infusion"]), m = try #require(shares["human_midazolam_infusion"])
        let ci = pooled.error.split(separator: "-").compactMap { Double($0) }
        try #require(ci.count == 2)
        #expect(100 * k.fraction >= ci[0] && 100 * k.fraction <= ci[1], "ketamine arm \(k.fraction) against the pooled \(pooled.value)% (\(ci[0])-\(ci[1])%)")
        #expect(k.low > m.high, "the ketamine arm (\(k)) responds more often than the midazolam arm (\(m))")
    }
}
