import Expressions

// Models made in code (an imported SBML model) are assembled from these parts and pass the checks the
// YAML reader applies to a file, without a detour through text. Everything here is linear in the size
// of the model: imported models reach tens of thousands of species.

extension Assignment {
    /// An assignment made in code; `text` is the expression as printed (what a model file would hold).
    public init(name: String, expression: Expr, unit: String? = nil, description: String?, location: SourceLocation) {
        self.init(name: name, expression: expression, text: expression.description, unit: unit, description: description, location: location)
    }
}

/// Why `name` cannot name a `kind` (reserved, or not letters, digits and `_` starting with a letter), or nil.
func nameProblem(_ name: String, kind: String) -> String? {
    if Reader.reserved.contains(name) { return "`\(name)` is reserved and cannot name a \(kind)" }
    // ASCII letters, digits and `_` without walking Characters: what nearly every name is.
    func isWordByte(_ b: UInt8) -> Bool { (b >= 0x61 && b <= 0x7A) || (b >= 0x41 && b <= 0x5A) || (b >= 0x30 && b <= 0x39) || b == 0x5F }
    if let first = name.utf8.first, first > 0x39, name.utf8.allSatisfy(isWordByte) { return nil }
    if name.first.map({ !($0.isLetter || $0 == "_") }) ?? true || !name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) || !name.allSatisfy(\.isASCII) {
        return "`\(name)` is not a valid name for a \(kind): use letters, digits and `_`, starting with a letter"
    }
    return nil
}

/// Orders items so each comes after those it depends on (depth-first, iterative so a long chain
/// neither recurses deeply nor copies paths). `dependencies(i)` lists indices into the same items.
/// Returns the order, or the indices of one cycle (first member repeated at the end).
public func dependencyOrder(count: Int, dependencies: (Int) -> [Int]) -> Result<[Int], DependencyCycle> {
    var mark = [UInt8](repeating: 0, count: count)  // 0 new, 1 on the stack, 2 done
    var order: [Int] = []
    order.reserveCapacity(count)
    var stack: [(node: Int, deps: [Int], next: Int)] = []
    for root in 0..<count where mark[root] == 0 {
        mark[root] = 1
        stack.append((root, dependencies(root), 0))
        while let top = stack.last {
            if top.next < top.deps.count {
                let d = top.deps[top.next]
                stack[stack.count - 1].next += 1
                switch mark[d] {
                case 0:
                    mark[d] = 1
                    stack.append((d, dependencies(d), 0))
                case 1:
                    let path = stack.map(\.node)
                    let start = path.lastIndex(of: d) ?? 0
                    return .failure(DependencyCycle(members: Array(path[start...]) + [d]))
                default:
                    continue
                }
            } else {
                mark[top.node] = 2
                order.append(top.node)
                stack.removeLast()
            }
        }
    }
    return .success(order)
}

public struct DependencyCycle: Error {
    public var members: [Int]
}

extension ModelDefinition {
    /// A model from parts built in code, checked as a model file is: every name valid and declared once,
    /// every symbol of an expression declared (or `t`), one ODE per state, outputs observable and listed
    /// once, and assignments put in dependency order (a cycle is an error naming its members).
    /// `assignments` may come in any order. Problems are reported together, at each part's location.
    public static func assemble(
        file: String, name: String, description: String, timeUnit: TimeUnit, parameters: [Parameter], states: [State],
        odes: [Expr], assignments: [Assignment], outputs: [String], events: [ModelEvent] = []
    ) throws(ModelError) -> ModelDefinition {
        var problems: [ModelProblem] = []
        precondition(odes.count == states.count, "one ODE per state")
        var declared: Set<String> = []
        func declare(_ name: String, _ kind: String, _ location: SourceLocation) {
            if let problem = nameProblem(name, kind: kind) {
                problems.append(ModelProblem(location: location, message: problem))
            } else if !declared.insert(name).inserted {
                problems.append(ModelProblem(location: location, message: "`\(name)` is declared twice"))
            }
        }
        for p in parameters { declare(p.name, "parameter", p.location) }
        for s in states { declare(s.name, "state", s.location) }
        for a in assignments { declare(a.name, "assignment", a.location) }
        func check(_ e: Expr, _ what: String, _ location: SourceLocation) {
            for symbol in e.symbols where symbol != "t" && !declared.contains(symbol) {
                problems.append(ModelProblem(location: location, message: "\(what) uses unknown symbol `\(symbol)`"))
            }
        }
        for (s, ode) in zip(states, odes) { check(ode, "the ODE of `\(s.name)`", s.location) }
        for a in assignments { check(a.expression, "assignment `\(a.name)`", a.location) }

        let index = Dictionary(assignments.enumerated().map { ($1.name, $0) }, uniquingKeysWith: { a, _ in a })
        var ordered: [Assignment] = []
        switch dependencyOrder(count: assignments.count, dependencies: { k in assignments[k].expression.symbols.sorted().compactMap { index[$0] } }) {
        case .success(let order): ordered = order.map { assignments[$0] }
        case .failure(let cycle):
            let names = cycle.members.map { assignments[$0].name }
            problems.append(ModelProblem(location: assignments[cycle.members[0]].location, message: "assignments form a cycle: \(names.joined(separator: " -> "))"))
        }

        let stateNames = Set(states.map(\.name))
        var listed: Set<String> = []
        for o in outputs {
            let place = SourceLocation(file: file, line: 1, column: 1)
            if index[o] == nil && !stateNames.contains(o) {
                problems.append(ModelProblem(location: place, message: "output `\(o)` is neither a state nor an assignment"))
            } else if !listed.insert(o).inserted {
                problems.append(ModelProblem(location: place, message: "output `\(o)` is listed twice"))
            }
        }
        guard problems.isEmpty else { throw .invalid(problems) }
        var model = ModelDefinition(
            file: file, name: name, description: description, timeUnit: timeUnit, references: [],
            parameters: parameters, inputs: [], states: states, assignments: ordered, odes: odes, outputs: outputs,
            drugs: [], organisms: [], scenarios: [])
        model.events = events
        return model
    }
}
