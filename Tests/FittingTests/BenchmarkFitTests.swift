import Fitting
import Foundation
import PEtab
import Testing

/// Small problems of the PEtab benchmark collection fitted from 20 Latin hypercube starts: minutes
/// each, so only with KETASIM_SLOW_TESTS=1. Results and times are recorded in docs/CALIBRATION.md.
@Suite(.enabled(if: ProcessInfo.processInfo.environment["KETASIM_SLOW_TESTS"] == "1"))
struct BenchmarkFitTests {
    static let benchmark = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("shared/petab-benchmark").path

    static func bestKnown(_ name: String) -> Double? {
        guard let text = try? String(contentsOfFile: benchmark + "/reference.tsv", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") {
            let cells = line.split(separator: "\t", omittingEmptySubsequences: false)
            if cells.count > 2, cells[0] == name { return Double(cells[2]) }
        }
        return nil
    }

    @Test(arguments: ["Boehm_JProteomeRes2014", "Bruno_JExpBot2016", "Liu_IFACPapersOnLine2025"])
    func twentyStartsReachTheBestKnownValue(name: String) throws {
        let best = try #require(Self.bestKnown(name))
        let problem = try PEtabProblem.load("\(Self.benchmark)/\(name)/\(name).yaml")
        let residuals = try PEtabResiduals(problem)
        let starts = latinHypercubeStarts(lower: residuals.lowerBounds, upper: residuals.upperBounds, count: 20, seed: 1)
        var fits: [LocalFit] = []
        try Multistart(starts: starts, jobs: 2, optimizer: GSLLeastSquares()).run(makeProblem: { try PEtabResiduals(problem) }) { _, fit in
            fits.append(fit)
        }
        let reached = try #require(fits.map(\.objective).min())
        #expect(reached <= best + 0.1, "\(name): best \(reached), best known \(best)")
    }
}
