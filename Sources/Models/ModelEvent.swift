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
    /// Time from the trigger to the execution, evaluated when the trigger fires; nil executes at once.
    public var delay: Expr?
    /// Where the event is written, for messages.
    public var location: SourceLocation

    public init(id: String?, trigger: Expr, initialValue: Bool = true, persistent: Bool = true,
                useValuesFromTriggerTime: Bool = true, assignments: [Assignment], delay: Expr? = nil, location: SourceLocation) {
        self.delay = delay
        self.id = id
        self.trigger = trigger
        self.initialValue = initialValue
        self.persistent = persistent
        self.useValuesFromTriggerTime = useValuesFromTriggerTime
        self.assignments = assignments
        self.location = location
    }
}

/// A delayed event waiting for its execution time.
struct PendingEvent {
    var event: Int
    var time: Double
    /// Assignment values computed at the trigger time (`useValuesFromTriggerTime`), else nil.
    var values: [Double]?
    /// Trigger order, for events due at the same time.
    var order: Int
}

/// The events of a model as register programs over the model's variable layout.
struct CompiledEvents: Sendable {
    var triggers: CompiledProgram
    var values: [CompiledProgram]
    var scales: [CompiledProgram?]
    var targets: [[Int]]
    /// Truth before the start of every watched condition: the triggers, then the relations inside
    /// composite triggers and their negations (see `watchedRelations`).
    var initialValues: [Bool]
    /// One output per event (0 for events without a delay); nil when no event has one.
    var delays: CompiledProgram?

    var registerCount: Int { ([triggers.registerCount, delays?.registerCount ?? 0] + values.map(\.registerCount) + scales.compactMap { $0?.registerCount }).max() ?? 0 }

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
        let relations = Self.watchedRelations(events.map(\.trigger))
        triggers = try compile(events.map(\.trigger) + relations, nil)
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
        // A relation true at the start stops the solve there once, firing nothing.
        initialValues = events.map(\.initialValue) + relations.map { _ in false }
        delays = events.contains { $0.delay != nil } ? try compile(events.map { $0.delay ?? .constant(0) }, nil) : nil
    }

    /// The solve loop sees a condition only at the ends of its steps, so a composite trigger true on a
    /// window shorter than a step (k > 3.5 && k < 4, k rising past both within one step) would never
    /// be seen true. Watching each relation inside such a trigger, and its negation, makes every
    /// crossing of a relation a stop (as root functions per relation do in CVODE-based simulators),
    /// where the trigger itself is evaluated. A trigger that is itself one relation needs none.
    static func watchedRelations(_ triggers: [Expr]) -> [Expr] {
        var seen: Set<Expr> = []
        var result: [Expr] = []
        func collect(_ e: Expr) {
            switch e {
            case .constant, .symbol: return
            case .unary(_, let a): collect(a)
            case .binary(let op, let a, let b):
                if [.less, .lessEqual, .greater, .greaterEqual].contains(op), seen.insert(e).inserted {
                    result.append(e)
                    result.append(.unary(.not, e))
                }
                collect(a)
                collect(b)
            case .call(_, let args): args.forEach(collect)
            case .conditional(let c, let a, let b): collect(c); collect(a); collect(b)
            }
        }
        for trigger in triggers {
            if case .binary(let op, _, _) = trigger, [.less, .lessEqual, .greater, .greaterEqual, .equal, .notEqual].contains(op) { continue }
            collect(trigger)
        }
        return result
    }
}

extension ModelWorkspace {
    /// The model's event triggers as conditions for `ODEIntegrator.solve(...events:...)`, evaluated with
    /// the workspace's current parameters and inputs. Nil when the model has no events.
    public func eventWatch() -> EventWatch? {
        guard let events = model.events else { return nil }
        var watch = EventWatch(count: events.initialValues.count, initialValues: events.initialValues) { [unowned self] t, y, truth in
            self.evaluateTriggers(events, t: t, y: y, into: truth)
        }
        if events.delays != nil {
            watch.nextScheduled = { [unowned self] in self.pendingEvents.lazy.map(\.time).min() ?? .infinity }
            watch.hasDue = { [unowned self] t in self.pendingEvents.contains { $0.time <= t } }
            let persistent = model.definition.events.map(\.persistent)
            watch.settled = { [unowned self] truth in
                // A non-persistent event is cancelled when its trigger turns false before it executes.
                if self.pendingEvents.contains(where: { !persistent[$0.event] && !truth[$0.event] }) {
                    self.pendingEvents.removeAll { !persistent[$0.event] && !truth[$0.event] }
                }
            }
        }
        return watch
    }

    /// Executes the events in `fired` (indices, document order) at time t on `state`, with SBML's rules
    /// for simultaneous events: values of events that use trigger-time values are all computed before
    /// any executes; a non-persistent event whose trigger an earlier one turned false is dropped.
    /// Forgets delayed events still waiting: a new run starts with none.
    public func resetEvents() {
        pendingEvents.removeAll()
        pendingCount = 0
    }

    public func fireEvents(_ fired: [Int], at t: Double, state: UnsafeMutableBufferPointer<Double>) {
        guard let events = model.events, let y = state.baseAddress else { return }
        let definitions = model.definition.events
        // Conditions past the triggers are relations watched only to stop the solve (CompiledEvents.watchedRelations).
        let fired = fired.filter { $0 < definitions.count }
        var precomputed: [Int: [Double]] = [:]
        for k in fired where definitions[k].useValuesFromTriggerTime {
            precomputed[k] = evaluate(events.values[k], t: t, y: y, count: definitions[k].assignments.count)
        }
        // Delayed events join the queue with their execution time (and trigger-time values); the solve
        // loop stops at that time, and the queue survives every restart of the stepper.
        var now: [(event: Int, values: [Double]?, delayed: Bool)] = []
        let delays = events.delays.map { evaluate($0, t: t, y: y, count: definitions.count) }
        for k in fired {
            if definitions[k].delay != nil, let d = delays?[k] {
                pendingEvents.append(PendingEvent(event: k, time: t + max(0, d), values: precomputed[k], order: pendingCount))
                pendingCount += 1
            } else {
                now.append((k, precomputed[k], false))
            }
        }
        // Due delayed events execute after those fired now, in the order they were triggered.
        if pendingEvents.contains(where: { $0.time <= t }) {
            let due = pendingEvents.filter { $0.time <= t }.sorted { ($0.time, $0.order) < ($1.time, $1.order) }
            pendingEvents.removeAll { $0.time <= t }
            for p in due { now.append((p.event, p.values, true)) }
        }
        var first = true
        for item in now {
            let k = item.event
            let event = definitions[k]
            // A non-persistent event whose trigger is no longer true does not execute (after an earlier
            // event at the same time, or when it was delayed).
            if (!first || item.delayed) && !event.persistent {
                var truth = [Bool](repeating: false, count: definitions.count)
                truth.withUnsafeMutableBufferPointer { evaluateTriggers(events, t: t, y: y, into: $0) }
                if !truth[k] { continue }
            }
            first = false
            let count = event.assignments.count
            let values = item.values ?? evaluate(events.values[k], t: t, y: y, count: count)
            // A concentration becomes an amount with the compartment size at the moment of firing, before
            // this event resizes it (the SBML Test Suite's reading of simultaneous assignments, cases 1506, 1779).
            let scales = events.scales[k].map { evaluate($0, t: t, y: y, count: count) }
            for j in 0..<count {
                y[events.targets[k][j]] = values[j] * (scales?[j] ?? 1)
            }
        }
    }
}
