import Foundation

/// Flattens a hierarchical model (the SBML `comp` package, version 1) into one core model, on the XML
/// tree, before the importer reads it: what libSBML's `CompFlatteningConverter` produces.
///
/// Every submodel becomes an instance of its model (a model definition, or a model in another file
/// named by an external model definition), itself flattened, whose ids are prefixed with `<submodel>__`
/// (`A__B__x` two levels down). Deleted elements are left out with their children. A replaced element
/// is left out and every reference to it in its own model refers to what replaced it; with a
/// `conversionFactor`, a reference reads the replacement divided by the factor and whatever sets the
/// replaced element sets the replacement times the factor. `replacedBy` keeps the submodel's element
/// under the replaced element's name. A submodel's `timeConversionFactor` divides its `time`, its rate
/// rules and kinetic laws and multiplies its delays; `extentConversionFactor` multiplies its kinetic laws
/// (and references to a reaction read its rate divided by what multiplied its law).
///
/// Every lookup is by dictionary: the flattening is linear in the size of the instantiated model.
enum CompFlattening {
    static func isComp(_ uri: String) -> Bool { uri == "http://www.sbml.org/sbml/level3/version1/comp/version1" }

    /// True when the document declares the comp package or holds any element of it.
    static func uses(_ root: XMLNode) -> Bool {
        if root.namespaces.values.contains(where: isComp) { return true }
        var stack = [root]
        while let node = stack.popLast() {
            if isComp(node.namespace) { return true }
            stack.append(contentsOf: node.children)
        }
        return false
    }

    /// The document as one core model: the `comp` elements and attributes are gone, and everything
    /// they describe is written out. `file` locates external model definitions (relative to its folder).
    static func flatten(_ root: XMLNode, file: String) throws(SBMLError) -> XMLNode {
        try Flattener(root: root, file: file).run()
    }
}

private let mathMLNamespace = "http://www.w3.org/1998/Math/MathML"
private let timeURL = "http://www.sbml.org/sbml/symbols/time"
private let delayURL = "http://www.sbml.org/sbml/symbols/delay"
private let rateOfURL = "http://www.sbml.org/sbml/symbols/rateOf"

/// Attributes that name an SId of the same model, and ones that name a unit.
private let sidReferences: Set<String> = ["compartment", "species", "symbol", "variable", "conversionFactor"]
private let unitReferences: Set<String> = ["units", "substanceUnits", "timeUnits", "volumeUnits", "areaUnits", "lengthUnits", "extentUnits"]

/// One SBML document: the one imported, or one an external model definition names.
private final class Document {
    let root: XMLNode
    let file: String
    /// Its SBML core namespace.
    let core: String
    var modelDefinitions: [String: XMLNode] = [:]
    var externalDefinitions: [String: XMLNode] = [:]

    init(root: XMLNode, file: String) {
        self.root = root
        self.file = file
        core = root.namespace
    }
}

/// A model as instantiated by one submodel (or the top model): its prefix and what its ids name.
private final class Instance {
    let number: Int
    let model: XMLNode
    let document: Document
    /// "" for the top model, `A__` for submodel A, `A__B__` for submodel B of A.
    let prefix: String
    let parent: Instance?
    /// The `<submodel>` in the parent's model.
    let submodel: XMLNode?
    /// 0 for the top model.
    let depth: Int
    var children: [String: Instance] = [:]
    var ordered: [Instance] = []
    var sids: [String: XMLNode] = [:]
    var units: [String: XMLNode] = [:]
    var metaids: [String: XMLNode] = [:]
    var ports: [String: XMLNode] = [:]
    var submodels: [XMLNode] = []
    /// `replacedElement` and `replacedBy` elements with the element that holds them.
    var replacements: [(owner: XMLNode, reference: XMLNode)] = []
    var live = true
    /// Products of the conversion factors from the top down (MathML content), nil when 1.
    var timeFactor: XMLNode?
    var extentFactor: XMLNode?
    /// extent / time: what multiplies the kinetic laws.
    var lawFactor: XMLNode?

    init(number: Int, model: XMLNode, document: Document, prefix: String, parent: Instance?, submodel: XMLNode?) {
        self.number = number
        self.model = model
        self.document = document
        self.prefix = prefix
        self.parent = parent
        self.submodel = submodel
        depth = (parent?.depth ?? -1) + 1
    }
}

/// An element of one instance (instances of one model definition share its XML nodes).
private struct Key: Hashable {
    let instance: Int
    let node: ObjectIdentifier
}

/// A conversion factor: an SId of the model holding the replacement.
private struct Factor {
    let id: String
    let instance: Instance
    let at: XMLNode
}

private struct Link {
    let owner: Key
    let target: Key
    /// true for replacedBy (the target survives), false for replacedElement (the owner does).
    let replacedBy: Bool
    let factor: Factor?
    let reference: XMLNode
}

/// Names that are not the model's SIds in a piece of math: local parameters of a kinetic law and
/// function arguments, and local parameters replaced by an element of the model above.
private struct Scope {
    var locals: Set<String> = []
    var replaced: [String: Key] = [:]
}

/// The elements linked by replacements become one: named by the topmost one, defined by the one
/// that survives, and read in each element's own model as the survivor divided by `factors`.
private struct Identity {
    let name: Key
    let survivor: Key
    let factors: [Factor]
}

private final class Flattener {
    let main: Document
    let file: String
    var documents: [String: Document] = [:]
    var instances: [Instance] = []

