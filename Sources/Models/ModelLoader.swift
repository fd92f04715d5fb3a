import Expressions
import Foundation
import Yams

/// Reads a model file, checks all of it, and reports every problem at once with its file:line:column.
public enum ModelLoader {
    public static func load(path: String) throws(ModelError) -> ModelDefinition {
        guard let data = FileManager.default.contents(atPath: path) else {
            let reason = FileManager.default.fileExists(atPath: path) ? "permission denied or not a regular file" : "no such file"
            throw .unreadable(path: path, reason: reason)
        }
        // A file that is there but is not text is a bad model (exit 65), not a usage error.
        if let (line, column, byte) = firstNonText(data) {
            throw .invalid([ModelProblem(location: SourceLocation(file: path, line: line, column: column),
                                         message: String(format: "byte 0x%02X is not UTF-8 text; a model file is YAML text, not a binary file", byte))])
        }
        return try parse(String(decoding: data, as: UTF8.self), file: path)
    }

    /// Line, column (in scalars) and value of the first byte that is not part of valid UTF-8, or a
    /// NUL, which no text file holds.
    public static func firstNonText(_ data: Data) -> (line: Int, column: Int, byte: UInt8)? {
        let bytes = [UInt8](data)
        var i = 0, line = 1, column = 1
        while i < bytes.count {
            let b = bytes[i]
            let length: Int
            switch b {
            case 0x00: return (line, column, b)
            case 0x01...0x7F: length = 1
            case 0xC2...0xDF: length = 2
            case 0xE0...0xEF: length = 3
            case 0xF0...0xF4: length = 4
            default: return (line, column, b)
            }
            guard i + length <= bytes.count else { return (line, column, b) }
            for k in 1..<length where bytes[i + k] & 0xC0 != 0x80 { return (line, column, b) }
            // Overlong 3- and 4-byte forms and surrogates, which Swift's decoder also refuses.
            if length == 3, (b == 0xE0 && bytes[i + 1] < 0xA0) || (b == 0xED && bytes[i + 1] >= 0xA0) { return (line, column, b) }
            if length == 4, (b == 0xF0 && bytes[i + 1] < 0x90) || (b == 0xF4 && bytes[i + 1] >= 0x90) { return (line, column, b) }
            if b == 0x0A { line += 1; column = 1 } else { column += 1 }
            i += length
        }
        return nil
    }

    public static func parse(_ text: String, file: String) throws(ModelError) -> ModelDefinition {
        var reader = Reader(text: text, file: file)
        let root: Node
        do {
            // The basic resolver tags every plain scalar a string: the default one matched each against
            // ICU regular expressions (a third of the time to read a large model) for tags the reader
            // never looks at; `Reader.number` converts numbers itself.
            guard let node = try Yams.compose(yaml: text, .basic) else {
                throw ModelError.invalid([ModelProblem(location: SourceLocation(file: file, line: 1, column: 1), message: "the file is empty; a model needs at least name, description, time_unit, parameters, states, odes and outputs")])
            }
            root = node
        } catch let error as ModelError {
            throw error
        } catch let error as YamlError {
            throw .invalid([reader.problem(from: error)])
        } catch {
            throw .invalid([ModelProblem(location: SourceLocation(file: file, line: 1, column: 1), message: "not valid YAML: \(error)")])
        }
        let model = reader.read(root)
        if !reader.problems.isEmpty || model == nil {
            let sorted = reader.problems.sorted { ($0.location.line, $0.location.column) < ($1.location.line, $1.location.column) }
            throw .invalid(sorted)
        }
        guard let model else { throw .invalid(reader.problems) }
        return model
    }
}

/// One pass over the YAML tree, collecting problems instead of stopping at the first.
struct Reader {
    let file: String
    let text: String
    /// UTF-8 offset of each line's first byte: a line becomes a String only when a message shows it.
    let lineStarts: [Int]
    var problems: [ModelProblem] = []
    var warnings: [ModelProblem] = []
    /// Every name declared so far (parameters, inputs, states, assignments) and where.
    var declared: [String: SourceLocation] = [:]

    /// What `UnitGrammar` says of each distinct unit: a model repeats a few units thousands of times.
    var unitChecks: [String: String?] = [:]

    init(text: String, file: String) {
        self.file = file
        self.text = text
        func starts(_ bytes: some Sequence<UInt8>) -> [Int] {
            var starts = [0]
            for (offset, byte) in bytes.enumerated() where byte == 0x0A { starts.append(offset + 1) }
            return starts
        }
        lineStarts = text.utf8.withContiguousStorageIfAvailable(starts) ?? starts(text.utf8)
    }

    // MARK: locations and problems

    func location(_ node: Node?) -> SourceLocation {
        guard let mark = node?.mark else { return SourceLocation(file: file, line: 1, column: 1) }
        return SourceLocation(file: file, line: mark.line, column: mark.column)
    }

