import Experiments
import Expressions
import Foundation
import Integrator
import Models
import SBML

/// The PEtab objective at one set of parameter values: simulations per measurement, log-likelihood and
/// chi2, as PEtab's reference implementation (`petab.calculate_llh`, `calculate_chi2`) defines them.
public struct PEtabEvaluation: Sendable {
    /// One per measurement, in the order of the measurement table(s).
    public var simulations: [Double]
    /// Noise standard deviation (normal) or scale (laplace) per measurement.
    public var sigmas: [Double]
    public var llh: Double
    public var chi2: Double
    /// Sum of the log priors of the estimated parameters (0 without priors); not part of `llh`.
    public var logPrior: Double = 0
    public var nllh: Double { -llh }
}

/// Log-likelihood of one measurement, with every constant term, as `petab.calculate_single_llh`:
/// ```
/// normal, lin:    -0.5 log(2 pi sigma^2)                 - 0.5 ((m - s) / sigma)^2
/// normal, log:    -0.5 log(2 pi sigma^2 m^2)             - 0.5 ((log m - log s) / sigma)^2
/// normal, log10:  -0.5 log(2 pi sigma^2 m^2 log(10)^2)   - 0.5 ((log10 m - log10 s) / sigma)^2
/// laplace, lin:   -log(2 sigma)                           - |m - s| / sigma
/// laplace, log:   -log(2 sigma m)                         - |log m - log s| / sigma
/// laplace, log10: -log(2 sigma m log(10))                 - |log10 m - log10 s| / sigma
/// ```
/// The factors m and m log(10) are the Jacobian of the transformation, so that likelihoods on
/// different scales compare.
public func petabLogLikelihood(measurement m: Double, simulation s: Double, sigma: Double,
                               scale: PEtabScale, distribution: PEtabNoiseDistribution) -> Double {
    let r = (scale.apply(m) - scale.apply(s)) / sigma
    let jacobian: Double
    switch scale {
    case .lin: jacobian = 1
    case .log: jacobian = m
    case .log10: jacobian = m * log(10)
    }
    switch distribution {
    case .normal: return -0.5 * log(2 * Double.pi * sigma * sigma * jacobian * jacobian) - 0.5 * r * r
    case .laplace: return -log(2 * sigma * jacobian) - abs(r)
    }
}

/// Residual normalised by the noise, on the observable's scale (chi2 is the sum of their squares).
public func petabResidual(measurement m: Double, simulation s: Double, sigma: Double, scale: PEtabScale) -> Double {
    (scale.apply(m) - scale.apply(s)) / sigma
}

extension PEtabProblem {
    /// Settings for evaluating an objective: tight, so that the objective does not move with the
    /// integration error when compared with other tools digit for digit.
    public static let solverSettings = SBMLTestSuite.solverSettings

    /// Nominal values of the parameter table's parameters, on the linear scale.
    public var nominalValues: [String: Double] {
        Dictionary(parameters.map { ($0.id, $0.nominalValue) }, uniquingKeysWith: { a, _ in a })
    }

    /// What one condition changes, in ketasim names.
    struct ConditionEffect {
        var parameters: [String: Double] = [:]
        var states: [String: Double] = [:]
        /// Values of ids outside the model that the observables read (per-condition observable parameters).
        var formulaValues: [String: Double] = [:]
        /// The parameter-table id each parameter or state value comes from (a cell naming a parameter),
        /// with the factor it is multiplied by (a compartment's size for a concentration): what a
        /// derivative by that id sees.
        var parameterSources: [String: String] = [:]
        var stateSources: [String: (id: String, factor: Double)] = [:]
        var formulaSources: [String: String] = [:]
    }

    func value(_ v: PEtabValue, values: [String: Double], file: String, row: Int, column: String) throws(PEtabError) -> Double {
        switch v {
        case .number(let x): return x
        case .parameter(let id):
            if let x = values[id] { return x }
            if let name = model.symbols[id], let p = model.definition.parameter(named: name) { return p.value }
            throw PEtabError(.invalid, file: file, row: row, column: column, "`\(id)` is not in the parameter table nor a parameter of the model")
        }
    }

