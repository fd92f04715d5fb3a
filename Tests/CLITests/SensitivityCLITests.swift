import Foundation
import Testing

@Suite("ketasim sensitivity")
struct SensitivityCLITests {
    func folder() -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("ketasim-sensitivity-\(UUID().uuidString)")
    }

    @Test func sobolWritesTheDesignRunsAndIndicesWithSidecars() throws {
        let dir = folder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let r = try ketasim(["sensitivity", "--model", example, "--metrics", "concentration.auc", "--sobol", "16",
                             "--parameters", "ka,ke", "--fold", "2", "--jobs", "2", "-o", dir.path])
        #expect(r.status == 0, "\(r.stderr)")
        for file in ["samples.csv", "runs.csv", "sobol.csv"] {
            #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent(file).path))
            #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent(file + ".meta.json").path))
        }
        let samples = try String(contentsOf: dir.appendingPathComponent("samples.csv"), encoding: .utf8).split(separator: "\n")
        #expect(samples.first == "sample_id,ka,ke")
        #expect(samples.count == 1 + 16 * 4, "N (D + 2) rows")
        let sobol = try String(contentsOf: dir.appendingPathComponent("sobol.csv"), encoding: .utf8).split(separator: "\n")
        #expect(sobol.first == "parameter,metric,S1,S1_conf,ST,ST_conf")
        // AUC depends on ke (AUC = F·Dose/(ke·V)), hardly on ka: ke ranks first.
        let ranked = r.stdout.split(separator: "\n").dropFirst().map { $0.trimmingCharacters(in: .whitespaces) }
        #expect(ranked.first?.hasPrefix("ke") == true, "\(r.stdout)")
    }

    @Test func oneMethodAndKnownMetricsAreRequired() throws {
        let none = try ketasim(["sensitivity", "--model", example, "--metrics", "concentration.auc", "--parameters", "ka"])
        #expect(none.status == 64)
        #expect(none.stderr.contains("exactly one of --local, --morris R and --sobol N"))
        let dir = folder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let typo = try ketasim(["sensitivity", "--model", example, "--metrics", "concentration.mux", "--local", "--parameters", "ka", "-o", dir.path])
        #expect(typo.status == 64)
        #expect(typo.stderr.contains("did you mean `concentration.max`"))
        let noRange = try ketasim(["sensitivity", "--model", example, "--metrics", "concentration.auc", "--morris", "4", "--parameters", "ka", "-o", dir.path])
        #expect(noRange.status == 64)
        #expect(noRange.stderr.contains("--range ka=LO:HI or --fold F"))
    }
}