    /// Line `line` (from 1) without its line break, "\n" or "\r\n" alike.
    func sourceLine(_ line: Int) -> String {
        guard line >= 1 && line <= lineStarts.count else { return "" }
        let utf8 = text.utf8
        let start = utf8.index(utf8.startIndex, offsetBy: lineStarts[line - 1])
        var end = line < lineStarts.count ? utf8.index(utf8.startIndex, offsetBy: lineStarts[line] - 1) : utf8.endIndex
        if end > start, utf8[utf8.index(before: end)] == 0x0D { end = utf8.index(before: end) }
        return String(decoding: utf8[start..<end], as: UTF8.self)
    }

    mutating func report(_ message: String, at location: SourceLocation) {
        problems.append(ModelProblem(location: location, message: message, sourceLine: sourceLine(location.line)))
    }

    mutating func report(_ message: String, at node: Node?) {
        report(message, at: location(node))
    }

    mutating func warn(_ message: String, at node: Node?) {
        let location = location(node)
        warnings.append(ModelProblem(location: location, message: message, sourceLine: sourceLine(location.line), isWarning: true))
    }

    /// Warns about a unit outside `UnitGrammar`, at its `unit:` value.
    mutating func checkUnit(_ unit: String?, of what: String, at node: Node?) {
        guard let unit else { return }
        let known = unitChecks[unit] ?? { let part = UnitGrammar.unknownPart(of: unit); unitChecks[unit] = part; return part }()
        guard let bad = known else { return }
        let part = bad == trimmingSpaces(unit) || bad.isEmpty ? "" : " (`\(bad)` is not a unit ketasim knows)"
        warn("unknown unit `\(unit)` of \(what)\(part); write units with SI symbols and prefixes, *, /, ^ and 1, e.g. umol/L/h or 1/h", at: node)
    }

    func problem(from error: YamlError) -> ModelProblem {
        switch error {
        case let .scanner(context, problem, mark, _), let .parser(context, problem, mark, _):
            var message = "not valid YAML: \(problem)"
            if let context { message += " (\(context.text))" }
            return ModelProblem(location: SourceLocation(file: file, line: mark.line, column: mark.column), message: message, sourceLine: sourceLine(mark.line))
        case let .duplicatedKeysInMapping(duplicates, context):
            let names = duplicates.sorted().map { "`\($0)`" }.joined(separator: ", ")
            let loc = SourceLocation(file: file, line: context.mark.line, column: context.mark.column)
            return ModelProblem(location: loc, message: "duplicate key \(names) in the mapping that starts here", sourceLine: sourceLine(loc.line))
        default:
            return ModelProblem(location: SourceLocation(file: file, line: 1, column: 1), message: "not valid YAML: \(error)")
        }
    }

    // MARK: typed access

    mutating func mapping(_ node: Node?, _ what: String) -> [(key: String, keyNode: Node, value: Node)]? {
        guard let node else { return nil }
        guard case .mapping(let m) = node else {
            report("\(what) must be a mapping of names to entries", at: node)
            return nil
        }
        var result: [(String, Node, Node)] = []
        for (k, v) in m {
            guard case .scalar(let keyScalar) = k else { report("\(what): keys must be plain names", at: k); continue }
            result.append((keyScalar.string, k, v))
        }
        return result
    }

    mutating func sequence(_ node: Node?, _ what: String) -> [Node]? {
        guard let node else { return nil }
        guard case .sequence(let s) = node else {
            report("\(what) must be a list", at: node)
            return nil
        }
        return Array(s)
    }

    mutating func string(_ node: Node?, _ what: String, required: Bool = false, at parent: Node? = nil) -> String? {
        guard let node else {
            if required { report("missing \(what)", at: parent) }
            return nil
        }
        guard case .scalar(let s) = node else { report("\(what) must be text", at: node); return nil }
        if required && trimmingSpaces(s.string).isEmpty {
            report("\(what) must not be empty", at: node)
            return nil
        }
        return s.string
    }

    mutating func number(_ node: Node?, _ what: String, required: Bool = false, at parent: Node? = nil) -> Double? {
        guard let node else {
            if required { report("missing \(what)", at: parent) }
            return nil
        }
        guard case .scalar(let s) = node, let value = Double(trimmingSpaces(s.string)), value.isFinite else {
            report("\(what) must be a number, got `\(node.scalar?.string ?? "a \(kind(node))")`", at: node)
            return nil
        }
        return value
    }

    mutating func duration(_ node: Node?, _ what: String, required: Bool = false, at parent: Node? = nil) -> Double? {
        guard let text = string(node, what, required: required, at: parent) else { return nil }
        switch Duration.hours(text) {
        case .success(let h): return h
        case .failure(let e):
            report("\(what): \(e.description)", at: node)
            return nil
        }
    }

    func kind(_ node: Node) -> String {
        switch node {
        case .mapping: return "mapping"
        case .sequence: return "list"
        case .scalar: return "value"
        case .alias: return "alias"
        }
    }