    /// Replacements, as links from the element holding the `replacedElement` or `replacedBy` to the
    /// element it points at. Linked elements become one element of the flat model (an identity).
    var links: [Link] = []
    var deleted: Set<Key> = []
    /// The deletion, replacedElement or replacedBy elements pointing at each element.
    var claims: [Key: XMLNode] = [:]
    /// Targets of replacedElements, and holders of replacedBy: what the flat model leaves out.
    var replacedTargets: Set<Key> = []
    var replacedByOwners: Set<Key> = []
    var identities: [Key: Identity] = [:]
    var nodes: [Key: (instance: Instance, node: XMLNode)] = [:]
    /// Guards the building of conversion factors that are themselves converted.
    var factorDepth = 0
    /// Elements of all instances (math included): a few lines of XML can nest submodels into an
    /// exponential number of instances, so the total is bounded.
    var instantiatedElements = 0
    var modelSizes: [ObjectIdentifier: Int] = [:]
    static let maximumElements = 1_000_000
    static let maximumNesting = 100

    init(root: XMLNode, file: String) {
        self.file = file
        main = Document(root: root, file: file)
    }

    // MARK: errors and attributes

    func fileOf(_ node: XMLNode) -> String { node.file ?? file }

    func error(_ kind: SBMLError.Kind, _ node: XMLNode, _ message: String) -> SBMLError {
        SBMLError(kind, file: fileOf(node), line: node.line, column: node.column, element: node.name, id: ownID(node), message: message)
    }

    /// The `comp` attribute `name` of an element, whatever prefix the document gave the package
    /// (unprefixed too on comp elements, which some writers produce).
    func comp(_ node: XMLNode, _ name: String) -> String? {
        for (key, value) in node.attributes {
            guard let colon = key.firstIndex(of: ":"), key[key.index(after: colon)...] == name else { continue }
            if let uri = node.namespaces[String(key[..<colon])], CompFlattening.isComp(uri) { return value }
        }
        return CompFlattening.isComp(node.namespace) ? node.attributes[name] : nil
    }

    func isCompAttribute(_ node: XMLNode, _ key: String) -> Bool {
        guard let colon = key.firstIndex(of: ":"), let uri = node.namespaces[String(key[..<colon])] else { return false }
        return CompFlattening.isComp(uri)
    }

    func ownID(_ node: XMLNode) -> String? { node.attributes["id"] ?? comp(node, "id") }

    func isCompElement(_ node: XMLNode) -> Bool { CompFlattening.isComp(node.namespace) }

    func isLocalParameter(_ node: XMLNode) -> Bool {
        node.name == "localParameter" || (node.name == "parameter" && node.parent?.name == "listOfParameters" && node.parent?.parent?.name == "kineticLaw")
    }

    // MARK: run

    func run() throws(SBMLError) -> XMLNode {
        try readDefinitions(main)
        guard let model = main.root.child("model") else {
            throw error(.malformed, main.root, "no <model> element")
        }
        let top = Instance(number: 0, model: model, document: main, prefix: "", parent: nil, submodel: nil)
        instances.append(top)
        try index(top)
        try instantiate(top, ancestry: [ObjectIdentifier(model)])
        try collectDeletions()
        try collectReplacements()
        try resolveIdentities()
        for instance in instances where instance.live { try conversionFactors(instance) }
        return try emit(top)
    }

    func isDeleted(_ instance: Instance) -> Bool {
        guard let parent = instance.parent, let submodel = instance.submodel else { return false }
        return deleted.contains(Key(instance: parent.number, node: ObjectIdentifier(submodel)))
    }

    // MARK: model definitions and documents

    func readDefinitions(_ document: Document) throws(SBMLError) {
        for list in document.root.children where isCompElement(list) {
            switch list.name {
            case "listOfModelDefinitions":
                for m in list.children where m.name == "modelDefinition" && isCompElement(m) {
                    guard let id = ownID(m) else { throw error(.malformed, m, "a model definition without an id") }
                    document.modelDefinitions[id] = m
                }
            case "listOfExternalModelDefinitions":
                for m in list.children where m.name == "externalModelDefinition" && isCompElement(m) {
                    guard let id = ownID(m) else { throw error(.malformed, m, "an external model definition without an id") }
                    document.externalDefinitions[id] = m
                }
            default:
                continue
            }
        }
    }

    /// The model `ref` names in `document`: a model definition, the document's own model, or what an
    /// external model definition names (followed through further external definitions, refusing a cycle).
    func model(_ ref: String, in document: Document, for submodel: XMLNode) throws(SBMLError) -> (model: XMLNode, document: Document) {
        var document = document
        var ref = ref
        var seen: Set<String> = []
        while true {
            if let m = document.modelDefinitions[ref] { return (m, document) }
            if let m = document.root.child("model"), ownID(m) == ref, document !== main { return (m, document) }
            guard let external = document.externalDefinitions[ref] else {
                if let m = document.root.child("model"), ownID(m) == ref {
                    throw error(.invalid, submodel, "submodel instantiates the document's main model `\(ref)`, which contains it (a cycle)")
                }
                throw error(.invalid, submodel, "no model definition or external model definition `\(ref)` in \(URL(fileURLWithPath: document.file).lastPathComponent)")
            }
            guard seen.insert(document.file + "#" + ref).inserted else {
                throw error(.invalid, external, "external model definitions refer to each other in a cycle through `\(ref)`")
            }
            document = try load(external, from: document)
            guard let next = comp(external, "modelRef") else {
                guard let m = document.root.child("model") else { throw error(.invalid, external, "\(document.file) has no <model>") }
                return (m, document)
            }
            ref = next
        }
    }

