import Foundation

enum Opcode: UInt8, Sendable {
    case add, subtract, multiply, divide, negate, power
    case exp, log, log10, sqrt, abs, sign, min, max
    case floor, ceil, sin, cos, tan, asin, acos, atan, sinh, cosh, tanh, factorial, quotient, rem, polygamma
    case less, lessEqual, greater, greaterEqual, equal, notEqual, and, or, not
    /// dst = a != 0 ? b : c. Both branches are always computed; expressions have no side effects.
    case select
    /// outputs[dst] = registers[a]
    case store

    var operandCount: Int {
        switch self {
        case .negate, .exp, .log, .log10, .sqrt, .abs, .sign, .not, .store,
             .floor, .ceil, .sin, .cos, .tan, .asin, .acos, .atan, .sinh, .cosh, .tanh, .factorial: 1
        case .select: 3
        default: 2
        }
    }

    /// Exact IEEE commutativity lets `a*b` and `b*a` share one register. min/max are excluded:
    /// with NaN operands they return a specific side.
    var isCommutative: Bool {
        switch self {
        case .add, .multiply, .equal, .notEqual, .and, .or: true
        default: false
        }
    }

    var mnemonic: String {
        switch self {
        case .add: "add"
        case .subtract: "sub"
        case .multiply: "mul"
        case .divide: "div"
        case .negate: "neg"
        case .power: "pow"
        case .exp: "exp"
        case .log: "log"
        case .log10: "log10"
        case .sqrt: "sqrt"
        case .abs: "abs"
        case .sign: "sign"
        case .min: "min"
        case .max: "max"
        case .floor: "floor"
        case .ceil: "ceil"
        case .sin: "sin"
        case .cos: "cos"
        case .tan: "tan"
        case .asin: "asin"
        case .acos: "acos"
        case .atan: "atan"
        case .sinh: "sinh"
        case .cosh: "cosh"
        case .tanh: "tanh"
        case .factorial: "fact"
        case .quotient: "quot"
        case .rem: "rem"
        case .polygamma: "polygamma"
        case .less: "lt"
        case .lessEqual: "le"
        case .greater: "gt"
        case .greaterEqual: "ge"
        case .equal: "eq"
        case .notEqual: "ne"
        case .and: "and"
        case .or: "or"
        case .not: "not"
        case .select: "select"
        case .store: "store"
        }
    }

    /// Compile-time evaluation; must match the `run` loop case for case.
    func fold(_ a: Double, _ b: Double, _ c: Double) -> Double {
        switch self {
        case .add: a + b
        case .subtract: a - b
        case .multiply: a * b
        case .divide: a / b
        case .negate: -a
        case .power: ExprMath.power(a, b)
        case .exp: Foundation.exp(a)
        case .log: Foundation.log(a)
        case .log10: Foundation.log10(a)
        case .sqrt: a.squareRoot()
        case .abs: Swift.abs(a)
        case .sign: ExprMath.sign(a)
        case .min: ExprMath.minimum(a, b)
        case .max: ExprMath.maximum(a, b)
        case .floor: a.rounded(.down)
        case .ceil: a.rounded(.up)
        case .sin: Foundation.sin(a)
        case .cos: Foundation.cos(a)
        case .tan: Foundation.tan(a)
        case .asin: Foundation.asin(a)
        case .acos: Foundation.acos(a)
        case .atan: Foundation.atan(a)
        case .sinh: Foundation.sinh(a)
        case .cosh: Foundation.cosh(a)
        case .tanh: Foundation.tanh(a)
        case .factorial: ExprMath.factorial(a)
        case .quotient: ExprMath.quotient(a, b)
        case .rem: ExprMath.rem(a, b)
        case .polygamma: ExprMath.polygamma(a, b)
        case .less: ExprMath.bool(a < b)
        case .lessEqual: ExprMath.bool(a <= b)
        case .greater: ExprMath.bool(a > b)
        case .greaterEqual: ExprMath.bool(a >= b)
        case .equal: ExprMath.bool(a == b)
        case .notEqual: ExprMath.bool(a != b)
        case .and: ExprMath.bool(a != 0 && b != 0)
        case .or: ExprMath.bool(a != 0 || b != 0)
        case .not: ExprMath.bool(a == 0)
        case .select: a != 0 ? b : c
        case .store: a
        }
    }
}