    mutating func checkKeys(_ entries: [(key: String, keyNode: Node, value: Node)], allowed: [String], in what: String) {
        for e in entries where !allowed.contains(e.key) {
            report("unknown key `\(e.key)` in \(what)\(didYouMean(e.key, among: allowed)); allowed: \(allowed.joined(separator: ", "))", at: e.keyNode)
        }
    }

    func entry(_ entries: [(key: String, keyNode: Node, value: Node)], _ key: String) -> Node? {
        // By index: `first(where:)` copies every entry it looks at, three retains and a weak reference each.
        for i in entries.indices where entries[i].key == key { return entries[i].value }
        return nil
    }

    /// Where an expression's first character is in the file: after the opening quote of a quoted scalar.
    func expressionOrigin(_ node: Node) -> SourceLocation {
        var loc = location(node)
        if case .scalar(let s) = node {
            switch s.style {
            case .singleQuoted, .doubleQuoted: loc.column += 1
            case .literal, .folded: loc.line += 1; loc.column = 1
                let line = sourceLine(loc.line)
                loc.column = (line.firstIndex { $0 != " " }.map { line.distance(from: line.startIndex, to: $0) } ?? 0) + 1
            default: break
            }
        }
        return loc
    }

    mutating func expression(_ node: Node, _ what: String) -> ParsedExpression? {
        guard let text = string(node, what, required: true) else { return nil }
        do {
            return try ExpressionParser.parse(text, origin: expressionOrigin(node))
        } catch {
            problems.append(ModelProblem(location: error.location, message: error.message, sourceLine: sourceLine(error.location.line)))
            return nil
        }
    }

    // MARK: the model

    static let topLevelKeys = ["name", "description", "time_unit", "references", "parameters", "inputs", "states", "assignments", "odes", "outputs", "drugs", "organisms", "scenarios"]
    static let reserved: Set<String> = Set(["t", "if", "piecewise", "time"] + Function.allCases.map(\.rawValue))

    /// The whole file, section by section; every problem is collected before a model is returned, so a
    /// user sees them all at once.
    mutating func read(_ root: Node) -> ModelDefinition? {
        guard let top = mapping(root, "the model file") else { return nil }
        // Counted before any state is read: a model too large to compile is refused in the time the
        // file takes to parse, not after every state and equation has been read and checked.
        if let states = top.first(where: { $0.key == "states" }), case .mapping(let m) = states.value, m.count > CompiledModel.maximumStates {
            report(CompiledModel.tooManyStates(m.count), at: states.keyNode)
            return nil
        }
        checkKeys(top, allowed: Self.topLevelKeys, in: "the model file")
        let name = string(entry(top, "name"), "`name`", required: true, at: root) ?? ""
        let description = string(entry(top, "description"), "`description`", required: true, at: root) ?? ""
        let timeUnit = TimeUnit(string(entry(top, "time_unit"), "`time_unit`", required: true, at: root) ?? "h")
        if let node = entry(top, "time_unit"), timeUnit != "h" {
            report("time_unit must be `h`: doses, durations and schedules are in hours", at: node)
        }
        var references: [String] = []
        for node in sequence(entry(top, "references"), "`references`") ?? [] {
            if let s = string(node, "a reference") { references.append(s) }
        }
        declared = [:]
        let parameters = readParameters(top, root)
        let inputs = readInputs(top)
        let states = readStates(top, root)
        let (ordered, odes, assignmentKeys) = readEquations(top, root, states: states)
        let outputs = readOutputs(top, root, observables: Set(states.map(\.name)).union(assignmentKeys))

        let parameterNames = Set(parameters.map(\.name))
        let drugs = readDrugs(entry(top, "drugs"), states: Set(states.map(\.name)), parameters: parameterNames)
        let organisms = readOrganisms(entry(top, "organisms"), parameters: parameterNames)
        let scenarios = readScenarios(entry(top, "scenarios"), inputs: inputs, parameters: parameterNames, drugs: drugs, organisms: organisms)

        guard problems.isEmpty else { return nil }
        var model = ModelDefinition(
            file: file, name: name, description: description, timeUnit: timeUnit, references: references,
            parameters: parameters, inputs: inputs, states: states, assignments: ordered,
            odes: odes, outputs: outputs,
            drugs: drugs, organisms: organisms, scenarios: scenarios)
        model.warnings = warnings.sorted { ($0.location.line, $0.location.column) < ($1.location.line, $1.location.column) }
        return model
    }

    /// Claims a name for a parameter, input, state or assignment: one namespace for all of them.
    mutating func declare(_ name: String, _ node: Node, _ kind: String) -> Bool {
        if let problem = nameProblem(name, kind: kind) {
            report(problem, at: node)
            return false
        }
        if let previous = declared[name] {
            report("`\(name)` is declared twice (first at line \(previous.line))", at: node)
            return false
        }
        declared[name] = location(node)
        return true
    }

    typealias Entries = [(key: String, keyNode: Node, value: Node)]

