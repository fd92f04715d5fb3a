import Expressions
import Foundation
import Models

/// Reads SBML Level 2 and 3 core models into ketasim models.
///
/// Species are held as concentrations when their compartment never changes, and as amounts
/// (`<id>_amount`) otherwise, because an amount is what a volume change conserves. Everything an event
/// changes becomes a state (with derivative 0 between events) so events only ever change the state
/// vector. Anything outside the subset is refused with the element and id, never skipped.
public enum SBMLImporter {
    public static func importModel(path: String) throws(SBMLError) -> SBMLModel {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            let reason = FileManager.default.fileExists(atPath: path) ? "not readable" : "no such file"
            throw SBMLError(.unreadable, file: path, line: 0, element: "sbml", message: reason)
        }
        return try importModel(data: data, file: path)
    }

    public static func importModel(xml: String, file: String = "<string>") throws(SBMLError) -> SBMLModel {
        try importModel(data: Data(xml.utf8), file: file)
    }

    public static func importModel(data: Data, file: String) throws(SBMLError) -> SBMLModel {
        var root = try XMLNode.parse(data: data, file: file)
        // Hierarchical models are flattened into one core model first (CompFlattening.swift).
        if CompFlattening.uses(root) { root = try CompFlattening.flatten(root, file: file) }
        var reader = DocumentReader(file: file)
        return try reader.read(root)
    }
}

private let mathMLNamespace = "http://www.w3.org/1998/Math/MathML"

/// Reserved by ketasim's model format; SBML ids equal to these are renamed.
private let reservedNames: Set<String> = Set(["t", "if", "piecewise", "time"] + Function.allCases.map(\.rawValue))

private struct Compartment { var id: String; var size: Double?; var constant: Bool; var dimensions: Double; var units: String?; var name: String?; var line: Int }
private struct Species {
    var id: String; var compartment: String; var initialAmount: Double?; var initialConcentration: Double?
    var onlySubstance: Bool; var boundary: Bool; var constant: Bool; var conversionFactor: String?
    var units: String?; var name: String?; var identifiers: [String: String]; var line: Int
}
private struct Parameter { var id: String; var value: Double?; var constant: Bool; var units: String?; var name: String?; var line: Int }
private struct SpeciesReference { var species: String; var stoichiometry: Double?; var id: String?; var constant: Bool; var line: Int }
private struct Reaction {
    var id: String; var reactants: [SpeciesReference]; var products: [SpeciesReference]
    var law: MathNode; var locals: [(id: String, value: Double)]; var line: Int
}
private struct Rule { var variable: String; var math: MathNode; var line: Int }
private struct EventAssignment { var variable: String; var math: MathNode; var line: Int }
private struct Event {
    var id: String?; var trigger: MathNode; var initialValue: Bool; var persistent: Bool
    var useValuesFromTriggerTime: Bool; var assignments: [EventAssignment]; var delay: MathNode?; var priority: MathNode?; var line: Int
}

private struct DocumentReader {
    let file: String
    var level = 3
    var functions = FunctionDefinitions()
    var notes: [String] = []

    init(file: String) { self.file = file }

    func error(_ kind: SBMLError.Kind, _ node: XMLNode, _ message: String, id: String? = nil) -> SBMLError {
        SBMLError(kind, file: node.file ?? file, line: node.line, element: node.name, id: id ?? node.id, message: message)
    }

    func context(_ node: XMLNode, id: String? = nil) -> MathContext {
        MathContext(file: node.file ?? file, line: node.line, element: node.name, id: id ?? node.id)
    }

    func double(_ node: XMLNode, _ attribute: String) throws(SBMLError) -> Double? {
        guard let text = node[attribute] else { return nil }
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        switch trimmed {
        case "INF": return .infinity
        case "-INF": return -.infinity
        case "NaN": return .nan
        default:
            guard let v = Double(trimmed) else { throw error(.malformed, node, "attribute \(attribute)=\"\(text)\" is not a number") }
            return v
        }
    }

    func bool(_ node: XMLNode, _ attribute: String, default value: Bool) throws(SBMLError) -> Bool {
        guard let text = node[attribute] else { return value }
        switch text.trimmingCharacters(in: .whitespaces) {
        case "true", "1": return true
        case "false", "0": return false
        default: throw error(.malformed, node, "attribute \(attribute)=\"\(text)\" is not a boolean")
        }
    }

    func required(_ node: XMLNode, _ attribute: String) throws(SBMLError) -> String {
        guard let v = node[attribute], !v.isEmpty else { throw error(.malformed, node, "missing required attribute `\(attribute)`") }
        return v
    }

    /// Reads the `<math>` child, with function definitions inlined.
    func math(_ node: XMLNode, id: String? = nil) throws(SBMLError) -> MathNode {
        guard let m = node.child("math") else { throw error(.malformed, node, "missing <math>", id: id) }
        let ctx = context(node, id: id)
        let raw = try MathML.read(math: m, context: ctx, functions: Set(functions.definitions.keys))
        return try functions.inline(raw, context: ctx)
    }

    /// The `<math>` child when there is one: Level 3 Version 2 lets initial assignments, rules, event
    /// assignments and triggers omit it, and the element then has no effect.
    func optionalMath(_ node: XMLNode, id: String? = nil) throws(SBMLError) -> MathNode? {
        guard level == 3, node.child("math") == nil else { return try math(node, id: id) }
        return nil
    }

    /// Refuses elements of SBML packages (whose namespaces extend the core one): their meaning would be lost.
    func checkNoPackages(_ node: XMLNode, core: String) throws(SBMLError) {
        if node.name == "annotation" || node.name == "notes" { return }
        if node.namespace != core && node.namespace != mathMLNamespace {
            throw error(.unsupported, node, "element <\(node.name)> of the SBML package or extension `\(node.namespace)`")
        }
        for child in node.children { try checkNoPackages(child, core: core) }
    }

    /// MIRIAM `bqbiol:is` identifiers.org URIs as ketasim identifiers (hgnc, entrez, mesh...).
    func identifiers(_ node: XMLNode) -> [String: String] {
        guard let annotation = node.child("annotation") else { return [:] }
        var result: [String: String] = [:]
        func walk(_ n: XMLNode, inIs: Bool) {
            let isQualifier = n.name == "is" && n.namespace.contains("biomodels.net/biology-qualifiers")
            if n.name == "li", inIs, let uri = n.attributes["rdf:resource"] ?? n.attributes["resource"] {
                if let (key, value) = SBMLAnnotations.identifier(fromURI: uri) { result[key] = value }
            }
            for c in n.children { walk(c, inIs: inIs || isQualifier) }
        }
        walk(annotation, inIs: false)
        return result
    }

