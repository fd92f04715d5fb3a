public struct ParsedExpression: Sendable {
    public var expr: Expr
    public var text: String
    /// Where `text` starts in its file.
    public var origin: SourceLocation
    /// Every symbol occurrence, in source order.
    public var symbolLocations: [(name: String, location: SourceLocation)]

    public init(expr: Expr, text: String, origin: SourceLocation, symbolLocations: [(name: String, location: SourceLocation)]) {
        self.expr = expr
        self.text = text
        self.origin = origin
        self.symbolLocations = symbolLocations
    }

    /// Throws `.unknownSymbol` for the first occurrence of a name not in `known` (`t` counts as known
    /// when `allowTime` is true), with up to 3 suggestions from `known`.
    public func checkSymbols(known: Set<String>, allowTime: Bool = true) throws(ExpressionError) {
        for (name, location) in symbolLocations {
            if known.contains(name) || (allowTime && name == "t") { continue }
            var candidates = known
            if allowTime { candidates.insert("t") }
            let source = SourceText(text: text, origin: origin)
            throw .unknownSymbol(name: name, suggestions: Suggestions.closest(to: name, in: candidates),
                                 location: location, sourceLine: source.sourceLine(forFileLine: location.line))
        }
    }
}

public enum ExpressionParser {
    /// `origin` is the file position of the text's first character (the text may be a YAML scalar).
    /// Text line k maps to file line `origin.line + k`; columns on the first line are offset by
    /// `origin.column`, later lines start at column 1.
    public static func parse(_ text: String, origin: SourceLocation) throws(ExpressionError) -> ParsedExpression {
        let source = SourceText(text: text, origin: origin)
        let tokens: [Token]
        do {
            tokens = try Lexer.tokenize(text)
        } catch {
            throw source.syntaxError(error.message, at: error.position)
        }
        var parser = Parser(tokens: tokens, source: source)
        let expr = try parser.parseTopLevel().expr
        return ParsedExpression(expr: expr, text: text, origin: origin, symbolLocations: parser.symbolLocations)
    }
}

/// Maps positions in the expression text to positions in its file.
struct SourceText {
    var origin: SourceLocation
    /// Split into lines only for a message: every expression of a model is parsed, few are reported.
    var text: String

    init(text: String, origin: SourceLocation) {
        self.origin = origin
        self.text = text
    }

    var lines: [String] {
        // Split on scalars, not Characters: "\r\n" is one Character and would hide the line break.
        text.unicodeScalars.split(separator: "\n", omittingEmptySubsequences: false).map { slice in
            var line = String(String.UnicodeScalarView(slice))
            if line.hasSuffix("\r") { line.removeLast() }
            return line
        }
    }

    func location(_ position: TextPosition) -> SourceLocation {
        SourceLocation(file: origin.file, line: origin.line + position.line,
                       column: position.line == 0 ? origin.column + position.column : position.column + 1)
    }

    /// The first line is indented by the origin column so that a caret at a file column lines up
    /// with the text even though the rest of the file line (e.g. a YAML key) is not available here.
    func sourceLine(forFileLine fileLine: Int) -> String {
        let index = fileLine - origin.line
        let lines = lines
        guard lines.indices.contains(index) else { return "" }
        return index == 0 ? String(repeating: " ", count: max(0, origin.column - 1)) + lines[0] : lines[index]
    }

    func syntaxError(_ message: String, at position: TextPosition) -> ExpressionError {
        let location = location(position)
        return .syntax(message: message, location: location, sourceLine: sourceLine(forFileLine: location.line))
    }
}

/// Recursive descent, one method per precedence level (lowest first). Every method returns the
/// tree with its depth so that nesting is refused at the token that crosses `Expr.maximumDepth`,
/// before a tree too deep for the recursive passes (simplify, derivative, print) exists at all.
private struct Parser {
    typealias Node = (expr: Expr, depth: Int)

    let tokens: [Token]
    let source: SourceText
    var index = 0
    var symbolLocations: [(name: String, location: SourceLocation)] = []
    /// Open parentheses, calls and prefix operators around the current token: the parser's own
    /// recursion, which `((x))` deepens without deepening the tree.
    private var nesting = 0

    init(tokens: [Token], source: SourceText) {
        self.tokens = tokens
        self.source = source
    }

    private var current: Token { tokens[index] }
    private var previous: Token? { index > 0 ? tokens[index - 1] : nil }

    private mutating func advance() -> Token {
        let token = tokens[index]
        if index < tokens.count - 1 { index += 1 }
        return token
    }

