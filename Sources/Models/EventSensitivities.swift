import Integrator

/// Scratch and state of the sensitivities' jumps at events, one per `SensitivityWorkspace`: allocated
/// once, so an event costs a few program runs and no allocation beyond the payloads of the events it
/// queues.
///
/// At an event at time t_e(θ) that sets x_j := V_j (the other states unchanged), with D = S + f τ the
/// derivative of the state at the moving event time and τ = dt_e/dθ:
/// ```
/// D_j := dV_j/dθ = ∂V_j/∂x D + ∂V_j/∂q M + ∂V_j/∂t τ       S+ = D - f+ τ
/// ```
/// which for V = h(x-, q) is the textbook S+ = h_x S- + h_q M + (h_x f- - f+) τ. τ is 0 at a fixed time
/// (the start, a breakpoint such as a dose); at a located crossing of a trigger side g (a - b of a
/// comparison a < b), τ = -(g_x S + g_q M) / (g_x f + g_t), so `time >= tau` gives τ = dtau/dθ. Events
/// that the executions trigger at the same time share the instant's τ (one jump composed of several);
/// a delayed event executes at t_e + δ and carries τ + dδ/dθ, and values computed at the trigger carry
/// their derivatives there, in the payload it is queued with.
final class EventJumps {
    let derivatives: CompiledSensitivities.EventDerivatives
    let n: Int
    let d: Int
    /// The current instant's τ, and whether it is known yet.
    let tau: UnsafeMutablePointer<Double>
    /// The τ of the event executing (the instant's, or a delayed event's own).
    let executing: UnsafeMutablePointer<Double>
    var tauKnown = false
    var cause = EventInstant.start
    /// x and f before an execution, f after it.
    let before: UnsafeMutablePointer<Double>
    let slopeBefore: UnsafeMutablePointer<Double>
    let slopeAfter: UnsafeMutablePointer<Double>
    /// x followed by D (the augmented layout), for the derivatives of expressions along the event.
    let moving: UnsafeMutablePointer<Double>
    /// Derivatives of expressions (columns x directions), the trigger sides' values and their rates.
    let sensitivities: UnsafeMutablePointer<Double>
    let sideValues: UnsafeMutablePointer<Double>
    let sideRates: UnsafeMutablePointer<Double>
    private(set) var failure: SensitivityError?

    init(_ derivatives: CompiledSensitivities.EventDerivatives, stateCount n: Int, directions d: Int) {
        self.derivatives = derivatives
        self.n = n
        self.d = d
        func buffer(_ count: Int) -> UnsafeMutablePointer<Double> {
            let b = UnsafeMutablePointer<Double>.allocate(capacity: max(1, count))
            b.initialize(repeating: 0, count: max(1, count))
            return b
        }
        tau = buffer(d)
        executing = buffer(d)
        before = buffer(n)
        slopeBefore = buffer(n)
        slopeAfter = buffer(n)
        moving = buffer(n * (1 + d))
        sensitivities = buffer(derivatives.maximumColumns * d)
        sideValues = buffer(derivatives.sides.columns)
        sideRates = buffer(derivatives.sides.columns)
    }

    deinit {
        for b in [tau, executing, before, slopeBefore, slopeAfter, moving, sensitivities, sideValues, sideRates] { b.deallocate() }
    }

    func reset() {
        tauKnown = false
        cause = .start
        failure = nil
    }

    func fail(_ error: SensitivityError) {
        if failure == nil { failure = error }
    }
}

extension SensitivityWorkspace: EventObserver {
    /// The model's event triggers for the augmented system (they read x, its first n entries), telling
    /// the jumps why the loop fires at each time. Nil when the model has no events.
    public func eventWatch() -> EventWatch? {
        guard var watch = base.eventWatch(), let jumps else { return nil }
        watch.instant = { [unowned jumps] _, cause in
            jumps.cause = cause
            jumps.tauKnown = false
        }
        return watch
    }

    /// `ModelWorkspace.fireEvents` on the augmented state, with the sensitivities' jumps.
    public func fireEvents(_ fired: [Int], at t: Double, state: UnsafeMutableBufferPointer<Double>) {
        base.fireEvents(fired, at: t, state: state, observer: jumps == nil ? nil : self)
    }

    /// Forgets the previous run's events (the base workspace's queue included) and any failure.
    public func resetEvents() {
        base.resetEvents()
        jumps?.reset()
    }

    private func name(of event: Int) -> String {
        sensitivities.model.definition.events[event].id.map { "`\($0)`" } ?? "#\(event + 1)"
    }

    /// Fills `jumps.moving` with x and D = S + f τ at (t, y), f given.
    private func movingState(_ jumps: EventJumps, x: UnsafePointer<Double>, s: UnsafePointer<Double>, f: UnsafePointer<Double>, tau: UnsafePointer<Double>) {
        jumps.moving.update(from: x, count: n)
        for k in 0..<directionCount {
            for i in 0..<n { jumps.moving[n + k * n + i] = s[k * n + i] + f[i] * tau[k] }
        }
    }

