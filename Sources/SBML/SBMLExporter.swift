import Expressions
import Foundation
import Models

/// Why a model could not be exported; prints as one sentence.
public struct SBMLExportError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public var description: String { "cannot export to SBML: \(message)" }
}

/// The exported document and what the export had to approximate or leave out.
public struct SBMLExport: Sendable {
    public var xml: String
    /// One sentence each, e.g. units that could not be written as SBML units.
    public var notes: [String]
}

/// Writes ketasim models as SBML Level 3 Version 2 core.
///
/// States become species (amounts, `hasOnlySubstanceUnits`, in a unit compartment) when their unit is a
/// substance or a concentration or they carry database identifiers, and parameters otherwise; either way
/// a rate rule holds the ODE. Assignments become assignment rules; inputs become parameters switched by
/// events at their schedule edges; bolus doses are events adding to the route's target; infusions are a
/// rate parameter added to the target's rate rule, switched on and off by two events. Times are hours.
public enum SBMLExporter {
    /// The SBML text of `model` under `scenario` (its organism, parameters, inputs and doses), with
    /// `parameters` applied last. `initialState` replaces the states' `initial` values (pass the
    /// equilibrium when the scenario starts from steady state: SBML has no such notion).
    public static func export(_ model: ModelDefinition, scenario: Scenario? = nil, parameters: [String: Double] = [:],
                              initialState: [Double]? = nil) throws(SBMLExportError) -> String {
        try exportDocument(model, scenario: scenario, parameters: parameters, initialState: initialState).xml
    }

    public static func exportDocument(_ model: ModelDefinition, scenario: Scenario? = nil, parameters overrides: [String: Double] = [:],
                                      initialState: [Double]? = nil) throws(SBMLExportError) -> SBMLExport {
        var writer = ExportWriter(model: model)
        try writer.write(scenario: scenario, overrides: overrides, initialState: initialState)
        return SBMLExport(xml: writer.out, notes: writer.notes)
    }
}

private struct ExportWriter {
    let model: ModelDefinition
    var out = ""
    var notes: [String] = []
    var unitIDs: [String: String] = [:]
    var unitDefinitions: [(id: String, factors: [SBMLUnits.Factor])] = []

    init(model: ModelDefinition) { self.model = model }

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    static func number(_ x: Double) -> String {
        if x.isNaN { return "NaN" }
        if x.isInfinite { return x > 0 ? "INF" : "-INF" }
        return "\(x)"
    }

    /// The unitDefinition id for a ketasim unit, or nil (with a note) when it cannot be parsed.
    mutating func unit(_ text: String, for what: String) -> String? {
        if let id = unitIDs[text] { return id }
        guard let factors = SBMLUnits.parse(text) else {
            notes.append("unit `\(text)` of \(what) is not understood; it is written without SBML units")
            return nil
        }
        if factors.isEmpty { unitIDs[text] = "dimensionless"; return "dimensionless" }
        var id = SBMLUnits.id(for: text)
        while unitDefinitions.contains(where: { $0.id == id }) { id += "_" }
        unitIDs[text] = id
        unitDefinitions.append((id, factors))
        return id
    }

    func isSpeciesLike(_ state: State) -> Bool {
        if !state.identifiers.isEmpty { return true }
        guard let factors = SBMLUnits.parse(state.unit) else { return false }
        return factors.contains { ($0.kind == "mole" || $0.kind == "gram") && $0.exponent == 1 }
    }

