import Models

/// How a scenario is changed before it runs: the command line's `--organism`, `--dose`, `--stress`,
/// `--set`, `--t-end` and `--every`, and the experiments of a calibration file, so both mean the same.
public struct PlanChange: Sendable, Equatable {
    public var organism: String?
    /// Added to the scenario's own doses; the first becomes the treatment when the scenario has none.
    public var doses: [DoseRegimen] = []
    /// Chronic stress intensity (0-1) for the scenario's stress periods (from 0 on when it has none).
    public var stress: Double?
    public var parameters: [String: Double] = [:]
    public var tEnd: Double?
    public var outputEvery: Double?

    public init(organism: String? = nil, doses: [DoseRegimen] = [], stress: Double? = nil, parameters: [String: Double] = [:],
                tEnd: Double? = nil, outputEvery: Double? = nil) {
        self.organism = organism
        self.doses = doses
        self.stress = stress
        self.parameters = parameters
        self.tEnd = tEnd
        self.outputEvery = outputEvery
    }

    /// Whether it changes what the scenario simulates (not only how long or how often).
    public var changesScenario: Bool { organism != nil || !doses.isEmpty || stress != nil || !parameters.isEmpty }

    /// Applies every change to `plan` and checks the result against the model.
    public func apply(to plan: inout SimulationPlan, model: ModelDefinition) throws(SimulationError) {
        if let o = organism { plan.organism = o }
        if let t = tEnd {
            guard t > 0, t.isFinite else { throw .badEnd(t, model.timeUnit) }
            plan.tEnd = t
        }
        if let e = outputEvery {
            guard e > 0, e.isFinite else { throw .badOutputInterval(e, model.timeUnit) }
            plan.outputEvery = e
        }
        for d in doses {
            plan.doses.append(d)
            if plan.treatment == nil { plan.treatment = d.drug }
        }
        for (name, value) in parameters { plan.parameters[name] = value }
        if let s = stress {
            guard (0...1).contains(s) else { throw .badStress(s) }
            guard model.input(named: "stress") != nil else { throw .unknown(kind: "input", name: "stress", known: model.inputs.map(\.name)) }
            plan.setStress(s)
        }
        try plan.validate(against: model)
    }
}