    /// The document an external model definition names, read once.
    func load(_ external: XMLNode, from document: Document) throws(SBMLError) -> Document {
        guard let source = comp(external, "source"), !source.isEmpty else {
            throw error(.malformed, external, "an external model definition without a `source`")
        }
        var path = source
        if path.hasPrefix("file://") { path = String(path.dropFirst("file://".count)) } else if path.hasPrefix("file:") { path = String(path.dropFirst("file:".count)) }
        if path.contains("://") {
            throw error(.unsupported, external, "the source `\(source)` is not a local file; ketasim reads external model definitions from files only")
        }
        let folder = URL(fileURLWithPath: document.file).deletingLastPathComponent()
        let url = path.hasPrefix("/") ? URL(fileURLWithPath: path) : folder.appendingPathComponent(path)
        let resolved = url.standardizedFileURL.path
        if let known = documents[resolved] { return known }
        if resolved == URL(fileURLWithPath: file).standardizedFileURL.path { return main }
        // Only a regular file: a device or a pipe (`/dev/zero`) would never end.
        let type = (try? FileManager.default.attributesOfItem(atPath: resolved))?[.type] as? FileAttributeType
        guard type == .typeRegular, let data = try? Data(contentsOf: URL(fileURLWithPath: resolved)) else {
            let reason = !FileManager.default.fileExists(atPath: resolved) ? "does not exist"
                : type == .typeRegular ? "cannot be read" : "is not a regular file"
            throw error(.invalid, external, "its source `\(source)` (\(resolved)) \(reason)")
        }
        let root = try XMLNode.parse(data: data, file: resolved)
        var stack = [root]
        while let node = stack.popLast() {
            node.file = resolved
            stack.append(contentsOf: node.children)
        }
        guard root.name == "sbml", root["level"] == "3" else {
            throw error(.unsupported, external, "its source `\(source)` is not an SBML Level 3 document; comp submodels must be Level 3")
        }
        let loaded = Document(root: root, file: resolved)
        documents[resolved] = loaded
        try readDefinitions(loaded)
        return loaded
    }

    // MARK: instances

    /// What the ids, metaids, units and ports of an instance's model name, and its comp elements.
    func index(_ instance: Instance) throws(SBMLError) {
        // An instance (its indexes, its prefix in every id) also counts as 50 elements.
        instantiatedElements += 50 + size(of: instance.model)
        if instantiatedElements > Self.maximumElements, let s = instance.submodel {
            throw error(.unsupported, s, "the flattened model would hold more than \(Self.maximumElements) elements")
        }
        var stack = Array(instance.model.children.reversed())
        while let node = stack.popLast() {
            if node.namespace == mathMLNamespace || node.name == "annotation" || node.name == "notes" { continue }
            if isCompElement(node) {
                switch node.name {
                case "listOfSubmodels":
                    for s in node.children where s.name == "submodel" && isCompElement(s) {
                        guard let id = ownID(s) else { throw error(.malformed, s, "a submodel without an id") }
                        instance.submodels.append(s)
                        instance.sids[id] = s
                        if let metaid = s["metaid"] ?? comp(s, "metaid") { instance.metaids[metaid] = s }
                    }
                case "listOfPorts":
                    for p in node.children where p.name == "port" && isCompElement(p) {
                        guard let id = ownID(p) else { throw error(.malformed, p, "a port without an id") }
                        instance.ports[id] = p
                    }
                case "listOfReplacedElements":
                    guard let owner = node.parent else { continue }
                    for r in node.children where r.name == "replacedElement" && isCompElement(r) { instance.replacements.append((owner, r)) }
                case "replacedBy":
                    guard let owner = node.parent else { continue }
                    instance.replacements.append((owner, node))
                default:
                    continue
                }
                continue
            }
            if let metaid = node["metaid"] { instance.metaids[metaid] = node }
            if let id = node["id"] {
                if node.name == "unitDefinition" {
                    instance.units[id] = node
                } else if !isLocalParameter(node) {
                    instance.sids[id] = node
                }
            }
            stack.append(contentsOf: node.children.reversed())
        }
    }

    /// The number of elements in a model, counted once per model.
    func size(of model: XMLNode) -> Int {
        if let known = modelSizes[ObjectIdentifier(model)] { return known }
        var count = 0
        var stack = [model]
        while let node = stack.popLast() {
            count += 1
            stack.append(contentsOf: node.children)
        }
        modelSizes[ObjectIdentifier(model)] = count
        return count
    }

    /// Instantiates every submodel of `instance`, depth first. `ancestry` holds the models being
    /// instantiated above, so a model that contains itself is refused instead of recursing forever.
    func instantiate(_ instance: Instance, ancestry: Set<ObjectIdentifier>) throws(SBMLError) {
        // A prefix stays unique when an id of this model already starts with it (libSBML's rule): every
        // start of an id that ends in `__` is collected once, so each candidate is one lookup.
        var taken: Set<String> = []
        for id in [instance.sids.keys, instance.units.keys, instance.metaids.keys].joined() {
            let utf8 = Array(id.utf8)
            for i in utf8.indices.dropLast() where utf8[i] == UInt8(ascii: "_") && utf8[i + 1] == UInt8(ascii: "_") {
                taken.insert(String(decoding: utf8[...(i + 1)], as: UTF8.self))
            }
        }
        for s in instance.submodels {
            guard let id = ownID(s) else { continue }
            guard let ref = comp(s, "modelRef") else { throw error(.malformed, s, "a submodel without a `modelRef`") }
            let (model, document) = try self.model(ref, in: instance.document, for: s)
            guard !ancestry.contains(ObjectIdentifier(model)) else {
                throw error(.invalid, s, "submodel `\(id)` instantiates model `\(ref)`, which contains it (a cycle)")
            }
            guard instance.children[id] == nil else { throw error(.invalid, s, "two submodels have the id `\(id)`") }
            guard instance.depth < Self.maximumNesting else {
                throw error(.unsupported, s, "submodels nest deeper than \(Self.maximumNesting) levels")
            }
            var suffix = 0
            var local = id + "__"
            while taken.contains(local) {
                suffix += 1
                local = "\(id)\(suffix)__"
            }
            let child = Instance(number: instances.count, model: model, document: document, prefix: instance.prefix + local,
                                 parent: instance, submodel: s)
            instances.append(child)
            instance.children[id] = child
            instance.ordered.append(child)
            try index(child)
            try instantiate(child, ancestry: ancestry.union([ObjectIdentifier(model)]))
        }
    }

