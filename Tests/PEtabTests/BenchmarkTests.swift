import Foundation
import PEtab
import Testing

/// Real problems of the PEtab benchmark collection (`../shared/petab-benchmark`): the nllh at the
/// nominal parameters matches AMICI's reference within 1e-3 absolute (1e-6 relative for large values),
/// and the problems ketasim cannot import are refused naming the feature.
@Suite(.enabled(if: TestPaths.benchmarkAvailable, "the PEtab benchmark problems are not at ../shared/petab-benchmark"))
struct PEtabBenchmarkTests {
    /// Problems refused on purpose, with the feature the refusal must name. None since hierarchical
    /// models are flattened: Armistead_CellDeathDis2024 (a `comp` model) matches AMICI's nllh.
    static let refused: [String: String] = [:]
    /// Problems evaluated within tolerance; raise it when one more passes.
    static let matchFloor = 19

    /// `reference.tsv`: problem -> nllh_nominal.
    static func references() -> [(problem: String, nllh: Double)] {
        guard let text = try? String(contentsOfFile: TestPaths.benchmark + "/reference.tsv", encoding: .utf8) else { return [] }
        let rows = text.split(whereSeparator: \.isNewline).map { $0.split(separator: "\t", omittingEmptySubsequences: false).map(String.init) }
        guard let header = rows.first, let p = header.firstIndex(of: "problem"), let n = header.firstIndex(of: "nllh_nominal") else { return [] }
        return rows.dropFirst().compactMap { r in r.count > max(p, n) ? Double(r[n]).map { (r[p], $0) } : nil }
    }

    @Test func nominalObjectiveMatchesTheReferenceOrIsRefusedByName() throws {
        let references = Self.references()
        #expect(references.count >= 19, "reference.tsv lists \(references.count) problems")
        var matched = 0
        var report: [String] = []
        for (problem, reference) in references {
            let directory = TestPaths.benchmark + "/" + problem
            let yaml = (try? FileManager.default.contentsOfDirectory(atPath: directory))?.filter { $0.hasSuffix(".yaml") }.sorted().first
            guard let yaml else { report.append("\(problem): no problem YAML"); continue }
            do {
                let evaluation = try PEtabProblem.load(directory + "/" + yaml).evaluate()
                let tolerance = max(1e-3, 1e-6 * abs(reference))
                if abs(evaluation.nllh - reference) <= tolerance {
                    matched += 1
                } else {
                    report.append("\(problem): nllh \(evaluation.nllh), reference \(reference)")
                }
                #expect(Self.refused[problem] == nil, "\(problem) was expected to be refused but evaluated")
            } catch {
                if let feature = Self.refused[problem] {
                    #expect(error.kind == .unsupported && error.description.contains(feature), "\(problem): \(error.description)")
                    report.append("\(problem) refused: \(error.description)")
                } else {
                    report.append("\(problem) FAILED: \(error.description)")
                }
            }
        }
        print("PEtab benchmark: \(matched) of \(references.count) problems match the reference nllh")
        for line in report { print("  " + line) }
        #expect(matched >= Self.matchFloor, "\(report.joined(separator: "\n"))")
    }
}
