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
            if let s = model.species[column] {
                // The condition gives the species' SBML value (a concentration unless hasOnlySubstanceUnits).
                if case .symbol(let amountState) = s.amount, amountState != s.name, stateNames.contains(amountState) {
                    let size = modelParameters[s.compartment] ?? def.parameter(named: s.compartment)?.value ?? .nan
                    effect.states[amountState] = x * size
                } else if stateNames.contains(s.name) {
                    effect.states[s.name] = x
                } else if def.parameter(named: s.name) != nil {
                    effect.parameters[s.name] = x
                } else {
                    throw PEtabError(.unsupported, file: c.file, row: c.row, column: column, "setting species `\(column)`, which an assignment rule defines")
                }
            } else if let name = model.symbols[column] {
                if def.parameter(named: name) != nil {
                    effect.parameters[name] = x
                } else if stateNames.contains(name) {
                    effect.states[name] = x
                } else {
                    throw PEtabError(.unsupported, file: c.file, row: c.row, column: column, "setting `\(column)`, which an assignment rule defines")
                }
            } else {
                effect.formulaValues[column] = x
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
        let values = nominalValues.merging(overrides) { _, b in b }
        let def = model.definition
        // Model parameters the parameter table sets.
        var base: [String: Double] = [:]
        for p in parameters {
            if let name = model.symbols[p.id], def.parameter(named: name) != nil { base[name] = p.nominalValue }
        }
        for (id, v) in overrides { if let name = model.symbols[id], def.parameter(named: name) != nil { base[name] = v } }

        var simulations = [Double](repeating: .nan, count: measurements.count)
        var sigmas = [Double](repeating: .nan, count: measurements.count)
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
            } else if key.steady {
                plan.start = .steadyState
                plan.equilibriumMethod = .simulation
                plan.equilibriumStates = model.initialStates(parameters: simParameters).merging(simEffect.states) { _, b in b }
            } else {
                plan.initialStates = model.initialStates(parameters: simParameters).merging(simEffect.states) { _, b in b }
            }
            let times = key.steady ? [0.0] : Array(Set(rows.map { measurements[$0].time })).sorted()
            plan.outputTimes = times
            plan.tEnd = max(times.last ?? 0, 0) > 0 ? times.last ?? 1 : 1

            // Observable and noise formulas, per measurement, as expressions over the model; identical
            // ones share a column.
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
                let m = measurements[i]
                guard let o = observables[m.observableId] else { continue }
                var local = simEffect.formulaValues
                for (n, v) in m.observableParameters.enumerated() {
                    local["observableParameter\(n + 1)_\(o.id)"] = try value(v, values: values, file: m.file, row: m.row, column: "observableParameters")
                }
                for (n, v) in m.noiseParameters.enumerated() {
                    local["noiseParameter\(n + 1)_\(o.id)"] = try value(v, values: values, file: m.file, row: m.row, column: "noiseParameters")
                }
                let h = try modelExpression(o.formula, local: local, values: values, file: o.file, row: o.row, column: "observableFormula")
                let hk = column(h)
                // The noise formula may read the observable itself (PEtab allows its id there).
                local.removeValue(forKey: o.id)
                var noise = try modelExpression(o.noiseFormula, local: local, values: values, file: o.file, row: o.row, column: "noiseFormula", observable: (o.id, h))
                noise = noise.substituting([o.id: h])
                wanted.append((i, hk, column(noise)))
            }
            let result: SimulationResult
            do { result = try simulator.run(plan, columns: columns) } catch {
                throw PEtabError(.simulation, file: m0.file, row: m0.row, "condition `\(key.sim)`\(key.pre.map { " after preequilibration `\($0)`" } ?? ""): \(error.description)")
            }
            if let failure = result.failure {
                throw PEtabError(.simulation, file: m0.file, row: m0.row, "condition `\(key.sim)`: the integration failed: \(failure.description)")
            }
            for w in wanted {
                let t = key.steady ? 0 : measurements[w.row].time
                guard let k = result.times.firstIndex(of: t) else { continue }
                simulations[w.row] = result.values[k * columns.count + w.observable]
                sigmas[w.row] = result.values[k * columns.count + w.noise]
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
        return PEtabEvaluation(simulations: simulations, sigmas: sigmas, llh: llh, chi2: chi2, logPrior: logPrior)
    }

    /// A PEtab formula as an expression over the model in ketasim names: placeholders and per-condition
    /// values become numbers, SBML ids become the model's symbols, parameter-table ids outside the model
    /// their values.
    func modelExpression(_ e: Expr, local: [String: Double], values: [String: Double], file: String, row: Int, column: String,
                         observable: (id: String, expression: Expr)? = nil) throws(PEtabError) -> Expr {
        var map: [String: Expr] = [:]
        for s in e.symbols {
            if let x = local[s] { map[s] = .constant(x) }
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
