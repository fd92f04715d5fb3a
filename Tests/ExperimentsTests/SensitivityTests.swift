import Foundation
import Integrator
import Models
import Testing
@testable import Experiments

/// Ishigami & Homma (1990): f = sin x1 + a sin² x2 + b x3⁴ sin x1 on [−π, π]³, with closed-form indices
/// (Sobol' & Levitan 1999): V = a²/8 + bπ⁴/5 + b²π⁸/18 + 1/2, V1 = (1 + bπ⁴/5)²/2, V2 = a²/8,
/// V13 = b²π⁸ (1/18 − 1/50).
func ishigami(_ x: [Double], a: Double = 7, b: Double = 0.1) -> Double {
    sin(x[0]) + a * sin(x[1]) * sin(x[1]) + b * pow(x[2], 4) * sin(x[0])
}

/// Evaluates `f` on every row of a Saltelli design.
func evaluate(_ design: SaltelliDesign, _ f: ([Double]) -> Double) -> [Double] {
    let columns = design.columns
    return (0..<design.count).map { i in f(columns.map { $0[i] }) }
}

@Suite("Sensitivity designs and estimators")
struct SensitivityTests {
    @Test func saltelliRowsFollowSALibsLayout() {
        let ranges = (1...3).map { ParameterRange(name: "x\($0)", low: 0, high: 1, isLogarithmic: false) }
        let design = SaltelliDesign(ranges: ranges, baseSamples: 8, seed: 3)
        #expect(design.count == 8 * 5)
        let d = 3
        for i in 0..<8 {
            let block = i * 5
            func row(_ r: Int) -> [Double] { Array(design.unit[(block + r) * d..<(block + r + 1) * d]) }
            let a = row(0), b = row(4)
            for j in 0..<d {
                var ab = a
                ab[j] = b[j]
                #expect(row(1 + j) == ab, "AB_\(j) of block \(i) is A with column \(j) of B")
            }
            #expect(a != b)
        }
    }

    @Test func ishigamiIndicesMatchTheClosedForm() {
        let a = 7.0, b = 0.1, pi4 = pow(Double.pi, 4), pi8 = pow(Double.pi, 8)
        let v = a * a / 8 + b * pi4 / 5 + b * b * pi8 / 18 + 0.5
        let v1 = 0.5 * (1 + b * pi4 / 5) * (1 + b * pi4 / 5), v2 = a * a / 8, v13 = b * b * pi8 * (1.0 / 18 - 1.0 / 50)
        let s1 = [v1 / v, v2 / v, 0], st = [(v1 + v13) / v, v2 / v, v13 / v]
        #expect(abs(s1[0] - 0.3139) < 1e-3 && abs(st[2] - 0.2437) < 1e-3, "the closed form itself")
        let ranges = (1...3).map { ParameterRange(name: "x\($0)", low: -.pi, high: .pi, isLogarithmic: false) }
        let design = SaltelliDesign(ranges: ranges, baseSamples: 8192, seed: 11)
        let (indices, used) = Sobol.analyze(evaluate(design) { ishigami($0) }, factors: 3, resamples: 200, seed: 5)
        #expect(used == 8192)
        for j in 0..<3 {
            let x = indices[j]
            print(String(format: "Ishigami x%d: S1 %.4f ± %.4f (analytic %.4f), ST %.4f ± %.4f (analytic %.4f)", j + 1, x.s1, x.s1Conf, s1[j], x.st, x.stConf, st[j]))
            #expect(abs(x.s1 - s1[j]) <= x.s1Conf, "S1 of x\(j + 1): \(x.s1) ± \(x.s1Conf), analytic \(s1[j])")
            #expect(abs(x.st - st[j]) <= x.stConf, "ST of x\(j + 1): \(x.st) ± \(x.stConf), analytic \(st[j])")
            // The intervals are narrow enough for the comparison to mean something.
            #expect(x.s1Conf < 0.05 && x.stConf < 0.05)
        }
    }