    mutating func write(scenario: Scenario?, overrides: [String: Double], initialState: [Double]?) throws(SBMLExportError) {
        if let initialState, initialState.count != model.states.count {
            throw SBMLExportError(message: "expected \(model.states.count) initial values, got \(initialState.count)")
        }
        var parameterOverrides = scenario?.parameters ?? [:]
        for (k, v) in overrides { parameterOverrides[k] = v }
        for name in parameterOverrides.keys where model.parameter(named: name) == nil {
            throw SBMLExportError(message: "unknown parameter `\(name)`\(didYouMean(name, among: model.parameters.map(\.name)))")
        }
        let values = model.parameterValues(organism: scenario?.organism, overrides: parameterOverrides)
        let valueOf = Dictionary(zip(model.parameters.map(\.name), values), uniquingKeysWith: { a, _ in a })
        if scenario?.start == .steadyState && initialState == nil {
            notes.append("scenario `\(scenario?.name ?? "")` starts from steady state; the SBML starts from the states' initial values (pass the equilibrium as initialState)")
        }

        // Doses: events and infusion rate parameters.
        var infusionParameters: [(name: String, target: String)] = []
        var events: [(id: String, time: Double, assignments: [(variable: String, math: String)])] = []
        var taken = Set(model.parameters.map(\.name) + model.states.map(\.name) + model.assignments.map(\.name) + model.inputs.map(\.name))
        func fresh(_ base: String) -> String {
            var name = base
            var k = 2
            while taken.contains(name) { name = "\(base)_\(k)"; k += 1 }
            taken.insert(name)
            return name
        }
        for (doseIndex, dose) in (scenario?.doses ?? []).enumerated() {
            if let problem = model.problem(with: dose) { throw SBMLExportError(message: problem) }
            guard let drug = model.drug(named: dose.drug), let route = drug.route(named: dose.route) else {
                throw SBMLExportError(message: "dose `\(dose)` names an unknown drug or route")
            }
            let bodyWeight = valueOf["body_weight"]
            if dose.unit.isPerKilogram && bodyWeight == nil {
                throw SBMLExportError(message: "dose `\(dose)` is per kg but the model has no `body_weight` parameter")
            }
            let amount = dose.micromolesPerDose(molarMass: drug.molarMass, bodyWeight: bodyWeight ?? 1)
            let f: Expr
            switch route.bioavailability {
            case .constant(let v): f = .constant(v)
            case .parameter(let p): f = .symbol(p)
            }
            if let duration = dose.duration {
                let rate = fresh("infusion_\(route.target)_\(doseIndex + 1)")
                infusionParameters.append((rate, route.target))
                let value = MathMLWriter.math(.binary(.multiply, f, .constant(amount / duration)))
                for (k, time) in dose.times.enumerated() {
                    events.append((fresh("dose\(doseIndex + 1)_\(k + 1)_start"), time, [(rate, value)]))
                    events.append((fresh("dose\(doseIndex + 1)_\(k + 1)_end"), time + duration, [(rate, MathMLWriter.math(.constant(0)))]))
                }
            } else {
                let value = MathMLWriter.math(.binary(.add, .symbol(route.target), .binary(.multiply, f, .constant(amount))))
                for (k, time) in dose.times.enumerated() {
                    events.append((fresh("dose\(doseIndex + 1)_\(k + 1)"), time, [(route.target, value)]))
                }
            }
        }
        // Input schedules: each period sets the value at its start and restores the default at its end.
        for input in model.inputs {
            for (k, period) in (scenario?.inputs[input.name] ?? []).enumerated() {
                events.append((fresh("\(input.name)_\(k + 1)_on"), period.from, [(input.name, MathMLWriter.math(.constant(period.value)))]))
                if period.to.isFinite {
                    events.append((fresh("\(input.name)_\(k + 1)_off"), period.to, [(input.name, MathMLWriter.math(.constant(input.defaultValue)))]))
                }
            }
        }
        // Same-time events must apply in schedule order; SBML leaves simultaneous order open, so an end
        // and a start at one instant are written as one event.
        events.sort { $0.time < $1.time }
        var merged: [(id: String, time: Double, assignments: [(variable: String, math: String)])] = []
        for e in events {
            if let last = merged.last, last.time == e.time {
                var combined = last
                for a in e.assignments {
                    combined.assignments.removeAll { $0.variable == a.variable }
                    combined.assignments.append(a)
                }
                merged[merged.count - 1] = combined
            } else {
                merged.append(e)
            }
        }

        // Units.
        // An imported model keeps its own time unit; one that did not declare any exports without one.
        let timeUnit = model.timeUnit.symbol.isEmpty ? nil : unit(model.timeUnit.symbol, for: "time")
        var parameterUnits: [String: String] = [:]
        for p in model.parameters { parameterUnits[p.name] = unit(p.unit, for: "parameter `\(p.name)`") }
        for i in model.inputs { parameterUnits[i.name] = unit(i.unit, for: "input `\(i.name)`") }
        var stateUnits: [String: String] = [:]
        for s in model.states { stateUnits[s.name] = unit(s.unit, for: "state `\(s.name)`") }
        for a in model.assignments { if let u = a.unit { parameterUnits[a.name] = unit(u, for: "assignment `\(a.name)`") } }

        let id = ExportWriter.sanitize(model.name)
        out += "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        out += "<!-- Exported by ketasim from \(Self.escape(URL(fileURLWithPath: model.file).lastPathComponent))"
        if let scenario { out += ", scenario \(Self.escape(scenario.name))" }
        out += ". Time is in hours. -->\n"
        out += "<sbml xmlns=\"http://www.sbml.org/sbml/level3/version2/core\" level=\"3\" version=\"2\">\n"
        out += "  <model id=\"\(id)\" name=\"\(Self.escape(model.name))\"\(timeUnit.map { " timeUnits=\"\($0)\"" } ?? "")>\n"
        out += "    <notes><body xmlns=\"http://www.w3.org/1999/xhtml\"><p>\(Self.escape(model.description))</p>"
        for r in model.references { out += "<p>\(Self.escape(r))</p>" }
        out += "</body></notes>\n"
        if !unitDefinitions.isEmpty {
            out += "    <listOfUnitDefinitions>\n"
            for u in unitDefinitions {
                out += "      <unitDefinition id=\"\(u.id)\">\n        <listOfUnits>\n"
                for f in u.factors {
                    out += "          <unit kind=\"\(f.kind)\" exponent=\"\(f.exponent)\" scale=\"\(f.scale)\" multiplier=\"\(Self.number(f.multiplier))\"/>\n"
                }
                out += "        </listOfUnits>\n      </unitDefinition>\n"
            }
            out += "    </listOfUnitDefinitions>\n"
        }
        let speciesStates = model.states.filter(isSpeciesLike)
        let parameterStates = model.states.filter { !isSpeciesLike($0) }
        let initial = Dictionary(zip(model.states.map(\.name), initialState ?? model.states.map(\.initial)), uniquingKeysWith: { a, _ in a })
        if !speciesStates.isEmpty {
            // Species are amounts in a unit compartment, so their values are exactly ketasim's states.
            let compartmentID = fresh("default_compartment")
            out += "    <listOfCompartments>\n      <compartment id=\"\(compartmentID)\" spatialDimensions=\"3\" size=\"1\" units=\"dimensionless\" constant=\"true\"/>\n    </listOfCompartments>\n"
            out += "    <listOfSpecies>\n"
            for s in speciesStates {
                out += "      <species id=\"\(s.name)\""
                if !s.identifiers.isEmpty { out += " metaid=\"meta_\(s.name)\"" }
                if !s.description.isEmpty { out += " name=\"\(Self.escape(s.description))\"" }
                out += " compartment=\"\(compartmentID)\""
                out += " initialAmount=\"\(Self.number(initial[s.name] ?? s.initial))\""
                if let u = stateUnits[s.name] { out += " substanceUnits=\"\(u)\"" }
                out += " hasOnlySubstanceUnits=\"true\" boundaryCondition=\"false\" constant=\"false\""
                out += s.identifiers.isEmpty ? "/>\n" : ">\n" + annotation(s) + "      </species>\n"
            }
            out += "    </listOfSpecies>\n"
        }
        out += "    <listOfParameters>\n"
        for (p, value) in zip(model.parameters, values) {
            out += "      <parameter id=\"\(p.name)\""
            if !p.description.isEmpty { out += " name=\"\(Self.escape(p.description))\"" }
            out += " value=\"\(Self.number(value))\""
            if let u = parameterUnits[p.name] { out += " units=\"\(u)\"" }
            out += " constant=\"true\"/>\n"
        }
        for s in parameterStates {
            out += "      <parameter id=\"\(s.name)\""
            if !s.description.isEmpty { out += " name=\"\(Self.escape(s.description))\"" }
            out += " value=\"\(Self.number(initial[s.name] ?? s.initial))\""
            if let u = stateUnits[s.name] { out += " units=\"\(u)\"" }
            out += " constant=\"false\"/>\n"
        }
        for i in model.inputs {
            out += "      <parameter id=\"\(i.name)\" name=\"input: \(Self.escape(i.description))\" value=\"\(Self.number(i.defaultValue))\""
            if let u = parameterUnits[i.name] { out += " units=\"\(u)\"" }
            out += " constant=\"false\"/>\n"
        }
        for a in model.assignments {
            out += "      <parameter id=\"\(a.name)\""
            if let d = a.description, !d.isEmpty { out += " name=\"\(Self.escape(d))\"" }
            if let u = parameterUnits[a.name] { out += " units=\"\(u)\"" }
            out += " constant=\"false\"/>\n"
        }
        for p in infusionParameters {
            out += "      <parameter id=\"\(p.name)\" name=\"infusion rate into \(p.target) (umol/h)\" value=\"0\" constant=\"false\"/>\n"
        }
        out += "    </listOfParameters>\n"

        out += "    <listOfRules>\n"
        for a in model.assignments {
            out += "      <assignmentRule variable=\"\(a.name)\">\n" + MathMLWriter.math(a.expression, indent: 8) + "      </assignmentRule>\n"
        }
        for (s, ode) in zip(model.states, model.odes) {
            var rate = ode
            for p in infusionParameters where p.target == s.name { rate = .binary(.add, rate, .symbol(p.name)) }
            out += "      <rateRule variable=\"\(s.name)\">\n" + MathMLWriter.math(rate, indent: 8) + "      </rateRule>\n"
        }
        out += "    </listOfRules>\n"

        if !merged.isEmpty || !model.events.isEmpty {
            out += "    <listOfEvents>\n"
            for e in merged {
                // initialValue false so that an event at t = 0 fires at the start, as ketasim applies it.
                out += "      <event id=\"\(e.id)\" useValuesFromTriggerTime=\"true\">\n"
                out += "        <trigger initialValue=\"false\" persistent=\"true\">\n"
                out += MathMLWriter.math(.binary(.greaterEqual, .symbol("t"), .constant(e.time)), indent: 10, asCondition: true)
                out += "        </trigger>\n        <listOfEventAssignments>\n"
                for a in e.assignments {
                    out += "          <eventAssignment variable=\"\(a.variable)\">\n" + MathMLWriter.indent(a.math, by: 12) + "          </eventAssignment>\n"
                }
                out += "        </listOfEventAssignments>\n      </event>\n"
            }
            // The model's own events (an imported SBML model's), after the schedule's.
            for (k, e) in model.events.enumerated() {
                out += "      <event id=\"\(fresh(e.id ?? "event\(k + 1)"))\" useValuesFromTriggerTime=\"\(e.useValuesFromTriggerTime)\">\n"
                out += "        <trigger initialValue=\"\(e.initialValue)\" persistent=\"\(e.persistent)\">\n"
                out += MathMLWriter.math(e.trigger, indent: 10, asCondition: true)
                out += "        </trigger>\n"
                if let p = e.priority { out += "        <priority>\n" + MathMLWriter.math(p, indent: 10) + "        </priority>\n" }
                if let d = e.delay { out += "        <delay>\n" + MathMLWriter.math(d, indent: 10) + "        </delay>\n" }
                out += "        <listOfEventAssignments>\n"
                for a in e.assignments {
                    let value = a.scale.map { Expr.binary(.multiply, a.value, $0) } ?? a.value
                    out += "          <eventAssignment variable=\"\(a.state)\">\n" + MathMLWriter.math(value, indent: 12) + "          </eventAssignment>\n"
                }
                out += "        </listOfEventAssignments>\n      </event>\n"
            }
            out += "    </listOfEvents>\n"
        }
        out += "  </model>\n</sbml>\n"
    }

    func annotation(_ s: State) -> String {
        var a = "        <annotation>\n"
        a += "          <rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\" xmlns:bqbiol=\"http://biomodels.net/biology-qualifiers/\">\n"
        a += "            <rdf:Description rdf:about=\"#meta_\(s.name)\">\n              <bqbiol:is>\n                <rdf:Bag>\n"
        for (key, value) in s.identifiers.sorted(by: { $0.key < $1.key }) {
            a += "                  <rdf:li rdf:resource=\"\(Self.escape(SBMLAnnotations.uri(key: key, value: value)))\"/>\n"
        }
        a += "                </rdf:Bag>\n              </bqbiol:is>\n            </rdf:Description>\n          </rdf:RDF>\n        </annotation>\n"
        return a
    }

    static func sanitize(_ s: String) -> String {
        var out = String(s.map { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") ? $0 : "_" })
        if out.first.map({ !($0.isLetter || $0 == "_") }) ?? true { out = "m_" + out }
        return out
    }
}

/// `Expr` as MathML content. Booleans and numbers are kept apart as MathML requires: a comparison used
/// as a number becomes piecewise(1, c, 0), a number used as a condition becomes `x != 0`.
enum MathMLWriter {
    /// `asCondition` for triggers, which MathML wants boolean; everything else is numeric.
    static func math(_ e: Expr, indent: Int = 0, asCondition: Bool = false) -> String {
        let pad = String(repeating: " ", count: indent)
        return pad + "<math xmlns=\"http://www.w3.org/1998/Math/MathML\">" + (asCondition ? boolean(e) : numeric(e)) + "</math>\n"
    }

    static func indent(_ text: String, by n: Int) -> String {
        String(repeating: " ", count: n) + text.trimmingCharacters(in: .whitespaces)
    }

    static func isBoolean(_ e: Expr) -> Bool {
        switch e {
        case .binary(let op, _, _):
            switch op {
            case .less, .lessEqual, .greater, .greaterEqual, .equal, .notEqual, .and, .or: return true
            default: return false
            }
        case .unary(.not, _): return true
        default: return false
        }
    }

    static func apply(_ op: String, _ args: [String]) -> String { "<apply><\(op)/>" + args.joined() + "</apply>" }

    static func cn(_ x: Double) -> String {
        if x.isNaN { return "<notanumber/>" }
        if x.isInfinite { return x > 0 ? "<infinity/>" : "<apply><minus/><infinity/></apply>" }
        if x == x.rounded(), abs(x) < 1e15 { return "<cn type=\"integer\"> \(Int64(x)) </cn>" }
        return "<cn> \(x) </cn>"
    }

    static func boolean(_ e: Expr) -> String {
        if isBoolean(e) { return raw(e) }
        if case .constant(let c) = e { return c != 0 ? "<true/>" : "<false/>" }
        return apply("neq", [numeric(e), cn(0)])
    }

    static func numeric(_ e: Expr) -> String {
        if isBoolean(e) { return "<piecewise><piece>\(cn(1))\(raw(e))</piece><otherwise>\(cn(0))</otherwise></piecewise>" }
        return raw(e)
    }

    private static func raw(_ e: Expr) -> String {
        switch e {
        case .constant(let x): return cn(x)
        case .symbol(let name):
            if name == "t" { return "<csymbol encoding=\"text\" definitionURL=\"http://www.sbml.org/sbml/symbols/time\"> time </csymbol>" }
            return "<ci> \(name) </ci>"
        case .unary(.negate, let a): return apply("minus", [numeric(a)])
        case .unary(.not, let a): return apply("not", [boolean(a)])
        case .binary(let op, let a, let b):
            switch op {
            case .add: return apply("plus", [numeric(a), numeric(b)])
            case .subtract: return apply("minus", [numeric(a), numeric(b)])
            case .multiply: return apply("times", [numeric(a), numeric(b)])
            case .divide: return apply("divide", [numeric(a), numeric(b)])
            case .power: return apply("power", [numeric(a), numeric(b)])
            case .less: return apply("lt", [numeric(a), numeric(b)])
            case .lessEqual: return apply("leq", [numeric(a), numeric(b)])
            case .greater: return apply("gt", [numeric(a), numeric(b)])
            case .greaterEqual: return apply("geq", [numeric(a), numeric(b)])
            case .equal: return apply("eq", [numeric(a), numeric(b)])
            case .notEqual: return apply("neq", [numeric(a), numeric(b)])
            case .and: return apply("and", [boolean(a), boolean(b)])
            case .or: return apply("or", [boolean(a), boolean(b)])
            }
        case .call(let f, let args):
            let x = args.map(numeric)
            switch f {
            case .exp: return apply("exp", x)
            case .log: return apply("ln", x)
            case .log10: return "<apply><log/><logbase>\(cn(10))</logbase>" + x.joined() + "</apply>"
            case .sqrt: return apply("root", x)
            case .abs: return apply("abs", x)
            case .min: return apply("min", x)
            case .max: return apply("max", x)
            case .pow: return apply("power", x)
            case .floor: return apply("floor", x)
            case .ceil: return apply("ceiling", x)
            case .sin, .cos, .tan, .sinh, .cosh, .tanh, .factorial, .quotient, .rem: return apply(f.rawValue, x)
            case .asin: return apply("arcsin", x)
            case .acos: return apply("arccos", x)
            case .atan: return apply("arctan", x)
            case .polygamma:
                // MathML has no polygamma; it only arises from differentiating factorial, which exports never write.
                return "<notanumber/>"
            case .hill:
                guard args.count == 3 else { return "<notanumber/>" }
                let xn = Expr.binary(.power, args[0], args[2])
                return raw(.binary(.divide, xn, .binary(.add, .binary(.power, args[1], args[2]), xn)))
            case .sign:
                guard let a = args.first else { return "<notanumber/>" }
                return "<piecewise><piece>\(cn(1))\(apply("gt", [numeric(a), cn(0)]))</piece><piece>\(cn(-1))\(apply("lt", [numeric(a), cn(0)]))</piece><otherwise>\(cn(0))</otherwise></piecewise>"
            }
        case .conditional(let c, let a, let b):
            return "<piecewise><piece>\(numeric(a))\(boolean(c))</piece><otherwise>\(numeric(b))</otherwise></piecewise>"
        }
    }
}