    // MARK: references

    func key(_ instance: Instance, _ node: XMLNode) -> Key {
        let k = Key(instance: instance.number, node: ObjectIdentifier(node))
        if nodes[k] == nil { nodes[k] = (instance, node) }
        return k
    }

    /// The element an SBaseRef (deletion, replacement, port or nested sBaseRef) points to, looked up in
    /// `instance`'s model; `reference` is reported in errors.
    func resolve(_ reference: XMLNode, in instance: Instance) throws(SBMLError) -> (instance: Instance, node: XMLNode) {
        var ref = reference
        var instance = instance
        while true {
            let portRef = comp(ref, "portRef"), idRef = comp(ref, "idRef"), unitRef = comp(ref, "unitRef"), metaIdRef = comp(ref, "metaIdRef")
            let given = [portRef, idRef, unitRef, metaIdRef].compactMap { $0 }
            guard given.count == 1 else {
                throw error(.malformed, ref, "<\(ref.name)> must name exactly one of portRef, idRef, unitRef and metaIdRef (it names \(given.count))")
            }
            let modelName = ownID(instance.model).map { "model `\($0)`" } ?? "the model"
            var target: (instance: Instance, node: XMLNode)
            if let portRef {
                guard ref.name != "port" else { throw error(.malformed, ref, "a port cannot refer to another port") }
                guard let port = instance.ports[portRef] else { throw error(.invalid, ref, "\(modelName) has no port `\(portRef)`") }
                target = try resolve(port, in: instance)
            } else if let idRef {
                guard let node = instance.sids[idRef] else { throw error(.invalid, ref, "\(modelName) has no element with the id `\(idRef)`") }
                target = (instance, node)
            } else if let unitRef {
                guard let node = instance.units[unitRef] else { throw error(.invalid, ref, "\(modelName) has no unit definition `\(unitRef)`") }
                target = (instance, node)
            } else {
                let metaIdRef = metaIdRef ?? ""
                guard let node = instance.metaids[metaIdRef] else { throw error(.invalid, ref, "\(modelName) has no element with the metaid `\(metaIdRef)`") }
                target = (instance, node)
            }
            guard let nested = ref.children.first(where: { $0.name == "sBaseRef" && isCompElement($0) }) else { return target }
            guard target.node.name == "submodel", isCompElement(target.node), let id = ownID(target.node),
                  let next = target.instance.children[id] else {
                throw error(.invalid, ref, "refers to <\(target.node.name)>\(ownID(target.node).map { " `\($0)`" } ?? ""), not a submodel, yet holds an <sBaseRef> into it")
            }
            instance = next
            ref = nested
        }
    }

    /// Records that `reference` points at `target`: an element may be deleted or replaced once only,
    /// though several replacedBy may point at one element (libSBML's rule).
    func claim(_ target: Key, by reference: XMLNode) throws(SBMLError) {
        if let other = claims[target], !(other.name == "replacedBy" && reference.name == "replacedBy") {
            throw error(.invalid, reference, "points at \(describe(target)), which the <\(other.name)> at line \(other.line) already deletes or replaces")
        }
        claims[target] = reference
    }

    func describe(_ k: Key) -> String {
        guard let node = nodes[k]?.node else { return "an element" }
        return "<\(node.name)>" + (ownID(node).map { " `\($0)`" } ?? "")
    }

    /// True when the element or one of its ancestors is deleted (or its instance is).
    func isGone(_ instance: Instance, _ node: XMLNode) -> Bool {
        if !instance.live { return true }
        var current: XMLNode? = node
        while let n = current, n !== instance.model {
            if deleted.contains(Key(instance: instance.number, node: ObjectIdentifier(n))) { return true }
            current = n.parent
        }
        return false
    }

    /// Deletions, in the instances' depth-first order: a deletion only reaches below its own model, so
    /// whether an instance is itself deleted (its submodel, or one above) is known when its turn comes.
    func collectDeletions() throws(SBMLError) {
        for instance in instances {
            instance.live = (instance.parent?.live ?? true) && !isDeleted(instance)
            guard instance.live else { continue }
            for s in instance.submodels {
                guard let id = ownID(s), let child = instance.children[id] else { continue }
                for list in s.children where list.name == "listOfDeletions" && isCompElement(list) {
                    for d in list.children where d.name == "deletion" && isCompElement(d) {
                        let target = try resolve(d, in: child)
                        let k = key(target.instance, target.node)
                        try claim(k, by: d)
                        deleted.insert(k)
                    }
                }
            }
        }
    }