    private mutating func accept(_ punctuation: String) -> Bool {
        guard current.isPunctuation(punctuation) else { return false }
        _ = advance()
        return true
    }

    private func error(_ message: String, at token: Token) -> ExpressionError {
        source.syntaxError(message, at: token.start)
    }

    private func checkDepth(_ depth: Int, at token: Token) throws(ExpressionError) {
        guard depth > Expr.maximumDepth else { return }
        throw error("expression nests deeper than \(Expr.maximumDepth) levels, ketasim's limit; "
                    + "split it into assignments or flatten the nesting", at: token)
    }

    /// Brackets one level of the parser's own recursion.
    private mutating func enter(at token: Token) throws(ExpressionError) {
        nesting += 1
        try checkDepth(nesting, at: token)
    }

    mutating func parseTopLevel() throws(ExpressionError) -> Node {
        if current.kind == .end { throw error("empty expression", at: current) }
        let expr = try parseOr()
        guard current.kind == .end else {
            if current.isPunctuation(")") { throw error("unexpected `)` with no matching `(`", at: current) }
            throw error("unexpected \(current.quoted) after complete expression; expected an operator", at: current)
        }
        return expr
    }

    /// Binary operators by precedence level, lowest first; all left-associative except comparisons,
    /// which do not chain: `a < b < c` almost always means a range test, which it would not compute.
    private static let binaryOperators: [String: (op: BinaryOperator, level: Int)] = [
        "||": (.or, 1), "&&": (.and, 2),
        "<": (.less, 3), "<=": (.lessEqual, 3), ">": (.greater, 3), ">=": (.greaterEqual, 3), "==": (.equal, 3), "!=": (.notEqual, 3),
        "+": (.add, 4), "-": (.subtract, 4), "*": (.multiply, 5), "/": (.divide, 5),
    ]
    private static let comparisonLevel = 3

    private var binaryOperator: (op: BinaryOperator, level: Int)? {
        guard case .punctuation(let text) = current.kind else { return nil }
        return Self.binaryOperators[text]
    }

    /// Precedence climbing rather than one method per level: each open parenthesis then costs six
    /// stack frames instead of twelve, which is what lets `Expr.maximumDepth` parentheses parse in a
    /// debug build on the 512 KB stack of a secondary thread.
    private mutating func parseOr() throws(ExpressionError) -> Node {
        try parseBinary(minimumLevel: 1)
    }

    private mutating func parseBinary(minimumLevel: Int) throws(ExpressionError) -> Node {
        var lhs = try parseUnary()
        while let (op, level) = binaryOperator, level >= minimumLevel {
            let opToken = advance()
            let rhs = try parseBinary(minimumLevel: level + 1)
            if level == Self.comparisonLevel, let next = binaryOperator, next.level == Self.comparisonLevel {
                throw chainedComparison()
            }
            // A long `a + b + c + ...` deepens the tree by one per operator without any recursion here.
            let depth = 1 + max(lhs.depth, rhs.depth)
            try checkDepth(depth, at: opToken)
            lhs = (.binary(op, lhs.expr, rhs.expr), depth)
        }
        return lhs
    }

    @inline(never)
    private func chainedComparison() -> ExpressionError {
        error("comparisons cannot be chained; combine them with `&&` or add parentheses", at: current)
    }

    private mutating func parseUnary() throws(ExpressionError) -> Node {
        let token = current
        let op: UnaryOperator?
        if accept("-") { op = .negate } else if accept("!") { op = .not } else if accept("+") { op = nil } else {
            return try parsePower()
        }
        try enter(at: token)
        let operand = try parseUnary()
        nesting -= 1
        guard let op else { return operand }
        try checkDepth(operand.depth + 1, at: token)
        return (.unary(op, operand.expr), operand.depth + 1)
    }

    /// Right-associative; the exponent is a unary expression so that `2^-1` works and `-x^2` = -(x^2).
    private mutating func parsePower() throws(ExpressionError) -> Node {
        let base = try parsePrimary()
        let caret = current
        guard accept("^") else { return base }
        try enter(at: caret)
        let exponent = try parseUnary()
        nesting -= 1
        let depth = 1 + max(base.depth, exponent.depth)
        try checkDepth(depth, at: caret)
        return (.binary(.power, base.expr, exponent.expr), depth)
    }

