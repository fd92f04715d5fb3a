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

    /// Names of the model parameters that stand for parameter-table ids in observable and noise formulas
    /// (placeholders, condition cells and formulas naming an id): an id's value is then a parameter of
    /// the compiled program, not a number baked into it, so the formulas and their compiled programs do
    /// not change from one evaluation to the next, and a derivative by the id is one by a parameter.
    var formulaParameters: [(id: String, name: String)] {
        let def = model.definition
        var taken = Set(def.states.map(\.name) + def.parameters.map(\.name) + def.inputs.map(\.name) + def.assignments.map(\.name))
        taken.insert("t")
        return parameters.map { p in
            var name = "__petab_" + p.id
            while taken.contains(name) { name += "_" }
            taken.insert(name)
            return (p.id, name)
        }
    }

    /// The model as it is simulated: the SBML model plus one unused parameter per parameter-table id
    /// (`formulaParameters`), which only observable and noise formulas read.
    var simulationDefinition: ModelDefinition {
        var def = model.definition
        for (id, name) in formulaParameters {
            def.parameters.append(Models.Parameter(name: name, value: .nan, unit: "unspecified", description: "PEtab parameter `\(id)` as formulas read it",
                                                   provenance: .unstated, location: SourceLocation(file: file, line: 0, column: 0)))
        }
        return def
    }

    /// The model compiled once with its integrator, for callers that evaluate many times (a fit): one
    /// per thread, as any `Simulator`. A `PEtabEvaluator` over it also keeps what does not change
    /// between evaluations.
    public func makeSimulator(settings: SolverSettings = PEtabProblem.solverSettings) throws(PEtabError) -> Simulator {
        let compiled: CompiledModel
        do { compiled = try CompiledModel(simulationDefinition) } catch {
            throw PEtabError(.simulation, file: model.file, "the model cannot be compiled: \(error.description)")
        }
        do { return try Simulator(model: compiled, settings: settings) } catch {
            throw PEtabError(.simulation, file: model.file, "cannot set up the integrator: \(error.description)")
        }
    }

    /// As `evaluate(values:settings:)`, with a simulator of this problem's model from `makeSimulator`.
    public func evaluate(values overrides: [String: Double] = [:], using simulator: Simulator) throws(PEtabError) -> PEtabEvaluation {
        try PEtabEvaluator(self, simulator: simulator).evaluate(values: overrides)
    }

    /// The objective as `evaluate(values:using:)`, and the derivatives of every simulation and sigma by
    /// the parameter-table ids `ids` (see `PEtabEvaluator.evaluateWithSensitivities`).
    public func evaluateWithSensitivities(values overrides: [String: Double] = [:], by ids: [String], using simulator: Simulator) throws(PEtabError) -> (evaluation: PEtabEvaluation, gradient: PEtabGradient) {
        try PEtabEvaluator(self, simulator: simulator).evaluateWithSensitivities(values: overrides, by: ids)
    }
}

/// Evaluates one problem many times (a fit) on one thread: the simulator, and what does not depend on the
/// parameter values, built by the first evaluation and reused by the others: which measurements share a
/// simulation, the observable and noise formulas of each as output columns (which the simulator's
/// compiled programs and the sensitivities' output derivatives are cached by), and the symbolic part of
/// the sensitivities (initial values differentiated by the parameters). Not thread-safe.
public final class PEtabEvaluator {
    public let problem: PEtabProblem
    public let simulator: Simulator
    private var layout: Layout?
    private var setups: [SetupKey: SensitivitySetup] = [:]

    /// One simulation per (preequilibration, simulation condition, steady or not), with its measurements.
    struct Key: Hashable { var pre: String?; var sim: String; var steady: Bool }
    struct Group {
        var key: Key
        var rows: [Int]
        var columns: [OutputColumn]
        /// Per measurement, the columns of its observable and its noise.
        var wanted: [(row: Int, observable: Int, noise: Int)]
        var times: [Double]
    }
    struct Layout {
        var groups: [Group]
        var formulaParameters: [(id: String, name: String)]
    }
    struct SetupKey: Hashable { var ids: [String]; var baseSources: [String: String] }

