/// Why an SBML document could not be imported or simulated. Prints as one sentence naming the file,
/// the line, the element and its id, so the user can find the offending part of the document.
public struct SBMLError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable, Equatable {
        /// The file could not be read.
        case unreadable
        /// Not well-formed XML, or not SBML.
        case malformed
        /// Valid SBML outside the subset ketasim imports (algebraic rules, delays, packages...).
        case unsupported
        /// Inconsistent SBML: unknown ids, cycles, missing required values.
        case invalid
    }

    public var kind: Kind
    public var file: String
    /// 0 when unknown.
    public var line: Int
    /// 0 when unknown; most errors name an element, which its line finds.
    public var column: Int
    /// The SBML element, e.g. `event` or `kineticLaw`.
    public var element: String
    /// Its id, when it has one.
    public var id: String?
    public var message: String

    public init(_ kind: Kind, file: String, line: Int, column: Int = 0, element: String, id: String? = nil, message: String) {
        self.kind = kind
        self.file = file
        self.line = line
        self.column = column
        self.element = element
        self.id = id
        self.message = message
    }

    public var description: String {
        let place = column > 0 ? "\(file):\(line):\(column)" : "\(file):\(line)"
        let what = id.map { "<\(element) id=\"\($0)\">" } ?? "<\(element)>"
        switch kind {
        case .unreadable: return "\(place): error: cannot read SBML file: \(message)"
        case .malformed: return "\(place): error: \(what): malformed SBML: \(message)"
        case .unsupported: return "\(place): error: \(what): not supported by ketasim's SBML import: \(message)"
        case .invalid: return "\(place): error: \(what): \(message)"
        }
    }
}