    /// f = Σ cᵢ xᵢ with independent uniform xᵢ on [0, 1]: Sᵢ = Sᴛᵢ = cᵢ² / Σ cⱼ².
    @Test func linearModelIndicesAreItsSquaredWeights() {
        let c = [1.0, 2.0, 3.0, 0.0]
        let ranges = c.indices.map { ParameterRange(name: "x\($0)", low: 0, high: 1, isLogarithmic: false) }
        let design = SaltelliDesign(ranges: ranges, baseSamples: 4096, seed: 2)
        let (indices, _) = Sobol.analyze(evaluate(design) { x in zip(c, x).reduce(0) { $0 + $1.0 * $1.1 } }, factors: 4, resamples: 200, seed: 9)
        let total = c.reduce(0) { $0 + $1 * $1 }
        for j in c.indices {
            let exact = c[j] * c[j] / total
            #expect(abs(indices[j].s1 - exact) <= indices[j].s1Conf, "S1 x\(j): \(indices[j].s1) ± \(indices[j].s1Conf) vs \(exact)")
            #expect(abs(indices[j].st - exact) <= max(indices[j].stConf, 1e-12), "ST x\(j): \(indices[j].st) ± \(indices[j].stConf) vs \(exact)")
        }
        #expect(indices[3].st == 0, "a factor that does not enter f has no total effect at all")
    }

    @Test func aFailedRunDropsItsWholeBlock() {
        let ranges = (1...2).map { ParameterRange(name: "x\($0)", low: 0, high: 1, isLogarithmic: false) }
        let design = SaltelliDesign(ranges: ranges, baseSamples: 64, seed: 1)
        var y = evaluate(design) { $0[0] + $0[1] }
        y[4 * 7 + 2] = .nan
        #expect(Sobol.analyze(y, factors: 2).blocksUsed == 63)
    }