    /// `simulator` must come from the problem's `makeSimulator` (its model holds the formulas' parameters).
    public init(_ problem: PEtabProblem, simulator: Simulator) {
        self.problem = problem
        self.simulator = simulator
    }

    /// Simulates every measurement at the nominal parameter values (`values` overrides them, by id on the
    /// linear scale) and computes llh and chi2.
    public func evaluate(values overrides: [String: Double] = [:]) throws(PEtabError) -> PEtabEvaluation {
        try evaluate(values: overrides, by: nil).evaluation
    }

    /// The objective as `evaluate(values:)`, and the derivatives of every simulation and sigma by the
    /// parameter-table ids `ids` (on the linear scale) from forward sensitivities: the model's
    /// parameters, initial values (initial assignments, condition-table cells) and preequilibration
    /// follow the ids; observable and noise formulas are differentiated symbolically. Throws
    /// `.unsupported` where sensitivities cannot be had (an event whose time has no derivative); the caller then
    /// differentiates by finite differences.
    public func evaluateWithSensitivities(values overrides: [String: Double] = [:], by ids: [String]) throws(PEtabError) -> (evaluation: PEtabEvaluation, gradient: PEtabGradient) {
        let (evaluation, gradient) = try evaluate(values: overrides, by: ids)
        guard let gradient else { throw PEtabError(.simulation, file: problem.file, "internal: no gradient was computed") }
        return (evaluation, gradient)
    }

    private func makeLayout() throws(PEtabError) -> Layout {
        if let layout { return layout }
        let p = problem, model = p.model
        let formulaParameters = p.formulaParameters
        let def = simulator.model.definition
        for (_, name) in formulaParameters where def.parameter(named: name) == nil {
            throw PEtabError(.simulation, file: p.file, "internal: the simulator is not of this problem's model (make it with makeSimulator)")
        }
        let symbolOf = Dictionary(formulaParameters.map { ($0.id, $0.name) }, uniquingKeysWith: { a, _ in a })
        let nominal = p.nominalValues
        var base: [String: Double] = [:]
        for q in p.parameters {
            if let name = model.symbols[q.id], model.definition.parameter(named: name) != nil { base[name] = q.nominalValue }
        }
        var groups: [Group] = []
        var index: [Key: Int] = [:]
        for (i, m) in p.measurements.enumerated() {
            let key = Key(pre: m.preequilibrationConditionId, sim: m.simulationConditionId, steady: m.time.isInfinite)
            if let k = index[key] { groups[k].rows.append(i); continue }
            index[key] = groups.count
            groups.append(Group(key: key, rows: [i], columns: [], wanted: [], times: []))
        }
        for g in groups.indices {
            let key = groups[g].key, rows = groups[g].rows
            // Which cells are numbers and which name an id does not depend on the values: the numbers
            // are the formulas' constants, an id is its parameter.
            let simEffect = try p.effect(of: key.sim, values: nominal, modelParameters: base)
            var columns: [OutputColumn] = []
            var columnOf: [Expr: Int] = [:]
            var wanted: [(row: Int, observable: Int, noise: Int)] = []
            func column(_ e: Expr) -> Int {
                if let k = columnOf[e] { return k }
                columns.append(OutputColumn(name: "c\(columns.count)", expression: e))
                columnOf[e] = columns.count - 1
                return columns.count - 1
            }
            for i in rows {
                let m = p.measurements[i]
                guard let o = p.observables[m.observableId] else { continue }
                var local = simEffect.formulaValues
                var symbolic: [String: String] = [:]
                for (name, id) in simEffect.formulaSources { if let s = symbolOf[id] { symbolic[name] = s } }
                for (n, v) in m.observableParameters.enumerated() {
                    let name = "observableParameter\(n + 1)_\(o.id)"
                    if case .parameter(let id) = v, let s = symbolOf[id] { symbolic[name] = s; continue }
                    local[name] = try p.value(v, values: nominal, file: m.file, row: m.row, column: "observableParameters")
                }
                for (n, v) in m.noiseParameters.enumerated() {
                    let name = "noiseParameter\(n + 1)_\(o.id)"
                    if case .parameter(let id) = v, let s = symbolOf[id] { symbolic[name] = s; continue }
                    local[name] = try p.value(v, values: nominal, file: m.file, row: m.row, column: "noiseParameters")
                }
                let h = try p.modelExpression(o.formula, local: local, file: o.file, row: o.row, column: "observableFormula",
                                              symbolic: symbolic, formulaParameters: symbolOf)
                // The noise formula may read the observable itself (PEtab allows its id there).
                local.removeValue(forKey: o.id)
                symbolic.removeValue(forKey: o.id)
                let noise = try p.modelExpression(o.noiseFormula, local: local, file: o.file, row: o.row, column: "noiseFormula",
                                                  observable: o.id, symbolic: symbolic, formulaParameters: symbolOf).substituting([o.id: h])
                wanted.append((i, column(h), column(noise)))
            }
            groups[g].columns = columns
            groups[g].wanted = wanted
            groups[g].times = key.steady ? [0.0] : Array(Set(rows.map { p.measurements[$0].time })).sorted()
        }
        let result = Layout(groups: groups, formulaParameters: formulaParameters)
        layout = result
        return result
    }