    private mutating func parsePrimary() throws(ExpressionError) -> Node {
        let token = current
        switch token.kind {
        case .number(let value):
            _ = advance()
            return (.constant(value), 1)
        case .identifier(let name):
            _ = advance()
            if current.isPunctuation("(") { return try parseCall(name: name, nameToken: token) }
            if name == "if" || name == "piecewise" {
                let form = name == "if" ? "if(condition, then, else)" : "piecewise(value, condition, ..., otherwise)"
                throw error("`\(name)` must be called with arguments, as `\(form)`", at: token)
            }
            symbolLocations.append((name, source.location(token.start)))
            return (.symbol(name), 1)
        case .punctuation("("):
            return try parseParenthesized()
        default:
            throw missingOperand(found: token)
        }
    }

    private func missingOperand(found token: Token) -> ExpressionError {
        guard let previous, previous.kind != .punctuation("(") && previous.kind != .punctuation(",") else {
            if token.kind == .end {
                return error("unexpected end of expression; expected an operand", at: token)
            }
            return error("expected an operand, found \(token.quoted)", at: token)
        }
        if token.kind == .end {
            return error("unexpected end of expression; expected an operand after `\(previous.lexeme)`", at: token)
        }
        return error("expected an operand after `\(previous.lexeme)`, found \(token.quoted)", at: token)
    }

    private mutating func parseParenthesized() throws(ExpressionError) -> Node {
        try enter(at: current)
        defer { nesting -= 1 }
        let open = advance()
        // `(-2)` is read as one negative literal: it is how negative constants print, and the
        // printer writes a negated literal as `-(2)`, so round trips stay exact.
        if current.isPunctuation("-"), index + 2 < tokens.count,
           case .number(let value) = tokens[index + 1].kind, tokens[index + 2].isPunctuation(")") {
            index += 3
            return (.constant(-value), 1)
        }
        let inner = try parseOr()
        try expectClosing(open)
        return inner
    }

    private mutating func expectClosing(_ open: Token) throws(ExpressionError) {
        guard !accept(")") else { return }
        let opened = source.location(open.start)
        let here = source.location(current.start)
        let place = opened.line == here.line ? "column \(opened.column)" : "line \(opened.line), column \(opened.column)"
        let found = current.kind == .end ? "" : ", found \(current.quoted)"
        throw error("expected `)` to close `(` opened at \(place)\(found)", at: current)
    }

    private mutating func parseCall(name: String, nameToken: Token) throws(ExpressionError) -> Node {
        try enter(at: nameToken)
        defer { nesting -= 1 }
        let open = advance()
        var args: [Expr] = []
        var deepest = 0
        if !current.isPunctuation(")") {
            repeat {
                let arg = try parseOr()
                args.append(arg.expr)
                deepest = max(deepest, arg.depth)
            } while accept(",")
        }
        try expectClosing(open)
        // piecewise(v1, c1, v2, c2, ..., otherwise) becomes one nested `if` per pair.
        let depth = deepest + (name == "piecewise" ? max(1, args.count / 2) : 1)
        try checkDepth(depth, at: nameToken)

        let location = source.location(nameToken.start)
        var sourceLine: String { source.sourceLine(forFileLine: location.line) }
        switch name {
        case "if":
            guard args.count == 3 else {
                throw .arity(function: name, expected: "3 arguments (condition, then, else)", got: args.count,
                             location: location, sourceLine: sourceLine)
            }
            return (.conditional(args[0], args[1], args[2]), depth)
        case "piecewise":
            guard args.count >= 3, args.count % 2 == 1 else {
                throw .arity(function: name, expected: "an odd number of arguments, at least 3 (value, condition, ..., otherwise)",
                             got: args.count, location: location, sourceLine: sourceLine)
            }
            // piecewise(v1, c1, v2, c2, ..., otherwise): the first true condition wins.
            var result = args[args.count - 1]
            for pair in stride(from: args.count - 3, through: 0, by: -2) {
                result = .conditional(args[pair + 1], args[pair], result)
            }
            return (result, depth)
        default:
            guard let function = Function(rawValue: name) else {
                let candidates = Function.allCases.map(\.rawValue) + ["if", "piecewise"]
                var suggestions = Suggestions.closest(to: name, in: candidates)
                if let alias = Function.otherSpellings[name] {
                    suggestions = [alias.rawValue] + suggestions.filter { $0 != alias.rawValue }.prefix(2)
                }
                throw .unknownFunction(name: name, suggestions: suggestions, location: location, sourceLine: sourceLine)
            }
            guard function.accepts(argumentCount: args.count) else {
                throw .arity(function: name, expected: function.expectedArguments, got: args.count,
                             location: location, sourceLine: sourceLine)
            }
            return (.call(function, args), depth)
        }
    }
}