    mutating func read(_ root: XMLNode) throws(SBMLError) -> SBMLModel {
        guard root.name == "sbml" else { throw error(.malformed, root, "the root element is <\(root.name)>, not <sbml>") }
        level = Int(root["level"] ?? "3") ?? 3
        guard level >= 2 else { throw error(.unsupported, root, "SBML Level \(level); ketasim reads Levels 2 and 3") }
        for (key, value) in root.attributes where key.hasSuffix("required") && value == "true" {
            throw error(.unsupported, root, "the document requires an SBML package (\(key)=\"true\")")
        }
        guard let model = root.child("model") else { throw error(.malformed, root, "no <model> element") }
        try checkNoPackages(model, core: root.namespace)

        let known: Set<String> = [
            "notes", "annotation", "listOfFunctionDefinitions", "listOfUnitDefinitions", "listOfCompartmentTypes",
            "listOfSpeciesTypes", "listOfCompartments", "listOfSpecies", "listOfParameters", "listOfInitialAssignments",
            "listOfRules", "listOfConstraints", "listOfReactions", "listOfEvents",
        ]
        for child in model.children where !known.contains(child.name) {
            throw error(.unsupported, child, "unknown model component <\(child.name)>")
        }
        if let constraints = model.child("listOfConstraints"), !constraints.children.isEmpty {
            notes.append("constraints (\(constraints.children.count)) are not checked during simulation")
        }

        // Function definitions: each may call any other (Level 3 allows calls of later ones); they are
        // inlined into each other in call order.
        var rawFunctions: [(id: String, parameters: [String], body: MathNode, context: MathContext)] = []
        let functionIDs = Set(model.list("listOfFunctionDefinitions", "functionDefinition").compactMap(\.id))
        for f in model.list("listOfFunctionDefinitions", "functionDefinition") {
            let id = try required(f, "id")
            // Without math (Level 3 Version 2) the definition has no effect; a call to it is an unknown function.
            if level == 3 && f.child("math") == nil { continue }
            guard let lambda = f.child("math")?.children.first(where: { $0.name == "lambda" || $0.name == "semantics" }) else {
                throw error(.malformed, f, "a function definition needs <math><lambda>")
            }
            let lam = lambda.name == "semantics" ? (lambda.child("lambda") ?? lambda) : lambda
            var parameters: [String] = []
            for b in lam.children("bvar") {
                guard let ci = b.child("ci") else { throw error(.malformed, f, "<bvar> without <ci>") }
                parameters.append(ci.text.trimmingCharacters(in: .whitespacesAndNewlines))
            }
            guard let bodyNode = lam.children.last(where: { $0.name != "bvar" }) else {
                throw error(.malformed, f, "function definition without a body")
            }
            let body = try MathML.read(bodyNode, context: context(f), functions: functionIDs)
            rawFunctions.append((id, parameters, body, context(f)))
        }
        functions = try FunctionDefinitions(rawFunctions)

        // Components
        var compartments: [Compartment] = []
        for c in model.list("listOfCompartments", "compartment") {
            let id = try required(c, "id")
            // Level 2 gives compartments without a size the size 1; Level 3 leaves it undefined.
            var size = try double(c, "size")
            if size == nil && level == 2 { size = 1 }
            compartments.append(Compartment(
                id: id, size: size,
                constant: try bool(c, "constant", default: true), dimensions: try double(c, "spatialDimensions") ?? 3,
                units: c["units"], name: c["name"], line: c.line))
        }
        var species: [Species] = []
        for s in model.list("listOfSpecies", "species") {
            let id = try required(s, "id")
            let compartment = try required(s, "compartment")
            guard compartments.contains(where: { $0.id == compartment }) else {
                throw error(.invalid, s, "species `\(id)` is in unknown compartment `\(compartment)`")
            }
            species.append(Species(
                id: id, compartment: compartment, initialAmount: try double(s, "initialAmount"),
                initialConcentration: try double(s, "initialConcentration"),
                onlySubstance: try bool(s, "hasOnlySubstanceUnits", default: false),
                boundary: try bool(s, "boundaryCondition", default: false), constant: try bool(s, "constant", default: false),
                conversionFactor: s["conversionFactor"], units: s["substanceUnits"], name: s["name"],
                identifiers: identifiers(s), line: s.line))
        }
        var parameters: [Parameter] = []
        for p in model.list("listOfParameters", "parameter") {
            parameters.append(Parameter(id: try required(p, "id"), value: try double(p, "value"),
                                        constant: try bool(p, "constant", default: true), units: p["units"], name: p["name"], line: p.line))
        }
        var initialAssignments: [String: (math: MathNode, line: Int)] = [:]
        for ia in model.list("listOfInitialAssignments", "initialAssignment") {
            let symbol = try required(ia, "symbol")
            if initialAssignments[symbol] != nil { throw error(.invalid, ia, "`\(symbol)` has two initial assignments", id: symbol) }
            if let m = try optionalMath(ia, id: symbol) { initialAssignments[symbol] = (m, ia.line) }
        }
        var assignmentRules: [String: Rule] = [:]
        var rateRules: [String: Rule] = [:]
        var algebraicRules: [AlgebraicRule] = []
        for r in model.child("listOfRules")?.children ?? [] {
            switch r.name {
            case "assignmentRule", "rateRule":
                let variable = try required(r, "variable")
                if assignmentRules[variable] != nil || rateRules[variable] != nil {
                    throw error(.invalid, r, "`\(variable)` has two rules", id: variable)
                }
                guard let m = try optionalMath(r, id: variable) else { continue }
                let rule = Rule(variable: variable, math: m, line: r.line)
                if r.name == "assignmentRule" { assignmentRules[variable] = rule } else { rateRules[variable] = rule }
            case "algebraicRule":
                // Without math (Level 3 Version 2) the rule constrains nothing.
                guard let m = try optionalMath(r) else { continue }
                algebraicRules.append(AlgebraicRule(math: m, line: r.line, label: r.id ?? r["metaid"]))
            case "annotation", "notes":
                continue
            default:
                // Level 2 spells rules by kind of variable.
                throw error(.unsupported, r, "rule element <\(r.name)>")
            }
        }

        var reactions: [Reaction] = []
        for r in model.list("listOfReactions", "reaction") {
            let id = try required(r, "id")
            if try bool(r, "fast", default: false) { throw error(.unsupported, r, "fast reactions (rapid equilibrium needs algebraic constraints)", id: id) }
            func refs(_ list: String) throws(SBMLError) -> [SpeciesReference] {
                var result: [SpeciesReference] = []
                for sr in r.list(list, "speciesReference") {
                    if sr.child("stoichiometryMath") != nil {
                        throw error(.unsupported, sr, "<stoichiometryMath> (Level 2 variable stoichiometry)", id: sr.id ?? id)
                    }
                    result.append(SpeciesReference(species: try required(sr, "species"), stoichiometry: try double(sr, "stoichiometry"),
                                                   id: sr.id, constant: try bool(sr, "constant", default: true), line: sr.line))
                }
                return result
            }
            guard let law = r.child("kineticLaw") else {
                throw error(.unsupported, r, "a reaction without a kinetic law has no defined rate", id: id)
            }
            var locals: [(String, Double)] = []
            for lp in law.list("listOfLocalParameters", "localParameter") + law.list("listOfParameters", "parameter") {
                let lid = try required(lp, "id")
                guard let v = try double(lp, "value") else { throw error(.invalid, lp, "local parameter without a value", id: lid) }
                locals.append((lid, v))
            }
            reactions.append(Reaction(id: id, reactants: try refs("listOfReactants"), products: try refs("listOfProducts"),
                                      law: try math(law, id: id), locals: locals, line: r.line))
        }

        var events: [Event] = []
        for e in model.list("listOfEvents", "event") {
            // Level 3 Version 2 makes the trigger optional; an event without one never fires.
            let trigger = e.child("trigger")
            let triggerMath: MathNode = if let trigger { try optionalMath(trigger, id: e.id) ?? .number(0) } else { .number(0) }
            var assignments: [EventAssignment] = []
            for ea in e.list("listOfEventAssignments", "eventAssignment") {
                let variable = try required(ea, "variable")
                guard let m = try optionalMath(ea, id: variable) else { continue }
                assignments.append(EventAssignment(variable: variable, math: m, line: ea.line))
            }
            events.append(Event(
                id: e.id, trigger: triggerMath,
                initialValue: try trigger.map { (t) throws(SBMLError) in try bool(t, "initialValue", default: true) } ?? true,
                persistent: try trigger.map { (t) throws(SBMLError) in try bool(t, "persistent", default: true) } ?? true,
                useValuesFromTriggerTime: try bool(e, "useValuesFromTriggerTime", default: true),
                assignments: assignments, delay: try e.child("delay").flatMap { (d) throws(SBMLError) in try optionalMath(d, id: e.id) },
                priority: try e.child("priority").flatMap { (p) throws(SBMLError) in try optionalMath(p, id: e.id) },
                line: e.line))
        }

        let solved = try solveAlgebraicRules(algebraicRules, compartments: compartments, species: species, parameters: parameters,
                                             assignmentRules: assignmentRules, rateRules: rateRules, reactions: reactions, events: events)
        for s in solved {
            assignmentRules[s.variable] = Rule(variable: s.variable, math: s.math, line: s.line)
            notes.append("`\(s.variable)` is determined by the algebraic rule \(s.label.map { "`\($0)` " } ?? "")at line \(s.line), solved for it")
        }

        var builder = ModelBuilder(
            file: file, modelNode: model, compartments: compartments, species: species, parameters: parameters,
            initialAssignments: initialAssignments, assignmentRules: assignmentRules, rateRules: rateRules,
            reactions: reactions, events: events, conversionFactor: model["conversionFactor"], notes: notes,
            algebraicRules: solved)
        var imported = try builder.build()
        imported.definition.timeUnit = TimeUnit(timeUnit(of: model))
        return imported
    }