struct Instruction: Sendable {
    var op: Opcode
    var dst: Int32
    var a: Int32
    var b: Int32
    var c: Int32
}

/// A flat register program evaluating several expressions at once, with shared subexpressions
/// computed once. Register layout: variables, then constants, then one register per instruction result.
public struct CompiledProgram: Sendable {
    /// Instructions whose operands are all invariant (constants, and variables at or after
    /// `varyingVariables`): in an ODE right-hand side, what depends on parameters and inputs only.
    private let prelude: [Instruction]
    /// Everything else, stores included.
    private let body: [Instruction]
    private let constants: [Double]
    private let variables: [String]

    public let registerCount: Int
    public var variableCount: Int { variables.count }
    public var instructionCount: Int { prelude.count + body.count }
    /// Instructions `prepare` hoists out of `runPrepared`.
    public var invariantInstructionCount: Int { prelude.count }

    /// Output i is written to `out[destinations[i]]` (default `0..<outputs.count`).
    /// `varyingVariables`: only the first that many variables change between calls of `runPrepared`
    /// (for an ODE: t and the states); nil when any may.
    /// Outputs may use the names of `graph`; each name an output needs is computed once, before its
    /// first use, into its own register.
    /// Throws `.unknownSymbol` (location `<compiled>:0:0`) for symbols that are neither in `variables` nor names.
    public init(variables: [String], graph: ExpressionGraph = ExpressionGraph(), outputs: [Expr], destinations: [Int]? = nil,
                varyingVariables: Int? = nil) throws(ExpressionError) {
        let destinations = destinations ?? Array(outputs.indices)
        precondition(destinations.count == outputs.count, "CompiledProgram: one destination per output is required")
        precondition(destinations.allSatisfy { $0 >= 0 && $0 <= Int(Int32.max) }, "CompiledProgram: destinations must be non-negative")

        var builder = ProgramBuilder(variables: variables, graph: graph)
        var stores: [(destination: Int32, register: Int32)] = []
        for (output, destination) in zip(outputs, destinations) {
            stores.append((Int32(destination), try builder.lower(graph.resolved(output))))
        }
        let layout = builder.finish(stores: stores)
        // Partition in program order: an instruction is invariant when every operand is a constant,
        // an invariant variable or the result of an invariant instruction.
        let varying = varyingVariables ?? variables.count
        var invariant = [Bool](repeating: true, count: layout.registerCount)
        for k in 0..<min(varying, variables.count) { invariant[k] = false }
        var prelude: [Instruction] = [], body: [Instruction] = []
        for ins in layout.instructions {
            let operands = [ins.a, ins.b, ins.c].prefix(ins.op.operandCount)
            if ins.op != .store && operands.allSatisfy({ invariant[Int($0)] }) {
                prelude.append(ins)
            } else {
                if ins.op != .store { invariant[Int(ins.dst)] = false }
                body.append(ins)
            }
        }
        self.prelude = prelude
        self.body = body
        self.constants = layout.constants
        self.variables = variables
        self.registerCount = layout.registerCount
    }

    /// `registers` holds `registerCount` doubles whose first `variableCount` entries are the inputs;
    /// the rest is scratch. Allocates nothing and takes no locks.
    public func run(registers: UnsafeMutablePointer<Double>, outputs: UnsafeMutablePointer<Double>) {
        prepare(registers: registers)
        runPrepared(registers: registers, outputs: outputs)
    }

