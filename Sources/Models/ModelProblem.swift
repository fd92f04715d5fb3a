import Expressions

/// One thing wrong with a model file, where it is, and how to fix it.
public struct ModelProblem: Sendable, Equatable, CustomStringConvertible {
    public var location: SourceLocation
    public var message: String
    /// The line of the file the location points into, for the caret display; empty when unknown.
    public var sourceLine: String
    /// A warning does not stop the model from loading.
    public var isWarning: Bool

    public init(location: SourceLocation, message: String, sourceLine: String = "", isWarning: Bool = false) {
        self.location = location
        self.message = message
        self.sourceLine = sourceLine
        self.isWarning = isWarning
    }

    /// `file:line:col: error: message` (or `warning:`), then the source line and a caret under the
    /// column; a long line is cut to a window around the caret.
    public var description: String {
        var text = "\(location.file):\(location.line):\(location.column): \(isWarning ? "warning" : "error"): \(message)"
        if !sourceLine.isEmpty {
            text += "\n" + SourceExcerpt.render(line: sourceLine, column: location.column, indent: "  ")
        }
        return text
    }
}

/// Why a model could not be loaded: every problem found in one pass, or a file that could not be read.
public enum ModelError: Error, Sendable, Equatable, CustomStringConvertible {
    case unreadable(path: String, reason: String)
    case invalid([ModelProblem])

    public var problems: [ModelProblem] {
        if case .invalid(let problems) = self { return problems }
        return []
    }

    public var description: String {
        switch self {
        case let .unreadable(path, reason):
            return "cannot read model file \(path): \(reason)"
        case let .invalid(problems):
            let count = problems.count == 1 ? "1 problem" : "\(problems.count) problems"
            return problems.map(\.description).joined(separator: "\n") + "\n\(count) in the model file"
        }
    }
}

/// Names within edit distance 2 of `name`, closest first, at most three.
public func suggestions(for name: String, among candidates: some Sequence<String>) -> [String] {
    let scored = candidates.compactMap { candidate -> (Int, String)? in
        let d = editDistance(name, candidate)
        return d <= 2 && d < max(name.count, 2) ? (d, candidate) : nil
    }
    return scored.sorted { $0.0 != $1.0 ? $0.0 < $1.0 : $0.1 < $1.1 }.prefix(3).map(\.1)
}

/// "; did you mean `x`?" or "; did you mean `x` or `y`?", or "" when there is nothing close.
public func didYouMean(_ name: String, among candidates: some Sequence<String>) -> String {
    let close = suggestions(for: name, among: candidates)
    if close.isEmpty { return "" }
    return "; did you mean " + close.map { "`\($0)`" }.joined(separator: " or ") + "?"
}

func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a.lowercased()), b = Array(b.lowercased())
    if a.isEmpty { return b.count }
    if b.isEmpty { return a.count }
    var previous = Array(0...b.count)
    var current = [Int](repeating: 0, count: b.count + 1)
    for i in 1...a.count {
        current[0] = i
        for j in 1...b.count {
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
        }
        swap(&previous, &current)
    }
    return previous[b.count]
}
