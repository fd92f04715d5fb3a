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
        self.solver = solver
        self.seed = seed
        self.sweep = sweep
        self.extra = extra
    }

    public func json() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        guard let data = try? encoder.encode(self) else { return "{}" }
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    /// What two sidecars must share for their files to hold runs of one sweep: model (by hash),
    /// scenario, organism, doses, parameters, inputs, run length, output grid, solver, sweep axes, seed,
    /// design and metric offsets. Not the shard, the command line or the time. Nil when `data` is not a sidecar.
    public static func sweepIdentity(_ data: Data) -> String? {
        guard let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return nil }
        let keys: Set<String> = ["modelSHA256", "scenario", "organism", "doses", "parametersChanged", "inputs", "tEnd",
                                 "outputEvery", "solver", "sweep", "seed"]
        var picked = json.filter { keys.contains($0.key) }
        let extra = json["extra"] as? [String: String] ?? [:]
        for key in ["design", "runs_total", "metric_offsets"] { picked["extra." + key] = extra[key] ?? "" }
        // Sorted keys: dictionaries have no stable order of their own.
        return (try? JSONSerialization.data(withJSONObject: picked, options: [.sortedKeys])).map { String(decoding: $0, as: UTF8.self) }
    }
}
