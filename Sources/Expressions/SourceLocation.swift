public struct SourceLocation: Sendable, Hashable, CustomStringConvertible {
    public var file: String
    /// 1-based.
    public var line: Int
    /// 1-based, counted in Unicode scalars.
    public var column: Int

    public init(file: String, line: Int, column: Int) {
        self.file = file
        self.line = line
        self.column = column
    }

    public var description: String { "\(file):\(line):\(column)" }

    /// Used for errors raised outside any source text (compiled programs, the reference evaluator).
    static let compiled = SourceLocation(file: "<compiled>", line: 0, column: 0)
}

public enum ExpressionError: Error, Sendable, Equatable, CustomStringConvertible {
    case syntax(message: String, location: SourceLocation, sourceLine: String)
    case unknownSymbol(name: String, suggestions: [String], location: SourceLocation, sourceLine: String)
    /// `expected` is a phrase such as "3 arguments (x, K, n)" so the description reads naturally.
    case arity(function: String, expected: String, got: Int, location: SourceLocation, sourceLine: String)
    case unknownFunction(name: String, suggestions: [String], location: SourceLocation, sourceLine: String)

    public var location: SourceLocation {
        switch self {
        case .syntax(_, let location, _), .unknownSymbol(_, _, let location, _),
             .arity(_, _, _, let location, _), .unknownFunction(_, _, let location, _):
            return location
        }
    }

    public var sourceLine: String {
        switch self {
        case .syntax(_, _, let line), .unknownSymbol(_, _, _, let line),
             .arity(_, _, _, _, let line), .unknownFunction(_, _, _, let line):
            return line
        }
    }

    /// The one-sentence message without location or source excerpt.
    public var message: String {
        switch self {
        case .syntax(let message, _, _):
            return message
        case .unknownSymbol(let name, let suggestions, _, _):
            return "unknown symbol `\(name)`" + Self.didYouMean(suggestions)
        case .arity(let function, let expected, let got, _, _):
            return "`\(function)` takes \(expected), got \(got)"
        case .unknownFunction(let name, let suggestions, _, _):
            return "unknown function `\(name)`" + Self.didYouMean(suggestions)
        }
    }

    public var description: String {
        let location = self.location
        var text = "\(location.file):\(location.line):\(location.column): error: \(message)"
        // Errors from compiled programs have no source text; an empty excerpt plus caret would only confuse.
        let line = sourceLine
        if !line.isEmpty {
            text += "\n" + SourceExcerpt.render(line: line, column: location.column)
        }
        return text
    }

    private static func didYouMean(_ suggestions: [String]) -> String {
        let quoted = suggestions.map { "`\($0)`" }
        switch quoted.count {
        case 0: return ""
        case 1: return "; did you mean \(quoted[0])?"
        default: return "; did you mean \(quoted.dropLast().joined(separator: ", ")) or \(quoted[quoted.count - 1])?"
        }
    }

}

/// A source line with a caret under one column, as error messages show it.
public enum SourceExcerpt {
    /// Lines longer than this many scalars are cut to this wide a window around the caret: a
    /// 200 KB line (one YAML flow mapping, a minified file) was echoed whole.
    public static let width = 120

    /// The line, then the caret line, both after `indent`. Tabs are copied from the source line so
    /// the caret stays aligned in terminals that expand them. A cut is marked with `...`.
    public static func render(line: String, column: Int, indent: String = "") -> String {
        var scalars = Array(line.unicodeScalars)
        var caretIndex = max(0, column - 1)
        if scalars.count > width {
            let start = max(0, min(caretIndex - width / 2, scalars.count - width))
            let end = min(scalars.count, start + width)
            let head: [Unicode.Scalar] = start > 0 ? [".", ".", "."] : []
            let tail: [Unicode.Scalar] = end < scalars.count ? [".", ".", "."] : []
            scalars = head + scalars[start..<end] + tail
            caretIndex = caretIndex - start + head.count
        }
        var padding = ""
        for index in 0..<caretIndex {
            padding += index < scalars.count && scalars[index] == "\t" ? "\t" : " "
        }
        var shown = String.UnicodeScalarView()
        shown.append(contentsOf: scalars)
        return indent + String(shown) + "\n" + indent + padding + "^"
    }
}

enum Suggestions {
    /// Up to `limit` candidates within `maxDistance` edits, closest first, ties alphabetical.
    /// Short names get a tighter bound (one edit per three characters, at least one, and never the
    /// whole name): two edits turn `q` into `k` or `foo` into `log`, which is noise, not a hint.
    static func closest(to name: String, in candidates: some Sequence<String>, limit: Int = 3, maxDistance: Int = 2) -> [String] {
        let target = Array(name.unicodeScalars)
        let maxDistance = min(maxDistance, max(1, target.count / 3), target.count - 1)
        var scored: [(distance: Int, name: String)] = []
        for candidate in Set(candidates) where candidate != name {
            let scalars = Array(candidate.unicodeScalars)
            guard abs(scalars.count - target.count) <= maxDistance else { continue }
            let distance = editDistance(target, scalars)
            if distance <= maxDistance { scored.append((distance, candidate)) }
        }
        scored.sort { $0.distance != $1.distance ? $0.distance < $1.distance : $0.name < $1.name }
        return scored.prefix(limit).map(\.name)
    }

    /// Optimal string alignment distance: a swapped pair of letters (`bndf` for `bdnf`) is the most
    /// common typo in parameter names and should count as one edit, not two.
    static func editDistance(_ a: [Unicode.Scalar], _ b: [Unicode.Scalar]) -> Int {
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previousPrevious = [Int](repeating: 0, count: b.count + 1)
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                var best = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] {
                    best = min(best, previousPrevious[j - 2] + 1)
                }
                current[j] = best
            }
            (previousPrevious, previous, current) = (previous, current, previousPrevious)
        }
        return previous[b.count]
    }
}
