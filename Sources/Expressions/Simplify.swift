extension Expr {
    /// Bottom-up rebuild through the simplifying constructors in `Simplify`. Each constructor returns
    /// a node that is already in normal form for its (normal-form) children, which makes this idempotent.
    public func simplified() -> Expr {
        switch self {
        case .constant, .symbol:
            return self
        case .unary(let op, let a):
            return Simplify.unary(op, a.simplified())
        case .binary(let op, let a, let b):
            return Simplify.binary(op, a.simplified(), b.simplified())
        case .call(let f, let args):
            return Simplify.call(f, args.map { $0.simplified() })
        case .conditional(let c, let a, let b):
            return Simplify.conditional(c.simplified(), a.simplified(), b.simplified())
        }
    }

    var constantValue: Double? {
        if case .constant(let value) = self { return value }
        return nil
    }

    func isConstant(_ value: Double) -> Bool { constantValue == value }
}

/// Local rewrite rules applied when building a node from already-simplified children.
/// Folding never produces NaN or infinity: those stay as written so the printed form shows where they come from.
enum Simplify {
    static let zero = Expr.constant(0)
    static let one = Expr.constant(1)

    private static func folded(_ value: Double) -> Expr? {
        value.isFinite ? .constant(value) : nil
    }

    static func unary(_ op: UnaryOperator, _ a: Expr) -> Expr {
        if let x = a.constantValue {
            return folded(ExprMath.unary(op, x)) ?? .unary(op, a)
        }
        if op == .negate, case .unary(.negate, let inner) = a { return inner }
        return .unary(op, a)
    }

    static func binary(_ op: BinaryOperator, _ a: Expr, _ b: Expr) -> Expr {
        if let x = a.constantValue, let y = b.constantValue {
            return folded(ExprMath.binary(op, x, y)) ?? .binary(op, a, b)
        }
        switch op {
        case .add:
            if a.isConstant(0) { return b }
            if b.isConstant(0) { return a }
        case .subtract:
            if b.isConstant(0) { return a }
            if a.isConstant(0) { return unary(.negate, b) }
        case .multiply:
            // x*0 → 0 drops NaN/inf propagation from x; accepted so derivative terms vanish.
            if a.isConstant(0) || b.isConstant(0) { return zero }
            if a.isConstant(1) { return b }
            if b.isConstant(1) { return a }
            if a.isConstant(-1) { return unary(.negate, b) }
            if b.isConstant(-1) { return unary(.negate, a) }
            // Constant factor first (exact: IEEE multiplication commutes), and merged with an inner one.
            if b.constantValue != nil { return binary(.multiply, b, a) }
            if let x = a.constantValue, case .binary(.multiply, let inner, let rest) = b,
               let y = inner.constantValue, let product = folded(x * y) {
                return binary(.multiply, product, rest)
            }
        case .divide:
            if b.isConstant(1) { return a }
            if b.isConstant(-1) { return unary(.negate, a) }
            if a.isConstant(0) { return zero }
        case .power:
            if b.isConstant(1) { return a }
            if b.isConstant(0) || a.isConstant(1) { return one }
        case .less, .lessEqual, .greater, .greaterEqual, .equal, .notEqual, .and, .or:
            break
        }
        return .binary(op, a, b)
    }

    static func call(_ f: Function, _ args: [Expr]) -> Expr {
        guard f.accepts(argumentCount: args.count) else { return .call(f, args) }
        let values = args.compactMap(\.constantValue)
        if values.count == args.count {
            return folded(ExprMath.call(f, values)) ?? .call(f, args)
        }
        switch f {
        case .pow:
            // One spelling of powers, so the x^1 / x^0 rules and the compiler's integer lowering apply.
            return binary(.power, args[0], args[1])
        case .abs:
            if case .call(.abs, _) = args[0] { return args[0] }
        default:
            break
        }
        return .call(f, args)
    }

    static func conditional(_ c: Expr, _ a: Expr, _ b: Expr) -> Expr {
        if let x = c.constantValue { return ExprMath.isTrue(x) ? a : b }
        if a == b { return a }
        return .conditional(c, a, b)
    }
}
