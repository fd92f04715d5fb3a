/// Why a PEtab problem cannot be read or evaluated. Prints as one sentence that names the file, and
/// the row (line number in the file, the header being line 1) and column when the problem sits in a
/// table cell, so the user can go straight to it.
public struct PEtabError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable, Equatable {
        /// A file cannot be read.
        case unreadable
        /// A file breaks the PEtab v1 specification (missing column, bad number, unknown id...).
        case invalid
        /// Valid PEtab that ketasim does not handle yet (PEtab v2, mapping tables, priors, ...).
        case unsupported
        /// The model cannot be imported or simulated for a condition.
        case simulation
    }

    public var kind: Kind
    public var file: String
    /// Line in the file (1 is a table's header); nil for the whole file.
    public var row: Int?
    /// Column name of a table; nil for the whole row or file.
    public var column: String?
    public var message: String

    public init(_ kind: Kind, file: String, row: Int? = nil, column: String? = nil, _ message: String) {
        self.kind = kind
        self.file = file
        self.row = row
        self.column = column
        self.message = message
    }

    public var description: String {
        var place = file
        if let row { place += ":\(row)" }
        if let column { place += ": column `\(column)`" }
        let prefix = kind == .unsupported ? "not supported: " : ""
        return "\(place): \(prefix)\(message)"
    }
}