    func collectReplacements() throws(SBMLError) {
        for instance in instances where instance.live {
            for (owner, reference) in instance.replacements {
                if isGone(instance, owner) { continue }
                if deleted.contains(key(instance, reference)) { continue }
                guard let submodelRef = comp(reference, "submodelRef") else {
                    throw error(.malformed, reference, "<\(reference.name)> without a `submodelRef`")
                }
                guard let child = instance.children[submodelRef] else {
                    throw error(.invalid, reference, "no submodel `\(submodelRef)` in this model")
                }
                // A replacedElement naming a deletion says that the replacing element takes the place of
                // something deleted: the deletion does it all.
                if reference.name == "replacedElement", comp(reference, "deletion") != nil { continue }
                if isCompElement(owner) {
                    throw error(.unsupported, reference, "a <\(owner.name)> that replaces or is replaced by another element")
                }
                let target = try resolve(reference, in: child)
                if isGone(target.instance, target.node) {
                    throw error(.invalid, reference, "points at <\(target.node.name)>\(ownID(target.node).map { " `\($0)`" } ?? ""), which is deleted")
                }
                if isCompElement(target.node) {
                    throw error(.unsupported, reference, "replacing a <\(target.node.name)>\(ownID(target.node).map { " `\($0)`" } ?? "") (only model components can be replaced)")
                }
                if isLocalParameter(owner) {
                    throw error(.unsupported, reference, "a local parameter that replaces or is replaced by another element")
                }
                let targetKey = key(target.instance, target.node)
                let ownerKey = key(instance, owner)
                try claim(targetKey, by: reference)
                if reference.name == "replacedBy" {
                    if target.node["id"] == nil && owner["id"] != nil {
                        throw error(.invalid, reference, "the element that replaces `\(owner["id"] ?? "")` has no id to take its name")
                    }
                    replacedByOwners.insert(ownerKey)
                    links.append(Link(owner: ownerKey, target: targetKey, replacedBy: true, factor: nil, reference: reference))
                } else {
                    if target.node["id"] != nil && owner["id"] == nil {
                        throw error(.invalid, reference, "replaces `\(target.node["id"] ?? "")` but has no id of its own to be referred to by")
                    }
                    replacedTargets.insert(targetKey)
                    let factor = comp(reference, "conversionFactor").map { Factor(id: $0, instance: instance, at: reference) }
                    links.append(Link(owner: ownerKey, target: targetKey, replacedBy: false, factor: factor, reference: reference))
                }
            }
        }
        // An element replaced by another cannot be deleted or replaced itself (libSBML's rule).
        for link in links where link.replacedBy {
            if let other = claims[link.owner] {
                throw error(.invalid, link.reference, "\(describe(link.owner)) is replaced by another element and also deleted or replaced by the <\(other.name)> at line \(other.line)")
            }
        }
    }

    /// Groups linked elements into identities. The topmost element names the group; the survivor is
    /// the one element that neither holds a replacedBy nor is the target of a replacedElement; each
    /// element's factors multiply the conversion factors on the path down from the topmost one.
    func resolveIdentities() throws(SBMLError) {
        var adjacency: [Key: [Int]] = [:]
        for (i, link) in links.enumerated() {
            adjacency[link.owner, default: []].append(i)
            adjacency[link.target, default: []].append(i)
        }
        for start in links.map(\.owner) where identities[start] == nil {
            var members: [Key] = [start]
            var seen: Set<Key> = [start]
            var next = 0
            while next < members.count {
                let k = members[next]
                next += 1
                for i in adjacency[k] ?? [] {
                    let other = links[i].owner == k ? links[i].target : links[i].owner
                    if seen.insert(other).inserted { members.append(other) }
                }
            }
            let depth = { (k: Key) -> Int in self.nodes[k]?.instance.depth ?? 0 }
            let top = members.map(depth).min() ?? 0
            let tops = members.filter { depth($0) == top }
            let reference = links[adjacency[start]?.first ?? 0].reference
            guard tops.count == 1 else {
                throw error(.unsupported, reference, "replacements merge \(tops.map(describe).joined(separator: " and ")), elements of one model, into one element")
            }
            let name = tops[0]
            var factors: [Key: [Factor]] = [name: []]
            var queue = [name]
            next = 0
            while next < queue.count {
                let k = queue[next]
                next += 1
                let mine = factors[k] ?? []
                for i in adjacency[k] ?? [] {
                    let link = links[i]
                    if link.owner == k, factors[link.target] == nil {
                        factors[link.target] = mine + (link.factor.map { [$0] } ?? [])
                        queue.append(link.target)
                    } else if link.target == k, factors[link.owner] == nil {
                        // Up to the holder of a replacement: the conversion would have to be inverted.
                        guard link.factor == nil else {
                            throw error(.unsupported, link.reference, "a conversion factor on a replacement reached from below in a chain of replacements")
                        }
                        factors[link.owner] = mine
                        queue.append(link.owner)
                    }
                }
            }
            let survivors = members.filter { !replacedByOwners.contains($0) && !replacedTargets.contains($0) }
            guard survivors.count == 1, let survivor = survivors.first else {
                throw error(.invalid, reference, "the replacements linking \(members.map(describe).joined(separator: ", ")) leave \(survivors.count) of them in place, not one")
            }
            if let node = nodes[survivor]?.node, isLocalParameter(node), survivor != name {
                throw error(.unsupported, reference, "local parameter `\(node["id"] ?? "")` taking the place of \(describe(name))")
            }
            for m in members { identities[m] = Identity(name: name, survivor: survivor, factors: factors[m] ?? []) }
        }
        // A survivor inside an element that is itself left out would vanish with it, and every
        // reference to its identity with it.
        for (k, identity) in identities where k == identity.survivor {
            guard let (instance, node) = nodes[k] else { continue }
            var ancestor = node.parent
            while let a = ancestor, a !== instance.model {
                let ak = Key(instance: instance.number, node: ObjectIdentifier(a))
                if isLeftOut(ak) {
                    throw error(.unsupported, claims[k] ?? node, "\(describe(k)) takes the place of replaced elements, but sits inside \(describe(ak)), which is itself replaced or deleted")
                }
                ancestor = a.parent
            }
        }
    }

    /// The flat model's id of an element: its identity's name, or its own id with its prefix.
    func finalName(_ k: Key) -> String? {
        guard let (instance, node) = nodes[identities[k]?.name ?? k] else { return nil }
        return ownID(node).map { instance.prefix + $0 }
    }

