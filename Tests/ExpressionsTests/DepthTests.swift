import Foundation
import Testing
@testable import Expressions

/// Runs `body` on a thread with the given stack and waits for it: a pass that recursed too deep
/// would crash the test process here, which is why every tree below stays within the limit.
func onThread(stackSize: Int, _ body: @escaping @Sendable () -> Void) {
    let done = DispatchSemaphore(value: 0)
    let thread = Thread {
        body()
        done.signal()
    }
    thread.stackSize = (stackSize + staticTLSAllowance) * sanitizerStackFactor
    thread.start()
    done.wait()
}

/// glibc carves every thread's static thread-local storage out of the stack it is given, so a thread
/// asked for 512 KB has that much less for frames: OpenBLAS's TLS segment alone is 60 KB (`readelf -l`
/// of Debian's libopenblasp-r0.3.21.so: 0xf000). The sizes below are stack for frames; this is added.
let staticTLSAllowance = 64 << 10

/// ASan's redzones make stack frames about three times larger (the figure its documentation gives):
/// the stacks below are what a plain debug build needs, scaled when the tests run under `make asan`.
let sanitizerStackFactor: Int = dlsym(nil, "__asan_init") != nil ? 4 : 1

/// Results written by the thread and read after it finished.
final class Box<T>: @unchecked Sendable {
    var value: T
    init(_ value: T) { self.value = value }
}

@Suite("Expression depth")
struct ExpressionDepthTests {
    let origin = SourceLocation(file: "model.yaml", line: 4, column: 11)

    /// On an 8 MB thread, as the main thread of `ketasim` that parses model files; the test runner's
    /// own threads may be smaller.
    private func depthError(_ text: String) -> ExpressionError? {
        let origin = self.origin
        let box = Box<ExpressionError?>(nil)
        onThread(stackSize: 8 << 20) {
            do throws(ExpressionError) { _ = try ExpressionParser.parse(text, origin: origin) } catch { box.value = error }
        }
        return box.value
    }

    private func parseOnLargeStack(_ texts: [String]) -> [Expr] {
        let origin = self.origin
        let box = Box<[Expr]>([])
        onThread(stackSize: 8 << 20) {
            for (k, text) in texts.enumerated() {
                do throws(ExpressionError) { box.value.append(try ExpressionParser.parse(text, origin: origin).expr) } catch {
                    box.value.append(.symbol("failed text \(k): \(error.message)"))
                }
            }
        }
        return box.value
    }

    @Test func fourThousandParenthesesAreRefusedAtTheFirstTooDeep() {
        let text = String(repeating: "(", count: 4000) + "x" + String(repeating: ")", count: 4000)
        let error = depthError(text)
        #expect(error?.message == "expression nests deeper than 500 levels, ketasim's limit; split it into assignments or flatten the nesting")
        // The 501st parenthesis, on the YAML line at column 11 + 500.
        #expect(error?.location == SourceLocation(file: "model.yaml", line: 4, column: 511))
    }

    @Test func longSumsPrefixOperatorsAndPowerTowersAreRefused() {
        // 100,000 terms: no recursion in the parser, but a tree 100,000 deep for everything after it.
        let sum = Array(repeating: "x", count: 100_000).joined(separator: " + ")
        #expect(depthError(sum)?.location.column == 11 + 2 + 499 * 4)  // the 500th `+`
        #expect(depthError(String(repeating: "-", count: 5000) + "x")?.location.column == 11 + 500)
        #expect(depthError(Array(repeating: "x", count: 5000).joined(separator: "^")) != nil)
        #expect(depthError(String(repeating: "exp(", count: 600) + "x" + String(repeating: ")", count: 600)) != nil)
        let pieces = (0..<600).map { "\($0), x < \($0)" }.joined(separator: ", ")
        #expect(depthError("piecewise(\(pieces), 0)") != nil)
    }

    /// The deepest trees the parser accepts, one of each shape that deepens the tree.
    static func deepestTexts() -> [String] {
        let n = Expr.maximumDepth
        return [
            String(repeating: "(", count: n) + "x" + String(repeating: ")", count: n),
            Array(repeating: "x", count: n).joined(separator: " + "),
            String(repeating: "x * (", count: n - 1) + "x" + String(repeating: ")", count: n - 1),
            String(repeating: "exp(", count: n - 1) + "x" + String(repeating: ")", count: n - 1),
            String(repeating: "x / (1 + ", count: (n - 1) / 2) + "x" + String(repeating: ")", count: (n - 1) / 2),
            String(repeating: "if(x, ", count: n - 1) + "x" + String(repeating: ", 2)", count: n - 1),
            String(repeating: "-", count: n - 1) + "x",
        ]
    }