    /// Loads the constants and computes the invariant part into `registers`; call again whenever an
    /// invariant variable changes. The results stay in the buffer for `runPrepared`.
    public func prepare(registers: UnsafeMutablePointer<Double>) {
        let constantBase = variables.count
        constants.withUnsafeBufferPointer { constants in
            for index in constants.indices { registers[constantBase + index] = constants[index] }
        }
        prelude.withUnsafeBufferPointer { Self.execute($0, registers, registers) }
    }

    /// The varying part only: `registers` must have been through `prepare` since its invariant
    /// variables last changed, and must not have been used by another program since.
    @inline(__always)
    public func runPrepared(registers: UnsafeMutablePointer<Double>, outputs: UnsafeMutablePointer<Double>) {
        body.withUnsafeBufferPointer { Self.execute($0, registers, outputs) }
    }

    @inline(__always)
    private static func execute(_ code: UnsafeBufferPointer<Instruction>, _ registers: UnsafeMutablePointer<Double>, _ outputs: UnsafeMutablePointer<Double>) {
        do {
            let r = registers
            for ins in code {
                let d = Int(ins.dst)
                let a = Int(ins.a)
                let b = Int(ins.b)
                switch ins.op {
                case .add: r[d] = r[a] + r[b]
                case .subtract: r[d] = r[a] - r[b]
                case .multiply: r[d] = r[a] * r[b]
                case .divide: r[d] = r[a] / r[b]
                case .negate: r[d] = -r[a]
                case .power: r[d] = ExprMath.power(r[a], r[b])
                case .exp: r[d] = Foundation.exp(r[a])
                case .log: r[d] = Foundation.log(r[a])
                case .log10: r[d] = Foundation.log10(r[a])
                case .sqrt: r[d] = r[a].squareRoot()
                case .abs: r[d] = Swift.abs(r[a])
                case .sign: r[d] = ExprMath.sign(r[a])
                case .min: r[d] = ExprMath.minimum(r[a], r[b])
                case .max: r[d] = ExprMath.maximum(r[a], r[b])
                case .floor: r[d] = r[a].rounded(.down)
                case .ceil: r[d] = r[a].rounded(.up)
                case .sin: r[d] = Foundation.sin(r[a])
                case .cos: r[d] = Foundation.cos(r[a])
                case .tan: r[d] = Foundation.tan(r[a])
                case .asin: r[d] = Foundation.asin(r[a])
                case .acos: r[d] = Foundation.acos(r[a])
                case .atan: r[d] = Foundation.atan(r[a])
                case .sinh: r[d] = Foundation.sinh(r[a])
                case .cosh: r[d] = Foundation.cosh(r[a])
                case .tanh: r[d] = Foundation.tanh(r[a])
                case .factorial: r[d] = ExprMath.factorial(r[a])
                case .quotient: r[d] = ExprMath.quotient(r[a], r[b])
                case .rem: r[d] = ExprMath.rem(r[a], r[b])
                case .polygamma: r[d] = ExprMath.polygamma(r[a], r[b])
                case .less: r[d] = r[a] < r[b] ? 1 : 0
                case .lessEqual: r[d] = r[a] <= r[b] ? 1 : 0
                case .greater: r[d] = r[a] > r[b] ? 1 : 0
                case .greaterEqual: r[d] = r[a] >= r[b] ? 1 : 0
                case .equal: r[d] = r[a] == r[b] ? 1 : 0
                case .notEqual: r[d] = r[a] != r[b] ? 1 : 0
                case .and: r[d] = r[a] != 0 && r[b] != 0 ? 1 : 0
                case .or: r[d] = r[a] != 0 || r[b] != 0 ? 1 : 0
                case .not: r[d] = r[a] == 0 ? 1 : 0
                case .select: r[d] = r[a] != 0 ? r[b] : r[Int(ins.c)]
                case .store: outputs[d] = r[a]
                }
            }
        }
    }