    func isLeftOut(_ k: Key) -> Bool {
        if deleted.contains(k) { return true }
        guard let identity = identities[k] else { return false }
        return identity.survivor != k
    }

    // MARK: names in math and attributes

    /// The flat id an SId of `instance` stands for, with the factors that divide it there.
    func name(_ id: String, in instance: Instance) -> (name: String, factors: [Factor], target: Key?) {
        guard let node = instance.sids[id] else { return (instance.prefix + id, [], nil) }
        return name(of: key(instance, node), id: id, in: instance)
    }

    func name(of k: Key, id: String, in instance: Instance) -> (name: String, factors: [Factor], target: Key?) {
        guard let identity = identities[k] else { return (instance.prefix + id, [], k) }
        return (finalName(k) ?? instance.prefix + id, identity.factors, k)
    }

    func unitName(_ id: String, in instance: Instance) -> String {
        guard let node = instance.units[id] else { return id }
        return finalName(key(instance, node)) ?? instance.prefix + id
    }

    /// A reference to the SId `id` of `instance` as content MathML: the flat id, divided by the
    /// conversion factors of the replacements it went through.
    func reference(_ id: String, in instance: Instance, at node: XMLNode) throws(SBMLError) -> XMLNode {
        let resolved = name(id, in: instance)
        let ci = element("ci", text: " \(resolved.name) ", line: node.line)
        return resolved.factors.isEmpty ? ci : apply("divide", [ci, try product(resolved.factors, line: node.line)], line: node.line)
    }

    /// The product of conversion factors as content MathML.
    func product(_ factors: [Factor], line: Int) throws(SBMLError) -> XMLNode {
        factorDepth += 1
        defer { factorDepth -= 1 }
        if factorDepth > 32, let first = factors.first {
            throw error(.invalid, first.at, "conversion factors are converted by each other in a cycle")
        }
        var terms: [XMLNode] = []
        for f in factors { terms.append(try reference(f.id, in: f.instance, at: f.at)) }
        return terms.count == 1 ? terms[0] : apply("times", terms, line: line)
    }

    // MARK: conversion factors of submodels

    func conversionFactors(_ instance: Instance) throws(SBMLError) {
        guard let parent = instance.parent, let s = instance.submodel else { return }
        instance.timeFactor = parent.timeFactor.map { copyTree($0) }
        instance.extentFactor = parent.extentFactor.map { copyTree($0) }
        if let t = comp(s, "timeConversionFactor") {
            let factor = try reference(t, in: parent, at: s)
            instance.timeFactor = instance.timeFactor.map { apply("times", [$0, factor], line: s.line) } ?? factor
        }
        if let x = comp(s, "extentConversionFactor") {
            let factor = try reference(x, in: parent, at: s)
            instance.extentFactor = instance.extentFactor.map { apply("times", [$0, factor], line: s.line) } ?? factor
        }
        switch (instance.extentFactor, instance.timeFactor) {
        case (nil, nil): instance.lawFactor = nil
        case (let x?, nil): instance.lawFactor = x
        case (let x?, let t?): instance.lawFactor = apply("divide", [copyTree(x), copyTree(t)], line: s.line)
        case (nil, let t?): instance.lawFactor = apply("divide", [element("cn", text: " 1 ", attributes: ["type": "integer"], line: s.line), copyTree(t)], line: s.line)
        }
    }

    // MARK: building XML

    func element(_ name: String, text: String = "", attributes: [String: String] = [:], children: [XMLNode] = [], line: Int,
                 namespace: String = mathMLNamespace) -> XMLNode {
        let node = XMLNode(name: name, namespace: namespace, attributes: attributes, line: line)
        node.text = text
        for c in children { c.parent = node }
        node.children = children
        return node
    }

    func apply(_ op: String, _ arguments: [XMLNode], line: Int) -> XMLNode {
        element("apply", children: [element(op, line: line)] + arguments, line: line)
    }

    /// A deep copy (a node belongs to one parent).
    func copyTree(_ node: XMLNode) -> XMLNode {
        let copy = XMLNode(name: node.name, namespace: node.namespace, attributes: node.attributes, line: node.line, column: node.column)
        copy.text = node.text
        copy.namespaces = node.namespaces
        copy.file = node.file
        copy.children = node.children.map { c in
            let child = copyTree(c)
            child.parent = copy
            return child
        }
        return copy
    }

    /// A copy of an element's own data (not its children) in the main document's core namespace.
    func shallowCopy(_ node: XMLNode, in instance: Instance, attributes: [String: String]) -> XMLNode {
        let namespace = node.namespace == instance.document.core ? main.core : node.namespace
        let copy = XMLNode(name: node.name, namespace: namespace, attributes: attributes, line: node.line, column: node.column)
        copy.text = node.text
        copy.namespaces = node.namespaces
        copy.file = node.file
        return copy
    }

    // MARK: emission

