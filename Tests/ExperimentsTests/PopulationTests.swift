import Foundation
import Models
import Testing
@testable import Experiments

/// Standard normal distribution function.
func normalCDF(_ x: Double) -> Double { 0.5 * erfc(-x / 2.0.squareRoot()) }

func mean(_ x: [Double]) -> Double { x.reduce(0, +) / Double(x.count) }
func sd(_ x: [Double]) -> Double {
    let m = mean(x)
    return (x.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(x.count - 1)).squareRoot()
}
func corr(_ x: [Double], _ y: [Double]) -> Double {
    let mx = mean(x), my = mean(y)
    var sxy = 0.0, sxx = 0.0, syy = 0.0
    for (a, b) in zip(x, y) { sxy += (a - mx) * (b - my); sxx += (a - mx) * (a - mx); syy += (b - my) * (b - my) }
    return sxy / (sxx * syy).squareRoot()
}

@Suite("Virtual populations")
struct PopulationTests {
    @Test func iivParsesPercentagesAndRefusesTheRest() throws {
        #expect(try IIVSpec.parse("cl_ket=30%").get() == IIVSpec(name: "cl_ket", cv: 0.3))
        #expect(try IIVSpec.parse(" V = 12.5% ").get() == IIVSpec(name: "V", cv: 0.125))
        for (bad, says) in [("V=30", "as a percentage"), ("V", "NAME=CV%"), ("V=x%", "not a percentage"), ("V=0%", "above 0%"), ("=3%", "NAME=CV%")] {
            guard case .failure(let e) = IIVSpec.parse(bad) else { Issue.record("\(bad) was accepted"); continue }
            #expect(e.description.contains(says), "\(e)")
            // The library names the text, not the flag (the command adds `--iiv`).
            #expect(e.description.hasPrefix("`\(bad)`"))
        }
        // σ = sqrt(ln(1 + CV²)): the log-normal's CV sqrt(e^σ² − 1) is the CV asked for.
        let s = IIVSpec(name: "V", cv: 0.3).sigma
        #expect(abs((exp(s * s) - 1).squareRoot() - 0.3) < 1e-12)
    }

    @Test func samplesAreReproducibleLogNormalWithTheAskedCV() throws {
        let iiv = [IIVSpec(name: "a", cv: 0.3), IIVSpec(name: "b", cv: 0.8)]
        let typical = ["a": 5.0, "b": 0.2]
        let n = 20_000
        let d = try PopulationDesign(iiv: iiv, typical: typical, correlation: nil, fit: nil, subjects: n, seed: 7)
        let again = try PopulationDesign(iiv: iiv, typical: typical, correlation: nil, fit: nil, subjects: n, seed: 7)
        let other = try PopulationDesign(iiv: iiv, typical: typical, correlation: nil, fit: nil, subjects: n, seed: 8)
        let columns = d.columns
        #expect(columns == again.columns)
        #expect(columns != other.columns)
        // Subject i does not depend on how many subjects there are (shards, common random numbers).
        let small = try PopulationDesign(iiv: iiv, typical: typical, correlation: nil, fit: nil, subjects: 10, seed: 7)
        #expect(small.subject(9) == d.subject(9))
        for (k, spec) in iiv.enumerated() {
            let logs = columns[k].map(log)
            // Mean of ln is ln(typical) (the median), within 4 standard errors.
            let se = spec.sigma / Double(n).squareRoot()
            #expect(abs(mean(logs) - log(typical[spec.name]!)) < 4 * se, "\(spec.name) mean log")
            #expect(abs(sd(logs) - spec.sigma) < 0.02 * spec.sigma, "\(spec.name) sd log")
            let cv = sd(columns[k]) / mean(columns[k])
            #expect(abs(cv - spec.cv) < 0.05 * spec.cv, "\(spec.name) CV \(cv)")
        }
        #expect(abs(corr(columns[0].map(log), columns[1].map(log))) < 0.03)
    }

