import Foundation
import Models
import Testing
@testable import Experiments

private func result(times: [Double], values: [Double], pre: Double?, firstDose: Double?) -> SimulationResult {
    SimulationResult(outputNames: ["x"], times: times, values: values, preDose: pre.map { [$0] }, firstDoseTime: firstDose, failure: nil, statistics: .init())
}

@Suite("Metrics")
struct MetricsTests {
    @Test func metricsOfATriangularPulse() {
        // x = 1 until t = 10 (dose), rises linearly to 3 at t = 12, falls back to 1 at t = 14, stays.
        let times = stride(from: 0.0, through: 200, by: 0.5).map { $0 }
        let values = times.map { t -> Double in
            if t <= 10 || t >= 14 { return 1 }
            return t <= 12 ? 1 + (t - 10) : 3 - (t - 12)
        }
        let spec = MetricSpec(offsets: [("2h", 2), ("24h", 24), ("1w", 168)])
        let m = spec.evaluate(result(times: times, values: values, pre: 1, firstDose: 10))
        let named = Dictionary(uniqueKeysWithValues: zip(spec.names, m))
        #expect(named["pre"] == 1)
        #expect(named["max"] == 3)
        #expect(named["t_max"] == 2)
        #expect(named["min"] == 1)
        #expect(abs((named["auc"] ?? 0) - (190 + 4)) < 1e-9)  // 190 h at 1 plus the triangle of area 4
        #expect(named["at_2h"] == 3)
        #expect(named["change_2h"] == 2)
        #expect(named["change_24h"] == 0)
        #expect(named["at_1w"] == 1)
        // change > 1 (half of the peak change 2) between t = 11 and 13.
        #expect(abs((named["duration"] ?? 0) - 2) < 1e-9)
        #expect(spec.columns(outputs: ["x"]).first == "x.pre")
    }

    @Test func atTimesAfterTheEndAreNaN() {
        let m = MetricSpec.standard.evaluate(result(times: [0, 1, 2], values: [1, 2, 3], pre: nil, firstDose: nil))
        let named = Dictionary(uniqueKeysWithValues: zip(MetricSpec.standard.names, m))
        #expect(named["at_2h"] == 3)
        #expect(named["at_24h"]?.isNaN == true)
        #expect(named["pre"] == 1)
    }

    @Test func dipsCountTheirDuration() {
        let times = stride(from: 0.0, through: 10, by: 1).map { $0 }
        let values: [Double] = [2, 2, 1, 1, 1, 2, 2, 2, 2, 2, 2]  // change -0.5 from t = 2 to 4
        let m = MetricSpec(offsets: []).evaluate(result(times: times, values: values, pre: 2, firstDose: 0))
        #expect(abs(m.last! - 3) < 1e-9)  // beyond -0.25 from t = 1.5 to 4.5
    }
}

@Suite("Sweep designs")
struct SweepDesignTests {
    let model = try! ModelLoader.parse(relaxModel, file: "relax.yaml")

    @Test func axesParseListsRangesAndLogs() throws {
        #expect(try SweepAxis.parse("dose=0,1,3,10", model: model).get().values == [0, 1, 3, 10])
        #expect(try SweepAxis.parse("stress=0:1:0.25", model: model).get().values == [0, 0.25, 0.5, 0.75, 1])
        let log = try SweepAxis.parse("tau=log:0.1:100:4", model: model).get()
        #expect(log.values.count == 4 && log.values[0] == 0.1 && log.values[3] == 100)
        #expect(log.values[1] == 1 && log.values[2] == 10)
        // Decimal steps give the decimals a user typed, not 0.30000000000000004.
        #expect(try SweepAxis.parse("stress=0:1:0.1", model: model).get().values == [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1])
        #expect(try SweepAxis.parse("dose_time=1d,36h", model: model).get().values == [24, 36])
    }

    @Test(arguments: [
        ("dose=5:1:1", "the range 5:1:1 is empty: STOP is below START"),
        ("taux=1,2", "unknown name `taux`; did you mean `tau`?; vary dose, stress, dose_time or a model parameter"),
        ("stress=0,2", "stress intensity must lie between 0 and 1"),
        ("dose=-1,2", "doses must not be negative"),
        ("dose=0:10:0", "the step of a range must be positive"),
        ("dose", "expected NAME=VALUES, e.g. dose=0,1,3,10 or stress=0:1:0.25 or dose=log:0.1:100:7"),
    ])
    func badAxes(text: String, message: String) {
        guard case .failure(let e) = SweepAxis.parse(text, model: model) else { Issue.record("accepted \(text)"); return }
        #expect(e.message == message)
    }

