import Experiments
import Fitting
import Foundation
import PEtab
import Testing

@Suite struct ResidualTests {
    /// Half the sum of squared residuals plus the offset is PEtab's nllh minus the log prior, for normal
    /// and laplace noise, lin and log10 observables, an estimated sigma and a prior, at arbitrary points.
    @Test(arguments: [("lin", "normal", false), ("log10", "normal", false), ("lin", "laplace", false), ("log", "laplace", true), ("log10", "normal", true)])
    func objectiveIsTheNegativeLogPosterior(transformation: String, noise: String, prior: Bool) throws {
        var synthetic = try SyntheticProblem(name: "objective-\(transformation)-\(noise)-\(prior)")
        defer { synthetic.remove() }
        synthetic.obsBTransformation = transformation
        synthetic.obsBNoise = noise
        if prior { synthetic.k2Prior = ("logNormal", "-1.5;0.5") }
        let problem = try synthetic.make()
        let residuals = try PEtabResiduals(problem)
        for x in [[-0.2, -0.8, 0.2, -1.0], [0.3, 0.1, -0.5, 0.4], residuals.point(SyntheticProblem.truth)] {
            let e = try residuals.evaluate(at: x)
            let expected = e.nllh - e.logPrior
            let objective = residuals.objective(at: x)
            #expect(abs(objective - expected) <= 1e-9 * max(1, abs(expected)), "at \(x): \(objective) vs \(expected)")
        }
    }

    @Test func theSineMapStaysInsideTheBoundsAndInverts() {
        let t = BoundTransform(lower: [-5, 0, -.infinity], upper: [5, 2, .infinity])
        for u in [[-100.0, 0.3, 7], [1.2, -2, -3], [0, 0, 0]] {
            let x = t.toBox(u)
            #expect(x[0] >= -5 && x[0] <= 5 && x[1] >= 0 && x[1] <= 2 && x[2] == u[2])
            let back = t.toBox(t.fromBox(x))
            for i in 0..<3 { #expect(abs(back[i] - x[i]) < 1e-12) }
        }
    }

    @Test func latinHypercubeStartsFillEveryStratumOnceWithinTheBounds() {
        let starts = latinHypercubeStarts(lower: [-5, 0], upper: [5, 1], count: 8, seed: 3)
        #expect(starts.count == 8)
        for i in 0..<2 {
            let lo = [-5.0, 0][i], hi = [5.0, 1][i]
            let strata = Set(starts.map { Int((($0[i] - lo) / (hi - lo)) * 8) })
            #expect(strata == Set(0..<8))
        }
        #expect(latinHypercubeStarts(lower: [-5, 0], upper: [5, 1], count: 8, seed: 3).map { $0 } == starts)
        #expect(latinHypercubeStarts(lower: [-5, 0], upper: [5, 1], count: 8, seed: 4) != starts)
    }

    @Test func aParameterFileRoundTrips() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("ketasim-params-\(getpid()).params").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let text = FitFiles.parameterFile(names: ["a", "b_2"], linearValues: [0.1, 12345.678901234567], comment: "test\nsecond line")
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        #expect(try FitFiles.readParameterFile(path) == ["a": 0.1, "b_2": 12345.678901234567])
        try "a 1\nb\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(throws: FitFiles.ParameterFileError.self) { try FitFiles.readParameterFile(path) }
    }
}

