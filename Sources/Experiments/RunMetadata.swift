import Foundation
import Integrator
import Models

/// What produced an output file, written beside it as `FILE.meta.json` so a result can be traced to
/// the exact model, scenario, doses, parameters, solver and command.
public struct RunMetadata: Codable, Sendable {
    public var ketasimVersion: String
    public var createdAt: String
    public var command: [String]
    public var modelFile: String
    public var modelSHA256: String
    public var scenario: String
    public var organism: String?
    public var doses: [String]
    public var parametersChanged: [String: Double]
    public var inputs: [String: [InputPeriod]]
    /// The run's end and output interval, in the model's time unit.
    public var tEnd: Double?
    public var outputEvery: Double?
    public var solver: SolverSettings
    public var seed: UInt64?
    public var sweep: [String: [Double]]?
    public var extra: [String: String]
    /// The model's time unit, the output times as chosen, and each column's unit.
    public var timeUnit: String?
    public var outputGrid: String?
    public var units: [String: String]?
    /// `failed` with the reason when the run that wrote the file stopped early; nil when it finished.
    public var failure: String?

    public init(version: String, modelFile: String, plan: SimulationPlan, model: ModelDefinition, solver: SolverSettings, seed: UInt64? = nil, sweep: [String: [Double]]? = nil, extra: [String: String] = [:]) {
        ketasimVersion = version
        createdAt = ISO8601DateFormatter().string(from: Date())
        command = CommandLine.arguments
        self.modelFile = URL(fileURLWithPath: modelFile).standardizedFileURL.path
        modelSHA256 = (FileManager.default.contents(atPath: modelFile)).map { SHA256.hex($0) } ?? "unreadable"
        scenario = plan.scenarioName
        organism = plan.organism
        doses = plan.doses.map(\.description)
        // Every parameter whose value differs from the model file's, after organism and overrides.
        let values = model.parameterValues(organism: plan.organism, overrides: plan.parameters)
        var changed: [String: Double] = [:]
        for (p, v) in zip(model.parameters, values) where p.value != v { changed[p.name] = v }
        parametersChanged = changed
        inputs = plan.inputs.mapValues { $0.map { InputPeriod(value: $0.value, from: $0.from, to: $0.to.isFinite ? $0.to : plan.tEnd) } }
        tEnd = plan.tEnd
        outputEvery = plan.outputEvery
        timeUnit = model.timeUnit.symbol
        outputGrid = plan.gridDescription(timeUnit: model.timeUnit)
        self.solver = solver
        self.seed = seed
        self.sweep = sweep
        self.extra = extra
    }

    /// The sidecar of a file no single plan produced (a multistart fit of a PEtab problem): its input
    /// by path and by a hash of everything it reads, the solver and the seed; what else defines the
    /// work (method, tolerances, counts) goes in `extra`, which is part of the identity.
    public init(version: String, inputFile: String, inputSHA256: String, solver: SolverSettings, seed: UInt64?, extra: [String: String]) {
        ketasimVersion = version
        createdAt = ISO8601DateFormatter().string(from: Date())
        command = CommandLine.arguments
        modelFile = URL(fileURLWithPath: inputFile).standardizedFileURL.path
        modelSHA256 = inputSHA256
        scenario = ""
        doses = []
        parametersChanged = [:]
        inputs = [:]
        self.solver = solver
        self.seed = seed
        self.extra = extra
    }

    public func json() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        guard let data = try? encoder.encode(self) else { return "{}" }
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    /// Records each column's unit (states, assignments and parameters by the model's declarations;
    /// `metric` columns `<output>.<metric>` take their output's unit, times the model's time unit).
    public mutating func describeColumns(_ names: [String], model: ModelDefinition) {
        var units: [String: String] = [timeUnit.map { TimeUnit($0).column } ?? "time": timeUnit ?? ""]
        // Looked up in dictionaries: an imported model can have tens of thousands of columns.
        let first = { (a: String, _: String) in a }
        let states = Dictionary(model.states.map { ($0.name, $0.unit) }, uniquingKeysWith: first)
        let assignments = Dictionary(model.assignments.map { ($0.name, $0.unit ?? "") }, uniquingKeysWith: first)
        let parameters = Dictionary(model.parameters.map { ($0.name, $0.unit) }, uniquingKeysWith: first)
        for name in names {
            if let unit = states[name] ?? assignments[name] ?? parameters[name] { units[name] = unit }
        }
        self.units = units
    }
}
