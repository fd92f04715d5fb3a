import Foundation
import Models
#if canImport(FoundationXML)
import FoundationXML
#endif

/// One XML element with its children; SBML documents are small enough to hold whole, and a tree is
/// far simpler to translate than SAX callbacks.
final class XMLNode {
    /// Local name (namespace prefix removed).
    let name: String
    let namespace: String
    let attributes: [String: String]
    let line: Int
    var children: [XMLNode] = []
    var text = ""
    weak var parent: XMLNode?

    /// 0 when unknown.
    let column: Int
    /// Namespace prefixes in scope at this element (prefix -> URI, "" for the default one). Attributes
    /// keep their prefixed names (`comp:id`), and a document may choose any prefix for a package.
    var namespaces: [String: String] = [:]
    /// The document this element was read from when it is not the one being imported (an external
    /// model definition of the `comp` package), so errors name the file its line is in.
    var file: String?

    init(name: String, namespace: String, attributes: [String: String], line: Int, column: Int = 0) {
        self.name = name
        self.namespace = namespace
        self.attributes = attributes
        self.line = line
        self.column = column
    }

    /// Releases the subtree with an explicit stack: the default release recurses once per level,
    /// and a 50,000-deep document overflowed the stack there, after it had been read.
    deinit {
        var pending = children
        children = []
        while var node = pending.popLast() {
            // Only a node nobody else holds is released here; its children move to the stack first.
            if isKnownUniquelyReferenced(&node) {
                pending.append(contentsOf: node.children)
                node.children = []
            }
        }
    }

    /// The deepest element nesting read. SBML needs about 10 levels, MathML a few hundred more
    /// (`MathML.maximumDepth`); 2,000 leaves room for annotations while keeping every recursive walk
    /// of the tree far from the stack's end.
    static let maximumDepth = 2_000

    func child(_ name: String) -> XMLNode? { children.first { $0.name == name } }
    func children(_ name: String) -> [XMLNode] { children.filter { $0.name == name } }
    /// Children of the `listOf...` wrapper, or nothing when it is absent.
    func list(_ wrapper: String, _ name: String) -> [XMLNode] { child(wrapper)?.children(name) ?? [] }
    subscript(attribute: String) -> String? { attributes[attribute] }
    var id: String? { attributes["id"] }

    static func parse(data: Data, file: String) throws(SBMLError) -> XMLNode {
        // SBML must be UTF-8. Checked here because Foundation's XMLParser traps (rather than
        // reporting an error) on an element or attribute name that is not valid UTF-8, as fuzzing found.
        if let (line, column, byte) = ModelLoader.firstNonText(data) {
            throw SBMLError(.malformed, file: file, line: line, column: column, element: "xml",
                            message: String(format: "byte 0x%02X is not UTF-8 text; SBML documents are UTF-8", byte))
        }
        if let (line, column, target) = emptyProcessingInstruction(data) {
            throw SBMLError(.malformed, file: file, line: line, column: column, element: "xml",
                            message: "the processing instruction `<?\(target)?>` has no data, which ketasim's XML reader cannot take; remove it")
        }
        let parser = XMLParser(data: data)
        parser.shouldProcessNamespaces = true
        parser.shouldReportNamespacePrefixes = true
        let builder = TreeBuilder()
        parser.delegate = builder
        let ok = parser.parse()
        if let deep = builder.tooDeep {
            throw SBMLError(.malformed, file: file, line: deep.line, column: deep.column, element: deep.name,
                            message: "elements nest deeper than \(maximumDepth) levels, ketasim's limit")
        }
        if ok, let open = builder.stack.last {
            throw SBMLError(.malformed, file: file, line: parser.lineNumber, element: open.name, message: "the document ends before <\(open.name)> is closed")
        }
        guard ok, let root = builder.root else {
            let reason = parser.parserError.map { "\($0.localizedDescription)" } ?? "no root element"
            throw SBMLError(.malformed, file: file, line: parser.lineNumber, element: "xml", message: "the XML could not be parsed (\(reason))")
        }
        return root
    }
}

extension XMLNode {
    /// Line, column and target of the first `<?target?>` with nothing after the target: Foundation's
    /// XMLParser reads a null pointer for its data and crashes (found by fuzzing). SBML has no use for
    /// processing instructions; one inside a comment is refused too, which costs nothing real.
    static func emptyProcessingInstruction(_ data: Data) -> (line: Int, column: Int, target: String)? {
        let bytes = [UInt8](data)
        var line = 1, lineStart = 0
        var i = 0
        func isSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D }
        while i + 1 < bytes.count {
            if bytes[i] == 0x0A { line += 1; lineStart = i + 1 }
            guard bytes[i] == 0x3C, bytes[i + 1] == 0x3F else { i += 1; continue }  // "<?"
            var j = i + 2
            while j < bytes.count, !isSpace(bytes[j]), bytes[j] != 0x3F { j += 1 }
            let target = String(decoding: bytes[(i + 2)..<j], as: UTF8.self)
            var k = j
            while k < bytes.count, isSpace(bytes[k]) { k += 1 }
            if k + 1 < bytes.count, bytes[k] == 0x3F, bytes[k + 1] == 0x3E {  // "?>"
                let column = String(decoding: bytes[lineStart..<i], as: UTF8.self).unicodeScalars.count + 1
                return (line, column, target)
            }
            i += 2
        }
        return nil
    }
}

private final class TreeBuilder: NSObject, XMLParserDelegate {
    var root: XMLNode?
    var stack: [XMLNode] = []
    /// The first element beyond `XMLNode.maximumDepth`; parsing stops there.
    var tooDeep: (name: String, line: Int, column: Int)?
    /// Prefixes declared on the element about to start.
    var declared: [String: String] = [:]

    func parser(_ parser: XMLParser, didStartMappingPrefix prefix: String, toURI namespaceURI: String) {
        declared[prefix] = namespaceURI
    }

    func parser(_ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?,
                qualifiedName qName: String?, attributes attributeDict: [String: String] = [:]) {
        guard tooDeep == nil else { return }
        guard stack.count < XMLNode.maximumDepth else {
            tooDeep = (elementName, parser.lineNumber, parser.columnNumber)
            parser.abortParsing()
            return
        }
        // Keep attributes by local name too: SBML core attributes are unprefixed, package ones are not.
        let node = XMLNode(name: elementName, namespace: namespaceURI ?? "", attributes: attributeDict, line: parser.lineNumber,
                           column: parser.columnNumber)
        node.parent = stack.last
        // Shared with the parent (copy on write) unless this element declares prefixes of its own.
        node.namespaces = stack.last?.namespaces ?? [:]
        if !declared.isEmpty {
            node.namespaces.merge(declared) { $1 }
            declared = [:]
        }
        if let parent = stack.last { parent.children.append(node) } else { root = node }
        stack.append(node)
    }

    func parser(_ parser: XMLParser, didEndElement elementName: String, namespaceURI: String?, qualifiedName qName: String?) {
        guard tooDeep == nil else { return }
        _ = stack.popLast()
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) {
        stack.last?.text += string
    }
}