    @Test func correlationsAreReproducedAndNonPositiveDefiniteMatricesRefused() throws {
        let m = try CorrelationMatrix.parse(",a,b,c\na,1,0.6,-0.3\nb,0.6,1,0\nc,-0.3,0,1\n", file: "corr.csv")
        #expect(m.names == ["a", "b", "c"])
        let iiv = [IIVSpec(name: "a", cv: 0.2), IIVSpec(name: "b", cv: 0.4), IIVSpec(name: "c", cv: 0.3), IIVSpec(name: "d", cv: 0.3)]
        let d = try PopulationDesign(iiv: iiv, typical: ["a": 1, "b": 2, "c": 3, "d": 4], correlation: m, fit: nil, subjects: 20_000, seed: 3)
        let logs = d.columns.map { $0.map(log) }
        // Standard error of a correlation near r: (1 − r²)/sqrt(n) ≈ 0.006.
        #expect(abs(corr(logs[0], logs[1]) - 0.6) < 0.025)
        #expect(abs(corr(logs[0], logs[2]) + 0.3) < 0.03)
        #expect(abs(corr(logs[1], logs[2])) < 0.03)
        #expect(abs(corr(logs[0], logs[3])) < 0.03, "a parameter the file does not name is independent")
        // Header-only form, without row names.
        #expect(try CorrelationMatrix.parse("a,b\n1,0.5\n0.5,1\n", file: "x").values == [1, 0.5, 0.5, 1])
        for (text, says) in [("a,b,c\n1,0.9,-0.9\n0.9,1,0.9\n-0.9,0.9,1\n", "not positive definite"),
                             ("a,b\n1,0.5\n0.4,1\n", "not symmetric"), ("a,b\n1,2\n2,1\n", "outside [-1, 1]"),
                             ("a,b\n0.9,0\n0,1\n", "diagonal"), ("a,b\n1,0\n", "need 2 rows")] {
            #expect(throws: PopulationError.self) { try CorrelationMatrix.parse(text, file: "bad.csv") }
            do { _ = try CorrelationMatrix.parse(text, file: "bad.csv") } catch {
                #expect(error.description.hasPrefix("bad.csv"), "\(error)")
                #expect(error.description.contains(says), "\(error)")
            }
        }
    }