    mutating func readParameters(_ top: Entries, _ root: Node) -> [Parameter] {
        // Parameters
        var parameters: [Parameter] = []
        if entry(top, "parameters") == nil { report("missing `parameters` section", at: root) }
        for e in mapping(entry(top, "parameters"), "`parameters`") ?? [] {
            guard declare(e.key, e.keyNode, "parameter"), let spec = mapping(e.value, "parameter `\(e.key)`") else { continue }
            checkKeys(spec, allowed: ["value", "unit", "description", "source", "assumption", "bounds"], in: "parameter `\(e.key)`")
            let value = number(entry(spec, "value"), "value of `\(e.key)`", required: true, at: e.keyNode)
            let unit = string(entry(spec, "unit"), "unit of parameter `\(e.key)` (use \"1\" for dimensionless)", required: true, at: e.keyNode)
            checkUnit(unit, of: "`\(e.key)`", at: entry(spec, "unit"))
            let desc = string(entry(spec, "description"), "description") ?? ""
            let source = string(entry(spec, "source"), "source of `\(e.key)`", required: entry(spec, "source") != nil)
            let assumption = string(entry(spec, "assumption"), "assumption of `\(e.key)`", required: entry(spec, "assumption") != nil)
            var provenance: Provenance?
            switch (source, assumption) {
            case let (s?, nil): provenance = .source(s)
            case let (nil, a?): provenance = .assumption(a)
            case (nil, nil):
                // A warning, not an error, so a user's first model loads; the shipped models must
                // have one for every parameter (ShippedModelTests).
                if entry(spec, "source") == nil && entry(spec, "assumption") == nil {
                    warn("parameter `\(e.key)` names no `source` (citation with PMC id or DOI) or `assumption` (one-line rationale)", at: e.keyNode)
                    provenance = .unstated
                }
            case (.some, .some):
                report("parameter `\(e.key)` has both `source` and `assumption`; keep one", at: e.keyNode)
            }
            var bounds: ClosedRange<Double>?
            if let b = entry(spec, "bounds") {
                let items = sequence(b, "bounds of `\(e.key)`") ?? []
                let values = items.compactMap { number($0, "a bound of `\(e.key)`") }
                if items.count != 2 || values.count != 2 {
                    if items.count != 2 { report("bounds of `\(e.key)` must be [lower, upper]", at: b) }
                } else if values[0] > values[1] {
                    report("bounds of `\(e.key)` are reversed: \(values[0]) > \(values[1])", at: b)
                } else {
                    bounds = values[0]...values[1]
                    if let v = value, !(bounds?.contains(v) ?? true) {
                        report("value \(formatNumber(v)) of `\(e.key)` lies outside its bounds [\(formatNumber(values[0])), \(formatNumber(values[1]))]", at: entry(spec, "value"))
                    }
                }
            }
            if let value, let unit, let provenance {
                parameters.append(Parameter(name: e.key, value: value, unit: unit, description: desc, provenance: provenance, bounds: bounds, location: location(e.keyNode)))
            }
        }
        return parameters
    }

    mutating func readInputs(_ top: Entries) -> [Input] {
        // Inputs
        var inputs: [Input] = []
        for e in mapping(entry(top, "inputs"), "`inputs`") ?? [] {
            guard declare(e.key, e.keyNode, "input"), let spec = mapping(e.value, "input `\(e.key)`") else { continue }
            checkKeys(spec, allowed: ["default", "unit", "description"], in: "input `\(e.key)`")
            let value = number(entry(spec, "default"), "default of input `\(e.key)`", required: true, at: e.keyNode)
            let unit = string(entry(spec, "unit"), "unit of input `\(e.key)`", required: true, at: e.keyNode)
            checkUnit(unit, of: "`\(e.key)`", at: entry(spec, "unit"))
            if let value, let unit {
                inputs.append(Input(name: e.key, defaultValue: value, unit: unit, description: string(entry(spec, "description"), "description") ?? "", location: location(e.keyNode)))
            }
        }
        return inputs
    }

    mutating func readStates(_ top: Entries, _ root: Node) -> [State] {
        // States
        var states: [State] = []
        if entry(top, "states") == nil { report("missing `states` section", at: root) }
        for e in mapping(entry(top, "states"), "`states`") ?? [] {
            guard declare(e.key, e.keyNode, "state"), let spec = mapping(e.value, "state `\(e.key)`") else { continue }
            checkKeys(spec, allowed: ["initial", "unit", "description", "captions", "identifiers"], in: "state `\(e.key)`")
            let initial = number(entry(spec, "initial"), "initial value of `\(e.key)`", required: true, at: e.keyNode)
            let unit = string(entry(spec, "unit"), "unit of state `\(e.key)` (use \"1\" for dimensionless)", required: true, at: e.keyNode)
            checkUnit(unit, of: "`\(e.key)`", at: entry(spec, "unit"))
            var captions: [String] = []
            for c in sequence(entry(spec, "captions"), "captions of `\(e.key)`") ?? [] {
                if let s = string(c, "a caption") { captions.append(s) }
            }
            var identifiers: [String: String] = [:]
            for i in mapping(entry(spec, "identifiers"), "identifiers of `\(e.key)`") ?? [] {
                if let s = string(i.value, "identifier `\(i.key)`") { identifiers[i.key] = s }
            }
            // Kept with a placeholder when the value or unit is wrong (that problem is reported, so no
            // model is returned): dropping the state made its ODE, outputs, routes and scenarios each
            // report it again as unknown, nine errors for one NaN.
            states.append(State(name: e.key, initial: initial ?? .nan, unit: unit ?? "", description: string(entry(spec, "description"), "description") ?? "", captions: captions, identifiers: identifiers, location: location(e.keyNode)))
        }
        return states
    }