    /// τ of an instant at which event `event` was found by a crossing: of the trigger's sides, the one
    /// nearest its zero in time (|g| / |dg/dt|) is the one that crossed. One that would need more than
    /// 1e-3 of the time to reach its zero did not cross here: the side that did is tangent (its rate 0).
    private func crossingTau(_ jumps: EventJumps, event: Int, t: Double, y: UnsafePointer<Double>) {
        let d = directionCount
        jumps.tau.update(repeating: 0, count: d)
        guard let events = sensitivities.model.events, let program = events.comparisons else {
            jumps.fail(.eventWithoutThreshold(event: name(of: event), time: t))
            return
        }
        let sides = jumps.derivatives.sides
        base.evaluate(t: t, y: y, dydt: jumps.slopeBefore)
        base.evaluateComparisons(program, t: t, y: y, into: jumps.sideValues)
        rates(sides, t: t, x: y, f: jumps.slopeBefore, into: jumps.sideRates)
        var best: Int?
        var nearest = Double.infinity
        for c in events.triggerSides[event] where jumps.sideRates[c] != 0 && jumps.sideRates[c].isFinite {
            let distance = abs(jumps.sideValues[c] / jumps.sideRates[c])
            if best == nil || distance < nearest { best = c; nearest = distance }
        }
        guard let c = best, nearest <= 1e-3 * max(1, abs(t)) else {
            if events.triggerSides[event].isEmpty {
                jumps.fail(.eventWithoutThreshold(event: name(of: event), time: t))
            } else {
                jumps.fail(.tangentTrigger(event: name(of: event), time: t))
            }
            return
        }
        outputSensitivities(sides, t: t, y: y, tau: nil, into: jumps.sensitivities)
        for k in 0..<d { jumps.tau[k] = -jumps.sensitivities[c * d + k] / jumps.sideRates[c] }
        if !(0..<d).allSatisfy({ jumps.tau[$0].isFinite }) { jumps.fail(.tangentTrigger(event: name(of: event), time: t)) }
    }

    func eventTriggered(_ event: Int, at t: Double, state y: UnsafePointer<Double>, delay: Double?) -> [Double]? {
        guard let jumps else { return nil }
        let d = directionCount
        if !jumps.tauKnown {
            if jumps.cause == .crossing {
                crossingTau(jumps, event: event, t: t, y: y)
            } else {
                jumps.tau.update(repeating: 0, count: d)
            }
            jumps.tauKnown = true
        }
        var payload = Array(UnsafeBufferPointer(start: jumps.tau, count: d))
        let definition = sensitivities.model.definition.events[event]
        let delayColumn = (delay ?? 0) > 0 ? jumps.derivatives.delayColumn[event] : nil
        guard definition.useValuesFromTriggerTime || delayColumn != nil else { return payload }
        // The values, and the delay, as they move with the trigger time.
        base.evaluate(t: t, y: y, dydt: jumps.slopeBefore)
        movingState(jumps, x: y, s: y + n, f: jumps.slopeBefore, tau: jumps.tau)
        outputSensitivities(jumps.derivatives.assignments[event], t: t, y: jumps.moving, tau: jumps.tau, into: jumps.sensitivities)
        if let c = delayColumn {
            for k in 0..<d { payload[k] += jumps.sensitivities[c * d + k] }
        }
        if definition.useValuesFromTriggerTime {
            payload += UnsafeBufferPointer(start: jumps.sensitivities, count: definition.assignments.count * d)
        }
        return payload
    }

    func eventWillExecute(_ event: Int, at t: Double, state y: UnsafePointer<Double>, payload: [Double]?) {
        guard let jumps else { return }
        let d = directionCount
        if !jumps.tauKnown {
            // A scheduled instant: the delayed event executing first sets the time's motion.
            for k in 0..<d { jumps.tau[k] = payload.map { $0[k] } ?? 0 }
            jumps.tauKnown = true
        }
        jumps.before.update(from: y, count: n)
        base.evaluate(t: t, y: y, dydt: jumps.slopeBefore)
    }

    func eventExecuted(_ event: Int, at t: Double, state y: UnsafeMutablePointer<Double>, values: [Double], scales: [Double]?, payload: [Double]?) {
        guard let jumps else { return }
        let d = directionCount
        // The event's own τ (its instant's, or a delayed event's) is the payload's head.
        let tau = jumps.executing
        for k in 0..<d { tau[k] = payload.map { $0[k] } ?? jumps.tau[k] }
        movingState(jumps, x: jumps.before, s: y + n, f: jumps.slopeBefore, tau: tau)
        let g = jumps.derivatives.assignments[event]
        outputSensitivities(g, t: t, y: jumps.moving, tau: tau, into: jumps.sensitivities)
        let targets = sensitivities.model.events?.targets[event] ?? []
        // Values taken at the trigger carry their derivatives from there (after τ in the payload).
        let fromTrigger = sensitivities.model.definition.events[event].useValuesFromTriggerTime && (payload?.count ?? 0) >= d + targets.count * d
        let scaleColumn = jumps.derivatives.scaleColumn[event]
        for (j, target) in targets.enumerated() {
            let scale = scales?[j] ?? 1
            for k in 0..<d {
                let dv = fromTrigger ? (payload?[d + j * d + k] ?? 0) : jumps.sensitivities[j * d + k]
                let ds = scaleColumn.map { jumps.sensitivities[($0 + j) * d + k] } ?? 0
                jumps.moving[n + k * n + target] = dv * scale + values[j] * ds
            }
        }
        base.evaluate(t: t, y: y, dydt: jumps.slopeAfter)
        for k in 0..<d {
            for i in 0..<n { y[n + k * n + i] = jumps.moving[n + k * n + i] - jumps.slopeAfter[i] * tau[k] }
        }
    }
}