    /// The flat document: the top model's attributes and lists, then each live instance's elements in
    /// depth-first order (simultaneous events keep the order libSBML gives them).
    func emit(_ top: Instance) throws(SBMLError) -> XMLNode {
        let root = main.root
        let sbml = shallowCopy(root, in: top, attributes: root.attributes.filter { !isCompAttribute(root, $0.key) })
        let model = shallowCopy(top.model, in: top, attributes: try attributes(of: top.model, in: top))
        var lists: [String: XMLNode] = [:]
        var extras: [XMLNode] = []
        func add(_ instance: Instance) throws(SBMLError) {
            for child in instance.model.children where !isCompElement(child) {
                if child.namespace == instance.document.core && child.name.hasPrefix("listOf") {
                    let list: XMLNode
                    if let known = lists[child.name] {
                        list = known
                    } else {
                        list = shallowCopy(child, in: instance, attributes: [:])
                        list.parent = model
                        model.children.append(list)
                        lists[child.name] = list
                    }
                    for e in child.children {
                        guard let copy = try copyElement(e, in: instance, scope: Scope()) else { continue }
                        copy.parent = list
                        list.children.append(copy)
                    }
                } else if instance === top {
                    let copy = copyTree(child)
                    copy.parent = model
                    model.children.append(copy)
                } else if child.name != "notes" && child.name != "annotation" {
                    // A package the importer refuses, kept so that it does.
                    extras.append(copyTree(child))
                }
            }
            for child in instance.ordered where child.live { try add(child) }
        }
        try add(top)
        for e in extras {
            e.parent = model
            model.children.append(e)
        }
        model.parent = sbml
        sbml.children = [model]
        for child in root.children where child.name != "model" && !isCompElement(child) {
            let copy = copyTree(child)
            copy.parent = sbml
            sbml.children.append(copy)
        }
        return sbml
    }

    /// An element's attributes in the flat model: comp attributes dropped, ids prefixed (or renamed to
    /// what replaced them), references to ids and units renamed the same way.
    func attributes(of node: XMLNode, in instance: Instance) throws(SBMLError) -> [String: String] {
        var result: [String: String] = [:]
        for (attribute, value) in node.attributes where !isCompAttribute(node, attribute) {
            switch attribute {
            case "id":
                if isLocalParameter(node) || node === instance.model {
                    result[attribute] = value
                } else if node.name == "unitDefinition" {
                    result[attribute] = unitName(value, in: instance)
                } else {
                    result[attribute] = finalName(key(instance, node)) ?? instance.prefix + value
                }
            case "metaid":
                result[attribute] = instance.prefix + value
            case _ where sidReferences.contains(attribute):
                let resolved = name(value, in: instance)
                if !resolved.factors.isEmpty && attribute == "conversionFactor" {
                    throw error(.unsupported, node, "conversion factor `\(value)` is itself replaced with a conversion factor")
                }
                result[attribute] = resolved.name
            case _ where unitReferences.contains(attribute):
                result[attribute] = unitName(value, in: instance)
            default:
                result[attribute] = value
            }
        }
        return result
    }

    /// The flat copy of an element of `instance`, or nil when it is deleted, replaced or a comp element.
    func copyElement(_ node: XMLNode, in instance: Instance, scope: Scope, level: Int = 1) throws(SBMLError) -> XMLNode? {
        if isCompElement(node) { return nil }
        // SBML components nest a few levels; anything deeper (another package's content, which the
        // importer refuses) is copied as it is, by the leanest recursion.
        if node.name == "annotation" || node.name == "notes" || level > 16 { return copyTree(node) }
        let k = key(instance, node)
        if deleted.contains(k) { return nil }
        if isLeftOut(k) { return nil }
        var attributes = try attributes(of: node, in: instance)
        if node.name == "species", instance.parent != nil, node["conversionFactor"] == nil {
            try speciesConversionFactor(node, in: instance, attributes: &attributes)
        }
        let copy = shallowCopy(node, in: instance, attributes: attributes)

        var scope = scope
        if node.name == "kineticLaw" {
            for list in node.children where list.name == "listOfLocalParameters" || list.name == "listOfParameters" {
                for p in list.children {
                    guard let id = p["id"] else { continue }
                    let k = key(instance, p)
                    if deleted.contains(k) { continue }
                    // A deleted local parameter no longer hides the model's id; a replaced one is renamed.
                    if isLeftOut(k) { scope.replaced[id] = k } else { scope.locals.insert(id) }
                }
            }
        }
        for child in node.children {
            if child.name == "math" && child.namespace == mathMLNamespace {
                let math = try transformMath(child, of: node, in: instance, scope: scope)
                math.parent = copy
                copy.children.append(math)
            } else if let c = try copyElement(child, in: instance, scope: scope, level: level + 1) {
                c.parent = copy
                copy.children.append(c)
            }
        }
        return copy
    }

    /// A species of a submodel without a conversion factor of its own takes its model's; the top
    /// model's would apply to it in the flat model, which ketasim cannot undo, so that is refused.
    func speciesConversionFactor(_ node: XMLNode, in instance: Instance, attributes: inout [String: String]) throws(SBMLError) {
        if let cf = instance.model["conversionFactor"] {
            let resolved = name(cf, in: instance)
            if !resolved.factors.isEmpty {
                throw error(.unsupported, node, "the model's conversion factor `\(cf)` is replaced with a conversion factor")
            }
            attributes["conversionFactor"] = resolved.name
        } else if main.root.child("model")?["conversionFactor"] != nil {
            throw error(.unsupported, node, "the top model's conversionFactor would apply to this species of a submodel, whose model has none")
        }
    }

    /// The `<math>` of `owner` with its names renamed and the conversions of its instance applied.
    func transformMath(_ math: XMLNode, of owner: XMLNode, in instance: Instance, scope: Scope) throws(SBMLError) -> XMLNode {
        var scope = scope
        if owner.name == "functionDefinition" {
            // Lambda arguments are local; a function body cannot be rescaled in time, so refuse that.
            var stack = [math]
            while let n = stack.popLast() {
                if n.name == "bvar", let ci = n.child("ci") { scope.locals.insert(ci.text.trimmingCharacters(in: .whitespacesAndNewlines)) }
                if instance.timeFactor != nil, n.name == "csymbol", [timeURL, delayURL, rateOfURL].contains(n["definitionURL"] ?? "") {
                    throw error(.unsupported, owner, "a function definition that uses the \(n.text.trimmingCharacters(in: .whitespaces)) csymbol in a submodel with a time conversion factor")
                }
                stack.append(contentsOf: n.children)
            }
        }
        let copy = shallowCopy(math, in: instance, attributes: math.attributes)
        for child in math.children {
            var content: XMLNode
            if child.name == "annotation" || child.name == "annotation-xml" {
                content = copyTree(child)
            } else {
                content = try transform(child, in: instance, scope: scope, owner: owner)
                content = try scaled(content, of: owner, in: instance)
            }
            content.parent = copy
            copy.children.append(content)
        }
        return copy
    }