    /// Assignments and ODEs are parsed first and their names checked once every name is declared;
    /// assignments come back ordered so that each uses only earlier ones.
    mutating func readEquations(_ top: Entries, _ root: Node, states: [State]) -> (assignments: [Assignment], odes: [Expr], assignmentKeys: Set<String>) {
        // Assignments and ODEs: parse now, check names once all are declared.
        var rawAssignments: [(name: String, parsed: ParsedExpression, unit: String?, description: String?, node: Node)] = []
        // Declared assignments, including those whose expression did not parse (already reported).
        var assignmentKeys: Set<String> = []
        for e in mapping(entry(top, "assignments"), "`assignments`") ?? [] {
            guard declare(e.key, e.keyNode, "assignment") else { continue }
            assignmentKeys.insert(e.key)
            var exprNode = e.value
            var unit: String?, desc: String?
            if case .mapping = e.value, let spec = mapping(e.value, "assignment `\(e.key)`") {
                checkKeys(spec, allowed: ["expression", "unit", "description"], in: "assignment `\(e.key)`")
                guard let node = entry(spec, "expression") else { report("assignment `\(e.key)` needs an `expression`", at: e.keyNode); continue }
                exprNode = node
                unit = string(entry(spec, "unit"), "unit")
                checkUnit(unit, of: "`\(e.key)`", at: entry(spec, "unit"))
                desc = string(entry(spec, "description"), "description")
            }
            if let parsed = expression(exprNode, "expression of `\(e.key)`") {
                rawAssignments.append((e.key, parsed, unit, desc, e.keyNode))
            }
        }
        let known = Set(declared.keys).union(["t"])
        var odeByState: [String: (ParsedExpression, Node)] = [:]
        odeByState.reserveCapacity(states.count)
        var unparsed: Set<String> = []
        if entry(top, "odes") == nil { report("missing `odes` section", at: root) }
        let stateNames = Set(states.map(\.name))
        for e in mapping(entry(top, "odes"), "`odes`") ?? [] {
            if !stateNames.contains(e.key) {
                if declared[e.key] != nil {
                    report("`\(e.key)` has an ODE but is not a state; declare it under `states` or remove the equation", at: e.keyNode)
                } else {
                    report("ODE for unknown state `\(e.key)`\(didYouMean(e.key, among: stateNames))", at: e.keyNode)
                }
                continue
            }
            if odeByState[e.key] != nil { report("`\(e.key)` has two ODEs", at: e.keyNode); continue }
            if let parsed = expression(e.value, "ODE of `\(e.key)`") { odeByState[e.key] = (parsed, e.keyNode) } else { unparsed.insert(e.key) }
        }
        // A state whose ODE is written but does not parse has had its problem reported already.
        for s in states where odeByState[s.name] == nil && !unparsed.contains(s.name) && entry(top, "odes") != nil {
            report("state `\(s.name)` has no ODE; add `\(s.name): <expression>` under `odes`", at: s.location)
        }
        for parsed in rawAssignments.map(\.parsed) + odeByState.values.map(\.0) {
            do { try parsed.checkSymbols(known: known) } catch {
                problems.append(ModelProblem(location: error.location, message: error.message, sourceLine: sourceLine(error.location.line)))
            }
        }

        // Order assignments so each uses only earlier ones; a cycle is an error naming its members.
        let assignmentIndex = Dictionary(rawAssignments.enumerated().map { ($1.name, $0) }, uniquingKeysWith: { a, _ in a })
        var ordered: [Assignment] = []
        switch dependencyOrder(count: rawAssignments.count, dependencies: { k in rawAssignments[k].parsed.expr.symbols.sorted().compactMap { assignmentIndex[$0] } }) {
        case .success(let order):
            ordered = order.map { k in
                let a = rawAssignments[k]
                return Assignment(name: a.name, expression: a.parsed.expr, text: a.parsed.text, unit: a.unit, description: a.description, location: location(a.node))
            }
        case .failure(let cycle):
            report("assignments form a cycle: \(cycle.members.map { rawAssignments[$0].name }.joined(separator: " -> "))", at: rawAssignments[cycle.members[0]].node)
        }
        return (ordered, states.map { odeByState[$0.name]?.0.expr ?? .constant(0) }, assignmentKeys)
    }