@Suite struct SyntheticFitTests {
    /// Data simulated at known values with a fixed pseudo-noise: a multistart recovers the rates and the
    /// output scale to within a few percent, sigma near the noise's size, and its objective is the nllh.
    @Test func knownParametersAreRecovered() throws {
        let synthetic = try SyntheticProblem(name: "recover")
        defer { synthetic.remove() }
        let problem = try synthetic.make()
        let residuals = try PEtabResiduals(problem)
        let starts = latinHypercubeStarts(lower: residuals.lowerBounds, upper: residuals.upperBounds, count: 4, seed: 1)
        let engine = Multistart(starts: starts, jobs: 2, optimizer: GSLLeastSquares())
        var fits: [LocalFit] = []
        try engine.run(makeProblem: { try PEtabResiduals(problem) }) { k, fit in
            #expect(k == fits.count)
            fits.append(fit)
        }
        #expect(fits.count == 4)
        let best = try #require(fits.min { $0.objective < $1.objective })
        #expect(best.status != .failed)
        let values = residuals.values(at: best.estimate)
        for id in ["k1", "k2", "scale"] {
            let truth = try #require(SyntheticProblem.truth[id]), v = try #require(values[id])
            #expect(abs(v / truth - 1) < 0.05, "\(id) = \(v), truth \(truth)")
        }
        let sd = try #require(values["sd_B"])
        #expect(sd > 0.02 && sd < 0.08, "sd_B = \(sd)")
        let e = try residuals.evaluate(at: best.estimate)
        #expect(abs(best.objective - e.nllh) < 1e-8 * max(1, abs(e.nllh)))
        // Better than the truth itself (the optimum of these data, not of noise-free ones).
        #expect(best.objective <= residuals.objective(at: residuals.point(SyntheticProblem.truth)) + 1e-6)
        let fisher = try #require(residuals.fisherSummary(at: best.estimate))
        #expect(fisher.standardErrors.allSatisfy { $0.isFinite && $0 > 0 })
        for i in 0..<4 { #expect(abs(fisher.correlation[i * 4 + i] - 1) < 1e-9) }
    }
}

@Suite struct ResumableMultistartTests {
    /// A shard's starts (indices) give the very fits the whole multistart gives for them: what makes
    /// merged shards equal to a local run.
    @Test func someStartsGiveTheFitsOfTheWholeRun() throws {
        let synthetic = try SyntheticProblem(name: "indices")
        defer { synthetic.remove() }
        let problem = try synthetic.make()
        let residuals = try PEtabResiduals(problem)
        let starts = latinHypercubeStarts(lower: residuals.lowerBounds, upper: residuals.upperBounds, count: 4, seed: 5)
        let engine = Multistart(starts: starts, jobs: 2, optimizer: GSLLeastSquares())
        var all: [Int: LocalFit] = [:], some: [Int: LocalFit] = [:]
        var order: [Int] = []
        try engine.run(makeProblem: { try PEtabResiduals(problem) }) { k, fit in all[k] = fit }
        try engine.run(indices: [1, 3], makeProblem: { try PEtabResiduals(problem) }) { k, fit in
            some[k] = fit
            order.append(k)
        }
        #expect(order == [1, 3])
        for k in [1, 3] {
            #expect(some[k]?.estimate == all[k]?.estimate && some[k]?.objective == all[k]?.objective, "start \(k + 1)")
        }
    }

    /// starts.csv read back: quoted messages, failed rows and a torn last row; the best start is the
    /// lowest objective with a finite nllh, the lower start number on a tie.
    @Test func startsReadBackAndTheBestIsChosenWhateverTheRowOrder() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("starts-\(UUID().uuidString).csv").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let header = FitFiles.startsHeader(["a", "b"]).joined(separator: ",")
        try #"""
        \#(header)
        3,converged,2.5,2.5,4,20,0.1,small gradient,1,2
        1,failed,NaN,Inf,0,0,0,"cannot simulate, step size",0.5,0.5
        2,converged,2.5,2.5,5,25,0.2,"said ""ok""",1.5,2.5
        4,max_iterations,2.55,2.55,200,900,1.0,,3,4
        5,conv
        """#.write(toFile: path, atomically: true, encoding: .utf8)
        let records = try FitFiles.readStarts(path, parameters: ["a", "b"])
        #expect(records.map(\.start) == [3, 1, 2, 4], "the torn row is left out")
        #expect(records[1].status == "failed" && records[1].nllh.isNaN && records[1].objective == .infinity)
        #expect(records[2].estimate == [1.5, 2.5])
        let chosen = try #require(FitFiles.best(of: records))
        #expect(chosen.best.start == 2 && chosen.within == 3)
        #expect(FitFiles.best(of: [records[1]]) == nil, "a failed start is never the best")
        #expect(throws: OutputFileError.self) { try FitFiles.readStarts(path, parameters: ["a", "c"]) }
    }
}
