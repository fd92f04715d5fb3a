import Expressions
import Integrator

/// A discrete change of state when a condition becomes true (SBML's event without delay). ketasim's
/// own YAML format schedules its discontinuities instead (doses, input periods); events come from
/// imported SBML models, and every command that runs a model honours them.
public struct ModelEvent: Sendable {
    public struct Assignment: Sendable {
        /// The state that changes.
        public var state: String
        public var value: Expr
        /// When set, the new value is `value` times `scale`, with `scale` evaluated as the event
        /// executes (an SBML concentration assigned to a species held as an amount).
        public var scale: Expr?

        public init(state: String, value: Expr, scale: Expr? = nil) {
            self.state = state
            self.value = value
            self.scale = scale
        }
    }

    public var id: String?
    public var trigger: Expr
    /// Truth of the trigger just before the start; false makes a trigger already true at the start fire there.
    public var initialValue: Bool
    /// False: the event is dropped when an event executed before it at the same time made its trigger false.
    public var persistent: Bool
    /// True: assigned values are computed when the trigger fires, before any simultaneous event executes.
    public var useValuesFromTriggerTime: Bool
    public var assignments: [Assignment]
    /// Where the event is written, for messages.
    public var location: SourceLocation

    public init(id: String?, trigger: Expr, initialValue: Bool = true, persistent: Bool = true,
                useValuesFromTriggerTime: Bool = true, assignments: [Assignment], location: SourceLocation) {
        self.id = id
        self.trigger = trigger
        self.initialValue = initialValue
        self.persistent = persistent
        self.useValuesFromTriggerTime = useValuesFromTriggerTime
        self.assignments = assignments
        self.location = location
    }
}

/// The events of a model as register programs over the model's variable layout.
struct CompiledEvents: Sendable {
    var triggers: CompiledProgram
    var values: [CompiledProgram]
    var scales: [CompiledProgram?]
    var targets: [[Int]]
    var initialValues: [Bool]

    var registerCount: Int { ([triggers.registerCount] + values.map(\.registerCount) + scales.compactMap { $0?.registerCount }).max() ?? 0 }

    init(_ events: [ModelEvent], model: ModelDefinition, variables: [String], expansion: [String: Expr]) throws(ModelError) {
        let stateIndex = Dictionary(model.states.enumerated().map { ($1.name, $0) }, uniquingKeysWith: { a, _ in a })
        func compile(_ exprs: [Expr], _ event: ModelEvent?) throws(ModelError) -> CompiledProgram {
            do {
                return try CompiledProgram(variables: variables, outputs: exprs.map { $0.substituting(expansion) })
            } catch {
                let location = event?.location ?? SourceLocation(file: model.file, line: 1, column: 1)
                let name = event.flatMap(\.id).map { " `\($0)`" } ?? ""
                throw .invalid([ModelProblem(location: location, message: "event\(name): \(error.message)")])
            }
        }
        triggers = try compile(events.map(\.trigger), nil)
        values = []
        scales = []
        targets = []
        for e in events {
            values.append(try compile(e.assignments.map(\.value), e))
            scales.append(e.assignments.contains { $0.scale != nil } ? try compile(e.assignments.map { $0.scale ?? .constant(1) }, e) : nil)
            var indices: [Int] = []
            for a in e.assignments {
                guard let k = stateIndex[a.state] else {
                    throw .invalid([ModelProblem(location: e.location, message: "event\(e.id.map { " `\($0)`" } ?? "") assigns `\(a.state)`, which is not a state")])
                }
                indices.append(k)
            }
            targets.append(indices)
        }
        initialValues = events.map(\.initialValue)
    }
}

extension ModelWorkspace {
    /// The model's event triggers as conditions for `ODEIntegrator.solve(...events:...)`, evaluated with
    /// the workspace's current parameters and inputs. Nil when the model has no events.
    public func eventWatch() -> EventWatch? {
        guard let events = model.events else { return nil }
        return EventWatch(count: events.initialValues.count, initialValues: events.initialValues) { [unowned self] t, y, truth in
            self.evaluateTriggers(events, t: t, y: y, into: truth)
        }
    }

    /// Executes the events in `fired` (indices, document order) at time t on `state`, with SBML's rules
    /// for simultaneous events: values of events that use trigger-time values are all computed before
    /// any executes; a non-persistent event whose trigger an earlier one turned false is dropped.
    public func fireEvents(_ fired: [Int], at t: Double, state: UnsafeMutableBufferPointer<Double>) {
        guard let events = model.events, let y = state.baseAddress else { return }
        let definitions = model.definition.events
        var precomputed: [Int: [Double]] = [:]
        for k in fired where definitions[k].useValuesFromTriggerTime {
            precomputed[k] = evaluate(events.values[k], t: t, y: y, count: definitions[k].assignments.count)
        }
        var first = true
        for k in fired {
            let event = definitions[k]
            if !first && !event.persistent {
                var truth = [Bool](repeating: false, count: definitions.count)
                truth.withUnsafeMutableBufferPointer { evaluateTriggers(events, t: t, y: y, into: $0) }
                if !truth[k] { continue }
            }
            first = false
            let count = event.assignments.count
            let values = precomputed[k] ?? evaluate(events.values[k], t: t, y: y, count: count)
            // A concentration becomes an amount with the compartment size at the moment of firing, before
            // this event resizes it (the SBML Test Suite's reading of simultaneous assignments, cases 1506, 1779).
            let scales = events.scales[k].map { evaluate($0, t: t, y: y, count: count) }
            for j in 0..<count {
                y[events.targets[k][j]] = values[j] * (scales?[j] ?? 1)
            }
        }
    }
}