    @Test func gridVariesTheLastAxisFastest() throws {
        let a = try SweepAxis.parse("dose=1,2", model: model).get(), b = try SweepAxis.parse("stress=0,0.5,1", model: model).get()
        let grid = SweepDesign(grid: [a, b])
        #expect(grid.count == 6)
        #expect((0..<6).map { grid.point($0) } == [[1, 0], [1, 0.5], [1, 1], [2, 0], [2, 0.5], [2, 1]])
    }

    @Test func latinHypercubeFillsEveryStratumOnceAndIsReproducible() throws {
        let a = try SweepAxis.parse("dose=0:10:1", model: model).get(), b = try SweepAxis.parse("tau=log:1:100:3", model: model).get()
        let d1 = try SweepDesign(latinHypercube: [a, b], samples: 50, seed: 7)
        let d2 = try SweepDesign(latinHypercube: [a, b], samples: 50, seed: 7)
        let d3 = try SweepDesign(latinHypercube: [a, b], samples: 50, seed: 8)
        let p1 = (0..<50).map { d1.point($0) }
        #expect(p1 == (0..<50).map { d2.point($0) })
        #expect(p1 != (0..<50).map { d3.point($0) })
        let strataA = Set(p1.map { Int($0[0] / 10 * 50) })
        let strataB = Set(p1.map { Int(log10($0[1]) / 2 * 50) })
        #expect(strataA.count == 50 && strataB.count == 50)
    }

    @Test func shardsPartitionTheRuns() {
        let shards = (0..<3).map { SweepRunner.shard($0, of: 3, total: 10) }
        #expect(shards == [[1, 4, 7, 10], [2, 5, 8], [3, 6, 9]])
        #expect(Set(shards.flatMap { $0 }) == Set(1...10))
        var rest = RunSet.shard(1, of: 3, total: 10)
        rest.done = [5, 7]  // 7 belongs to another shard: it does not change this one's count
        #expect(Array(rest) == [2, 8] && rest.count == 2)
        #expect(RunSet.all(0).count == 0 && Array(RunSet.all(0)).isEmpty)
    }
}

@Suite("Dosing tables")
struct DosingTableTests {
    @Test func nonmemStyleRecords() throws {
        let text = """
        TIME,DRUG,AMT,UNIT,ROUTE,DUR,II,ADDL
        # comment
        21d,ketamine,10,mg/kg,ip,,,
        0,esketamine,84,mg,intranasal,0,84,7
        1h,ketamine,0.5,mg/kg,iv,40min,,0
        """
        let doses = try DosingTable.parse(text, path: "d.csv")
        #expect(doses.count == 3)
        #expect(doses[0] == DoseRegimen(drug: "ketamine", amount: 10, unit: .mgPerKg, route: "ip", time: 504))
        #expect(doses[1].count == 8 && doses[1].interval == 84)
        #expect(doses[2].duration == 40.0 / 60 && doses[2].time == 1)
    }

    @Test func errorsNameTheLine() {
        #expect(throws: DosingTableError(path: "d.csv", line: 3, message: "addl 2 needs an interval in `ii`")) {
            _ = try DosingTable.parse("time,drug,amount,unit,route,ii,addl\n0,k,1,mg,ip,,\n1,k,1,mg,ip,,2\n", path: "d.csv")
        }
        #expect(throws: DosingTableError(path: "d.csv", line: 1, message: "missing column `route`; the columns are time,drug,amount,unit,route,duration,ii,addl")) {
            _ = try DosingTable.parse("time,drug,amount,unit\n", path: "d.csv")
        }
    }
}

@Suite("Small pieces")
struct PiecesTests {
    @Test func sha256KnownAnswers() {
        #expect(SHA256.hex(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(SHA256.hex([UInt8]()) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256.hex(Array(String(repeating: "a", count: 1000).utf8)) == "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3")
    }

    @Test func csvFieldsQuoteOnlyWhenNeeded() {
        #expect(csvField("plain") == "plain")
        #expect(csvField("a, b") == "\"a, b\"")
        #expect(csvField("say \"hi\"") == "\"say \"\"hi\"\"\"")
        #expect(csvNumber(3) == "3" && csvNumber(0.1) == "0.1" && csvNumber(.nan) == "NaN")
    }
}
