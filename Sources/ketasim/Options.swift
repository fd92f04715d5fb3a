import ArgumentParser
import Experiments
import Integrator
import Models

extension Stepper: ExpressibleByArgument {}
extension OutputMode: ExpressibleByArgument {}

/// Solver choices shared by the commands that integrate.
struct SolverOptions: ParsableArguments {
    @Option(help: "GSL stepper (msbdf suits these stiff, multi-timescale models).")
    var stepper: Stepper = .msbdf

    @Option(help: "Relative tolerance.")
    var rtol: Double = 1e-6

    @Option(help: "Absolute tolerance.")
    var atol: Double = 1e-9

    @Option(help: "Largest step, as a duration (e.g. 1h); none by default.")
    var maxStep: String?

    @Option(help: "How output times are produced: driver stops at each; interpolate steps freely and interpolates.")
    var outputMode: OutputMode = .driver

    func settings() throws -> SolverSettings {
        var s = SolverSettings(stepper: stepper, relativeTolerance: rtol, absoluteTolerance: atol, outputMode: outputMode)
        if let text = maxStep {
            switch Duration.hours(text) {
            case .success(let h) where h > 0: s.maxStep = h
            case .success: throw ValidationError("--max-step must be positive")
            case .failure(let e): throw ValidationError("--max-step: \(e)")
            }
        }
        if let problem = s.problem() { throw ValidationError(problem) }
        return s
    }
}

func parseDuration(_ text: String, option: String) throws -> Double {
    switch Duration.hours(text) {
    case .success(let h): return h
    case .failure(let e): throw ValidationError("\(option): \(e)")
    }
}

/// `NAME=VALUE` with a numeric value.
func parseAssignment(_ text: String, option: String) throws -> (String, Double) {
    let parts = text.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
    guard parts.count == 2, !parts[0].isEmpty else { throw ValidationError("\(option) takes NAME=VALUE, got `\(text)`") }
    guard let v = Double(parts[1]), v.isFinite else { throw ValidationError("\(option) \(parts[0]): `\(parts[1])` is not a number") }
    return (parts[0], v)
}