    /// What the element's math becomes: assignments to a replaced element with a conversion factor
    /// are multiplied by it; time conversion divides rate rules and multiplies delays; kinetic laws
    /// are multiplied by extent / time.
    func scaled(_ content: XMLNode, of owner: XMLNode, in instance: Instance) throws(SBMLError) -> XMLNode {
        var content = content
        let line = content.line
        switch owner.name {
        case "assignmentRule", "rateRule", "initialAssignment", "eventAssignment":
            let target = owner["variable"] ?? owner["symbol"] ?? ""
            let resolved = name(target, in: instance)
            if !resolved.factors.isEmpty {
                content = apply("times", [content, try product(resolved.factors, line: line)], line: line)
            }
            if owner.name == "rateRule", let t = instance.timeFactor {
                content = apply("divide", [content, copyTree(t)], line: line)
            }
        case "kineticLaw":
            if let f = instance.lawFactor { content = apply("times", [copyTree(f), content], line: line) }
        case "delay":
            if let t = instance.timeFactor { content = apply("times", [copyTree(t), content], line: line) }
        default:
            break
        }
        return content
    }

    /// Content MathML with the names of `instance` renamed, replaced names divided by their conversion
    /// factors, `time` divided by the time conversion factor and reaction rates by the kinetic laws'.
    func transform(_ node: XMLNode, in instance: Instance, scope: Scope, owner: XMLNode, level: Int = 1) throws(SBMLError) -> XMLNode {
        // Deeper math would be refused when it is read: refused here already, with the same words.
        if level > MathML.maximumDepth {
            throw error(.unsupported, owner, "the math nests deeper than \(MathML.maximumDepth) levels, ketasim's limit; define parts of it as assignment rules or parameters")
        }
        switch node.name {
        case "ci":
            let id = node.text.trimmingCharacters(in: .whitespacesAndNewlines)
            if scope.locals.contains(id) { return copyTree(node) }
            let resolved = scope.replaced[id].map { name(of: $0, id: id, in: instance) } ?? name(id, in: instance)
            let ci = shallowCopy(node, in: instance, attributes: node.attributes)
            ci.text = " \(resolved.name) "
            var result = ci
            if !resolved.factors.isEmpty {
                result = apply("divide", [result, try product(resolved.factors, line: node.line)], line: node.line)
            }
            if let law = instance.lawFactor, let target = resolved.target, nodes[target]?.node.name == "reaction" {
                // A reaction's rate is read in its submodel's units, unless a replacedElement from above
                // took its place: its references then read the replacement as it is (libSBML; Test
                // Suite cases 1182 and 1183, where a conversionFactor does the conversion instead).
                if !replacedTargets.contains(target) {
                    result = apply("divide", [result, copyTree(law)], line: node.line)
                }
            }
            return result
        case "csymbol" where node["definitionURL"] == timeURL:
            let symbol = copyTree(node)
            guard let t = instance.timeFactor else { return symbol }
            return apply("divide", [symbol, copyTree(t)], line: node.line)
        case "apply":
            guard let head = node.children.first else { return copyTree(node) }
            let url = head.name == "csymbol" ? head["definitionURL"] ?? "" : ""
            if url == rateOfURL {
                guard node.children.count == 2, node.children[1].name == "ci" else { return copyTree(node) }
                let id = node.children[1].text.trimmingCharacters(in: .whitespacesAndNewlines)
                if scope.locals.contains(id) { return copyTree(node) }
                let resolved = scope.replaced[id].map { name(of: $0, id: id, in: instance) } ?? name(id, in: instance)
                var result = element("apply", children: [copyTree(head), element("ci", text: " \(resolved.name) ", line: node.line)], line: node.line)
                if !resolved.factors.isEmpty { result = apply("divide", [result, try product(resolved.factors, line: node.line)], line: node.line) }
                // d/dt in the submodel's time is the time factor times d/dt in the top model's.
                if let t = instance.timeFactor { result = apply("times", [copyTree(t), result], line: node.line) }
                return result
            }
            let copy = shallowCopy(node, in: instance, attributes: node.attributes)
            var children: [XMLNode] = []
            if head.name == "ci" {
                // A call of a function definition: renamed, never rescaled.
                let id = head.text.trimmingCharacters(in: .whitespacesAndNewlines)
                let call = copyTree(head)
                if !scope.locals.contains(id) { call.text = " \(name(id, in: instance).name) " }
                children.append(call)
            } else {
                children.append(copyTree(head))
            }
            for c in node.children.dropFirst() { children.append(try transform(c, in: instance, scope: scope, owner: owner, level: level + 1)) }
            if url == delayURL, children.count == 3, let t = instance.timeFactor {
                // delay(x, d): d is a duration in the submodel's time.
                children[2] = apply("times", [copyTree(t), children[2]], line: node.line)
            }
            for c in children { c.parent = copy }
            copy.children = children
            return copy
        case "bvar", "cn":
            return copyTree(node)
        default:
            let copy = shallowCopy(node, in: instance, attributes: node.attributes)
            for c in node.children {
                let t = try transform(c, in: instance, scope: scope, owner: owner, level: level + 1)
                t.parent = copy
                copy.children.append(t)
            }
            return copy
        }
    }
}
