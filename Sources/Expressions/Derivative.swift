extension Expr {
    /// Symbolic derivative, simplified. Comparisons and logical operators are treated as piecewise
    /// constant (derivative 0); conditionals differentiate each branch.
    public func derivative(withRespectTo name: String) -> Expr {
        Differentiator(variable: name).derivative(of: self).simplified()
    }
}

/// Every rule builds through the `Simplify` constructors so zero terms vanish as they appear;
/// otherwise Jacobians of large models would be dominated by `0 * ...` subtrees.
private struct Differentiator {
    let variable: String

    private typealias S = Simplify

    private func add(_ a: Expr, _ b: Expr) -> Expr { S.binary(.add, a, b) }
    private func sub(_ a: Expr, _ b: Expr) -> Expr { S.binary(.subtract, a, b) }
    private func mul(_ a: Expr, _ b: Expr) -> Expr { S.binary(.multiply, a, b) }
    private func div(_ a: Expr, _ b: Expr) -> Expr { S.binary(.divide, a, b) }
    private func pow(_ a: Expr, _ b: Expr) -> Expr { S.binary(.power, a, b) }
    private func log(_ a: Expr) -> Expr { S.call(.log, [a]) }

    func derivative(of e: Expr) -> Expr {
        switch e {
        case .constant:
            return S.zero
        case .symbol(let name):
            return name == variable ? S.one : S.zero
        case .unary(.negate, let a):
            return S.unary(.negate, derivative(of: a))
        case .unary(.not, _):
            return S.zero
        case .binary(let op, let a, let b):
            return binary(op, a, b)
        case .call(let f, let args):
            return call(f, args)
        case .conditional(let c, let a, let b):
            return S.conditional(c, derivative(of: a), derivative(of: b))
        }
    }

    private func binary(_ op: BinaryOperator, _ a: Expr, _ b: Expr) -> Expr {
        switch op {
        case .add:
            return add(derivative(of: a), derivative(of: b))
        case .subtract:
            return sub(derivative(of: a), derivative(of: b))
        case .multiply:
            return add(mul(derivative(of: a), b), mul(a, derivative(of: b)))
        case .divide:
            // (a'b - ab') / b^2
            return div(sub(mul(derivative(of: a), b), mul(a, derivative(of: b))), pow(b, .constant(2)))
        case .power:
            return power(a, b)
        case .less, .lessEqual, .greater, .greaterEqual, .equal, .notEqual, .and, .or:
            return S.zero
        }
    }

    /// The general rule x^y (y' log x + y x'/x) is undefined for x <= 0, so it is used only when
    /// both base and exponent depend on the variable. A zero derivative here means "independent":
    /// the simplifying constructors reduce derivatives of variable-free subtrees to exactly 0.
    private func power(_ x: Expr, _ y: Expr) -> Expr {
        power(x, y, dx: derivative(of: x), dy: derivative(of: y))
    }

    private func power(_ x: Expr, _ y: Expr, dx: Expr, dy: Expr) -> Expr {
        if dy.isConstant(0) {
            if dx.isConstant(0) { return S.zero }
            // c * x^(c-1) * x' (y-1 folds when y is a constant)
            return mul(mul(y, pow(x, sub(y, S.one))), dx)
        }
        if dx.isConstant(0) {
            return mul(mul(pow(x, y), log(x)), dy)
        }
        return mul(pow(x, y), add(mul(dy, log(x)), div(mul(y, dx), x)))
    }

    private func call(_ f: Function, _ args: [Expr]) -> Expr {
        guard f.accepts(argumentCount: args.count) else { return S.zero }
        let a = args[0]
        switch f {
        case .exp:
            return mul(S.call(.exp, [a]), derivative(of: a))
        case .log:
            return div(derivative(of: a), a)
        case .log10:
            return div(derivative(of: a), mul(a, log(.constant(10))))
        case .sqrt:
            return div(derivative(of: a), mul(.constant(2), S.call(.sqrt, [a])))
        case .abs:
            return mul(S.call(.sign, [a]), derivative(of: a))
        case .sign, .floor, .ceil, .quotient:
            // Piecewise constant: 0 between the jumps, where the derivative does not exist.
            return S.zero
        case .sin:
            return mul(S.call(.cos, [a]), derivative(of: a))
        case .cos:
            return S.unary(.negate, mul(S.call(.sin, [a]), derivative(of: a)))
        case .tan:
            return div(derivative(of: a), pow(S.call(.cos, [a]), .constant(2)))
        case .asin:
            return div(derivative(of: a), S.call(.sqrt, [sub(S.one, pow(a, .constant(2)))]))
        case .acos:
            return S.unary(.negate, div(derivative(of: a), S.call(.sqrt, [sub(S.one, pow(a, .constant(2)))])))
        case .atan:
            return div(derivative(of: a), add(S.one, pow(a, .constant(2))))
        case .sinh:
            return mul(S.call(.cosh, [a]), derivative(of: a))
        case .cosh:
            return mul(S.call(.sinh, [a]), derivative(of: a))
        case .tanh:
            // 1/cosh^2 rather than 1 - tanh^2, which cancels to 0 long before the true value underflows.
            return div(derivative(of: a), pow(S.call(.cosh, [a]), .constant(2)))
        case .factorial:
            // Gamma'(x + 1) = Gamma(x + 1) psi(x + 1).
            let shifted = add(a, S.one)
            return mul(mul(S.call(.factorial, [a]), S.call(.polygamma, [S.zero, shifted])), derivative(of: a))
        case .rem:
            // rem(a, b) = a - b * quotient(a, b) with the quotient piecewise constant.
            return sub(derivative(of: a), mul(S.call(.quotient, [a, args[1]]), derivative(of: args[1])))
        case .polygamma:
            // The order is an integer, so only x varies continuously.
            let next = add(a, S.one)
            return mul(S.call(.polygamma, [next, args[1]]), derivative(of: args[1]))
        case .min, .max:
            return extremum(f, args)
        case .pow:
            return power(args[0], args[1])
        case .hill:
            // The quotient rule on x^n / (K^n + x^n), spelled out so that x' is computed once: going
            // through the rule for `/` differentiates x^n twice, and hill(hill(hill(...))) 30 deep
            // then took 2^30 steps. The tree built is the same as that rule's.
            let (x, k, n) = (args[0], args[1], args[2])
            let dn = derivative(of: n)
            let xn = Expr.binary(.power, x, n)
            let dxn = power(x, n, dx: derivative(of: x), dy: dn)
            let dkn = power(k, n, dx: derivative(of: k), dy: dn)
            let denominator = Expr.binary(.add, .binary(.power, k, n), xn)
            return div(sub(mul(dxn, denominator), mul(xn, add(dkn, dxn))), pow(denominator, .constant(2)))
        }
    }

    /// min/max fold left, so the derivative is a chain of selections mirroring which argument won.
    /// Ties pick the earlier argument, matching `ExprMath.minimum`/`maximum`.
    private func extremum(_ f: Function, _ args: [Expr]) -> Expr {
        let comparison: BinaryOperator = f == .min ? .lessEqual : .greaterEqual
        var value = args[0]
        var slope = derivative(of: args[0])
        for arg in args.dropFirst() {
            slope = S.conditional(.binary(comparison, value, arg), slope, derivative(of: arg))
            value = .call(f, [value, arg])
        }
        return slope
    }
}
