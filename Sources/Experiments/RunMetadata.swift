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

    /// Writes `path.meta.json` (replacing an older one that belonged to the same output).
    public func write(besides path: String) throws(OutputFileError) {
        try writeAtomically(json(), to: path + ".meta.json", force: true)
    }
}
