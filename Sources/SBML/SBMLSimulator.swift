import Expressions
import Integrator
import Models

/// Values of chosen expressions at the output times of one run, and why it stopped if it stopped early.
public struct SBMLTrajectory: Sendable {
    public var times: [Double]
    public var names: [String]
    /// Row-major: the value of `names[j]` at `times[i]` is `values[i * names.count + j]`.
    public var values: [Double]
    public var failure: IntegrationError?
    public var statistics: SolverStatistics

    public func value(_ column: Int, at row: Int) -> Double { values[row * names.count + column] }
}

/// One output column: a name and what it computes (see `SBMLModel.expression(for:as:)`).
public struct SBMLOutput: Sendable {
    public var name: String
    public var expression: Expr
    public init(name: String, expression: Expr) {
        self.name = name
        self.expression = expression
    }
}

/// Settings that resolve the SBML Test Suite's tolerances with a wide margin on its cases.
public extension SolverSettings {
    static let sbmlDefault = SolverSettings(stepper: .msbdf, relativeTolerance: 1e-10, absoluteTolerance: 1e-14,
                                            initialStep: 1e-6, maxSteps: 2_000_000)
}

/// Runs an imported SBML model, events included, reporting any expression of it (amounts or
/// concentrations, as the Test Suite asks). Holds a GSL driver: use one per thread.
public final class SBMLSimulator {
    public let model: SBMLModel
    public let compiled: CompiledModel
    private let workspace: ModelWorkspace
    private let parameterValues: [Double]

    public init(model: SBMLModel) throws(SBMLError) {
        self.model = model
        let definition = model.definition
        do {
            compiled = try CompiledModel(definition)
        } catch {
            let line = error.problems.first?.location.line ?? 0
            throw SBMLError(.invalid, file: model.file, line: line, element: "model", id: definition.name, message: "could not compile: \(error.description)")
        }
        workspace = ModelWorkspace(model: compiled)
        parameterValues = definition.parameters.map(\.value)
    }

    /// Compiles output expressions (SBML names already translated) for `simulate`.
    public func outputs(forSBMLIDs ids: [String], amounts: Set<String> = [], concentrations: Set<String> = []) throws(SBMLError) -> [SBMLOutput] {
        var result: [SBMLOutput] = []
        for id in ids {
            let quantity: SBMLQuantity = amounts.contains(id) ? .amount : (concentrations.contains(id) ? .concentration : .value)
            guard let e = model.expression(for: id, as: quantity) else {
                throw SBMLError(.invalid, file: model.file, line: 0, element: "model", id: id, message: "no component has the id `\(id)`")
            }
            result.append(SBMLOutput(name: id, expression: e))
        }
        return result
    }

    /// Simulates from t = 0 (SBML's start) and reports `outputs` at `times` (ascending, >= 0).
    public func simulate(times: [Double], outputs: [SBMLOutput], settings: SolverSettings = .sbmlDefault) throws(SBMLError) -> SBMLTrajectory {
        let program: CompiledProgram
        do {
            program = try compiled.program(computing: outputs.map(\.expression))
        } catch {
            throw SBMLError(.invalid, file: model.file, line: 0, element: "model", id: nil, message: "an output cannot be computed: \(error.message)")
        }
        let needed = max(program.registerCount, compiled.variableNames.count)
        // Outputs may need more registers than the event programs: run them in a buffer of their own.
        let outputRegisters = UnsafeMutablePointer<Double>.allocate(capacity: needed)
        outputRegisters.initialize(repeating: 0, count: needed)
        defer { outputRegisters.deallocate() }
        for (k, v) in parameterValues.enumerated() { outputRegisters[compiled.parameterOffset + k] = v }

        var trajectory = SBMLTrajectory(times: [], names: outputs.map(\.name), values: [], failure: nil, statistics: SolverStatistics())
        var row = [Double](repeating: 0, count: outputs.count)
        func record(_ t: Double, _ y: UnsafePointer<Double>?) {
            outputRegisters[0] = t
            if let y { for i in 0..<compiled.stateCount { outputRegisters[1 + i] = y[i] } }
            row.withUnsafeMutableBufferPointer { b in
                guard let base = b.baseAddress else { return }
                program.run(registers: outputRegisters, outputs: base)
            }
            trajectory.times.append(t)
            trajectory.values.append(contentsOf: row)
        }

        let n = compiled.stateCount
        if n == 0 {
            for t in times.sorted() { record(t, nil) }
            return trajectory
        }
        let integrator: ODEIntegrator
        do {
            integrator = try ODEIntegrator(system: workspace, settings: settings)
        } catch {
            trajectory.failure = error
            return trajectory
        }
        let initial = model.definition.states.map(\.initial)
        // Even without events, the event-watching path: it steps to every output time rather than
        // interpolating, which the Test Suite's tight tolerances need.
        let watch = workspace.eventWatch() ?? EventWatch(count: 0, initialValues: []) { _, _, _ in }
        let solution = integrator.solve(from: 0, initial: initial, outputTimes: times, events: watch) { [workspace] t, fired, state in
            workspace.fireEvents(fired, at: t, state: state)
        }
        for k in 0..<solution.count {
            solution.state(at: k).withUnsafeBufferPointer { record(solution.times[k], $0.baseAddress) }
        }
        trajectory.failure = solution.failure
        trajectory.statistics = solution.statistics
        return trajectory
    }
}