    mutating func readOutputs(_ top: Entries, _ root: Node, observables: Set<String>) -> [String] {
        // Outputs
        var outputs: [String] = []
        var listed: Set<String> = []
        if entry(top, "outputs") == nil { report("missing `outputs` list", at: root) }
        for node in sequence(entry(top, "outputs"), "`outputs`") ?? [] {
            guard let s = string(node, "an output") else { continue }
            if !observables.contains(s) {
                report("output `\(s)` is neither a state nor an assignment\(didYouMean(s, among: observables))", at: node)
            } else if !listed.insert(s).inserted {
                report("output `\(s)` is listed twice", at: node)
            } else {
                outputs.append(s)
            }
        }
        return outputs
    }

    mutating func readDrugs(_ node: Node?, states: Set<String>, parameters: Set<String>) -> [Drug] {
        var drugs: [Drug] = []
        for e in mapping(node, "`drugs`") ?? [] {
            guard let spec = mapping(e.value, "drug `\(e.key)`") else { continue }
            checkKeys(spec, allowed: ["molar_mass", "description", "routes"], in: "drug `\(e.key)`")
            let mass = number(entry(spec, "molar_mass"), "molar_mass of `\(e.key)` (g/mol)", required: true, at: e.keyNode)
            if let m = mass, m <= 0 { report("molar_mass of `\(e.key)` must be positive", at: entry(spec, "molar_mass")) }
            var routes: [Route] = []
            if entry(spec, "routes") == nil { report("drug `\(e.key)` needs `routes`", at: e.keyNode) }
            for r in mapping(entry(spec, "routes"), "routes of `\(e.key)`") ?? [] {
                guard let rspec = mapping(r.value, "route `\(r.key)`") else { continue }
                checkKeys(rspec, allowed: ["target", "bioavailability"], in: "route `\(r.key)` of `\(e.key)`")
                guard let target = string(entry(rspec, "target"), "target state of route `\(r.key)`", required: true, at: r.keyNode) else { continue }
                if !states.contains(target) {
                    report("route `\(r.key)` of `\(e.key)` targets `\(target)`, which is not a state\(didYouMean(target, among: states))", at: entry(rspec, "target"))
                    continue
                }
                var f = Route.Bioavailability.constant(1)
                if let fnode = entry(rspec, "bioavailability"), let text = string(fnode, "bioavailability") {
                    if let v = Double(text) {
                        if !(0...1).contains(v) { report("bioavailability must lie in [0, 1], got \(text)", at: fnode) }
                        f = .constant(v)
                    } else if parameters.contains(text) {
                        f = .parameter(text)
                    } else {
                        report("bioavailability `\(text)` is neither a number nor a parameter\(didYouMean(text, among: parameters))", at: fnode)
                    }
                }
                routes.append(Route(name: r.key, target: target, bioavailability: f))
            }
            if let mass {
                drugs.append(Drug(name: e.key, molarMass: mass, description: string(entry(spec, "description"), "description") ?? "", routes: routes))
            }
        }
        return drugs
    }

    mutating func readOrganisms(_ node: Node?, parameters: Set<String>) -> [Organism] {
        var organisms: [Organism] = []
        for e in mapping(node, "`organisms`") ?? [] {
            guard let spec = mapping(e.value, "organism `\(e.key)`") else { continue }
            checkKeys(spec, allowed: ["description", "parameters", "variability"], in: "organism `\(e.key)`")
            var values: [String: Double] = [:]
            for p in mapping(entry(spec, "parameters"), "parameters of `\(e.key)`") ?? [] {
                if !parameters.contains(p.key) {
                    report("organism `\(e.key)` sets unknown parameter `\(p.key)`\(didYouMean(p.key, among: parameters))", at: p.keyNode)
                } else if let v = number(p.value, "`\(p.key)`") {
                    values[p.key] = v
                }
            }
            var variability: [ParameterVariability] = []
            for p in mapping(entry(spec, "variability"), "variability of `\(e.key)`") ?? [] {
                let what = "variability of `\(p.key)` in organism `\(e.key)`"
                guard let fields = mapping(p.value, what) else { continue }
                checkKeys(fields, allowed: ["cv", "source"], in: what)
                if !parameters.contains(p.key) {
                    report("organism `\(e.key)` gives the variability of unknown parameter `\(p.key)`\(didYouMean(p.key, among: parameters))", at: p.keyNode)
                    continue
                }
                // A population needs both: a CV without its source is exactly the unsourced number the
                // model's provenance rule forbids.
                guard let cv = number(entry(fields, "cv"), "`cv` (a fraction: 0.24 for 24%) of \(what)", required: true, at: p.keyNode),
                      let source = string(entry(fields, "source"), "`source` (the citation of the CV) of \(what)", required: true, at: p.keyNode)
                else { continue }
                guard cv > 0, cv <= 10 else {
                    report("\(what): `cv` must be a fraction above 0 and at most 10 (0.24 for 24%), not \(cv)", at: entry(fields, "cv"))
                    continue
                }
                variability.append(ParameterVariability(parameter: p.key, cv: cv, source: source))
            }
            organisms.append(Organism(name: e.key, description: string(entry(spec, "description"), "description") ?? "", parameters: values, variability: variability))
        }
        return organisms
    }