    private func sensitivitySetup(ids: [String], baseSources: [String: String]) -> SensitivitySetup {
        let key = SetupKey(ids: ids, baseSources: baseSources)
        if let s = setups[key] { return s }
        let s = SensitivitySetup(problem: problem, definition: simulator.model.definition, ids: ids, baseSources: baseSources)
        if setups.count > 8 { setups.removeAll() }
        setups[key] = s
        return s
    }

    func evaluate(values overrides: [String: Double], by ids: [String]?) throws(PEtabError) -> (evaluation: PEtabEvaluation, gradient: PEtabGradient?) {
        let problem = self.problem, model = problem.model, measurements = problem.measurements
        let layout = try makeLayout()
        let values = problem.nominalValues.merging(overrides) { _, b in b }
        let def = simulator.model.definition
        // Model parameters the parameter table sets, and the id each follows.
        var base: [String: Double] = [:]
        var baseSources: [String: String] = [:]
        for p in problem.parameters {
            if let name = model.symbols[p.id], model.definition.parameter(named: name) != nil { base[name] = p.nominalValue; baseSources[name] = p.id }
        }
        for (id, v) in overrides {
            if let name = model.symbols[id], model.definition.parameter(named: name) != nil { base[name] = v; baseSources[name] = id }
        }
        for (id, name) in layout.formulaParameters {
            base[name] = values[id] ?? .nan
            baseSources[name] = id
        }
        let setup = ids.map { sensitivitySetup(ids: $0, baseSources: baseSources) }
        let d = ids?.count ?? 0

        var simulations = [Double](repeating: .nan, count: measurements.count)
        var sigmas = [Double](repeating: .nan, count: measurements.count)
        var simulationGradients = [Double](repeating: 0, count: setup == nil ? 0 : measurements.count * d)
        var sigmaGradients = simulationGradients
        for group in layout.groups {
            let key = group.key
            guard let first = group.rows.first else { continue }
            let m0 = measurements[first]
            let simEffect = try problem.effect(of: key.sim, values: values, modelParameters: base)
            let simParameters = base.merging(simEffect.parameters) { _, b in b }
            var plan = SimulationPlan(model: def, tEnd: 1)
            plan.parameters = simParameters
            var sensitivityPlan = setup.map { (s: SensitivitySetup) -> SensitivityPlan in
                let m = s.directions(s.sources(simEffect))
                return SensitivityPlan(parameters: s.parameters, directionCount: d, directions: m,
                                       initial: s.initialSensitivities(parameters: simParameters, directions: m, effect: simEffect))
            }
            if let pre = key.pre {
                if key.steady {
                    throw PEtabError(.unsupported, file: m0.file, row: m0.row, column: "time", "a measurement at steady state after a preequilibration")
                }
                let preEffect = try problem.effect(of: pre, values: values, modelParameters: base)
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
            let times = group.times
            plan.outputTimes = times
            plan.tEnd = max(times.last ?? 0, 0) > 0 ? times.last ?? 1 : 1

            let columns = group.columns
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
                    let reason = error.description
                    throw PEtabError(.unsupported, file: model.file, reason.hasPrefix("forward sensitivities") ? reason : "forward sensitivities: \(reason)")
                }
                throw PEtabError(.simulation, file: m0.file, row: m0.row, "condition `\(key.sim)`\(key.pre.map { " after preequilibration `\($0)`" } ?? ""): \(error.description)")
            }
            if let failure = result.failure {
                throw PEtabError(.simulation, file: m0.file, row: m0.row, "condition `\(key.sim)`: the integration failed: \(failure.description)")
            }
            let count = columns.count
            for w in group.wanted {
                let t = key.steady ? 0 : measurements[w.row].time
                guard let k = result.times.firstIndex(of: t) else { continue }
                simulations[w.row] = result.values[k * count + w.observable]
                sigmas[w.row] = result.values[k * count + w.noise]
                if let sensitivity {
                    for j in 0..<d {
                        simulationGradients[w.row * d + j] = sensitivity.gradient(time: k, output: w.observable, direction: j)
                        sigmaGradients[w.row * d + j] = sensitivity.gradient(time: k, output: w.noise, direction: j)
                    }
                }
            }
        }
        var llh = 0.0, chi2 = 0.0
        for (i, m) in measurements.enumerated() {
            guard let o = problem.observables[m.observableId] else { continue }
            llh += petabLogLikelihood(measurement: m.measurement, simulation: simulations[i], sigma: sigmas[i], scale: o.transformation, distribution: o.distribution)
            let r = petabResidual(measurement: m.measurement, simulation: simulations[i], sigma: sigmas[i], scale: o.transformation)
            chi2 += r * r
        }
        var logPrior = 0.0
        for p in problem.parameters where p.estimate {
            if let prior = p.prior { logPrior += prior.logDensity(values[p.id] ?? p.nominalValue, scale: p.scale) }
        }
        let evaluation = PEtabEvaluation(simulations: simulations, sigmas: sigmas, llh: llh, chi2: chi2, logPrior: logPrior)
        guard let ids else { return (evaluation, nil) }
        return (evaluation, PEtabGradient(parameters: ids, simulations: simulationGradients, sigmas: sigmaGradients))
    }
}

extension PEtabProblem {
    /// A PEtab formula as an expression over the model in ketasim names: numeric placeholders and
    /// per-condition values become numbers, SBML ids the model's symbols, other parameter-table ids
    /// their `formulaParameters`; `symbolic` names the parameter a placeholder or condition cell reads.
    func modelExpression(_ e: Expr, local: [String: Double], file: String, row: Int, column: String,
                         observable: String? = nil, symbolic: [String: String] = [:], formulaParameters: [String: String]) throws(PEtabError) -> Expr {
        var map: [String: Expr] = [:]
        for s in e.symbols {
            if let name = symbolic[s] { map[s] = .symbol(name) }
            else if let x = local[s] { map[s] = .constant(x) }
            else if let observable, s == observable { continue }
            else if let x = model.expression(for: s, as: .value) { map[s] = x }
            else if let name = formulaParameters[s] { map[s] = .symbol(name) }
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
