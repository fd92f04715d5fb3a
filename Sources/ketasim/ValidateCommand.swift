import ArgumentParser
import Models

struct Validate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check a model file and list every problem with file:line:column.",
        discussion: "Exits 0 when the file has no problems, 65 when it has any."
    )

    @Argument(help: "Model file to check; the bundled model when absent.")
    var path: String?

    func run() throws {
        let loaded = try loadModel(path)
        let path = loaded.path
        let model = loaded.definition
        _ = try compile(loaded)
        let sourced = model.parameters.filter { if case .source = $0.provenance { return true } else { return false } }.count
        try printOut("\(path): valid: \(model.states.count) states, \(model.parameters.count) parameters (\(sourced) with a source, \(model.parameters.count - sourced) assumptions), \(model.assignments.count) assignments, \(model.scenarios.count) scenarios")
    }
}
