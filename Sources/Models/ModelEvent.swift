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
    /// Among events executing at the same time, the one with the highest priority (evaluated when the
    /// next one is chosen) executes first; equal priorities execute in a seeded random order. Nil: the
    /// event executes after every event that has a priority, in trigger order (SBML leaves it open).
    public var priority: Expr?
    /// Where the event is written, for messages.
    public var location: SourceLocation

    public init(id: String?, trigger: Expr, initialValue: Bool = true, persistent: Bool = true,
                useValuesFromTriggerTime: Bool = true, assignments: [Assignment], delay: Expr? = nil, priority: Expr? = nil,
                location: SourceLocation) {
        self.delay = delay
        self.priority = priority
        self.id = id
        self.trigger = trigger
        self.initialValue = initialValue
        self.persistent = persistent
        self.useValuesFromTriggerTime = useValuesFromTriggerTime
        self.assignments = assignments
        self.location = location
    }
}

/// An event triggered but not yet executed: delayed (waiting for `time`) or due (waiting for its turn
/// among the events executing at this instant).
struct PendingEvent {
    var event: Int
    var time: Double
    /// Assignment values computed at the trigger time (`useValuesFromTriggerTime`), else nil.
    var values: [Double]?
    /// Trigger order, for delayed events due at the same time.
    var order: Int
    /// What an `EventObserver` computed when the event triggered (the sensitivities of its execution
    /// time and of its trigger-time values), handed back when it executes.
    var payload: [Double]? = nil
}

/// What a run that carries more than the states through its events (the forward sensitivities) does as
/// each triggers and executes. `ModelWorkspace.fireEvents` calls it, so the rules of when events fire and
/// in which order stay in one place. `state` is the caller's whole state vector; the model's states are
/// its first entries.
protocol EventObserver: AnyObject {
    /// Event `event` triggered at t; its payload travels with it to its execution. `delay` is the
    /// delay it was given (nil for an event without one).
    func eventTriggered(_ event: Int, at t: Double, state: UnsafePointer<Double>, delay: Double?) -> [Double]?
    /// Event `event` is about to change the states (`state` as before the change).
    func eventWillExecute(_ event: Int, at t: Double, state: UnsafePointer<Double>, payload: [Double]?)
    /// Event `event` assigned `values[j] * scales[j]` (scales nil: 1) to its targets.
    func eventExecuted(_ event: Int, at t: Double, state: UnsafeMutablePointer<Double>, values: [Double], scales: [Double]?, payload: [Double]?)
}

/// The seeded generator that breaks ties between simultaneous events of equal priority (SBML asks for a
/// random order): SplitMix64, restarted with every run so that a run is reproducible.
struct EventTieBreak {
    static let seed: UInt64 = 0x5EED_0F_E7E4_75
    var state = seed

    /// A number in 0..<n, n > 0.
    mutating func next(below n: Int) -> Int {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        // Multiply-shift: unbiased enough for a handful of events, and never out of range.
        return Int(z.multipliedFullWidth(by: UInt64(n)).high)
    }
}

/// The events of a model as register programs over the model's variable layout.
struct CompiledEvents: Sendable {
    var triggers: CompiledProgram
    var values: [CompiledProgram]
    var scales: [CompiledProgram?]
    var targets: [[Int]]
    var initialValues: [Bool]
    /// One output per event (0 for events without a delay); nil when no event has one.
    var delays: CompiledProgram?
    /// One output per event (0 for events without a priority); nil when no event has one.
    var priorities: CompiledProgram?
    var hasPriority: [Bool]
    /// a - b for every comparison a < b (<=, >, >=, ==, !=) in the triggers: a trigger can only change
    /// where one of these changes sign, so the solve loop finds a trigger true only inside one step.
    var comparisons: CompiledProgram?
    var comparisonCount: Int
    /// The comparison sides (`comparisons`' outputs), and which of them each event's trigger holds:
    /// the functions whose zero is a trigger time, for the sensitivities of that time.
    var sides: [Expr]
    var triggerSides: [[Int]]

