import Foundation

/// A tab-separated table (PEtab's, and ketasim's data tables): a header and rows of cells, each row
/// keeping its line number in the file so that errors can name it.
public struct Table: Sendable {
    public var file: String
    public var columns: [String]
    public var rows: [Row]

    public struct Row: Sendable {
        /// Line in the file (the header is line 1).
        public var line: Int
        public var cells: [String]
    }

    /// Reads a tab-separated file. Blank lines are skipped; a row with more cells than the header is an
    /// error (a stray tab usually means a shifted column), fewer cells are empty ones, as pandas reads them.
    public static func read(_ path: String) throws(PEtabError) -> Table {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw PEtabError(.unreadable, file: path, "cannot read the table: \(error.localizedDescription)")
        }
        return try parse(text, file: path)
    }

    public static func parse(_ text: String, file: String) throws(PEtabError) -> Table {
        // Split on scalars: in Swift "\r\n" is one Character and would hide the line break (the benchmark
        // collection's tables are CRLF); a leading byte-order mark is not part of the first column name.
        var body = Substring(text)
        if body.hasPrefix("\u{FEFF}") { body = body.dropFirst() }
        var lines = body.unicodeScalars.split(separator: "\n", omittingEmptySubsequences: false).map { slice -> String in
            var s = String(String.UnicodeScalarView(slice))
            if s.hasSuffix("\r") { s.removeLast() }
            return s
        }
        while let last = lines.last, last.trimmingCharacters(in: .whitespaces).isEmpty { lines.removeLast() }
        guard let header = lines.first, !header.isEmpty else { throw PEtabError(.invalid, file: file, row: 1, "the table has no header") }
        let columns = header.split(separator: "\t", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        var seen: Set<String> = []
        for c in columns {
            if c.isEmpty { throw PEtabError(.invalid, file: file, row: 1, "the header has an empty column name") }
            if !seen.insert(c).inserted { throw PEtabError(.invalid, file: file, row: 1, column: c, "the column appears twice") }
        }
        var rows: [Row] = []
        for (k, line) in lines.enumerated().dropFirst() {
            if line.trimmingCharacters(in: .whitespaces).isEmpty { continue }
            var cells = line.split(separator: "\t", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            if cells.count > columns.count {
                throw PEtabError(.invalid, file: file, row: k + 1, "the row has \(cells.count) cells but the header names \(columns.count) columns")
            }
            while cells.count < columns.count { cells.append("") }
            rows.append(Row(line: k + 1, cells: cells))
        }
        return Table(file: file, columns: columns, rows: rows)
    }

    public func index(_ column: String) -> Int? { columns.firstIndex(of: column) }

    /// Index of a column the specification requires.
    public func required(_ column: String) throws(PEtabError) -> Int {
        guard let i = index(column) else {
            throw PEtabError(.invalid, file: file, row: 1, "the required column `\(column)` is missing (columns: \(columns.joined(separator: ", ")))")
        }
        return i
    }

    public func cell(_ row: Row, _ column: Int?) -> String {
        guard let column else { return "" }
        return row.cells[column]
    }

    /// A number in a cell; `inf`, `-inf` and `nan` in any case, as pandas reads them.
    public func number(_ row: Row, _ column: Int, allowEmpty: Double? = nil) throws(PEtabError) -> Double {
        let text = row.cells[column]
        if text.isEmpty, let fallback = allowEmpty { return fallback }
        guard let v = parseNumber(text) else {
            throw PEtabError(.invalid, file: file, row: row.line, column: columns[column], "`\(text)` is not a number")
        }
        return v
    }
}

/// A PEtab number: decimal, or inf / -inf / nan in any case.
public func parseNumber(_ text: String) -> Double? {
    switch text.lowercased() {
    case "inf", "+inf", "infinity": return .infinity
    case "-inf", "-infinity": return -.infinity
    case "nan": return .nan
    default: return Double(text)
    }
}