    /// Human-readable listing for debugging.
    public func dump() -> String {
        var lines: [String] = []
        lines.append("; \(variables.count) variables, \(constants.count) constants, \(instructionCount) instructions (\(prelude.count) invariant), \(registerCount) registers")
        for (index, name) in variables.enumerated() { lines.append("r\(index) = \(name)") }
        for (index, value) in constants.enumerated() { lines.append("r\(variables.count + index) = const \(value)") }
        for ins in prelude + [Instruction(op: .store, dst: -1, a: 0, b: 0, c: 0)] + body {
            if ins.dst == -1 { lines.append("; varying part"); continue }
            let operands = [ins.a, ins.b, ins.c].prefix(ins.op.operandCount).map { "r\($0)" }.joined(separator: ", ")
            if ins.op == .store {
                lines.append("out[\(ins.dst)] = \(operands)")
            } else {
                lines.append("r\(ins.dst) = \(ins.op.mnemonic) \(operands)")
            }
        }
        return lines.joined(separator: "\n")
    }
}

/// Lowers simplified trees to instructions with hash-consing on (opcode, operand registers), so
/// identical subtrees map to one register in O(1) per node, never by hashing whole subtrees.
///
/// During building, registers are virtual: variables `0..<V`, constants `-1 - k`, results `V + j`.
/// `finish` renumbers them once the number of constants is known.
private struct ProgramBuilder {
    struct Key: Hashable {
        var op: Opcode
        var a: Int32
        var b: Int32
        var c: Int32
    }

    let variableIndex: [String: Int32]
    let variableCount: Int32
    let graph: ExpressionGraph
    /// The register of each name of `graph` lowered so far.
    var named: [String: Int32] = [:]
    var constants: [Double] = []
    var constantRegisters: [UInt64: Int32] = [:]
    var instructions: [Instruction] = []
    var existing: [Key: Int32] = [:]

    init(variables: [String], graph: ExpressionGraph) {
        self.graph = graph
        var index: [String: Int32] = [:]
        // First occurrence wins so duplicate names cannot silently shadow a slot the caller fills.
        for (slot, name) in variables.enumerated() where index[name] == nil { index[name] = Int32(slot) }
        variableIndex = index
        variableCount = Int32(variables.count)
    }

    mutating func constant(_ value: Double) -> Int32 {
        let key = value.bitPattern
        if let register = constantRegisters[key] { return register }
        constants.append(value)
        let register = -Int32(constants.count)
        constantRegisters[key] = register
        return register
    }

    func constantValue(_ register: Int32) -> Double? {
        register < 0 ? constants[Int(-1 - register)] : nil
    }

    mutating func emit(_ op: Opcode, _ a: Int32, _ b: Int32 = 0, _ c: Int32 = 0) -> Int32 {
        var (a, b) = (a, b)
        if op.isCommutative, a > b { swap(&a, &b) }
        if op == .select {
            if b == c { return b }
            if let condition = constantValue(a) { return condition != 0 ? b : c }
        }
        let operands = [a, b, c].prefix(op.operandCount)
        if operands.allSatisfy({ $0 < 0 }) {
            let values = operands.map { constantValue($0) ?? 0 }
            let padded = values + [Double](repeating: 0, count: 3 - values.count)
            return constant(op.fold(padded[0], padded[1], padded[2]))
        }
        let key = Key(op: op, a: a, b: op.operandCount > 1 ? b : 0, c: op.operandCount > 2 ? c : 0)
        if let register = existing[key] { return register }
        let register = variableCount + Int32(instructions.count)
        instructions.append(Instruction(op: op, dst: register, a: key.a, b: key.b, c: key.c))
        existing[key] = register
        return register
    }