    func effect(of conditionId: String, values: [String: Double], modelParameters: [String: Double]) throws(PEtabError) -> ConditionEffect {
        guard let c = conditions[conditionId] else { throw PEtabError(.invalid, file: file, "unknown condition `\(conditionId)`") }
        var effect = ConditionEffect()
        let def = model.definition
        let stateNames = Set(def.states.map(\.name))
        for (column, cell) in c.values.sorted(by: { $0.key < $1.key }) {
            let x = try value(cell, values: values, file: c.file, row: c.row, column: column)
            if x.isNaN { continue }
            let source: String? = if case .parameter(let id) = cell { id } else { nil }
            if let s = model.species[column] {
                // The condition gives the species' SBML value (a concentration unless hasOnlySubstanceUnits).
                if case .symbol(let amountState) = s.amount, amountState != s.name, stateNames.contains(amountState) {
                    let size = modelParameters[s.compartment] ?? def.parameter(named: s.compartment)?.value ?? .nan
                    effect.states[amountState] = x * size
                    if let source { effect.stateSources[amountState] = (source, size) }
                } else if stateNames.contains(s.name) {
                    effect.states[s.name] = x
                    if let source { effect.stateSources[s.name] = (source, 1) }
                } else if def.parameter(named: s.name) != nil {
                    effect.parameters[s.name] = x
                    if let source { effect.parameterSources[s.name] = source }
                } else {
                    throw PEtabError(.unsupported, file: c.file, row: c.row, column: column, "setting species `\(column)`, which an assignment rule defines")
                }
            } else if let name = model.symbols[column] {
                if def.parameter(named: name) != nil {
                    effect.parameters[name] = x
                    if let source { effect.parameterSources[name] = source }
                } else if stateNames.contains(name) {
                    effect.states[name] = x
                    if let source { effect.stateSources[name] = (source, 1) }
                } else {
                    throw PEtabError(.unsupported, file: c.file, row: c.row, column: column, "setting `\(column)`, which an assignment rule defines")
                }
            } else {
                effect.formulaValues[column] = x
                if let source { effect.formulaSources[column] = source }
            }
        }
        return effect
    }

    /// Simulates every measurement at the nominal parameter values (`values` overrides them, by id on the
    /// linear scale) and computes llh and chi2.
    public func evaluate(values overrides: [String: Double] = [:], settings: SolverSettings = PEtabProblem.solverSettings) throws(PEtabError) -> PEtabEvaluation {
        try evaluate(values: overrides, using: makeSimulator(settings: settings))
    }

    /// The model compiled once with its integrator, for callers that evaluate many times (a fit): one
    /// per thread, as any `Simulator`.
    public func makeSimulator(settings: SolverSettings = PEtabProblem.solverSettings) throws(PEtabError) -> Simulator {
        let compiled: CompiledModel
        do { compiled = try CompiledModel(model.definition) } catch {
            throw PEtabError(.simulation, file: model.file, "the model cannot be compiled: \(error.description)")
        }
        do { return try Simulator(model: compiled, settings: settings) } catch {
            throw PEtabError(.simulation, file: model.file, "cannot set up the integrator: \(error.description)")
        }
    }

    /// As `evaluate(values:settings:)`, with a simulator of this problem's model from `makeSimulator`.
    public func evaluate(values overrides: [String: Double] = [:], using simulator: Simulator) throws(PEtabError) -> PEtabEvaluation {
        try evaluate(values: overrides, using: simulator, by: nil).evaluation
    }

    /// The objective as `evaluate(values:using:)`, and the derivatives of every simulation and sigma by
    /// the parameter-table ids `ids` (on the linear scale) from forward sensitivities: the model's
    /// parameters, initial values (initial assignments, condition-table cells) and preequilibration
    /// follow the ids; observable and noise formulas are differentiated symbolically. Throws
    /// `.unsupported` where sensitivities cannot be had (a model with events); the caller then
    /// differentiates by finite differences.
    public func evaluateWithSensitivities(values overrides: [String: Double] = [:], by ids: [String], using simulator: Simulator) throws(PEtabError) -> (evaluation: PEtabEvaluation, gradient: PEtabGradient) {
        let (evaluation, gradient) = try evaluate(values: overrides, using: simulator, by: ids)
        guard let gradient else { throw PEtabError(.simulation, file: file, "internal: no gradient was computed") }
        return (evaluation, gradient)
    }