    /// The algebraic rules as assignment rules (Sources/SBML/AlgebraicRules.swift). The variables they
    /// may determine are those SBML's overdetermination check leaves free: not constant, without an
    /// assignment or rate rule, and not a species that reactions change (one with `boundaryCondition`
    /// true is free). An event may not assign such a variable: the rule would take its value back at
    /// once, and what SBML means then is a DAE re-initialisation ketasim does not do.
    func solveAlgebraicRules(_ rules: [AlgebraicRule], compartments: [Compartment], species: [Species], parameters: [Parameter],
                             assignmentRules: [String: Rule], rateRules: [String: Rule], reactions: [Reaction],
                             events: [Event]) throws(SBMLError) -> [SolvedAlgebraicRule] {
        if rules.isEmpty { return [] }
        var changedByReactions: Set<String> = []
        for r in reactions { for ref in r.reactants + r.products { changedByReactions.insert(ref.species) } }
        func free(_ id: String) -> Bool { assignmentRules[id] == nil && rateRules[id] == nil }
        var candidates = compartments.filter { !$0.constant && free($0.id) }.map(\.id)
        candidates += species.filter { !$0.constant && free($0.id) && ($0.boundary || !changedByReactions.contains($0.id)) }.map(\.id)
        candidates += parameters.filter { !$0.constant && free($0.id) }.map(\.id)
        candidates += reactions.flatMap { $0.reactants + $0.products }.filter { !$0.constant }.compactMap(\.id).filter(free)
        let solved = try AlgebraicRules.solve(rules, candidates: candidates, assignmentRules: assignmentRules.mapValues { ($0.math, $0.line) }, file: file)
        let targets = Dictionary(events.flatMap { e in e.assignments.map { ($0.variable, $0.line) } }, uniquingKeysWith: { a, _ in a })
        for s in solved {
            if let line = targets[s.variable] {
                throw SBMLError(.unsupported, file: file, line: line, element: "eventAssignment", id: s.variable,
                                message: "an event assigns `\(s.variable)`, which the algebraic rule at line \(s.line) determines (re-initialising a differential-algebraic system)")
            }
        }
        return solved
    }

    /// The model's time unit as ketasim names durations (`s`, `min`, `h`, `d`), the unit definition's id
    /// when it is not a plain multiple of seconds ketasim knows, or "" when the model does not say
    /// (Level 3 without `timeUnits`). Level 2's default is the second unless the `time` unit is redefined.
    func timeUnit(of model: XMLNode) -> String {
        let id = level == 2 ? "time" : model["timeUnits"]
        guard let id else { return "" }
        if id == "second" { return "s" }
        guard let definition = model.list("listOfUnitDefinitions", "unitDefinition").first(where: { $0["id"] == id }) else {
            return level == 2 ? "s" : id
        }
        let units = definition.list("listOfUnits", "unit")
        guard units.count == 1, let unit = units.first, unit["kind"] == "second", Double(unit["exponent"] ?? "1") == 1 else { return id }
        let seconds = (Double(unit["multiplier"] ?? "1") ?? 1) * pow(10, Double(unit["scale"] ?? "0") ?? 0)
        let known: [(Double, String)] = [(1, "s"), (60, "min"), (3600, "h"), (86400, "d")]
        return known.first { abs($0.0 - seconds) <= 1e-9 * seconds }?.1 ?? id
    }
}