    @Test func fitDrawsFollowTheEstimatesAndCovariance() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ketasim-fit-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("estimates.csv")
        try """
        parameter,scale,estimate,value,lower,upper,standard_error,corr_k,corr_V
        k,log10,-1,0.1,-3,1,0.1,1,-0.5
        V,lin,10,10,1,100,2,-0.5,1

        """.write(to: file, atomically: true, encoding: .utf8)
        let fit = try FitUncertainty.read(directory: dir.path)
        let d = try PopulationDesign(iiv: [], typical: [:], correlation: nil, fit: fit, subjects: 20_000, seed: 1)
        #expect(d.names == ["k", "V"])
        let k = d.columns[0].map(log10), v = d.columns[1]
        #expect(abs(mean(k) + 1) < 0.004)
        #expect(abs(sd(k) - 0.1) < 0.003)
        #expect(abs(mean(v) - 10) < 0.06)
        #expect(abs(sd(v) - 2) < 0.06)
        #expect(abs(corr(k, v) + 0.5) < 0.03)
        // An infinite standard error cannot be sampled: refused, naming the parameter.
        try """
        parameter,scale,estimate,value,lower,upper,standard_error,corr_k
        k,log10,-1,0.1,-3,1,Inf,NaN

        """.write(to: file, atomically: true, encoding: .utf8)
        do { _ = try FitUncertainty.read(directory: dir.path); Issue.record("infinite SE accepted") } catch {
            #expect(error.description.contains("`k` has an infinite standard error"), "\(error)")
        }
    }

    @Test func wilsonIntervalsMatchNewcombe1998() throws {
        // Newcombe RG (1998) Stat Med 17:857, Table II, method 3 (score interval without correction).
        let cases: [(Int, Int, Double, Double)] = [(81, 263, 0.2553, 0.3662), (15, 148, 0.0624, 0.1605), (0, 20, 0, 0.1611), (1, 29, 0.0061, 0.1718)]
        for (k, n, lo, hi) in cases {
            let ci = BinomialInterval.wilson(successes: k, trials: n)
            #expect(abs(ci.low - lo) < 6e-5 && abs(ci.high - hi) < 6e-5, "\(k)/\(n): \(ci)")
        }
        // The closed form, by hand: 8 of 10.
        let z = 1.959963984540054, p = 0.8, nn = 10.0
        let centre = (p + z * z / (2 * nn)) / (1 + z * z / nn)
        let half = z * (p * (1 - p) / nn + z * z / (4 * nn * nn)).squareRoot() / (1 + z * z / nn)
        let ci = BinomialInterval.wilson(successes: 8, trials: 10)
        #expect(abs(ci.low - (centre - half)) < 1e-15 && abs(ci.high - (centre + half)) < 1e-15)
        #expect(BinomialInterval.wilson(successes: 5, trials: 5).high == 1)
        #expect(BinomialInterval.wilson(successes: 0, trials: 0).low.isNaN)
    }

    @Test func percentilesInterpolateBetweenOrderStatistics() throws {
        let x = [1.0, 2, 3, 4, 5]
        #expect(percentile(sorted: x, 25) == 2)
        #expect(percentile(sorted: x, 50) == 3)
        #expect(abs(percentile(sorted: x, 90) - 4.6) < 1e-12)
        #expect(percentile(sorted: [], 50).isNaN)
        // Bands leave NaN (a failed subject) out and work per time and output.
        var b = PercentileBands(times: 2, outputs: 2)
        b.add([1, 10, 2, 20])
        b.add([3, 30, .nan, 40])
        b.add([5, 50, 6, 60])
        let r = b.bands([50])
        #expect(r[0][0] == [3] && r[1][0] == [30] && r[0][1] == [4] && r[1][1] == [40])
        #expect(try parsePercentiles("5,25,50,75,95").get() == [5, 25, 50, 75, 95])
        #expect((try? parsePercentiles("50,25").get()) == nil)
        #expect((try? parsePercentiles("0,50").get()) == nil)
        #expect(percentileColumn(2.5) == "p2.5" && percentileColumn(50) == "p50")
    }

    @Test func respondersParseConditionsAndSubgroups() throws {
        let metrics = MetricSpec.standard.names
        let c = try ResponderCriterion.parse("s.at_24h > 0.9 and s.max >= 1 given s.pre < 0.8", metricNames: metrics, outputs: ["s", "c"]).get()
        #expect(c.conditions.count == 2 && c.given.count == 1)
        #expect(c.conditions[1].relation == .ge)
        var values = ["s.at_24h": 0.95, "s.max": 1.2, "s.pre": 0.7]
        #expect(c.outcome { values[$0] ?? .nan } == .responder)
        values["s.pre"] = 0.9
        #expect(c.outcome { values[$0] ?? .nan } == .outside)
        values["s.pre"] = 0.7; values["s.at_24h"] = 0.5
        #expect(c.outcome { values[$0] ?? .nan } == .nonResponder)
        values["s.at_24h"] = .nan
        #expect(c.outcome { values[$0] ?? .nan } == .undetermined)
        for (bad, says) in [("s.max 3", "no comparison"), ("x.max > 1", "unknown output `x`"), ("s.mux > 1", "did you mean `max`"), ("s.max > y", "`y` is not a number")] {
            guard case .failure(let e) = ResponderCriterion.parse(bad, metricNames: metrics, outputs: ["s"]) else { Issue.record("\(bad) accepted"); continue }
            #expect(e.description.contains(says), "\(e)")
        }
        var count = ResponderCount()
        for o in [ResponderCriterion.Outcome.responder, .responder, .nonResponder, .outside, .undetermined] { count.add(o) }
        #expect(count.n == 3 && count.responders == 2 && count.undetermined == 1)
    }

    @Test func designRepeatsTheSameSubjectsAtEachVariedValue() throws {
        let d = try PopulationDesign(iiv: [IIVSpec(name: "V", cv: 0.3)], typical: ["V": 10], correlation: nil, fit: nil, subjects: 3, seed: 1)
        let axis = SweepAxis(name: "dose", target: .dose, values: [1, 2], isLogarithmic: false)
        let s = d.sweepDesign(varied: [axis])
        #expect(s.count == 6)
        #expect(s.point(0)[0] == 1 && s.point(3)[0] == 2)
        #expect(s.point(1)[1] == s.point(4)[1], "common random numbers")
        #expect(s.point(1)[1] == d.subject(1)[0])
    }
}