    func evaluate(values overrides: [String: Double], using simulator: Simulator, by ids: [String]?) throws(PEtabError) -> (evaluation: PEtabEvaluation, gradient: PEtabGradient?) {
        let values = nominalValues.merging(overrides) { _, b in b }
        let def = model.definition
        // Model parameters the parameter table sets, and the id each follows.
        var base: [String: Double] = [:]
        var baseSources: [String: String] = [:]
        for p in parameters {
            if let name = model.symbols[p.id], def.parameter(named: name) != nil { base[name] = p.nominalValue; baseSources[name] = p.id }
        }
        for (id, v) in overrides {
            if let name = model.symbols[id], def.parameter(named: name) != nil { base[name] = v; baseSources[name] = id }
        }
        let setup = ids.map { SensitivitySetup(problem: self, ids: $0, baseSources: baseSources) }
        let d = ids?.count ?? 0

        var simulations = [Double](repeating: .nan, count: measurements.count)
        var sigmas = [Double](repeating: .nan, count: measurements.count)
        var simulationGradients = [Double](repeating: 0, count: setup == nil ? 0 : measurements.count * d)
        var sigmaGradients = simulationGradients
        // One simulation per (preequilibration, simulation condition, steady or not).
        struct Key: Hashable { var pre: String?; var sim: String; var steady: Bool }
        var groups: [Key: [Int]] = [:]
        var order: [Key] = []
        for (i, m) in measurements.enumerated() {
            let key = Key(pre: m.preequilibrationConditionId, sim: m.simulationConditionId, steady: m.time.isInfinite)
            if groups[key] == nil { order.append(key) }
            groups[key, default: []].append(i)
        }
        for key in order {
            guard let rows = groups[key], let first = rows.first else { continue }
            let m0 = measurements[first]
            let simEffect = try effect(of: key.sim, values: values, modelParameters: base)
            let simParameters = base.merging(simEffect.parameters) { _, b in b }
            var plan = SimulationPlan(model: def, tEnd: 1)
            plan.parameters = simParameters
            var sensitivityPlan = setup.map { s in
                SensitivityPlan(parameters: s.parameters, directionCount: d, directions: s.directions(s.sources(simEffect)),
                                initial: s.initialSensitivities(parameters: simParameters, directions: s.directions(s.sources(simEffect)), effect: simEffect))
            }
            if let pre = key.pre {
                if key.steady {
                    throw PEtabError(.unsupported, file: m0.file, row: m0.row, column: "time", "a measurement at steady state after a preequilibration")
                }
                let preEffect = try effect(of: pre, values: values, modelParameters: base)
                let preParameters = base.merging(preEffect.parameters) { _, b in b }
                plan.start = .steadyState
                plan.equilibriumMethod = .simulation
                plan.equilibriumParameters = preParameters
                plan.equilibriumStates = model.initialStates(parameters: preParameters).merging(preEffect.states) { _, b in b }
                plan.initialStates = simEffect.states
                if let s = setup {
                    let m = s.directions(s.sources(preEffect))
                    sensitivityPlan?.equilibriumDirections = m
                    sensitivityPlan?.equilibriumInitial = s.initialSensitivities(parameters: preParameters, directions: m, effect: preEffect)
                }
            } else if key.steady {
                plan.start = .steadyState
                plan.equilibriumMethod = .simulation
                plan.equilibriumStates = model.initialStates(parameters: simParameters).merging(simEffect.states) { _, b in b }
                let initial = sensitivityPlan?.initial
                sensitivityPlan?.equilibriumInitial = initial
            } else {
                plan.initialStates = model.initialStates(parameters: simParameters).merging(simEffect.states) { _, b in b }
            }
            let times = key.steady ? [0.0] : Array(Set(rows.map { measurements[$0].time })).sorted()
            plan.outputTimes = times
            plan.tEnd = max(times.last ?? 0, 0) > 0 ? times.last ?? 1 : 1

            // Observable and noise formulas, per measurement, as expressions over the model; identical
            // ones share a column. With sensitivities, an estimated id that enters a formula other than
            // through a model parameter (a placeholder, an id outside the model) is a symbol `__theta_j`
            // there: its partial derivative is one more column.
            var columns: [OutputColumn] = []
            var columnOf: [Expr: Int] = [:]
            var wanted: [(row: Int, observable: Int, noise: Int)] = []
            var direct: [(row: Int, noise: Bool, direction: Int, column: Int)] = []
            func column(_ e: Expr) -> Int {
                if let k = columnOf[e] { return k }
                columns.append(OutputColumn(name: "c\(columns.count)", expression: e))
                columnOf[e] = columns.count - 1
                return columns.count - 1
            }
            for i in rows {
                let m = measurements[i]
                guard let o = observables[m.observableId] else { continue }
                var local = simEffect.formulaValues
                var symbolic = setup?.outsideSymbols ?? [:]
                for (name, id) in simEffect.formulaSources { if let s = setup?.symbol(id) { symbolic[name] = s } }
                for name in local.keys where simEffect.formulaSources[name] == nil { symbolic.removeValue(forKey: name) }
                for (n, v) in m.observableParameters.enumerated() {
                    let name = "observableParameter\(n + 1)_\(o.id)"
                    local[name] = try value(v, values: values, file: m.file, row: m.row, column: "observableParameters")
                    if case .parameter(let id) = v, let s = setup?.symbol(id) { symbolic[name] = s } else { symbolic.removeValue(forKey: name) }
                }
                for (n, v) in m.noiseParameters.enumerated() {
                    let name = "noiseParameter\(n + 1)_\(o.id)"
                    local[name] = try value(v, values: values, file: m.file, row: m.row, column: "noiseParameters")
                    if case .parameter(let id) = v, let s = setup?.symbol(id) { symbolic[name] = s } else { symbolic.removeValue(forKey: name) }
                }
                let hSymbolic = try modelExpression(o.formula, local: local, values: values, file: o.file, row: o.row, column: "observableFormula", symbolic: symbolic)
                let constants = setup?.constants(values) ?? [:]
                let h = constants.isEmpty ? hSymbolic : hSymbolic.substituting(constants)
                let hk = column(h)
                // The noise formula may read the observable itself (PEtab allows its id there).
                local.removeValue(forKey: o.id)
                symbolic.removeValue(forKey: o.id)
                var noiseSymbolic = try modelExpression(o.noiseFormula, local: local, values: values, file: o.file, row: o.row, column: "noiseFormula",
                                                        observable: (o.id, h), symbolic: symbolic)
                noiseSymbolic = noiseSymbolic.substituting([o.id: hSymbolic])
                let noise = constants.isEmpty ? noiseSymbolic : noiseSymbolic.substituting(constants)
                wanted.append((i, hk, column(noise)))
                if let s = setup {
                    for (isNoise, e) in [(false, hSymbolic), (true, noiseSymbolic)] {
                        for name in e.symbols {
                            guard let j = s.direction(ofSymbol: name) else { continue }
                            let partial = e.derivative(withRespectTo: name).substituting(constants)
                            if case .constant(0) = partial { continue }
                            direct.append((i, isNoise, j, column(partial)))
                        }
                    }
                }
            }
            let result: SimulationResult
            var sensitivity: SensitivityResult?
            do {
                if let sensitivityPlan {
                    let run = try simulator.run(plan, columns: columns, sensitivities: sensitivityPlan)
                    sensitivity = run
                    result = run.result
                } else {
                    result = try simulator.run(plan, columns: columns)
                }
            } catch {
                if case .sensitivitiesUnavailable = error {
                    throw PEtabError(.unsupported, file: model.file, "forward sensitivities: \(error.description)")
                }
                throw PEtabError(.simulation, file: m0.file, row: m0.row, "condition `\(key.sim)`\(key.pre.map { " after preequilibration `\($0)`" } ?? ""): \(error.description)")
            }
            if let failure = result.failure {
                throw PEtabError(.simulation, file: m0.file, row: m0.row, "condition `\(key.sim)`: the integration failed: \(failure.description)")
            }
            let count = columns.count
            var timeIndex: [Int: Int] = [:]
            for w in wanted {
                let t = key.steady ? 0 : measurements[w.row].time
                guard let k = result.times.firstIndex(of: t) else { continue }
                timeIndex[w.row] = k
                simulations[w.row] = result.values[k * count + w.observable]
                sigmas[w.row] = result.values[k * count + w.noise]
                if let sensitivity {
                    for j in 0..<d {
                        simulationGradients[w.row * d + j] = sensitivity.gradient(time: k, output: w.observable, direction: j)
                        sigmaGradients[w.row * d + j] = sensitivity.gradient(time: k, output: w.noise, direction: j)
                    }
                }
            }
            for x in direct {
                guard let k = timeIndex[x.row] else { continue }
                let v = result.values[k * count + x.column]
                if x.noise { sigmaGradients[x.row * d + x.direction] += v } else { simulationGradients[x.row * d + x.direction] += v }
            }
        }
        var llh = 0.0, chi2 = 0.0
        for (i, m) in measurements.enumerated() {
            guard let o = observables[m.observableId] else { continue }
            llh += petabLogLikelihood(measurement: m.measurement, simulation: simulations[i], sigma: sigmas[i], scale: o.transformation, distribution: o.distribution)
            let r = petabResidual(measurement: m.measurement, simulation: simulations[i], sigma: sigmas[i], scale: o.transformation)
            chi2 += r * r
        }
        var logPrior = 0.0
        for p in parameters where p.estimate {
            if let prior = p.prior { logPrior += prior.logDensity(values[p.id] ?? p.nominalValue, scale: p.scale) }
        }
        let evaluation = PEtabEvaluation(simulations: simulations, sigmas: sigmas, llh: llh, chi2: chi2, logPrior: logPrior)
        guard let ids else { return (evaluation, nil) }
        return (evaluation, PEtabGradient(parameters: ids, simulations: simulationGradients, sigmas: sigmaGradients))
    }