    static let scenarioKeys = ["description", "extends", "organism", "t_end", "output_every", "start", "steady_state_inputs", "inputs", "parameters", "doses", "treatment"]

    mutating func readScenarios(_ node: Node?, inputs: [Input], parameters: Set<String>, drugs: [Drug], organisms: [Organism]) -> [Scenario] {
        let entries = mapping(node, "`scenarios`") ?? []
        let raw = Dictionary(entries.map { ($0.key, $0) }, uniquingKeysWith: { a, _ in a })
        var resolved: [String: Scenario] = [:]
        var resolving: Set<String> = []
        let inputNames = Set(inputs.map(\.name))

        var failed: Set<String> = []

        // A scenario that fails is remembered, so that its problem is reported once, not once per
        // scenario extending it.
        func resolve(_ reader: inout Reader, _ name: String) -> Scenario? {
            if let done = resolved[name] { return done }
            if failed.contains(name) { return nil }
            let scenario = resolveUncached(&reader, name)
            if scenario == nil { failed.insert(name) }
            return scenario
        }

        func resolveUncached(_ reader: inout Reader, _ name: String) -> Scenario? {
            guard let e = raw[name] else { return nil }
            guard let spec = reader.mapping(e.value, "scenario `\(name)`") else { return nil }
            reader.checkKeys(spec, allowed: Self.scenarioKeys, in: "scenario `\(name)`")
            var base: Scenario?
            if let parentNode = reader.entry(spec, "extends"), let parent = reader.string(parentNode, "extends") {
                if resolving.contains(parent) || parent == name {
                    reader.report("scenario `\(name)` extends `\(parent)`, which extends it back", at: parentNode)
                    return nil
                }
                guard raw[parent] != nil else {
                    reader.report("scenario `\(name)` extends unknown scenario `\(parent)`\(didYouMean(parent, among: raw.keys))", at: parentNode)
                    return nil
                }
                resolving.insert(name)
                base = resolve(&reader, parent)
                resolving.remove(name)
                if base == nil { return nil }
            }
            var s = base ?? Scenario(name: name, description: "", organism: nil, tEnd: .nan, outputEvery: 1, start: .steadyState, steadyStateInputs: [:], inputs: [:], parameters: [:], doses: [], treatment: nil, location: reader.location(e.keyNode))
            s.name = name
            s.location = reader.location(e.keyNode)
            reader.applyScenarioFields(spec, to: &s, inputNames: inputNames, parameters: parameters, drugs: drugs, organisms: organisms)
            if s.tEnd.isNaN && reader.entry(spec, "t_end") == nil { reader.report("scenario `\(name)` needs `t_end`", at: e.keyNode) }
            if !organisms.isEmpty && s.organism == nil && reader.entry(spec, "organism") == nil {
                reader.report("scenario `\(name)` needs an `organism` (one of \(organisms.map(\.name).joined(separator: ", ")))", at: e.keyNode)
            }
            if let last = s.doses.map(\.lastTime).max(), !s.tEnd.isNaN, last >= s.tEnd {
                reader.report("scenario `\(name)` ends at \(formatNumber(s.tEnd)) h, not after its last dose at \(formatNumber(last)) h", at: e.keyNode)
            }
            resolved[name] = s
            return s
        }
        var scenarios: [Scenario] = []
        for e in entries {
            if let s = resolve(&self, e.key) { scenarios.append(s) }
        }
        return scenarios
    }