    /// Constant exponents expand exactly as `ExprMath.power` does, keeping results bit-identical.
    mutating func power(_ base: Int32, _ exponent: Int32) -> Int32 {
        guard let y = constantValue(exponent), constantValue(base) == nil else {
            return emit(.power, base, exponent)
        }
        switch y {
        case 0: return constant(1)
        case 1: return base
        case 2: return emit(.multiply, base, base)
        case 3: return emit(.multiply, emit(.multiply, base, base), base)
        case 4:
            let square = emit(.multiply, base, base)
            return emit(.multiply, square, square)
        case -1: return emit(.divide, constant(1), base)
        case -2: return emit(.divide, constant(1), emit(.multiply, base, base))
        default: return emit(.power, base, exponent)
        }
    }

    /// Post-order with an explicit stack, children left to right, so the instructions come out in
    /// the order a recursive walk would emit them. Not recursive because a debug build spends about
    /// 3 KB of stack per level of such a walk: a 200-deep expression overflowed a 512 KB thread.
    mutating func lower(_ root: Expr) throws(ExpressionError) -> Int32 {
        enum Task {
            case visit(Expr)
            /// Every operand of the node is on `results`, last operand on top.
            case emit(Expr)
            /// The name's value is on top of `results`.
            case name(String)
        }
        var tasks: [Task] = [.visit(root)]
        var results: [Int32] = []
        while let task = tasks.popLast() {
            switch task {
            case .visit(let e):
                switch e {
                case .constant(let value):
                    results.append(constant(value))
                case .symbol(let name):
                    if let slot = variableIndex[name] {
                        results.append(slot)
                    } else if let register = named[name] {
                        results.append(register)
                    } else if let value = graph.value(of: name) {
                        // Lowered where first used; later uses read its register. A name's value uses
                        // only earlier names, so this cannot come back to the same name.
                        tasks.append(.name(name))
                        tasks.append(.visit(value))
                    } else {
                        results.append(try variable(name))
                    }
                case .unary(_, let a):
                    tasks.append(.emit(e))
                    tasks.append(.visit(a))
                case .binary(_, let a, let b):
                    tasks.append(.emit(e))
                    tasks.append(.visit(b))
                    tasks.append(.visit(a))
                case .call(let f, let args):
                    guard f.accepts(argumentCount: args.count) else {
                        throw .arity(function: f.rawValue, expected: f.expectedArguments, got: args.count,
                                     location: .compiled, sourceLine: "")
                    }
                    tasks.append(.emit(e))
                    for arg in args.reversed() { tasks.append(.visit(arg)) }
                case .conditional(let c, let a, let b):
                    tasks.append(.emit(e))
                    tasks.append(.visit(b))
                    tasks.append(.visit(a))
                    tasks.append(.visit(c))
                }
            case .name(let name):
                if let register = results.last { named[name] = register }
            case .emit(let e):
                switch e {
                case .unary(let op, _):
                    let x = results.removeLast()
                    results.append(emit(op == .negate ? .negate : .not, x))
                case .binary(let op, _, _):
                    let y = results.removeLast()
                    let x = results.removeLast()
                    results.append(binary(op, x, y))
                case .call(let f, let args):
                    let registers = Array(results.suffix(args.count))
                    results.removeLast(args.count)
                    results.append(call(f, registers))
                case .conditional:
                    let otherwise = results.removeLast()
                    let then = results.removeLast()
                    let condition = results.removeLast()
                    results.append(emit(.select, condition, then, otherwise))
                case .constant, .symbol:
                    preconditionFailure("leaves are lowered when visited")
                }
            }
        }
        return results[0]
    }

    @inline(never)
    private func variable(_ name: String) throws(ExpressionError) -> Int32 {
        guard let slot = variableIndex[name] else {
            throw .unknownSymbol(name: name, suggestions: Suggestions.closest(to: name, in: variableIndex.keys),
                                 location: .compiled, sourceLine: "")
        }
        return slot
    }