    /// A PEtab formula as an expression over the model in ketasim names: placeholders and per-condition
    /// values become numbers, SBML ids become the model's symbols, parameter-table ids outside the model
    /// their values.
    func modelExpression(_ e: Expr, local: [String: Double], values: [String: Double], file: String, row: Int, column: String,
                         observable: (id: String, expression: Expr)? = nil, symbolic: [String: String] = [:]) throws(PEtabError) -> Expr {
        var map: [String: Expr] = [:]
        for s in e.symbols {
            if let name = symbolic[s] { map[s] = .symbol(name) }
            else if let x = local[s] { map[s] = .constant(x) }
            else if let observable, s == observable.id { continue }
            else if let x = model.expression(for: s, as: .value) { map[s] = x }
            else if let x = values[s] { map[s] = .constant(x) }
            else if s == "t" || s == "time" { map[s] = .symbol("t") }
            else if s.hasPrefix("observableParameter") || s.hasPrefix("noiseParameter") {
                throw PEtabError(.invalid, file: file, row: row, column: column, "placeholder `\(s)` has no value: the measurement row gives too few overrides")
            } else {
                throw PEtabError(.invalid, file: file, row: row, column: column, "`\(s)` is neither a model id nor in the parameter table")
            }
        }
        return e.substituting(map)
    }

    /// The simulation table: the measurement table's columns with `simulation` in place of
    /// `measurement`, one row per measurement.
    public func simulationTable(_ evaluation: PEtabEvaluation) -> String {
        let k = measurementColumns.firstIndex(of: "measurement")
        var lines = [measurementColumns.map { $0 == "measurement" ? "simulation" : $0 }.joined(separator: "\t")]
        for (i, m) in measurements.enumerated() {
            var cells = m.cells
            if cells.count < measurementColumns.count { cells += Array(repeating: "", count: measurementColumns.count - cells.count) }
            let v = evaluation.simulations[i]
            if let k, k < cells.count { cells[k] = "\(v)" }
            lines.append(cells.prefix(measurementColumns.count).joined(separator: "\t"))
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