    /// Morris on f = 3 x1 + x2²: EE of x1 is exactly 3 × (range width); x3 does not enter (mu* = 0).
    @Test func morrisEffectsOfAKnownFunction() {
        let ranges = [ParameterRange(name: "x1", low: 0, high: 2, isLogarithmic: false),
                      ParameterRange(name: "x2", low: 0, high: 1, isLogarithmic: false),
                      ParameterRange(name: "x3", low: 0, high: 1, isLogarithmic: false)]
        let design = MorrisDesign(ranges: ranges, trajectories: 20, levels: 4, seed: 4)
        #expect(design.count == 20 * 4)
        // Every step moves exactly one factor by ±Δ = 2/3.
        for t in 0..<20 {
            for s in 0..<3 {
                let a = (t * 4 + s) * 3, b = a + 3
                let moved = (0..<3).filter { design.unit[b + $0] != design.unit[a + $0] }
                #expect(moved.count == 1)
                if let i = moved.first { #expect(abs(abs(design.unit[b + i] - design.unit[a + i]) - 2.0 / 3) < 1e-12) }
            }
        }
        let columns = design.columns
        let y = (0..<design.count).map { 3 * columns[0][$0] + columns[1][$0] * columns[1][$0] }
        let m = Morris.analyze(design, y: y)
        #expect(abs(m[0].muStar - 6) < 1e-9 && abs(m[0].mu - 6) < 1e-9 && m[0].sigma < 1e-9)
        #expect(m[2].muStar == 0)
        #expect(m[1].muStar > 0 && m[1].muStar < 2)
        #expect(m.allSatisfy { $0.effects == 20 })
    }

    @Test func rangesParseAndFold() throws {
        #expect(ParameterRange.parse("ke=0.1:0.5") == .success(ParameterRange(name: "ke", low: 0.1, high: 0.5, isLogarithmic: false)))
        #expect(ParameterRange.parse("ke=log:0.1:10") == .success(ParameterRange(name: "ke", low: 0.1, high: 10, isLogarithmic: true)))
        if case .success = ParameterRange.parse("ke=log:0:1") { Issue.record("a log range from 0 must be refused") }
        if case .success = ParameterRange.parse("ke=2:1") { Issue.record("an empty range must be refused") }
        let folded = try ParameterRange.fold(name: "V", value: 10, factor: 2).get()
        #expect(folded.low == 5 && folded.high == 20 && folded.isLogarithmic)
        #expect(abs(folded.value(at: 0.5) - 10) < 1e-12, "the middle of a log-uniform fold is the value itself")
    }

    /// AUC of the oral one-compartment model is F·Dose/(ke·V) over an infinite horizon: elasticity +1
    /// for dose, −1 for ke and V, 0 for ka. Cmax is proportional to dose and to 1/V exactly.
    @Test func localSensitivitiesOfAClosedForm() throws {
        let model = try loadExample("two_compartment")
        var plan = SimulationPlan(scenario: try #require(model.definition.scenario(named: "single_oral")))
        plan.tEnd = 120  // e^(−0.3·120) ≈ 2e-16: the AUC to 120 h is the AUC to infinity
        plan.outputEvery = 0.02  // trapezoids fine enough that their error does not depend on ke
        let factors = try ["dose", "ka", "ke", "V"].map { try SensitivityFactor.named($0, in: model.definition).get() }
        let values = try factors.map { try #require($0.value(in: plan, model: model.definition)) }
        #expect(values == [250, 1.5, 0.3, 10])
        let local = LocalDesign(factors: factors, baseValues: values)
        let spec = MetricSpec(offsets: [])
        let runner = SweepRunner(model: model, settings: SolverSettings(relativeTolerance: 1e-10, absoluteTolerance: 1e-12), base: plan,
                                 design: local.sweepDesign, outputs: ["concentration"], metrics: spec, jobs: 2,
                                 runIDs: .all(local.count), keepSeries: false)
        var auc: [Double] = [], cmax: [Double] = []
        let aucColumn = try #require(spec.names.firstIndex(of: "auc")), maxColumn = try #require(spec.names.firstIndex(of: "max"))
        runner.run { row in
            #expect(row.succeeded, "\(row.message)")
            auc.append(row.metrics[aucColumn])
            cmax.append(row.metrics[maxColumn])
        }
        let e = LocalSensitivity.elasticities(auc, step: local.step)
        #expect(abs(e[0] - 1) < 1e-6, "AUC vs dose: \(e[0])")
        #expect(abs(e[1]) < 1e-3, "AUC vs ka: \(e[1])")
        #expect(abs(e[2] + 1) < 1e-3, "AUC vs ke: \(e[2])")
        #expect(abs(e[3] + 1) < 1e-6, "AUC vs V: \(e[3])")
        let c = LocalSensitivity.elasticities(cmax, step: local.step)
        #expect(abs(c[0] - 1) < 1e-6 && abs(c[3] + 1) < 1e-6, "Cmax vs dose and V: \(c)")
        #expect(c[1] > 0 && c[2] < 0, "a faster absorption raises the peak, a faster elimination lowers it")
    }

    @Test func elasticityFallsBackToDifferencesAcrossZero() {
        // f = p − 1 near p = 1.005: f₋ < 0 < f₊, so no logarithms; d ln f/d ln p = p / (p − 1).
        let h = 0.01, p = 1.005
        let y = [p - 1, p * exp(-h) - 1, p * exp(h) - 1]
        let e = LocalSensitivity.elasticities(y, step: h)[0]
        #expect(abs(e - p / (p - 1)) / (p / (p - 1)) < 1e-3)
        #expect(LocalSensitivity.elasticities([0, 1, 2], step: h)[0].isNaN)
    }

    @Test func aFactorAtItsBoundIsSteppedToOneSide() throws {
        // f = p³ + p: d ln f / d ln p = (3p³ + p) / (p³ + p). At p = 4 with bounds [0.5, 4] the design
        // steps below (e^−2h, e^−h); at p = 0.5 it steps above; the one-sided estimate is second order.
        let h = 0.01
        let f: (Double) -> Double = { $0 * $0 * $0 + $0 }
        let exact: (Double) -> Double = { (3 * $0 * $0 * $0 + $0) / ($0 * $0 * $0 + $0) }
        for (p, side) in [(4.0, LocalDesign.Side.below), (0.5, .above), (2.0, .central)] {
            let design = LocalDesign(factors: [SensitivityFactor(name: "p", target: .parameter("p"))], baseValues: [p], step: h,
                                     bounds: [0.5...4])
            #expect(design.sides == [side])
            let points = design.columns[0]
            #expect(points.allSatisfy { (0.5...4).contains($0) }, "\(points)")
            let e = LocalSensitivity.elasticities(points.map(f), step: h, sides: design.sides)[0]
            #expect(abs(e - exact(p)) < 1e-3, "p = \(p): \(e) against \(exact(p))")
        }
        // A negative value moves the other way under e^h: at the lower bound −4 the design steps towards zero.
        let negative = LocalDesign(factors: [SensitivityFactor(name: "p", target: .parameter("p"))], baseValues: [-4], step: h,
                                   bounds: [-4 ... -0.5])
        #expect(negative.sides == [.below] && negative.columns[0].allSatisfy { (-4 ... -0.5).contains($0) }, "\(negative.columns[0])")
        // Bounds narrower than e^(3h) leave no side: central, whose outside point then fails as a run.
        let narrow = LocalDesign(factors: [SensitivityFactor(name: "p", target: .parameter("p"))], baseValues: [1], step: h,
                                 bounds: [0.995 ... 1.015])
        #expect(narrow.sides == [.central])
    }
}