/// Turns the collected components into a ketasim model, one named step after another. Every lookup is
/// by dictionary or set: imported models reach tens of thousands of species, and a linear scan per
/// component would make the import quadratic.
private struct ModelBuilder {
    let file: String
    let modelNode: XMLNode
    let compartments: [Compartment]
    let species: [Species]
    let parameters: [Parameter]
    let initialAssignments: [String: (math: MathNode, line: Int)]
    let assignmentRules: [String: Rule]
    let rateRules: [String: Rule]
    let reactions: [Reaction]
    let events: [Event]
    let conversionFactor: String?
    var notes: [String]
    /// Already among `assignmentRules`; kept to check that each determines its variable at t0.
    let algebraicRules: [SolvedAlgebraicRule]

    let compartmentByID: [String: Compartment]
    let speciesByID: [String: Species]
    let parameterByID: [String: Parameter]
    /// Species references that have an id (and so are SBML variables), in document order.
    let speciesReferences: [SpeciesReference]
    let referenceIDs: Set<String>
    let eventTargets: Set<String>
    /// Every global id in document order: compartments, species, parameters, species references, reactions.
    let ids: [(id: String, line: Int, element: String)]

    var names: [String: String] = [:]
    var taken: Set<String> = []
    var initialValues: [String: Double] = [:]
    /// What defines each id's initial value (initial assignment, rule, attribute), kept to give callers
    /// initial values as expressions.
    var definitions: [String: (math: MathNode, line: Int, element: String)] = [:]
    /// Initial values as expressions, by state name: what a caller needs to recompute them after changing
    /// a parameter (PEtab conditions and parameter tables change `a0` in `A = a0`).
    var initialExpressions: [String: Expr] = [:]
    /// Values of ids that never change, by ketasim name (MathML folding may use them).
    var constantValues: [String: Double] = [:]
    var localNames: [String: [String: String]] = [:]
    var amountNames: [String: String] = [:]
    var speciesInfo: [String: SBMLSpecies] = [:]
    var parts: DefinitionParts

