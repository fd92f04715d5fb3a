/// Position inside the expression text, both 0-based; mapped to file positions only when reported.
struct TextPosition: Equatable {
    var line: Int
    var column: Int
}

struct Token {
    enum Kind: Equatable {
        case number(Double)
        case identifier(String)
        case punctuation(String)
        case end
    }

    var kind: Kind
    var lexeme: String
    var start: TextPosition
    /// One past the last scalar.
    var end: TextPosition

    func isPunctuation(_ text: String) -> Bool { kind == .punctuation(text) }

    /// How the token is quoted in messages.
    var quoted: String { kind == .end ? "end of expression" : "`\(lexeme)`" }
}

/// A lexical error before any `SourceLocation` mapping.
struct LexError: Error {
    var message: String
    var position: TextPosition
}

enum Lexer {
    private static let twoCharacterOperators: Set<String> = ["<=", ">=", "==", "!=", "&&", "||"]
    private static let singleCharacterOperators: Set<Unicode.Scalar> = ["+", "-", "*", "/", "^", "(", ")", ",", "<", ">", "!"]

    static func tokenize(_ text: String) throws(LexError) -> [Token] {
        let scalars = Array(text.unicodeScalars)
        var tokens: [Token] = []
        var index = 0
        var position = TextPosition(line: 0, column: 0)

        func advance() {
            if scalars[index] == "\n" {
                position.line += 1
                position.column = 0
            } else {
                position.column += 1
            }
            index += 1
        }
        func peek(_ offset: Int = 0) -> Unicode.Scalar? {
            index + offset < scalars.count ? scalars[index + offset] : nil
        }
        func isDigit(_ s: Unicode.Scalar?) -> Bool { s.map { ("0"..."9").contains($0) } ?? false }
        func isIdentifierStart(_ s: Unicode.Scalar) -> Bool {
            ("a"..."z").contains(s) || ("A"..."Z").contains(s) || s == "_"
        }

        while let scalar = peek() {
            if scalar == " " || scalar == "\t" || scalar == "\n" || scalar == "\r" {
                advance()
                continue
            }
            let start = position
            let startIndex = index
            func lexeme() -> String {
                let slice = scalars[startIndex..<index]
                // Tokens are ASCII but for a malformed number's neighbours: bytes, not a scalar view.
                if slice.allSatisfy(\.isASCII) {
                    return String(unsafeUninitializedCapacity: slice.count) { buffer in
                        for (k, u) in slice.enumerated() { buffer[k] = UInt8(truncatingIfNeeded: u.value) }
                        return slice.count
                    }
                }
                var s = String.UnicodeScalarView()
                s.append(contentsOf: slice)
                return String(s)
            }

            if isDigit(scalar) || (scalar == "." && isDigit(peek(1))) {
                while isDigit(peek()) { advance() }
                if peek() == "." {
                    advance()
                    while isDigit(peek()) { advance() }
                }
                if peek() == "e" || peek() == "E" {
                    let signOffset = (peek(1) == "+" || peek(1) == "-") ? 1 : 0
                    guard isDigit(peek(1 + signOffset)) else {
                        for _ in 0...signOffset where peek() != nil { advance() }
                        throw LexError(message: "malformed number `\(lexeme())`; expected digits in the exponent", position: start)
                    }
                    for _ in 0...signOffset { advance() }
                    while isDigit(peek()) { advance() }
                }
                let text = lexeme()
                // Swift's Double parser rejects a leading "." but accepts everything else the grammar allows.
                guard let value = Double(text.hasPrefix(".") ? "0" + text : text) else {
                    throw LexError(message: "malformed number `\(text)`", position: start)
                }
                guard value.isFinite else {
                    throw LexError(message: "number `\(text)` is too large", position: start)
                }
                tokens.append(Token(kind: .number(value), lexeme: text, start: start, end: position))
            } else if isIdentifierStart(scalar) {
                while let next = peek(), isIdentifierStart(next) || isDigit(next) { advance() }
                let text = lexeme()
                tokens.append(Token(kind: .identifier(text), lexeme: text, start: start, end: position))
            } else if let next = peek(1), twoCharacterOperators.contains(String(scalar) + String(next)) {
                advance()
                advance()
                let text = lexeme()
                tokens.append(Token(kind: .punctuation(text), lexeme: text, start: start, end: position))
            } else if singleCharacterOperators.contains(scalar) {
                advance()
                let text = lexeme()
                tokens.append(Token(kind: .punctuation(text), lexeme: text, start: start, end: position))
            } else {
                let hint: String
                switch scalar {
                case "&": hint = "; did you mean `&&`?"
                case "|": hint = "; did you mean `||`?"
                case "=": hint = "; did you mean `==`?"
                default: hint = ""
                }
                throw LexError(message: "unexpected character `\(scalar)`\(hint)", position: start)
            }
        }
        // The end token sits right after the last real token so "expected an operand" carets point
        // at the gap after the dangling operator rather than at trailing whitespace or a later line.
        let endPosition = tokens.last?.end ?? TextPosition(line: 0, column: 0)
        tokens.append(Token(kind: .end, lexeme: "", start: endPosition, end: endPosition))
        return tokens
    }
}
