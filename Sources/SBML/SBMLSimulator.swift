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

/// Runs an imported SBML model, events included. Holds registers and a GSL driver: use one per thread.
public final class SBMLSimulator {
    public let model: SBMLModel
    public let compiled: CompiledModel
    private let workspace: ModelWorkspace
    private let variables: [String]
    private let expansion: [String: Expr]
    private let triggers: CompiledProgram
    private let eventValues: [CompiledProgram]
    private let eventScales: [CompiledProgram]
    private let eventTargets: [[Int]]
    private let registers: UnsafeMutablePointer<Double>
    private let registerCapacity: Int
    private var scratch: [Double]
    private let parameterValues: [Double]

    public init(model: SBMLModel) throws(SBMLError) {
        self.model = model
        let definition = model.definition
        let compiledModel: CompiledModel
        do {
            compiledModel = try CompiledModel(definition)
        } catch {
            throw SBMLError(.invalid, file: model.file, line: 0, element: "model", id: definition.name, message: "could not compile: \(error.description)")
        }
        compiled = compiledModel
        workspace = ModelWorkspace(model: compiledModel)
        variables = compiledModel.variableNames
        var expansion: [String: Expr] = [:]
        for a in definition.assignments { expansion[a.name] = a.expression.substituting(expansion) }
        self.expansion = expansion
        let stateIndex = Dictionary(definition.states.enumerated().map { ($1.name, $0) }, uniquingKeysWith: { a, _ in a })
        let file = model.file

        func compile(_ exprs: [Expr], element: String, id: String?, line: Int) throws(SBMLError) -> CompiledProgram {
            do {
                return try CompiledProgram(variables: compiledModel.variableNames, outputs: exprs.map { $0.substituting(expansion) })
            } catch {
                throw SBMLError(.invalid, file: file, line: line, element: element, id: id, message: error.message)
            }
        }
        let triggerProgram = try compile(model.events.map(\.trigger), element: "trigger", id: nil, line: 0)
        var values: [CompiledProgram] = []
        var scales: [CompiledProgram] = []
        var targets: [[Int]] = []
        for e in model.events {
            values.append(try compile(e.assignments.map(\.value), element: "event", id: e.id, line: e.line))
            scales.append(try compile(e.assignments.map { $0.scale ?? .constant(1) }, element: "event", id: e.id, line: e.line))
            var indices: [Int] = []
            for a in e.assignments {
                guard let index = stateIndex[a.state] else {
                    throw SBMLError(.invalid, file: model.file, line: e.line, element: "eventAssignment", id: a.state, message: "the event assigns `\(a.state)`, which is not a state of the imported model")
                }
                indices.append(index)
            }
            targets.append(indices)
        }
        eventValues = values
        eventScales = scales
        eventTargets = targets
        triggers = triggerProgram
        let programs = [triggerProgram] + values + scales
        registerCapacity = max(programs.map(\.registerCount).max() ?? 0, compiledModel.variableNames.count) + 1
        registers = .allocate(capacity: registerCapacity)
        registers.initialize(repeating: 0, count: registerCapacity)
        parameterValues = definition.parameters.map(\.value)
        for (k, v) in parameterValues.enumerated() { registers[compiledModel.parameterOffset + k] = v }
        scratch = Array(repeating: 0, count: max(1, model.events.map(\.assignments.count).max() ?? 0, model.events.count))
    }

    deinit { registers.deallocate() }

    private func load(_ t: Double, _ y: UnsafePointer<Double>) {
        registers[0] = t
        for i in 0..<compiled.stateCount { registers[1 + i] = y[i] }
    }

    private func run(_ program: CompiledProgram, into out: inout [Double]) {
        out.withUnsafeMutableBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return }
            program.run(registers: registers, outputs: base)
        }
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
            program = try CompiledProgram(variables: variables, outputs: outputs.map { $0.expression.substituting(expansion) })
        } catch {
            throw SBMLError(.invalid, file: model.file, line: 0, element: "model", id: nil, message: "an output cannot be computed: \(error.message)")
        }
        let needed = max(program.registerCount, variables.count)
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
        let watch = EventWatch(count: model.events.count, initialValues: model.events.map(\.initialValue)) { [self] t, y, truth in
            guard !model.events.isEmpty else { return }
            load(t, y)
            run(triggers, into: &scratch)
            for k in 0..<truth.count { truth[k] = scratch[k] != 0 }
        }
        let solution = integrator.solve(from: 0, initial: initial, outputTimes: times, events: watch) { [self] t, fired, state in
            fire(fired, at: t, state: state)
        }
        for k in 0..<solution.count {
            solution.state(at: k).withUnsafeBufferPointer { record(solution.times[k], $0.baseAddress) }
        }
        trajectory.failure = solution.failure
        trajectory.statistics = solution.statistics
        return trajectory
    }

    /// SBML semantics for simultaneous events without delay: values of events that use trigger-time
    /// values are all computed before any executes; a non-persistent event whose trigger an earlier one
    /// turned false is dropped. Order among simultaneous events is document order.
    private func fire(_ fired: [Int], at t: Double, state: UnsafeMutableBufferPointer<Double>) {
        guard let y = state.baseAddress else { return }
        load(t, y)
        var precomputed: [Int: [Double]] = [:]
        for k in fired where model.events[k].useValuesFromTriggerTime {
            var values = [Double](repeating: 0, count: model.events[k].assignments.count)
            run(eventValues[k], into: &values)
            precomputed[k] = values
        }
        var first = true
        for k in fired {
            let event = model.events[k]
            load(t, y)
            if !first && !event.persistent {
                run(triggers, into: &scratch)
                if scratch[k] == 0 { continue }
            }
            first = false
            var values = precomputed[k] ?? []
            if values.isEmpty && !event.assignments.isEmpty {
                values = [Double](repeating: 0, count: event.assignments.count)
                run(eventValues[k], into: &values)
            }
            // A concentration becomes an amount with the compartment size at the moment of firing, before
            // this event resizes it (the Test Suite's reading of simultaneous assignments, cases 1506, 1779).
            var scales = [Double](repeating: 1, count: event.assignments.count)
            if event.assignments.contains(where: { $0.scale != nil }) { run(eventScales[k], into: &scales) }
            for (j, a) in event.assignments.enumerated() {
                y[eventTargets[k][j]] = a.scale == nil ? values[j] : values[j] * scales[j]
            }
        }
    }
}
