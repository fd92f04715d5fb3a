import Experiments
import Expressions
import Models

/// An imported SBML model: the ODE model ketasim simulates (events included), plus what
/// `ModelDefinition` cannot hold (how each species is reported as an amount or a concentration).
public struct SBMLModel: Sendable {
    /// States, parameters, assignments and ODEs. Names are the SBML ids, except ids ketasim reserves
    /// (`t`, function names), which get a `_` suffix, and species held as amounts in a varying
    /// compartment, whose state is `<id>_amount` and whose id names the concentration assignment.
    public var definition: ModelDefinition
    public var events: [ModelEvent] { definition.events }
    /// SBML id -> ketasim name, for every compartment, species, parameter, species reference with an
    /// id, and reaction (whose name is an assignment holding its rate).
    public var symbols: [String: String]
    /// By SBML id.
    public var species: [String: SBMLSpecies]
    /// Things the import decided that a user should know (folded functions, renamed ids...).
    public var notes: [String]
    public var file: String
    /// Each state's initial value as the model defines it (initial assignment, or attribute), over
    /// ketasim names: parameters, compartments, other species' values and assignments. `definition`
    /// holds these evaluated at the model's own parameter values; callers that change a parameter
    /// which an initial assignment reads evaluate them again (`initialStates(parameters:)`).
    public var initialExpressions: [String: Expr] = [:]

    /// The expression of an SBML id as the suite reports it: species as amount or concentration, the
    /// rest by value. Nil for an unknown id.
    public func expression(for id: String, as quantity: SBMLQuantity = .value) -> Expr? {
        if let s = species[id] {
            switch quantity {
            case .amount: return s.amount
            case .concentration: return s.concentration
            case .value: return .symbol(s.name)
            }
        }
        return symbols[id].map { .symbol($0) }
    }
}

public enum SBMLQuantity: Sendable {
    case amount, concentration
    /// What the id means in SBML math (concentration unless hasOnlySubstanceUnits).
    case value
}

public struct SBMLSpecies: Sendable, Equatable {
    public var id: String
    /// ketasim name of the species' SBML value.
    public var name: String
    public var compartment: String
    /// True when the SBML value is an amount (hasOnlySubstanceUnits, or a 0-dimensional compartment).
    public var valueIsAmount: Bool
    public var amount: Expr
    public var concentration: Expr
}

extension SBMLModel {
    /// The states' initial values with the given parameter values (ketasim names; the model's own values
    /// for the others), resolving the states, assignments and parameters the initial values read.
    /// A value that depends on itself or on something undefined is NaN.
    public func initialStates(parameters overrides: [String: Double]) -> [String: Double] {
        var known: [String: Double] = ["t": 0]
        for p in definition.parameters { known[p.name] = overrides[p.name] ?? p.value }
        let assignments = Dictionary(definition.assignments.map { ($0.name, $0.expression) }, uniquingKeysWith: { a, _ in a })
        var visiting: Set<String> = []
        // Depth-first with an explicit stack: a chain of assignments thousands long overflowed the stack
        // when each value computed the next. A name being computed reads as NaN where it is read again.
        for root in definition.states.map(\.name) where known[root] == nil {
            guard let e = initialExpressions[root] ?? assignments[root] else { continue }
            var stack: [(name: String, expression: Expr, pending: [String], env: [String: Double])] = [(root, e, e.symbols.sorted(), [:])]
            visiting.insert(root)
            while let top = stack.last {
                guard let symbol = top.pending.last else {
                    stack.removeLast()
                    visiting.remove(top.name)
                    known[top.name] = (try? top.expression.evaluate(top.env)) ?? .nan
                    if let below = stack.indices.last { stack[below].env[top.name] = known[top.name] }
                    continue
                }
                stack[stack.count - 1].pending.removeLast()
                if let v = known[symbol] {
                    stack[stack.count - 1].env[symbol] = v
                } else if !visiting.contains(symbol), let e = initialExpressions[symbol] ?? assignments[symbol] {
                    visiting.insert(symbol)
                    stack.append((symbol, e, e.symbols.sorted(), [:]))
                } else {
                    stack[stack.count - 1].env[symbol] = .nan
                }
            }
        }
        var result: [String: Double] = [:]
        for s in definition.states { result[s.name] = known[s.name] ?? .nan }
        return result
    }

    /// Output columns for SBML ids, species as amounts or concentrations where asked (the Test Suite's
    /// `amount` and `concentration` lists), everything else by its value.
    public func columns(ids: [String], amounts: Set<String> = [], concentrations: Set<String> = []) throws(SBMLError) -> [OutputColumn] {
        var result: [OutputColumn] = []
        for id in ids {
            let quantity: SBMLQuantity = amounts.contains(id) ? .amount : concentrations.contains(id) ? .concentration : .value
            guard let e = expression(for: id, as: quantity) else {
                throw SBMLError(.invalid, file: file, line: 0, element: "model", id: id, message: "no component has the id `\(id)`")
            }
            result.append(OutputColumn(name: id, expression: e))
        }
        return result
    }
}
