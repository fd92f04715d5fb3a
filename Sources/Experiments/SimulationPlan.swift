import Models

/// Everything that defines one simulation: a scenario of the model, as the model file states it and as
/// the user changed it (organism, extra doses, stress, parameters, duration).
public struct SimulationPlan: Sendable, Equatable {
    public var scenarioName: String
    public var organism: String?
    public var tEnd: Double
    public var outputEvery: Double
    public var start: Scenario.Start
    public var steadyStateInputs: [String: Double]
    public var inputs: [String: [InputPeriod]]
    public var parameters: [String: Double]
    public var doses: [DoseRegimen]
    public var treatment: String?

    /// The scenario as written in the model.
    public init(scenario s: Scenario) {
        scenarioName = s.name
        organism = s.organism
        tEnd = s.tEnd
        outputEvery = s.outputEvery
        start = s.start
        steadyStateInputs = s.steadyStateInputs
        inputs = s.inputs
        parameters = s.parameters
        doses = s.doses
        treatment = s.treatment
    }

    /// No scenario: the model's own initial values, no doses, `tEnd` hours.
    public init(model: ModelDefinition, tEnd: Double, outputEvery: Double = 1) {
        scenarioName = "default"
        organism = model.organisms.first?.name
        self.tEnd = tEnd
        self.outputEvery = outputEvery
        start = .initial
        steadyStateInputs = [:]
        inputs = [:]
        parameters = [:]
        doses = []
        treatment = nil
    }

    /// Time of the first dose, if any.
    public var firstDoseTime: Double? { doses.flatMap(\.times).min() }

    /// Where metrics are measured from: the first dose of the treatment drug, so that a pretreatment
    /// (rapamycin 30 min before ketamine) does not shift `at_24h`; the first dose of any drug otherwise.
    public var referenceTime: Double? {
        if let drug = treatment, let t = doses.filter({ $0.drug == drug }).flatMap(\.times).min() { return t }
        return firstDoseTime
    }

    /// Sets the intensity of the `stress` input: every scheduled period and the starting equilibrium
    /// take the new value; a scenario without a stress schedule gets it over the whole run.
    public mutating func setStress(_ intensity: Double, input: String = "stress") {
        if let periods = inputs[input], !periods.isEmpty {
            inputs[input] = periods.map { InputPeriod(value: intensity, from: $0.from, to: $0.to) }
        } else {
            inputs[input] = [InputPeriod(value: intensity, from: 0, to: .infinity)]
        }
        if let s = steadyStateInputs[input], s != 0 { steadyStateInputs[input] = intensity }
    }

    /// Sets the amount of every dose of the treatment drug.
    public mutating func setTreatmentDose(_ amount: Double) {
        guard let drug = treatment else { return }
        doses = doses.map { d in var d = d; if d.drug == drug { d.amount = amount }; return d }
    }

    /// Moves the treatment drug's doses so the first is at `time`, keeping their spacing; doses of other
    /// drugs (a pretreatment, say) move with it so their offset is kept.
    public mutating func setTreatmentTime(_ time: Double) {
        guard let drug = treatment,
              let first = doses.filter({ $0.drug == drug }).flatMap(\.times).min() else { return }
        let shift = time - first
        doses = doses.map { d in var d = d; d.time += shift; return d }
    }
}
