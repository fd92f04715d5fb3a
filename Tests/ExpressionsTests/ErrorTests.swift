import Testing
@testable import Expressions

struct ErrorTests {
    @Test func unknownSymbolWithSuggestion() throws {
        let parsed = try ExpressionParser.parse("bndf * 2", origin: SourceLocation(file: "model.yaml", line: 3, column: 12))
        let error = #expect(throws: ExpressionError.self) { try parsed.checkSymbols(known: ["bdnf", "k"]) }
        #expect(error?.description == """
            model.yaml:3:12: error: unknown symbol `bndf`; did you mean `bdnf`?
                       bndf * 2
                       ^
            """)
        #expect(error == .unknownSymbol(name: "bndf", suggestions: ["bdnf"],
                                        location: SourceLocation(file: "model.yaml", line: 3, column: 12),
                                        sourceLine: "           bndf * 2"))
    }

    @Test func suggestionsAreClosestFirstThenAlphabeticalAndAtMostThree() throws {
        let parsed = try ExpressionParser.parse("1 + bndf", origin: testOrigin)
        let error = #expect(throws: ExpressionError.self) {
            try parsed.checkSymbols(known: ["bdnx", "bndfx", "bnd", "bdnf", "zzzz", "abcd"])
        }
        #expect(error?.description == """
            model.yaml:1:5: error: unknown symbol `bndf`; did you mean `bdnf`, `bnd` or `bndfx`?
            1 + bndf
                ^
            """)
    }

    @Test func unknownSymbolWithoutSuggestionAndTimeHandling() throws {
        let parsed = try ExpressionParser.parse("t * q", origin: testOrigin)
        let error = #expect(throws: ExpressionError.self) { try parsed.checkSymbols(known: ["k"]) }
        #expect(error?.description == "model.yaml:1:5: error: unknown symbol `q`\nt * q\n    ^")
        try parsed.checkSymbols(known: ["q"])
        let noTime = #expect(throws: ExpressionError.self) { try parsed.checkSymbols(known: ["q"], allowTime: false) }
        #expect(noTime?.message == "unknown symbol `t`")
    }

    @Test func unbalancedParenthesis() {
        #expect(parseError("2 * (x + 1")?.description == """
            model.yaml:1:11: error: expected `)` to close `(` opened at column 5
            2 * (x + 1
                      ^
            """)
        #expect(parseError("max(x, (y + 1)")?.description == """
            model.yaml:1:15: error: expected `)` to close `(` opened at column 4
            max(x, (y + 1)
                          ^
            """)
        #expect(parseError("(x y)")?.description == """
            model.yaml:1:4: error: expected `)` to close `(` opened at column 1, found `y`
            (x y)
               ^
            """)
        #expect(parseError("x + 1)")?.description == """
            model.yaml:1:6: error: unexpected `)` with no matching `(`
            x + 1)
                 ^
            """)
    }

    @Test func trailingOperator() {
        #expect(parseError("x +")?.description == """
            model.yaml:1:4: error: unexpected end of expression; expected an operand after `+`
            x +
               ^
            """)
        #expect(parseError("2 * (x + )")?.description == """
            model.yaml:1:10: error: expected an operand after `+`, found `)`
            2 * (x + )
                     ^
            """)
    }

    @Test func arity() {
        #expect(parseError("1 + hill(x, 2)")?.description == """
            model.yaml:1:5: error: `hill` takes 3 arguments (x, K, n), got 2
            1 + hill(x, 2)
                ^
            """)
        #expect(parseError("exp()")?.message == "`exp` takes 1 argument, got 0")
        #expect(parseError("min(x)")?.message == "`min` takes at least 2 arguments, got 1")
        #expect(parseError("pow(x, 1, 2)")?.message == "`pow` takes 2 arguments (base, exponent), got 3")
        #expect(parseError("if(x, 1)")?.message == "`if` takes 3 arguments (condition, then, else), got 2")
        #expect(parseError("piecewise(1, x, 2, y)")?.message
                == "`piecewise` takes an odd number of arguments, at least 3 (value, condition, ..., otherwise), got 4")
        #expect(parseError("if + 1")?.message == "`if` must be called with arguments, as `if(condition, then, else)`")
    }

    @Test func unknownFunction() {
        #expect(parseError("2 * expp(x)")?.description == """
            model.yaml:1:5: error: unknown function `expp`; did you mean `exp`?
            2 * expp(x)
                ^
            """)
        #expect(parseError("foo(x)") == .unknownFunction(name: "foo", suggestions: [], location: testOrigin, sourceLine: "foo(x)"))
    }

    @Test func badCharacters() {
        #expect(parseError("x $ y")?.description == """
            model.yaml:1:3: error: unexpected character `$`
            x $ y
              ^
            """)
        #expect(parseError("a = b")?.message == "unexpected character `=`; did you mean `==`?")
        #expect(parseError("a & b")?.message == "unexpected character `&`; did you mean `&&`?")
        #expect(parseError("2 * 1e")?.description == """
            model.yaml:1:5: error: malformed number `1e`; expected digits in the exponent
            2 * 1e
                ^
            """)
        #expect(parseError("1e999")?.message == "number `1e999` is too large")
    }

    @Test func otherSyntaxErrors() {
        #expect(parseError("  ")?.message == "empty expression")
        #expect(parseError("x y")?.message == "unexpected `y` after complete expression; expected an operator")
        #expect(parseError("a < b < c")?.description == """
            model.yaml:1:7: error: comparisons cannot be chained; combine them with `&&` or add parentheses
            a < b < c
                  ^
            """)
        #expect(parseError("* x")?.message == "expected an operand, found `*`")
    }

    @Test func multiLineOriginMapping() throws {
        let origin = SourceLocation(file: "model.yaml", line: 10, column: 7)
        #expect(parseError("k1 * x +\n  (y - \n  z", origin: origin)?.description == """
            model.yaml:12:4: error: expected `)` to close `(` opened at line 11, column 3
              z
               ^
            """)
        #expect(parseError("k1 $ x", origin: origin)?.description == """
            model.yaml:10:10: error: unexpected character `$`
                  k1 $ x
                     ^
            """)

        let parsed = try ExpressionParser.parse("k +\r\n  bndf", origin: origin)
        #expect(parsed.symbolLocations.map(\.location) == [origin, SourceLocation(file: "model.yaml", line: 11, column: 3)])
        let error = #expect(throws: ExpressionError.self) { try parsed.checkSymbols(known: ["k", "bdnf"]) }
        #expect(error?.description == """
            model.yaml:11:3: error: unknown symbol `bndf`; did you mean `bdnf`?
              bndf
              ^
            """)
    }

    @Test func caretCopiesTabs() {
        #expect(parseError("\tx +")?.description == "model.yaml:1:5: error: unexpected end of expression; expected an operand after `+`\n\tx +\n\t   ^")
    }

    @Test func compilerReportsUnknownVariables() {
        let error = #expect(throws: ExpressionError.self) {
            try CompiledProgram(variables: ["bdnf", "x"], outputs: [.binary(.add, .symbol("x"), .symbol("bndf"))])
        }
        #expect(error == .unknownSymbol(name: "bndf", suggestions: ["bdnf"],
                                        location: SourceLocation(file: "<compiled>", line: 0, column: 0), sourceLine: ""))
        #expect(error?.description == "<compiled>:0:0: error: unknown symbol `bndf`; did you mean `bdnf`?")
    }
}