    init(file: String, modelNode: XMLNode, compartments: [Compartment], species: [Species], parameters: [Parameter],
         initialAssignments: [String: (math: MathNode, line: Int)], assignmentRules: [String: Rule], rateRules: [String: Rule],
         reactions: [Reaction], events: [Event], conversionFactor: String?, notes: [String], algebraicRules: [SolvedAlgebraicRule]) {
        self.file = file
        self.modelNode = modelNode
        self.compartments = compartments
        self.species = species
        self.parameters = parameters
        self.initialAssignments = initialAssignments
        self.assignmentRules = assignmentRules
        self.rateRules = rateRules
        self.reactions = reactions
        self.events = events
        self.conversionFactor = conversionFactor
        self.notes = notes
        self.algebraicRules = algebraicRules
        compartmentByID = Dictionary(compartments.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        speciesByID = Dictionary(species.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        parameterByID = Dictionary(parameters.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        speciesReferences = reactions.flatMap { $0.reactants + $0.products }.filter { $0.id != nil }
        referenceIDs = Set(speciesReferences.compactMap(\.id))
        eventTargets = Set(events.flatMap { $0.assignments.map(\.variable) })
        var ids: [(id: String, line: Int, element: String)] = compartments.map { ($0.id, $0.line, "compartment") }
        ids += species.map { ($0.id, $0.line, "species") }
        ids += parameters.map { ($0.id, $0.line, "parameter") }
        ids += speciesReferences.compactMap { r in r.id.map { ($0, r.line, "speciesReference") } }
        ids += reactions.map { ($0.id, $0.line, "reaction") }
        self.ids = ids
        parts = DefinitionParts(file: file, provenance: "imported from SBML \(URL(fileURLWithPath: file).lastPathComponent)")
    }

    func fail(_ kind: SBMLError.Kind, line: Int, element: String, id: String?, _ message: String) -> SBMLError {
        SBMLError(kind, file: file, line: line, element: element, id: id, message: message)
    }

    mutating func build() throws(SBMLError) -> SBMLModel {
        try assignNames()
        try checkTargets()
        try computeInitialValues()
        try checkAlgebraicRules()
        nameLocalParameters()
        collectConstantValues()
        try addReactions()
        let change = try reactionChanges()
        try addCompartmentsParametersAndReferences()
        try addSpecies(change: change)
        var events = try translateEvents()
        try replaceRates(events: &events)
        return try assemble(events: events)
    }

    // MARK: names

    /// A fresh ketasim name: the id itself when free and not reserved, else with `_` appended.
    mutating func claim(_ base: String) -> String {
        var candidate = reservedNames.contains(base) ? base + "_" : base
        while taken.contains(candidate) { candidate += "_" }
        taken.insert(candidate)
        return candidate
    }

    func name(_ id: String) -> String { names[id] ?? id }

    /// Every global id first, so mangled names (amount states, local parameters) avoid all of them.
    mutating func assignNames() throws(SBMLError) {
        var seen: Set<String> = []
        for entry in ids where !seen.insert(entry.id).inserted {
            throw fail(.invalid, line: entry.line, element: entry.element, id: entry.id, "the id `\(entry.id)` is used twice")
        }
        taken = seen.subtracting(reservedNames)
        for entry in ids {
            if reservedNames.contains(entry.id) {
                let name = claim(entry.id)
                names[entry.id] = name
                notes.append("SBML id `\(entry.id)` is reserved in ketasim and was renamed `\(name)`")
            } else {
                names[entry.id] = entry.id
            }
        }
    }

    func checkTargets() throws(SBMLError) {
        for target in Set(assignmentRules.keys).union(rateRules.keys).union(eventTargets).union(initialAssignments.keys).sorted()
        where names[target] == nil {
            throw fail(.invalid, line: modelNode.line, element: "model", id: target, "a rule, initial assignment or event assignment sets unknown id `\(target)`")
        }
        for (variable, rule) in assignmentRules.sorted(by: { $0.key < $1.key }) where rateRules[variable] != nil || eventTargets.contains(variable) {
            throw fail(.invalid, line: rule.line, element: "assignmentRule", id: variable, "`\(variable)` has an assignment rule and is also changed by a rate rule or an event")
        }
        for s in species where names[s.compartment] == nil {
            throw fail(.invalid, line: s.line, element: "species", id: s.id, "unknown compartment `\(s.compartment)`")
        }
    }

    // MARK: roles

    func isVarying(_ id: String) -> Bool { rateRules[id] != nil || assignmentRules[id] != nil || eventTargets.contains(id) }

    /// A 0-dimensional compartment without a size holds amounts; given a size, it scales concentrations
    /// like any other (the Test Suite's reading: cases 50 and 1809).
    func valueIsAmount(_ s: Species) -> Bool {
        guard !s.onlySubstance else { return true }
        guard let c = compartmentByID[s.compartment], c.dimensions == 0 else { return false }
        return c.size == nil && initialAssignments[c.id] == nil && !isVarying(c.id)
    }

    func heldAsAmount(_ s: Species) -> Bool { !valueIsAmount(s) && isVarying(s.compartment) }

    /// Ids whose value never changes (folding may use their values).
    func isConstantID(_ id: String) -> Bool {
        if isVarying(id) { return false }
        if let s = speciesByID[id] { return (s.constant || s.boundary) && !isVarying(s.compartment) }
        return compartmentByID[id] != nil || parameterByID[id] != nil || referenceIDs.contains(id)
    }

    // MARK: initial values

    /// Initial values, in SBML ids, by the rules of SBML: assignment rules hold at t0 and take
    /// precedence, then initial assignments, then the attributes.
    mutating func computeInitialValues() throws(SBMLError) {
        var definitions: [String: (math: MathNode, line: Int, element: String)] = [:]
        defer { self.definitions = definitions }
        for c in compartments { definitions[c.id] = (.number(c.size ?? .nan), c.line, "compartment") }
        for p in parameters { definitions[p.id] = (.number(p.value ?? .nan), p.line, "parameter") }
        for r in speciesReferences { if let id = r.id { definitions[id] = (.number(r.stoichiometry ?? 1), r.line, "speciesReference") } }
        for s in species {
            let c = MathNode.name(s.compartment)
            let math: MathNode
            switch (s.initialAmount, s.initialConcentration, valueIsAmount(s)) {
            case (let a?, _, true): math = .number(a)
            case (let a?, _, false): math = .apply("divide", [.number(a), c])
            case (nil, let x?, false): math = .number(x)
            case (nil, let x?, true): math = .apply("times", [.number(x), c])
            case (nil, nil, _): math = .number(.nan)
            }
            definitions[s.id] = (math, s.line, "species")
        }
        for r in reactions {
            let locals = Dictionary(r.locals.map { ($0.id, MathNode.number($0.value)) }, uniquingKeysWith: { a, _ in a })
            definitions[r.id] = (r.law.substituting(locals), r.line, "reaction")
        }
        for (symbol, ia) in initialAssignments { definitions[symbol] = (ia.math, ia.line, "initialAssignment") }
        for (variable, rule) in assignmentRules { definitions[variable] = (rule.math, rule.line, "assignmentRule") }

        var values: [String: Double] = [:]
        var visiting: Set<String> = []
        // Ids whose initial value needs rateOf (unknown until the ODEs are built).
        var needsRate: Set<String> = []
        let modelLine = modelNode.line
        let file = self.file
        // Each value after those it reads, depth-first with an explicit stack: a chain of initial
        // assignments thousands long overflowed the stack when each value evaluated the next.
        for entry in ids where values[entry.id] == nil {
            var stack: [(id: String, math: MathNode, reads: [String])] = []
            func open(_ id: String) throws(SBMLError) {
                guard let d = definitions[id] else {
                    throw SBMLError(.invalid, file: file, line: modelLine, element: "model", id: id, message: "math refers to unknown id `\(id)`")
                }
                guard visiting.insert(id).inserted else {
                    throw SBMLError(.invalid, file: file, line: d.line, element: d.element, id: id, message: "initial values depend on each other in a cycle through `\(id)`")
                }
                stack.append((id, d.math, d.math.names.sorted()))
            }
            try open(entry.id)
            while let top = stack.last {
                if let name = top.reads.last {
                    stack[stack.count - 1].reads.removeLast()
                    if values[name] == nil { try open(name) }
                    continue
                }
                stack.removeLast()
                visiting.remove(top.id)
                let value = try MathML.evaluate(top.math, time: 0) { (name: String) throws(SBMLError) -> Double in values[name] ?? .nan }
                values[top.id] = value
                if top.math.usesRateOf || top.math.names.contains(where: { needsRate.contains($0) }) { needsRate.insert(top.id) }
            }
        }
        // Assignment rules and reaction rates are recomputed as expressions; any other value is a number.
        for entry in ids where needsRate.contains(entry.id) && assignmentRules[entry.id] == nil && entry.element != "reaction" {
            let d = definitions[entry.id]
            throw fail(.unsupported, line: d?.line ?? entry.line, element: d?.element ?? entry.element, id: entry.id, "an initial value that depends on the rateOf csymbol")
        }
        initialValues = values
    }

    /// A solved algebraic rule x = -a / b determines x only where b is not 0; b = 0 at t0 means the
    /// rule does not determine x there (the model is singular), which would run as NaN. A coefficient
    /// that needs rateOf is not known before the ODEs are, and is left to the run.
    func checkAlgebraicRules() throws(SBMLError) {
        let values = initialValues
        for rule in algebraicRules where !rule.slope.usesRateOf {
            let slope = try MathML.evaluate(rule.slope, time: 0) { (id: String) throws(SBMLError) -> Double in values[id] ?? .nan }
            guard slope != 0 && slope.isFinite else {
                throw fail(.invalid, line: rule.line, element: "algebraicRule", id: rule.label,
                           "the algebraic rule does not determine `\(rule.variable)` at t0: its coefficient of `\(rule.variable)` is \(slope)")
            }
        }
    }

    mutating func nameLocalParameters() {
        for r in reactions {
            var map: [String: String] = [:]
            for l in r.locals {
                let name = claim("\(name(r.id))_\(l.id)")
                map[l.id] = name
                constantValues[name] = l.value
            }
            localNames[r.id] = map
        }
    }

    mutating func collectConstantValues() {
        for entry in ids where isConstantID(entry.id) {
            if let v = initialValues[entry.id] { constantValues[name(entry.id)] = v }
        }
    }

    // MARK: math

    func translate(_ math: MathNode, line: Int, element: String, id: String?, locals: [String: String] = [:]) throws(SBMLError) -> Expr {
        let ctx = MathContext(file: file, line: line, element: element, id: id)
        let names = self.names
        let constantValues = self.constantValues
        return try MathML.expr(math, context: ctx, symbol: { (name: String) throws(SBMLError) -> String in
            if let local = locals[name] { return local }
            guard let n = names[name] else { throw ctx.error(.invalid, "math refers to unknown id `\(name)`") }
            return n
        }, constant: { name in
            if let local = locals[name] { return constantValues[local] }
            return names[name].flatMap { constantValues[$0] }
        })
    }

    // MARK: parts

    /// Reaction rates as assignments named by the reaction (so `r1` in math is the rate), and their
    /// local parameters.
    mutating func addReactions() throws(SBMLError) {
        for r in reactions {
            let rate = try translate(r.law, line: r.line, element: "kineticLaw", id: r.id, locals: localNames[r.id] ?? [:])
            parts.assignment(name(r.id), rate, description: "rate of reaction \(r.id)", line: r.line, element: "reaction", id: r.id)
        }
        for r in reactions {
            for l in r.locals {
                parts.parameter(localNames[r.id]?[l.id] ?? l.id, l.value, unit: "unspecified", description: "local parameter \(l.id) of reaction \(r.id)", line: r.line)
            }
        }
    }

    /// Reaction contributions to each species, in amount per time, in document order. Terms are collected
    /// per species and summed at the end, so no expression is rebuilt per reaction.
    func reactionChanges() throws(SBMLError) -> [String: Expr] {
        var terms: [String: [(sign: Double, term: Expr)]] = [:]
        for r in reactions {
            for (sign, refs) in [(-1.0, r.reactants), (1.0, r.products)] {
                for ref in refs {
                    guard let s = speciesByID[ref.species] else {
                        throw fail(.invalid, line: ref.line, element: "speciesReference", id: ref.id ?? r.id, "reaction `\(r.id)` refers to unknown species `\(ref.species)`")
                    }
                    if s.boundary || s.constant { continue }
                    let coefficient: Expr = ref.id.flatMap { names[$0] }.map { .symbol($0) } ?? .constant(ref.stoichiometry ?? 1)
                    var term: Expr = .binary(.multiply, coefficient, .symbol(name(r.id)))
                    if let cf = s.conversionFactor ?? conversionFactor {
                        guard let n = names[cf] else { throw fail(.invalid, line: s.line, element: "species", id: s.id, "unknown conversion factor `\(cf)`") }
                        term = .binary(.multiply, term, .symbol(n))
                    }
                    terms[s.id, default: []].append((sign, term))
                }
            }
        }
        var change: [String: Expr] = [:]
        for (id, list) in terms {
            var sum: Expr = list[0].sign < 0 ? .unary(.negate, list[0].term) : list[0].term
            for t in list.dropFirst() { sum = .binary(t.sign < 0 ? .subtract : .add, sum, t.term) }
            change[id] = sum
        }
        for s in species where rateRules[s.id] != nil && change[s.id] != nil {
            throw fail(.invalid, line: s.line, element: "species", id: s.id, "species `\(s.id)` has a rate rule and takes part in reactions without being a boundary species")
        }
        return change
    }

    func initialExpression(_ id: String) throws(SBMLError) -> Expr {
        guard let d = definitions[id] else { return .constant(initialValues[id] ?? .nan) }
        return try translate(d.math, line: d.line, element: d.element, id: id)
    }

    /// A compartment, parameter or species reference: an assignment when a rule sets it, a state when a
    /// rate rule or an event changes it, else a parameter.
    mutating func addNonSpecies(_ id: String, initial: Double, units: String?, description: String?, line: Int, element: String) throws(SBMLError) {
        let name = name(id)
        if let rule = assignmentRules[id] {
            parts.assignment(name, try translate(rule.math, line: rule.line, element: "assignmentRule", id: id), description: description, line: rule.line, id: id)
        } else if let rule = rateRules[id] {
            initialExpressions[name] = try initialExpression(id)
            try parts.state(name, initial, unit: units, description: description, ode: try translate(rule.math, line: rule.line, element: "rateRule", id: id), line: line, element: element, id: id)
        } else if eventTargets.contains(id) {
            initialExpressions[name] = try initialExpression(id)
            try parts.state(name, initial, unit: units, description: description, ode: .constant(0), line: line, element: element, id: id)
        } else if initial.isFinite {
            parts.parameter(name, initial, unit: units ?? "unspecified", description: description ?? "", line: line)
        } else {
            // ketasim parameters must be finite numbers; an undefined or infinite value stays as a constant expression.
            parts.assignment(name, .constant(initial), description: description, line: line, element: element, id: id)
        }
    }

    mutating func addCompartmentsParametersAndReferences() throws(SBMLError) {
        for c in compartments {
            try addNonSpecies(c.id, initial: initialValues[c.id] ?? .nan, units: c.units, description: c.name, line: c.line, element: "compartment")
        }
        for p in parameters {
            try addNonSpecies(p.id, initial: initialValues[p.id] ?? .nan, units: p.units, description: p.name, line: p.line, element: "parameter")
        }
        for r in speciesReferences {
            guard let id = r.id else { continue }
            try addNonSpecies(id, initial: initialValues[id] ?? 1, units: "1", description: "stoichiometry of \(r.species)", line: r.line, element: "speciesReference")
        }
    }

    /// Species: a state holding the SBML value, or, in a compartment whose size changes, a state
    /// `<id>_amount` (amounts are what a volume change conserves) and an assignment for the concentration.
    mutating func addSpecies(change: [String: Expr]) throws(SBMLError) {
        for s in species {
            let name = name(s.id)
            let compartment: Expr = .symbol(self.name(s.compartment))
            let amount: Expr = valueIsAmount(s) ? .symbol(name) : .binary(.multiply, .symbol(name), compartment)
            let concentration: Expr = valueIsAmount(s) ? .binary(.divide, .symbol(name), compartment) : .symbol(name)
            speciesInfo[s.id] = SBMLSpecies(id: s.id, name: name, compartment: self.name(s.compartment),
                                            valueIsAmount: valueIsAmount(s), amount: amount, concentration: concentration)
            let initial = initialValues[s.id] ?? .nan
            if let rule = assignmentRules[s.id] {
                parts.assignment(name, try translate(rule.math, line: rule.line, element: "assignmentRule", id: s.id), description: s.name, line: rule.line, id: s.id)
                continue
            }
            let reactionChange = change[s.id]
            if heldAsAmount(s) {
                let amountName = claim(name + "_amount")
                amountNames[s.id] = amountName
                var ode: Expr = reactionChange ?? .constant(0)
                if let rule = rateRules[s.id] {
                    // d(amount)/dt = d[S]/dt * V + [S] * dV/dt.
                    let rate = try translate(rule.math, line: rule.line, element: "rateRule", id: s.id)
                    let dV: Expr
                    if let vRule = rateRules[s.compartment] {
                        dV = try translate(vRule.math, line: vRule.line, element: "rateRule", id: s.compartment)
                    } else if assignmentRules[s.compartment] != nil {
                        throw fail(.unsupported, line: rule.line, element: "rateRule", id: s.id, "a rate rule on a concentration in compartment `\(s.compartment)`, whose size is set by an assignment rule")
                    } else {
                        dV = .constant(0)
                    }
                    ode = .binary(.add, .binary(.multiply, rate, compartment), .binary(.multiply, .symbol(name), dV))
                } else if s.constant {
                    ode = .constant(0)
                }
                let compartmentSize = initialValues[s.compartment] ?? .nan
                initialExpressions[amountName] = .binary(.multiply, try initialExpression(s.id), compartment)
                try parts.state(amountName, initial * compartmentSize, unit: s.units, description: "amount of \(s.id)", ode: ode,
                                line: s.line, element: "species", id: s.id, identifiers: s.identifiers)
                parts.assignment(name, .binary(.divide, .symbol(amountName), compartment), description: s.name ?? "concentration of \(s.id)", line: s.line,
                                 element: "species", id: s.id)
                speciesInfo[s.id]?.amount = .symbol(amountName)
            } else {
                var ode: Expr = .constant(0)
                if let rule = rateRules[s.id] {
                    ode = try translate(rule.math, line: rule.line, element: "rateRule", id: s.id)
                } else if let reactionChange, !s.constant {
                    ode = valueIsAmount(s) ? reactionChange : .binary(.divide, reactionChange, compartment)
                }
                initialExpressions[name] = try initialExpression(s.id)
                try parts.state(name, initial, unit: s.units, description: s.name, ode: ode, line: s.line, element: "species", id: s.id,
                                identifiers: s.identifiers)
            }
        }
    }

    /// Replaces `rateOf(x)` by x's ODE (0 for a parameter), itself with the rates it uses replaced.
    /// Refused: the rate of a variable set by an assignment rule or held as an amount in a varying compartment,
    /// rates that use each other in a cycle, and an expression that would be deeper than
    /// `MathML.maximumDepth` or larger than `MathML.maximumSize` once replaced.
    mutating func replaceRates(events: inout [ModelEvent]) throws(SBMLError) {
        func rates(_ e: Expr) -> [String] { e.symbols.filter { $0.hasPrefix(rateOfPrefix) }.sorted() }
        var all = Set(parts.odes.flatMap(rates) + parts.assignments.flatMap { rates($0.expression) })
        for e in events {
            all.formUnion(rates(e.trigger))
            if let d = e.delay { all.formUnion(rates(d)) }
            if let p = e.priority { all.formUnion(rates(p)) }
            for a in e.assignments { all.formUnion(rates(a.value)) }
        }
        if all.isEmpty { return }
        let stateIndex = Dictionary(parts.states.enumerated().map { ($1.name, $0) }, uniquingKeysWith: { a, _ in a })
        let parameterNames = Set(parts.parameters.map(\.name))
        let symbols = all.sorted()
        var raw: [Expr] = []
        for symbol in symbols {
            let name = String(symbol.dropFirst(rateOfPrefix.count))
            if let k = stateIndex[name] {
                raw.append(parts.odes[k])
            } else if parameterNames.contains(name) {
                raw.append(.constant(0))
            } else {
                throw fail(.unsupported, line: modelNode.line, element: "model", id: name, "the rateOf csymbol of `\(name)`, which an assignment rule sets or which is held as an amount in a compartment that changes")
            }
        }
        // Every rate is replaced once, after the rates it uses (an ODE may itself use a rate), and its
        // depth and size are known before it is built: replacing shares the trees it copies, but
        // everything after walks them as trees, so rates that each use the previous one twice double
        // per link. A rate too large is not built; whatever uses it is refused by its measures.
        let index = Dictionary(symbols.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
        let order: [Int]
        switch dependencyOrder(count: symbols.count, dependencies: { k in rates(raw[k]).compactMap { index[$0] } }) {
        case .success(let o): order = o
        case .failure(let cycle):
            let path = cycle.members.map { "`\(symbols[$0].dropFirst(rateOfPrefix.count))`" }.joined(separator: " uses the rate of ")
            let first = stateIndex[String(symbols[cycle.members[0]].dropFirst(rateOfPrefix.count))]
            throw fail(.unsupported, line: first.map { parts.states[$0].location.line } ?? modelNode.line, element: first.map { parts.stateOrigins[$0].element } ?? "model",
                       id: first.map { parts.stateOrigins[$0].id }, "rateOf csymbols that depend on each other in a cycle: the rate of \(path)")
        }
        var replaced: [String: Expr] = [:], sizes: [String: Double] = [:], depths: [String: Int] = [:]
        for k in order {
            let size = raw[k].expandedSize(symbolSizes: sizes), depth = raw[k].depth(symbolDepths: depths)
            sizes[symbols[k]] = size
            depths[symbols[k]] = depth
            if size <= MathML.maximumSize && depth <= MathML.maximumDepth { replaced[symbols[k]] = raw[k].substituting(replaced) }
        }
        func expand(_ e: Expr, _ what: String, line: Int, element: String, id: String?) throws(SBMLError) -> Expr {
            if rates(e).isEmpty { return e }
            let depth = e.depth(symbolDepths: depths), size = e.expandedSize(symbolSizes: sizes)
            if depth > MathML.maximumDepth {
                throw fail(.unsupported, line: line, element: element, id: id, "\(what) is \(depth) levels deep once each rateOf is replaced by the rate it names, "
                           + "more than ketasim's limit of \(MathML.maximumDepth); name the rates it uses with assignment rules")
            }
            if size > MathML.maximumSize {
                throw fail(.unsupported, line: line, element: element, id: id, "\(what) has \(MathML.terms(size)) terms once each rateOf is replaced by the rate it names, "
                           + "more than ketasim's limit of \(Int(MathML.maximumSize)): rates that use other rates several times multiply at every link; "
                           + "name the rates it uses with assignment rules")
            }
            return e.substituting(replaced)
        }
        for k in parts.odes.indices {
            let origin = parts.stateOrigins[k]
            parts.odes[k] = try expand(parts.odes[k], "the rate of `\(origin.id)`", line: parts.states[k].location.line, element: origin.element, id: origin.id)
        }
        for k in parts.assignments.indices {
            let a = parts.assignments[k], origin = parts.assignmentOrigins[k]
            let expression = try expand(a.expression, "the value of `\(origin.id ?? a.name)`", line: a.location.line, element: origin.element, id: origin.id)
            parts.assignments[k] = Assignment(name: a.name, expression: expression, description: a.description, location: a.location)
        }
        for k in events.indices {
            let e = events[k], line = e.location.line, id = e.id
            events[k].trigger = try expand(e.trigger, "the trigger", line: line, element: "event", id: id)
            events[k].delay = try e.delay.map { (d) throws(SBMLError) in try expand(d, "the delay", line: line, element: "event", id: id) }
            events[k].priority = try e.priority.map { (p) throws(SBMLError) in try expand(p, "the priority", line: line, element: "event", id: id) }
            for j in e.assignments.indices {
                events[k].assignments[j].value = try expand(e.assignments[j].value, "the assignment to `\(e.assignments[j].state)`", line: line, element: "event", id: id)
            }
        }
    }

    // MARK: events

    func translateEvents() throws(SBMLError) -> [ModelEvent] {
        var result: [ModelEvent] = []
        for e in events {
            let trigger = try translate(e.trigger, line: e.line, element: "trigger", id: e.id)
            var assignments: [ModelEvent.Assignment] = []
            for a in e.assignments {
                let value = try translate(a.math, line: a.line, element: "eventAssignment", id: a.variable)
                if let s = speciesByID[a.variable] {
                    if s.constant { throw fail(.invalid, line: a.line, element: "eventAssignment", id: a.variable, "an event assigns constant species `\(a.variable)`") }
                    if heldAsAmount(s) {
                        assignments.append(ModelEvent.Assignment(state: amountNames[s.id] ?? s.id, value: value, scale: .symbol(name(s.compartment))))
                        continue
                    }
                } else if let p = parameterByID[a.variable], p.constant {
                    throw fail(.invalid, line: a.line, element: "eventAssignment", id: a.variable, "an event assigns constant parameter `\(a.variable)`")
                } else if let c = compartmentByID[a.variable], c.constant {
                    throw fail(.invalid, line: a.line, element: "eventAssignment", id: a.variable, "an event assigns constant compartment `\(a.variable)`")
                }
                assignments.append(ModelEvent.Assignment(state: name(a.variable), value: value, scale: nil))
            }
            let delay = try e.delay.map { (d) throws(SBMLError) in try translate(d, line: e.line, element: "delay", id: e.id) }
            let priority = try e.priority.map { (p) throws(SBMLError) in try translate(p, line: e.line, element: "priority", id: e.id) }
            result.append(ModelEvent(id: e.id, trigger: trigger, initialValue: e.initialValue, persistent: e.persistent,
                                     useValuesFromTriggerTime: e.useValuesFromTriggerTime, assignments: assignments, delay: delay,
                                     priority: priority, location: SourceLocation(file: file, line: e.line, column: 1)))
        }
        return result
    }

    // MARK: the definition

    /// The parts as a `ModelDefinition`, checked as a model file is. Outputs: species, then compartments
    /// and parameters, each that is a state or an assignment.
    func assemble(events: [ModelEvent]) throws(SBMLError) -> SBMLModel {
        let observable = parts.observables
        let outputs = (species.map(\.id) + compartments.map(\.id) + parameters.map(\.id)).map(name).filter { observable.contains($0) }
        let definition: ModelDefinition
        do throws(ModelError) {
            definition = try ModelDefinition.assemble(
                file: file, name: sanitizedName(modelNode["id"] ?? modelNode["name"] ?? "sbml_model"), description: description(),
                timeUnit: .hours, parameters: parts.parameters, states: parts.states, odes: parts.odes,
                assignments: parts.assignments, outputs: outputs, events: events)
        } catch {
            // A problem here is an import bug or a name ketasim cannot hold, reported against the element.
            guard case .invalid(let problems) = error, let first = problems.first else {
                throw fail(.unsupported, line: modelNode.line, element: "model", id: modelNode["id"], "could not be expressed as a ketasim model: \(error)")
            }
            throw fail(.unsupported, line: first.location.line, element: "model", id: modelNode["id"], "could not be expressed as a ketasim model: \(first.message)")
        }
        return SBMLModel(definition: definition, symbols: names, species: speciesInfo, notes: notes, file: file,
                         initialExpressions: initialExpressions)
    }

    func sanitizedName(_ raw: String) -> String {
        var s = String(raw.unicodeScalars.map { $0.isASCII && (CharacterSet.alphanumerics.contains($0) || $0 == "_") ? Character($0) : "_" })
        if s.isEmpty || s.first.map({ !$0.isLetter }) ?? true { s = "m_" + s }
        return s
    }

    func description() -> String {
        let name = modelNode["name"] ?? modelNode["id"] ?? "unnamed"
        return "SBML model \(name), imported from \(URL(fileURLWithPath: file).lastPathComponent); time in the SBML model's own unit."
    }
}

/// The states, parameters, assignments and ODEs of an imported model as they are made, located at
/// their SBML elements.
private struct DefinitionParts {
    let file: String
    let provenance: String
    var parameters: [Models.Parameter] = []
    var states: [State] = []
    var odes: [Expr] = []
    var assignments: [Assignment] = []
    /// The element each state's ODE and each assignment comes from, by index, for messages.
    var stateOrigins: [(element: String, id: String)] = []
    var assignmentOrigins: [(element: String, id: String?)] = []
    /// States and assignments: what can be an output.
    var observables: Set<String> = []

    init(file: String, provenance: String) {
        self.file = file
        self.provenance = provenance
    }

    func location(_ line: Int) -> SourceLocation { SourceLocation(file: file, line: line, column: 1) }

    mutating func parameter(_ name: String, _ value: Double, unit: String, description: String, line: Int) {
        parameters.append(Models.Parameter(name: name, value: value, unit: unit.isEmpty ? "unspecified" : unit, description: description,
                                    provenance: .assumption(provenance), location: location(line)))
    }

    mutating func state(_ name: String, _ initial: Double, unit: String?, description: String?, ode: Expr,
                        line: Int, element: String, id: String, identifiers: [String: String] = [:]) throws(SBMLError) {
        guard initial.isFinite else {
            throw SBMLError(.invalid, file: file, line: line, element: element, id: id, message: "`\(id)` changes during the simulation but its initial value is \(initial.isNaN ? "undefined" : "infinite")")
        }
        states.append(State(name: name, initial: initial, unit: unit ?? "unspecified", description: description ?? "",
                            identifiers: identifiers, location: location(line)))
        odes.append(ode)
        stateOrigins.append((element, id))
        observables.insert(name)
    }

    mutating func assignment(_ name: String, _ expression: Expr, description: String?, line: Int, element: String = "assignmentRule", id: String?) {
        assignments.append(Assignment(name: name, expression: expression, description: description, location: location(line)))
        assignmentOrigins.append((element, id))
        observables.insert(name)
    }
}
