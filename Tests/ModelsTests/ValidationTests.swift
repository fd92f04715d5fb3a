import Expressions
import Testing
@testable import Models

private let valid = """
name: tiny
description: a tiny model
time_unit: h
parameters:
  k:
    value: 0.5
    unit: 1/h
    description: decay rate
    assumption: test value
states:
  bdnf:
    initial: 1
    unit: "1"
assignments:
  loss: k * bdnf
odes:
  bdnf: -loss
outputs: [bdnf, loss]
"""

private func problems(_ text: String) -> [ModelProblem] {
    do {
        _ = try ModelLoader.parse(text, file: "m.yaml")
        return []
    } catch {
        return error.problems
    }
}

@Suite("Model file validation")
struct ValidationTests {
    @Test func validModelLoads() throws {
        let m = try ModelLoader.parse(valid, file: "m.yaml")
        #expect(m.states.map(\.name) == ["bdnf"])
        #expect(m.assignments.map(\.name) == ["loss"])
        #expect(m.outputs == ["bdnf", "loss"])
        #expect(m.parameters[0].provenance == .assumption("test value"))
    }

    @Test func unknownSymbolPointsAtItWithASuggestion() {
        let text = valid.replacingOccurrences(of: "  bdnf: -loss", with: "  bdnf: -k * bndf")
        let p = problems(text)
        #expect(p.count == 1)
        #expect(p.first?.location == SourceLocation(file: "m.yaml", line: 17, column: 14))
        #expect(p.first?.message == "unknown symbol `bndf`; did you mean `bdnf`?")
        #expect(p.first?.description == """
            m.yaml:17:14: error: unknown symbol `bndf`; did you mean `bdnf`?
                bdnf: -k * bndf
                           ^
            """)
    }

    /// One mistake, one message: an ODE that does not parse is not also "missing", and a scenario
    /// extending a broken one is not reported again for each child.
    @Test func aMistakeIsReportedOnce() {
        let syntax = problems(valid.replacingOccurrences(of: "  bdnf: -loss", with: "  bdnf: -(loss"))
        #expect(syntax.count == 1 && syntax.first?.message.contains("expected `)`") == true, "\(syntax.map(\.message))")
        let scenarios = valid + """

            scenarios:
              base:
                description: b
                t_end: 1h
                extends: missing
              child:
                description: c
                extends: base
              grandchild:
                description: g
                extends: child
            """
        let chain = problems(scenarios)
        #expect(chain.count == 1, "\(chain.map(\.message))")
        #expect(chain.first?.message.contains("extends unknown scenario `missing`") == true)
    }

    @Test func everyProblemIsReportedInOnePass() {
        let text = """
        name: broken
        description: many problems
        time_unit: h
        parameters:
          k:
            value: fast
            unit: 1/h
            source: "Nobody 2020"
          V:
            value: 2
            assumption: none
          q:
            value: 1
            unit: "1"
        states:
          a:
            initial: 1
            unit: "1"
          b:
            initial: 0
            unit: "1"
        assignments:
          x: y + 1
          y: x * 2
        odes:
          a: -k * a
          c: 1
        outputs: [a, z]
        scenarios:
          s1:
            t_end: 2x
        """
        let p = problems(text)
        let messages = p.map(\.message)
        #expect(messages.contains("value of `k` must be a number, got `fast`"))
        #expect(messages.contains { $0.hasPrefix("missing unit of parameter `V`") })
        // A missing source is a warning (ModelHardeningTests), not one of the errors.
        #expect(!messages.contains { $0.contains("`q`") })
        #expect(messages.contains { $0.hasPrefix("ODE for unknown state `c`") })
        #expect(messages.contains("state `b` has no ODE; add `b: <expression>` under `odes`"))
        #expect(messages.contains { $0.hasPrefix("assignments form a cycle: ") })
        #expect(messages.contains { $0.hasPrefix("output `z` is neither a state nor an assignment") })
        #expect(messages.contains { $0.hasPrefix("t_end: `2x` is not a duration") })
        // Sorted by position, each with a real line number.
        #expect(p.map(\.location.line) == p.map(\.location.line).sorted())
        #expect(p.allSatisfy { $0.location.line > 1 })
        #expect(p.count == 7)
    }

    @Test func duplicateNamesAndTypoKeys() {
        let text = valid.replacingOccurrences(of: "states:\n  bdnf:", with: "states:\n  k:\n    initial: 0\n    unit: \"1\"\n  bdnf:")
            .replacingOccurrences(of: "    description: decay rate", with: "    descripton: decay rate")
        let messages = problems(text).map(\.message)
        #expect(messages.contains("`k` is declared twice (first at line 5)"))
        #expect(messages.contains { $0.hasPrefix("unknown key `descripton` in parameter `k`; did you mean `description`?") })
    }

    @Test func yamlSyntaxErrorHasALocation() {
        let p = problems("name: x\nparameters: [a, b\nstates: {}\n")
        #expect(p.count == 1)
        #expect(p.first?.message.hasPrefix("not valid YAML") == true)
        #expect((p.first?.location.line ?? 0) >= 2)
    }

    @Test func badDosesAndScenarioReferences() {
        let text = valid + """

        drugs:
          ketamine:
            molar_mass: 237.7
            routes:
              ip: {target: bdnf}
        scenarios:
          a:
            t_end: 10h
            doses: ["ketamine 10 mg/kg iv at 1h", "ketamin 1 mg ip at 0", "ketamine -1 mg ip at 0"]
          b:
            extends: nothere
            t_end: 1h
        """
        let messages = problems(text).map(\.message)
        #expect(messages.contains { $0.contains("ketamine has no route `iv`") })
        #expect(messages.contains { $0.contains("unknown drug `ketamin`; did you mean `ketamine`?") })
        #expect(messages.contains { $0.contains("must not be negative") })
        #expect(messages.contains("scenario `b` extends unknown scenario `nothere`"))
    }

    @Test func missingFileIsUnreadable() {
        #expect(throws: ModelError.unreadable(path: "/nonexistent.yaml", reason: "no such file")) {
            _ = try ModelLoader.load(path: "/nonexistent.yaml")
        }
    }
}

@Suite("Durations and dose specs")
struct DoseSpecTests {
    @Test(arguments: [("30min", 0.5), ("2h", 2), ("21d", 504), ("1w", 168), ("1.5", 1.5), ("90s", 0.025)])
    func durations(text: String, hours: Double) {
        #expect((try? Duration.hours(text).get()) == hours)
    }

    @Test(arguments: ["", "2x", "h", "d3", "1e400d"])
    func badDurations(text: String) {
        #expect((try? Duration.hours(text).get()) == nil)
    }

    /// Durations in a model's own time unit: converted when ketasim knows the unit, bare numbers only otherwise.
    @Test(arguments: [("30min", "s", 1800.0), ("2h", "min", 120), ("36h", "d", 1.5), ("2h", "h", 2), ("7", "", 7), ("7", "u_week", 7)])
    func durationsInTheModelsTimeUnit(text: String, unit: String, value: Double) throws {
        #expect(abs(try TimeUnit(unit).value(text).get() - value) < 1e-12 * value)
    }

    @Test func suffixedDurationForAnUnknownTimeUnitIsRefused() {
        guard case .failure(let e) = TimeUnit("").value("2h") else { Issue.record("2h accepted without a time unit"); return }
        #expect(e.description.contains("the model's time unit is unspecified; give a bare number"))
        #expect(TimeUnit("").column == "time" && TimeUnit("s").column == "time_s")
    }

    @Test func regimenShorthand() throws {
        let d = try DoseRegimen.parse("esketamine 84 mg intranasal at 3.5d every 3.5d x8").get()
        #expect(d.drug == "esketamine" && d.amount == 84 && d.unit == .mg && d.route == "intranasal")
        #expect(d.times == (0..<8).map { 84 + Double($0) * 84 })
        let i = try DoseRegimen.parse("ketamine 0.5 mg/kg iv over 40min at 0").get()
        #expect(i.duration == 40.0 / 60 && i.time == 0 && i.count == 1)
        // 0.5 mg/kg x 70 kg / 237.7 g/mol = 147.2 umol
        #expect(abs(i.micromolesPerDose(molarMass: 237.7, bodyWeight: 70) - 35_000 / 237.7) < 1e-9)
        let r = try DoseRegimen.parse("brexanolone 90 ug/kg/h iv over 60h at 0").get()
        #expect(abs(r.micromolesPerDose(molarMass: 318.5, bodyWeight: 70) - 90 * 70 * 60 / 318.5) < 1e-9)
    }

    @Test(arguments: [
        ("ketamine 10 mg/kg ip", "expected `<drug> <amount> <unit> <route> [over <duration>] at <time> [every <duration> x<count>]`"),
        ("ketamine ten mg ip at 0", "`ten` is not a dose amount"),
        ("ketamine 10 mg/lb ip at 0", "unknown dose unit `mg/lb`; use one of mg/kg, ug/kg, mg, ug, g, umol, nmol, mg/kg/h, ug/kg/h, mg/h"),
        ("ketamine 10 mg/kg/h iv at 0", "a rate in mg/kg/h needs `over <duration>`"),
        ("ketamine 10 mg ip at 0 every 1d", "`every` needs a count such as `x8`"),
        ("ketamine 10 mg iv over 2d at 0 every 1d x3", "each infusion (48 h) is longer than the dosing interval (24 h)"),
    ])
    func badDoses(text: String, message: String) {
        guard case .failure(let e) = DoseRegimen.parse(text) else { Issue.record("accepted \(text)"); return }
        #expect(e.message == message)
    }
}

@Suite("Organism variability")
struct OrganismVariabilityTests {
    private func model(_ variability: String) -> String {
        valid + """

        organisms:
          adult:
            parameters: {k: 0.2}
            variability:
        \(variability)
        """
    }

    @Test func declaredVariabilityIsRead() throws {
        let m = try ModelLoader.parse(model("      k: {cv: 0.24, source: \"Table 2 of doi:10.1000/x\"}"), file: "m.yaml")
        #expect(m.organism(named: "adult")?.variability == [ParameterVariability(parameter: "k", cv: 0.24, source: "Table 2 of doi:10.1000/x")])
    }

    /// A CV is a number a population will draw from: without a source, or as a percentage read as a
    /// fraction (24 for 24%), it must not load.
    @Test(arguments: [
        ("      k: {cv: 0.24}", 23, "missing `source` (the citation of the CV) of variability of `k` in organism `adult`"),
        ("      k: {source: s}", 23, "missing `cv` (a fraction: 0.24 for 24%) of variability of `k` in organism `adult`"),
        ("      k: {cv: 24, source: s}", 23, "variability of `k` in organism `adult`: `cv` must be a fraction above 0 and at most 10 (0.24 for 24%), not 24.0"),
        ("      kk: {cv: 0.2, source: s}", 23, "organism `adult` gives the variability of unknown parameter `kk`; did you mean `k`?"),
        ("      k: {cv: 0.2, source: s, sd: 1}", 23, "unknown key `sd` in variability of `k` in organism `adult`; allowed: cv, source"),
    ])
    func incompleteVariabilityIsRefused(entry: String, line: Int, message: String) {
        let p = problems(model(entry))
        #expect(p.map(\.message) == [message])
        #expect(p.first?.location.line == line)
    }
}