    @inline(never)
    private mutating func binary(_ op: BinaryOperator, _ x: Int32, _ y: Int32) -> Int32 {
        switch op {
        case .add: return emit(.add, x, y)
        case .subtract: return emit(.subtract, x, y)
        case .multiply: return emit(.multiply, x, y)
        case .divide: return emit(.divide, x, y)
        case .power: return power(x, y)
        case .less: return emit(.less, x, y)
        case .lessEqual: return emit(.lessEqual, x, y)
        case .greater: return emit(.greater, x, y)
        case .greaterEqual: return emit(.greaterEqual, x, y)
        case .equal: return emit(.equal, x, y)
        case .notEqual: return emit(.notEqual, x, y)
        case .and: return emit(.and, x, y)
        case .or: return emit(.or, x, y)
        }
    }

    /// `registers` holds one register per argument, already checked against the function's arity.
    @inline(never)
    private mutating func call(_ f: Function, _ registers: [Int32]) -> Int32 {
        let x = registers[0]
        switch f {
        case .exp: return emit(.exp, x)
        case .log: return emit(.log, x)
        case .log10: return emit(.log10, x)
        case .sqrt: return emit(.sqrt, x)
        case .abs: return emit(.abs, x)
        case .sign: return emit(.sign, x)
        case .floor: return emit(.floor, x)
        case .ceil: return emit(.ceil, x)
        case .sin: return emit(.sin, x)
        case .cos: return emit(.cos, x)
        case .tan: return emit(.tan, x)
        case .asin: return emit(.asin, x)
        case .acos: return emit(.acos, x)
        case .atan: return emit(.atan, x)
        case .sinh: return emit(.sinh, x)
        case .cosh: return emit(.cosh, x)
        case .tanh: return emit(.tanh, x)
        case .factorial: return emit(.factorial, x)
        case .quotient: return emit(.quotient, x, registers[1])
        case .rem: return emit(.rem, x, registers[1])
        case .polygamma: return emit(.polygamma, x, registers[1])
        case .min, .max:
            let op: Opcode = f == .min ? .min : .max
            return registers.dropFirst().reduce(x) { emit(op, $0, $1) }
        case .pow:
            return power(x, registers[1])
        case .hill:
            // x^n / (K^n + x^n); with constant K and n, K^n folds to a constant register.
            let xn = power(x, registers[2])
            let kn = power(registers[1], registers[2])
            return emit(.divide, xn, emit(.add, kn, xn))
        }
    }

    /// Renumbers virtual registers into the final layout and appends the output stores. Constants
    /// only consumed at compile time (exponents expanded to multiplications, folded K^n) are dropped
    /// so `run` does not copy them on every call.
    func finish(stores: [(destination: Int32, register: Int32)]) -> (instructions: [Instruction], constants: [Double], registerCount: Int) {
        var constantSlot = [Int32](repeating: -1, count: constants.count)
        var usedConstants: [Double] = []
        func markUsed(_ register: Int32) {
            guard register < 0 else { return }
            let index = Int(-1 - register)
            if constantSlot[index] < 0 {
                constantSlot[index] = Int32(usedConstants.count)
                usedConstants.append(constants[index])
            }
        }
        for ins in instructions {
            for operand in [ins.a, ins.b, ins.c].prefix(ins.op.operandCount) { markUsed(operand) }
        }
        for store in stores { markUsed(store.register) }

        let constantCount = Int32(usedConstants.count)
        func physical(_ register: Int32) -> Int32 {
            if register < 0 { return variableCount + constantSlot[Int(-1 - register)] }
            if register < variableCount { return register }
            return register + constantCount
        }
        var result: [Instruction] = []
        result.reserveCapacity(instructions.count + stores.count)
        for ins in instructions {
            let count = ins.op.operandCount
            result.append(Instruction(op: ins.op, dst: physical(ins.dst), a: physical(ins.a),
                                      b: count > 1 ? physical(ins.b) : 0, c: count > 2 ? physical(ins.c) : 0))
        }
        for store in stores {
            result.append(Instruction(op: .store, dst: store.destination, a: physical(store.register), b: 0, c: 0))
        }
        return (result, usedConstants, Int(variableCount + constantCount) + instructions.count)
    }
}
