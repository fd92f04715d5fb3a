import Foundation
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

    init(name: String, namespace: String, attributes: [String: String], line: Int) {
        self.name = name
        self.namespace = namespace
        self.attributes = attributes
        self.line = line
    }

    func child(_ name: String) -> XMLNode? { children.first { $0.name == name } }
    func children(_ name: String) -> [XMLNode] { children.filter { $0.name == name } }
    /// Children of the `listOf...` wrapper, or nothing when it is absent.
    func list(_ wrapper: String, _ name: String) -> [XMLNode] { child(wrapper)?.children(name) ?? [] }
    subscript(attribute: String) -> String? { attributes[attribute] }
    var id: String? { attributes["id"] }

    static func parse(data: Data, file: String) throws(SBMLError) -> XMLNode {
        let parser = XMLParser(data: data)
        parser.shouldProcessNamespaces = true
        let builder = TreeBuilder()
        parser.delegate = builder
        let ok = parser.parse()
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

private final class TreeBuilder: NSObject, XMLParserDelegate {
    var root: XMLNode?
    var stack: [XMLNode] = []

    func parser(_ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?,
                qualifiedName qName: String?, attributes attributeDict: [String: String] = [:]) {
        // Keep attributes by local name too: SBML core attributes are unprefixed, package ones are not.
        let node = XMLNode(name: elementName, namespace: namespaceURI ?? "", attributes: attributeDict, line: parser.lineNumber)
        node.parent = stack.last
        if let parent = stack.last { parent.children.append(node) } else { root = node }
        stack.append(node)
    }

    func parser(_ parser: XMLParser, didEndElement elementName: String, namespaceURI: String?, qualifiedName qName: String?) {
        _ = stack.popLast()
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) {
        stack.last?.text += string
    }
}
