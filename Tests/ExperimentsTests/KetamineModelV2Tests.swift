import Foundation
import Integrator
import Models
import Testing
@testable import Experiments

/// The "Done when" checks of issue 14 (model v2) that the model structure can meet. Every treated arm is
/// compared with its untreated arm under the same stress, never with its own pre-dose level.
/// The parameter values are provisional (to be calibrated by `make calibrate`); the comments name the
/// checks that are close to their limits.
@Suite("Ketamine / chronic stress model v2 (issue 14)", .serialized)
struct KetamineModelV2Tests {
    static let model: CompiledModel? = {
        let path = repositoryRoot.appendingPathComponent("models/ketamine_stress.yaml").path
        return try? CompiledModel(try ModelLoader.load(path: path))
    }()

    static let dose = 504.0

    func compiled() throws -> CompiledModel {
        try #require(Self.model, "models/ketamine_stress.yaml must load and compile")
    }

    func run(_ scenario: String, every: Double, outputs: [String], doses: [String] = [], change: (inout SimulationPlan) -> Void = { _ in }) throws -> SimulationResult {
        let model = try compiled()
        var plan = SimulationPlan(scenario: try #require(model.definition.scenario(named: scenario), "scenario \(scenario)"))
        plan.outputEvery = every
        for text in doses { plan.doses.append(try DoseRegimen.parse(text).get()) }
        change(&plan)
        let result = try Simulator(model: model).run(plan, outputs: outputs)
        try #require(result.failure == nil, "\(scenario) \(doses): \(String(describing: result.failure))")
        return result
    }

    func at(_ r: SimulationResult, _ name: String, _ t: Double) throws -> Double {
        interpolate(r.times, try #require(r.series(name)), at: t)
    }

    func values(_ r: SimulationResult, _ name: String, from: Double, to: Double) throws -> [Double] {
        let s = try #require(r.series(name))
        return r.times.indices.filter { r.times[$0] >= from && r.times[$0] <= to }.map { s[$0] }
    }

    // MARK: dose window (Moghaddam 1997 PMC6573099; models/data/rat_glutamate.tsv)

    /// Rat, stress continuing, one ketamine i.p. dose at day 21. The glutamate peak and the 24-h synapse
    /// effect (against `stress_continuing`) rise from 1 to 10 mg/kg; 80 mg/kg gives less than half the
    /// 10 mg/kg effect; 200 mg/kg lowers glutamate below baseline (mean of the first 2 h).
    /// Measured: glutamate peak 1.06/1.41/1.69x at 1/5/10 mg/kg, 200 mg/kg mean 0.33x; 24-h effect
    /// 0.0005/0.012/0.034 at 1/5/10 mg/kg, 80 mg/kg about 1% of the 10 mg/kg effect.
    @Test func anaestheticDosesCloseTheWindow() throws {
        let d = Self.dose
        let untreated = try run("stress_continuing", every: 1.0 / 12, outputs: ["synapse_density"]) { $0.tEnd = d + 25 }
        var peak: [Double: Double] = [:], effect: [Double: Double] = [:], early: [Double: Double] = [:]
        for mgkg in [1.0, 5, 10, 80, 200] {
            let r = try run("stress_continuing", every: 1.0 / 12, outputs: ["glutamate_synaptic", "synapse_density"],
                            doses: ["ketamine \(mgkg) mg/kg ip at 21d"]) { $0.tEnd = d + 25 }
            let g0 = try at(r, "glutamate_synaptic", d - 0.1)
            let window = try values(r, "glutamate_synaptic", from: d, to: d + 6)
            peak[mgkg] = (window.max() ?? .nan) / g0
            let first2h = try values(r, "glutamate_synaptic", from: d, to: d + 2)
            early[mgkg] = first2h.reduce(0, +) / Double(max(1, first2h.count)) / g0
            effect[mgkg] = try at(r, "synapse_density", d + 24) - at(untreated, "synapse_density", d + 24)
        }
        let p1 = try #require(peak[1]), p5 = try #require(peak[5]), p10 = try #require(peak[10])
        let e1 = try #require(effect[1]), e5 = try #require(effect[5]), e10 = try #require(effect[10])
        let e80 = try #require(effect[80]), g200 = try #require(early[200])
        #expect(p1 < p5 && p5 < p10, "glutamate peak does not rise from 1 to 10 mg/kg: \(p1), \(p5), \(p10)")
        #expect(p10 > 1.2, "10 mg/kg glutamate peak \(p10)x")
        #expect(e1 < e5 && e5 < e10 && e10 > 0, "24-h effect does not rise from 1 to 10 mg/kg: \(e1), \(e5), \(e10)")
        #expect(e80 < 0.5 * e10, "80 mg/kg effect \(e80) is not below half the 10 mg/kg effect \(e10)")
        #expect(g200 < 1, "200 mg/kg does not lower glutamate in the first 2 h: mean \(g200)x")
    }

    // MARK: capacity

    /// Synapse density stays below 1.5x an unstressed animal for any dose of any drug of the model, with
    /// and without stress (a dose sweep of every drug and route family).
    @Test func synapseDensityHasACapacity() throws {
        let model = try compiled()
        let regimens = [
            "ketamine 1 mg/kg ip", "ketamine 10 mg/kg ip", "ketamine 30 mg/kg ip", "ketamine 80 mg/kg ip", "ketamine 200 mg/kg ip",
            "ketamine 10 mg/kg iv", "ketamine 100 mg/kg oral",
            "esketamine 5 mg/kg ip", "esketamine 50 mg/kg ip",
            "scopolamine 25 ug/kg ip", "scopolamine 0.5 mg/kg ip", "scopolamine 5 mg/kg ip",
            "ly341495 1 mg/kg ip", "ly341495 3 mg/kg ip", "ly341495 10 mg/kg ip", "ly341495 30 mg/kg ip", "ly341495 100 mg/kg ip",
            "rapamycin 0.2 nmol icv", "rapamycin 20 nmol icv",
            "lithium 30 mg/kg ip", "lithium 300 mg/kg ip",
            "brexanolone 90 ug/kg/h iv over 60h", "brexanolone 1 mg/kg/h iv over 60h",
            "zuranolone 1 mg/kg oral", "zuranolone 30 mg/kg oral",
            "midazolam 0.1 mg/kg iv", "midazolam 5 mg/kg iv",
        ]
        let drugs = Set(regimens.map { String($0.split(separator: " ")[0]) })
        #expect(drugs == Set(model.definition.drugs.map(\.name)), "the sweep must cover every drug of the model")
        for scenario in ["stress_continuing", "control"] {
            for text in regimens {
                let r = try run(scenario, every: 6, outputs: ["synapse_density"], doses: ["\(text) at 21d"])
                let top = try values(r, "synapse_density", from: 0, to: r.times.last ?? 0).max() ?? .nan
                #expect(top < 1.5, "\(scenario) + \(text): synapse density reaches \(top)x an unstressed animal")
            }
        }
    }

    // MARK: durability (caption 004; Chiu 2015 PMC4438544)

    /// With stress continuing after the dose, the effect (treated minus untreated) at day 3 is at least half
    /// the 24-h effect, at day 7 between 15% and 70% of it, and below 30% at day 14. Measured: 64%, 20%, 6%
    /// (day 7 is close to its lower limit: `tau_stable`, `tau_labile` and `f_labile` move it).
    @Test func durabilityWithStressContinuing() throws {
        let d = Self.dose
        let untreated = try run("stress_continuing", every: 2, outputs: ["synapse_density"])
        let treated = try run("stress_continuing_ketamine", every: 2, outputs: ["synapse_density"])
        func effect(_ days: Double) throws -> Double {
            try at(treated, "synapse_density", d + 24 * days) - at(untreated, "synapse_density", d + 24 * days)
        }
        let e1 = try effect(1)
        #expect(e1 > 0, "no 24-h effect: \(e1)")
        let r3 = try effect(3) / e1, r7 = try effect(7) / e1, r14 = try effect(14) / e1
        #expect(r3 >= 0.5, "day 3 keeps \(r3 * 100)% of the 24-h effect")
        #expect((0.15...0.70).contains(r7), "day 7 keeps \(r7 * 100)% of the 24-h effect")
        #expect(r14 < 0.30, "day 14 keeps \(r14 * 100)% of the 24-h effect")
    }

    /// Lithium enhances and prolongs ketamine (Chiu 2015): at day 7 the combination is above ketamine alone
    /// and above lithium alone, each against the untreated arm. Measured: 0.030 vs 0.007 and 0.023.
    @Test func lithiumProlongsTheKetamineEffect() throws {
        let d = Self.dose
        let untreated = try run("stress_continuing", every: 2, outputs: ["synapse_density"])
        func effect(_ scenario: String, _ days: Double) throws -> Double {
            let r = try run(scenario, every: 2, outputs: ["synapse_density"])
            return try at(r, "synapse_density", d + 24 * days) - at(untreated, "synapse_density", d + 24 * days)
        }
        let both = try effect("stress_continuing_ketamine_lithium", 7)
        let ketamine = try effect("stress_continuing_ketamine", 7)
        let lithium = try effect("stress_continuing_lithium", 7)
        #expect(both > ketamine, "day 7: ketamine + lithium \(both) vs ketamine alone \(ketamine)")
        #expect(both > lithium, "day 7: ketamine + lithium \(both) vs lithium alone \(lithium)")
    }

    /// The rat lithium regimen reaches the 0.6-1.2 mM plasma range aimed at in rat protocols.
    @Test func ratLithiumRegimenIsInTheTherapeuticRange() throws {
        let r = try run("stress_continuing_lithium", every: 0.25, outputs: ["lithium_plasma"]) { $0.tEnd = Self.dose + 7 * 24 }
        let top = try values(r, "lithium_plasma", from: Self.dose, to: Self.dose + 7 * 24).max() ?? .nan
        #expect((600...1200).contains(top), "plasma lithium peaks at \(top) uM")
    }

    // MARK: no switch-like terms

    /// No Hill coefficient above 4 anywhere (hill() calls in the file and parameters named n_*), and no
    /// running "tone" reference state.
    @Test func noHillCoefficientAboveFour() throws {
        let model = try compiled()
        let values = Dictionary(model.definition.parameters.map { ($0.name, $0.value) }, uniquingKeysWith: { a, _ in a })
        for p in model.definition.parameters where p.name.hasPrefix("n_") {
            #expect(p.value <= 4, "\(p.name) = \(p.value)")
            if let b = p.bounds { #expect(b.upperBound <= 4, "\(p.name) may be fitted up to \(b.upperBound)") }
        }
        let text = try String(contentsOf: repositoryRoot.appendingPathComponent("models/ketamine_stress.yaml"), encoding: .utf8)
        var calls = 0
        var rest = Substring(text)
        while let r = rest.range(of: "hill(") {
            // The third argument of hill(x, K, n), found by bracket depth.
            var depth = 1, commas = 0, third = ""
            var i = r.upperBound
            while i < rest.endIndex, depth > 0 {
                let c = rest[i]
                if c == "(" { depth += 1 } else if c == ")" { depth -= 1 }
                if depth == 1 && c == "," { commas += 1 } else if depth > 0 && commas == 2 { third.append(c) }
                i = rest.index(after: i)
            }
            let name = third.trimmingCharacters(in: .whitespaces)
            let n = Double(name) ?? values[name]
            #expect(n != nil, "hill coefficient \(name) is neither a number nor a parameter")
            if let n { #expect(n <= 4, "hill(..., \(name) = \(n))") }
            calls += 1
            rest = rest[i...]
        }
        #expect(calls >= 10, "only \(calls) hill() calls found")
        #expect(!model.definition.states.contains { $0.name.contains("tone") }, "a running tone state is back")
    }

    /// The v1 defect: nudging n_int_block, K_dis or n_trkb made interneuron_activity non-finite (a tiny
    /// negative concentration raised to a fractional power).
    @Test func nudgedExponentsStayFinite() throws {
        for (name, value) in [("n_int_block", 2.02), ("n_int_block", 1.98), ("K_dis", 0.0505), ("K_dis", 0.0495), ("n_trkb", 1.01), ("n_trkb", 0.99)] {
            let r = try run("stress_ketamine", every: 1, outputs: ["interneuron_activity", "synapse_density", "trkb_active"]) {
                $0.parameters[name] = value
            }
            for out in ["interneuron_activity", "synapse_density", "trkb_active"] {
                #expect(try #require(r.series(out)).allSatisfy { $0.isFinite }, "\(name) = \(value): \(out) not finite")
            }
        }
    }

    // MARK: humans (Murrough 2013, PMID 23982301; models/data/human_clinical.tsv)

    /// madrs_change of the ketamine infusion minus that of the midazolam infusion is most negative between
    /// 12 h and 72 h, and at 24 h lies near the published difference (16.5 vs 8.8 points, 7.7; tolerance
    /// 4-12 points). Measured: -7.7 at 24 h, most negative at 26 h. `madrs_per_synapse` (provisional) sets the
    /// size; see docs/MODEL.md, Human efficacy.
    @Test func humanMADRSDifferenceWindow() throws {
        let ketamine = try run("human_ketamine_infusion", every: 1, outputs: ["madrs_change"])
        let midazolam = try run("human_midazolam_infusion", every: 1, outputs: ["madrs_change"])
        let k = try #require(ketamine.series("madrs_change")), m = try #require(midazolam.series("madrs_change"))
        #expect(ketamine.times == midazolam.times)
        let diff = zip(k, m).map { $0 - $1 }
        #expect(abs(k[0]) < 1e-6 && abs(m[0]) < 1e-6, "madrs_change does not start at 0: \(k[0]), \(m[0])")
        let i = try #require(diff.indices.min { diff[$0] < diff[$1] })
        #expect((12...72).contains(ketamine.times[i]), "difference is most negative at \(ketamine.times[i]) h")
        let d24 = interpolate(ketamine.times, diff, at: 24)
        #expect((-12 ... -4).contains(d24), "ketamine minus midazolam at 24 h: \(d24) MADRS points")
        #expect(interpolate(midazolam.times, m, at: 24) < 0, "no placebo / expectancy improvement in the midazolam arm")
    }
}