    var registerCount: Int {
        ([triggers.registerCount, delays?.registerCount ?? 0, priorities?.registerCount ?? 0] + values.map(\.registerCount)
            + [comparisons?.registerCount ?? 0] + scales.compactMap { $0?.registerCount }).max() ?? 0
    }

    init(_ events: [ModelEvent], model: ModelDefinition, variables: [String], graph: ExpressionGraph) throws(ModelError) {
        let stateIndex = Dictionary(model.states.enumerated().map { ($1.name, $0) }, uniquingKeysWith: { a, _ in a })
        func compile(_ exprs: [Expr], _ event: ModelEvent?) throws(ModelError) -> CompiledProgram {
            do {
                return try CompiledProgram(variables: variables, graph: graph, outputs: exprs)
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
        delays = events.contains { $0.delay != nil } ? try compile(events.map { $0.delay ?? .constant(0) }, nil) : nil
        hasPriority = events.map { $0.priority != nil }
        priorities = events.contains { $0.priority != nil } ? try compile(events.map { $0.priority ?? .constant(0) }, nil) : nil
        var sides: [Expr] = []
        var index: [Expr: Int] = [:]
        var owned: [Int] = []
        func collect(_ e: Expr) {
            switch e {
            case .constant, .symbol: break
            case .unary(_, let a): collect(a)
            case .binary(let op, let a, let b):
                switch op {
                case .less, .lessEqual, .greater, .greaterEqual, .equal, .notEqual:
                    let side = Expr.binary(.subtract, a, b)
                    let k: Int
                    if let known = index[side] { k = known } else {
                        k = sides.count
                        index[side] = k
                        sides.append(side)
                    }
                    if !owned.contains(k) { owned.append(k) }
                default: break
                }
                collect(a)
                collect(b)
            case .call(_, let args): args.forEach(collect)
            case .conditional(let c, let a, let b):
                collect(c)
                collect(a)
                collect(b)
            }
        }
        var triggerSides: [[Int]] = []
        for e in events {
            owned = []
            collect(e.trigger)
            triggerSides.append(owned)
        }
        self.sides = sides
        self.triggerSides = triggerSides
        comparisonCount = sides.count
        comparisons = sides.isEmpty ? nil : try compile(sides, nil)
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
        if let program = events.comparisons {
            watch.signCount = events.comparisonCount
            watch.signs = { [unowned self] t, y, out in self.evaluateComparisons(program, t: t, y: y, into: out) }
        }
        if events.delays != nil {
            watch.nextScheduled = { [unowned self] in self.pendingEvents.lazy.map(\.time).min() ?? .infinity }
        }
        // Events execute one per round of the solve loop's cascade, so that each choice of the next one
        // sees the triggers and priorities as the previous execution left them.
        watch.hasDue = { [unowned self] t in !self.dueEvents.isEmpty || self.pendingEvents.contains { $0.time <= t } }
        let persistent = model.definition.events.map(\.persistent)
        watch.settled = { [unowned self] truth in
            // A non-persistent event is cancelled when its trigger turns false before it executes.
            func cancelled(_ p: PendingEvent) -> Bool { !persistent[p.event] && !truth[p.event] }
            if self.pendingEvents.contains(where: cancelled) { self.pendingEvents.removeAll(where: cancelled) }
            if self.dueEvents.contains(where: cancelled) { self.dueEvents.removeAll(where: cancelled) }
        }
        return watch
    }

    /// Forgets events still waiting and restarts the tie-break: a new run starts with none, and the same
    /// run gives the same result.
    public func resetEvents() {
        pendingEvents.removeAll()
        dueEvents.removeAll()
        pendingCount = 0
        tieBreak = EventTieBreak()
    }

    /// Called by the solve loop at time t with the events whose triggers just rose (`fired`, document
    /// order; maybe none), and again while events are due: the fired events join the delayed queue or
    /// the due events, then one due event executes. The solve loop re-evaluates the triggers between
    /// calls, so that events an execution triggers join the due ones and a non-persistent event whose
    /// trigger an execution turned false is dropped (`EventWatch.settled`). The next event is the due
    /// one of highest priority, equal priorities in a seeded random order, events without a priority
    /// after those with one, in the order they became due: those fired, then delayed ones coming due.
    /// Values of events that use trigger-time values are computed when they trigger.
    public func fireEvents(_ fired: [Int], at t: Double, state: UnsafeMutableBufferPointer<Double>) {
        fireEvents(fired, at: t, state: state, observer: nil)
    }

    func fireEvents(_ fired: [Int], at t: Double, state: UnsafeMutableBufferPointer<Double>, observer: EventObserver?) {
        guard let events = model.events, let y = state.baseAddress else { return }
        let definitions = model.definition.events
        var delays: [Double]?
        if let program = events.delays, fired.contains(where: { definitions[$0].delay != nil }) {
            delays = evaluate(program, t: t, y: y, count: definitions.count)
        }
        for k in fired {
            let values = definitions[k].useValuesFromTriggerTime ? evaluate(events.values[k], t: t, y: y, count: definitions[k].assignments.count) : nil
            let delay = definitions[k].delay != nil ? delays?[k] : nil
            let payload = observer?.eventTriggered(k, at: t, state: y, delay: delay)
            if let d = delay {
                // The solve loop stops at the execution time; the queue survives every restart of the stepper.
                pendingEvents.append(PendingEvent(event: k, time: t + max(0, d), values: values, order: pendingCount, payload: payload))
                pendingCount += 1
            } else {
                dueEvents.append(PendingEvent(event: k, time: t, values: values, order: 0, payload: payload))
            }
        }
        if pendingEvents.contains(where: { $0.time <= t }) {
            dueEvents += pendingEvents.filter { $0.time <= t }.sorted { ($0.time, $0.order) < ($1.time, $1.order) }
            pendingEvents.removeAll { $0.time <= t }
        }
        guard !dueEvents.isEmpty else { return }
        let item = dueEvents.remove(at: nextDue(events, t: t, y: y))
        let k = item.event
        let count = definitions[k].assignments.count
        let values = item.values ?? evaluate(events.values[k], t: t, y: y, count: count)
        // A concentration becomes an amount with the compartment size at the moment of firing, before
        // this event resizes it (the SBML Test Suite's reading of simultaneous assignments, cases 1506, 1779).
        let scales = events.scales[k].map { evaluate($0, t: t, y: y, count: count) }
        observer?.eventWillExecute(k, at: t, state: y, payload: item.payload)
        for j in 0..<count {
            y[events.targets[k][j]] = values[j] * (scales?[j] ?? 1)
        }
        observer?.eventExecuted(k, at: t, state: y, values: values, scales: scales, payload: item.payload)
    }

    /// The index in `dueEvents` (not empty) of the event to execute next.
    private func nextDue(_ events: CompiledEvents, t: Double, y: UnsafePointer<Double>) -> Int {
        guard dueEvents.count > 1, let program = events.priorities else { return 0 }
        let priority = evaluate(program, t: t, y: y, count: events.hasPriority.count)
        var top = -Double.infinity
        var best: [Int] = []
        for (i, p) in dueEvents.enumerated() where events.hasPriority[p.event] {
            let v = priority[p.event].isNaN ? -.infinity : priority[p.event]
            if best.isEmpty || v > top {
                top = v
                best = [i]
            } else if v == top {
                best.append(i)
            }
        }
        if best.isEmpty { return 0 }
        return best.count == 1 ? best[0] : best[tieBreak.next(below: best.count)]
    }
}