    /// The fields of one scenario's mapping, applied over `s` (its parent's values, or the defaults):
    /// each field present replaces the inherited one; `inputs` and `parameters` replace per name.
    mutating func applyScenarioFields(_ spec: Entries, to s: inout Scenario, inputNames: Set<String>, parameters: Set<String>, drugs: [Drug], organisms: [Organism]) {
        if let d = string(entry(spec, "description"), "description") { s.description = d }
        if let n = entry(spec, "organism"), let o = string(n, "organism") {
            if organisms.contains(where: { $0.name == o }) { s.organism = o } else {
                report("scenario `\(s.name)`: unknown organism `\(o)`\(didYouMean(o, among: organisms.map(\.name)))", at: n)
            }
        }
        if let v = duration(entry(spec, "t_end"), "t_end") {
            if v > 0 { s.tEnd = v } else { report("t_end must be after the start (> 0)", at: entry(spec, "t_end")) }
        }
        if let v = duration(entry(spec, "output_every"), "output_every") {
            if v > 0 { s.outputEvery = v } else { report("output_every must be positive", at: entry(spec, "output_every")) }
        }
        if let n = entry(spec, "start"), let text = string(n, "start") {
            if let start = Scenario.Start(rawValue: text) { s.start = start } else {
                report("start must be `steady_state` or `initial`, got `\(text)`", at: n)
            }
        }
        for p in mapping(entry(spec, "steady_state_inputs"), "steady_state_inputs") ?? [] {
            if !inputNames.contains(p.key) {
                report("unknown input `\(p.key)`\(didYouMean(p.key, among: inputNames))", at: p.keyNode)
            } else if let v = number(p.value, "`\(p.key)`") { s.steadyStateInputs[p.key] = v }
        }
        for (name, periods) in readInputSchedules(entry(spec, "inputs"), inputNames: inputNames) { s.inputs[name] = periods }
        for p in mapping(entry(spec, "parameters"), "parameters") ?? [] {
            if !parameters.contains(p.key) {
                report("unknown parameter `\(p.key)`\(didYouMean(p.key, among: parameters))", at: p.keyNode)
            } else if let v = number(p.value, "`\(p.key)`") { s.parameters[p.key] = v }
        }
        for d in sequence(entry(spec, "doses"), "doses") ?? [] {
            guard let text = string(d, "a dose") else { continue }
            switch DoseRegimen.parse(text) {
            case .failure(let error): report(error.description, at: d)
            case .success(let dose):
                if let problem = Reader.checkDose(dose, drugs: drugs) { report(problem, at: d) } else { s.doses.append(dose) }
            }
        }
        if let n = entry(spec, "treatment"), let t = string(n, "treatment") {
            if drugs.contains(where: { $0.name == t }) { s.treatment = t } else {
                report("treatment `\(t)` is not a drug\(didYouMean(t, among: drugs.map(\.name)))", at: n)
            }
        }
    }

    /// `inputs:` of a scenario: per input, a schedule of periods with a value, `from` and `to`.
    mutating func readInputSchedules(_ node: Node?, inputNames: Set<String>) -> [(String, [InputPeriod])] {
        var schedules: [(String, [InputPeriod])] = []
        for p in mapping(node, "inputs") ?? [] {
            guard inputNames.contains(p.key) else {
                report("unknown input `\(p.key)`\(didYouMean(p.key, among: inputNames))", at: p.keyNode)
                continue
            }
            var periods: [InputPeriod] = []
            for item in sequence(p.value, "schedule of `\(p.key)`") ?? [] {
                guard let fields = mapping(item, "a period of `\(p.key)`") else { continue }
                checkKeys(fields, allowed: ["value", "from", "to"], in: "a period of `\(p.key)`")
                let v = number(entry(fields, "value"), "value", required: true, at: item)
                let from = duration(entry(fields, "from"), "from", required: true, at: item)
                let to = duration(entry(fields, "to"), "to", required: true, at: item)
                if let v, let from, let to {
                    if to <= from { report("a period must end after it starts (from \(formatNumber(from)) h to \(formatNumber(to)) h)", at: item) } else {
                        periods.append(InputPeriod(value: v, from: from, to: to))
                    }
                }
            }
            schedules.append((p.key, periods))
        }
        return schedules
    }

    /// A sentence naming what is wrong with a dose for this model, or nil.
    static func checkDose(_ dose: DoseRegimen, drugs: [Drug]) -> String? {
        guard let drug = drugs.first(where: { $0.name == dose.drug }) else {
            return "unknown drug `\(dose.drug)`\(didYouMean(dose.drug, among: drugs.map(\.name))); the model has \(drugs.map(\.name).joined(separator: ", "))"
        }
        if drug.route(named: dose.route) == nil {
            return "\(drug.name) has no route `\(dose.route)`\(didYouMean(dose.route, among: drug.routes.map(\.name))); routes: \(drug.routes.map(\.name).joined(separator: ", "))"
        }
        // Runs start at t = 0: an earlier dose would silently never be given.
        if !(dose.time >= 0) { return "the dose at \(formatNumber(dose.time)) h lies before the start of the run (t = 0)" }
        return nil
    }
}

/// `text` without leading and trailing tabs and Unicode space separators (Foundation's
/// `CharacterSet.whitespaces`), without going through NSString: numbers and required fields of a large
/// model are checked this way hundreds of thousands of times, and almost never have any.
func trimmingSpaces(_ text: String) -> String {
    func isSpace(_ u: Unicode.Scalar) -> Bool { u == "\t" || u.properties.generalCategory == .spaceSeparator }
    let scalars = text.unicodeScalars
    guard let first = scalars.first, let last = scalars.last, isSpace(first) || isSpace(last) else { return text }
    guard let start = scalars.firstIndex(where: { !isSpace($0) }), let end = scalars.lastIndex(where: { !isSpace($0) }) else { return "" }
    return String(scalars[start...end])
}

extension ModelDefinition {
    /// A sentence naming what is wrong with a dose for this model, or nil.
    public func problem(with dose: DoseRegimen) -> String? {
        Reader.checkDose(dose, drugs: drugs)
    }
}