    @Test func theDeepestAcceptedTreesSurviveEveryPassOnAnEightMegabyteStack() throws {
        let texts = Self.deepestTexts()
        let trees = parseOnLargeStack(texts)
        #expect(!trees.contains { $0.description.hasPrefix("failed") }, "\(trees.filter { $0.description.hasPrefix("failed") })")
        #expect(trees.allSatisfy { $0.depth() <= Expr.maximumDepth })
        #expect(trees.contains { $0.depth() == Expr.maximumDepth })
        let outcome = Box<[String]>([])
        onThread(stackSize: 8 << 20) {
            for tree in trees {
                let simplified = tree.simplified()
                let derivative = tree.derivative(withRespectTo: "x")
                let printed = tree.description
                let reparsed = try? ExpressionParser.parse(printed, origin: SourceLocation(file: "f", line: 1, column: 1)).expr
                let program = try? CompiledProgram(variables: ["x"], outputs: [tree, derivative])
                let value = try? tree.evaluate(["x": 0.5])
                outcome.value.append("\(simplified.nodeCount > 0) \(reparsed == tree) \(program != nil) \(value != nil) \(tree.hashValue == reparsed?.hashValue)")
            }
        }
        #expect(outcome.value == Array(repeating: "true true true true true", count: texts.count))
    }

    @Test func compilingTheDeepestTreesFitsAHalfMegabyteThread() throws {
        // Sweep workers compile observation programs (no derivatives) on their own threads.
        let trees = parseOnLargeStack(Self.deepestTexts())
        let counts = Box<[Int]>([])
        onThread(stackSize: 512 << 10) {
            for tree in trees {
                counts.value.append((try? CompiledProgram(variables: ["x"], outputs: [tree]))?.instructionCount ?? -1)
            }
        }
        #expect(counts.value.count == trees.count && counts.value.allSatisfy { $0 > 0 })
    }

    @Test func depthCountsSubstitutedSymbols() {
        let e = Expr.binary(.add, .symbol("a"), .call(.exp, [.symbol("b")]))
        #expect(e.depth() == 3)
        #expect(e.depth(symbolDepths: ["a": 10]) == 11)
        #expect(e.depth(symbolDepths: ["b": 10]) == 12)
    }

    @Test func iterativeLoweringEmitsTheSameProgramAsBefore() throws {
        // Operands in source order: x - y must not become y - x, and a hoisted prelude stays first.
        let program = try CompiledProgram(variables: ["x", "y"], outputs: [.binary(.subtract, .symbol("x"), .call(.exp, [.symbol("y")]))])
        var registers = [Double](repeating: 0, count: program.registerCount)
        registers[0] = 3; registers[1] = 0
        var out = [0.0]
        program.run(registers: &registers, outputs: &out)
        #expect(out[0] == 2)
    }
}

@Suite("Derivative of hill")
struct DerivativeCostTests {
    @Test func hillDifferentiatesItsArgumentOnceAndAsTheQuotientRuleDid() throws {
        // Differentiating x^n twice per level made the derivative of hill(hill(...)) cost 2^depth
        // calls; the tree it builds must not change, so the Jacobians stay bit-identical.
        // One level against the generic quotient rule it replaces, and against a finite difference.
        let one = Expr.call(.hill, [.symbol("x"), .symbol("k"), .symbol("n")])
        let xn = Expr.binary(.power, .symbol("x"), .symbol("n"))
        let expanded = Expr.binary(.divide, xn, .binary(.add, .binary(.power, .symbol("k"), .symbol("n")), xn))
        #expect(one.derivative(withRespectTo: "x") == expanded.derivative(withRespectTo: "x"))
        #expect(one.derivative(withRespectTo: "n") == expanded.derivative(withRespectTo: "n"))
        let at: [String: Double] = ["x": 0.7, "k": 0.4, "n": 2.5]
        let h = 1e-6
        let numeric = (try one.evaluate(at.merging(["x": 0.7 + h]) { $1 }) - one.evaluate(at.merging(["x": 0.7 - h]) { $1 })) / (2 * h)
        #expect(abs(try one.derivative(withRespectTo: "x").evaluate(at) - numeric) < 1e-7)
    }
}
