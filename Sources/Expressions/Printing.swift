/// Infix printing that parses back to an equal `Expr`.
///
/// Two conventions keep the round trip exact: a negative constant prints as `(-2)`, which the
/// parser reads as a single literal, and a negated non-negative constant prints as `-(2)`, so the
/// two never collide. Non-finite constants print as `(1/0)`, `(-1/0)`, `(0/0)`: same value, but they
/// come back as divisions because the grammar has no literal for them.
extension Expr: CustomStringConvertible {
    public var description: String {
        var out = ""
        write(to: &out)
        return out
    }

    private enum Level {
        static let or = 1, and = 2, comparison = 3, additive = 4, multiplicative = 5, unary = 6, power = 7, primary = 9
    }

    private var level: Int {
        switch self {
        case .constant, .symbol, .call, .conditional: Level.primary
        case .unary: Level.unary
        case .binary(let op, _, _):
            switch op {
            case .or: Level.or
            case .and: Level.and
            case .less, .lessEqual, .greater, .greaterEqual, .equal, .notEqual: Level.comparison
            case .add, .subtract: Level.additive
            case .multiply, .divide: Level.multiplicative
            case .power: Level.power
            }
        }
    }

    private func write(to out: inout String, parenthesized: Bool) {
        if parenthesized {
            out += "("
            write(to: &out)
            out += ")"
        } else {
            write(to: &out)
        }
    }

    private func write(to out: inout String) {
        switch self {
        case .constant(let value):
            out += Self.format(value)
        case .symbol(let name):
            out += name
        case .unary(let op, let operand):
            out += op == .negate ? "-" : "!"
            var needsParens = operand.level < Level.unary
            if op == .negate, case .constant = operand { needsParens = true }
            operand.write(to: &out, parenthesized: needsParens)
        case .binary(let op, let lhs, let rhs):
            let mine = level
            let leftParens: Bool
            let rightParens: Bool
            switch mine {
            case Level.power:
                // Right-associative, and the exponent is parsed at unary level (`2^-1`).
                leftParens = lhs.level <= Level.power
                rightParens = rhs.level < Level.unary
            case Level.comparison:
                leftParens = lhs.level <= mine
                rightParens = rhs.level <= mine
            default:
                leftParens = lhs.level < mine
                rightParens = rhs.level <= mine
            }
            lhs.write(to: &out, parenthesized: leftParens)
            out += mine == Level.power ? "^" : " \(op.token) "
            rhs.write(to: &out, parenthesized: rightParens)
        case .call(let f, let args):
            out += f.rawValue
            Self.writeArguments(args, to: &out)
        case .conditional(let c, let a, let b):
            out += "if"
            Self.writeArguments([c, a, b], to: &out)
        }
    }

    private static func writeArguments(_ args: [Expr], to out: inout String) {
        out += "("
        for (index, arg) in args.enumerated() {
            if index > 0 { out += ", " }
            arg.write(to: &out)
        }
        out += ")"
    }

    static func format(_ value: Double) -> String {
        if value.isNaN { return "(0/0)" }
        if value.isInfinite { return value > 0 ? "(1/0)" : "(-1/0)" }
        if value < 0 { return "(-" + format(-value) + ")" }
        // Integers print without ".0" for readability; below 1e15 the conversion is exact.
        if value == value.rounded(), value < 1e15 { return String(Int64(value)) }
        return "\(value)"
    }
}
