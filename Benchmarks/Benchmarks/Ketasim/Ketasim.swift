import Benchmark
import Experiments
import Fitting
import Foundation
import Integrator
import Models
import PEtab
import SBML

// One suite per stage of the pipeline: model load and compile, right-hand side and Jacobian alone,
// whole runs per stepper and output mode, a 1,000-run sweep on one core and on all, and a fit's
// objective with its residual Jacobian on PEtab benchmark problems.

private let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent()
private let modelPath = root.appendingPathComponent("models/ketamine_stress.yaml").path

private func loadModel() -> CompiledModel {
    do { return try CompiledModel(try ModelLoader.load(path: modelPath)) } catch {
        fatalError("benchmarks need the default model at \(modelPath): \(error)")
    }
}

/// An SBML comp document with `n` instances of one submodel (a parameter with a rate rule and an
/// assignment), each replacing a parameter of the top model: flattening and import should grow linearly.
private func compInstances(_ n: Int) -> String {
    let math = "xmlns=\"http://www.w3.org/1998/Math/MathML\""
    var parameters = "", submodels = ""
    for i in 0..<n {
        parameters += "<parameter id=\"x\(i)\" value=\"1\" constant=\"false\"><comp:listOfReplacedElements><comp:replacedElement comp:portRef=\"x_port\" comp:submodelRef=\"s\(i)\"/></comp:listOfReplacedElements></parameter>"
        submodels += "<comp:submodel comp:id=\"s\(i)\" comp:modelRef=\"sub\"/>"
    }
    return """
        <?xml version="1.0" encoding="UTF-8"?>
        <sbml xmlns="http://www.sbml.org/sbml/level3/version2/core" xmlns:comp="http://www.sbml.org/sbml/level3/version1/comp/version1" level="3" version="2" comp:required="true">
        <model id="top"><listOfParameters>\(parameters)</listOfParameters><comp:listOfSubmodels>\(submodels)</comp:listOfSubmodels></model>
        <comp:listOfModelDefinitions><comp:modelDefinition id="sub">
        <listOfParameters><parameter id="x" value="1" constant="false"/><parameter id="k" value="2" constant="true"/><parameter id="y" constant="false"/></listOfParameters>
        <listOfRules><rateRule variable="x"><math \(math)><ci> k </ci></math></rateRule>
        <assignmentRule variable="y"><math \(math)><apply><times/><cn> 3 </cn><ci> x </ci></apply></math></assignmentRule></listOfRules>
        <comp:listOfPorts><comp:port comp:id="x_port" comp:idRef="x"/></comp:listOfPorts>
        </comp:modelDefinition></comp:listOfModelDefinitions>
        </sbml>
        """
}

/// A ketasim YAML model of a linear chain of `n` states, each a block mapping with a description, and
/// one ODE per state (about 180 bytes a state: 250,000 states make a 45 MB file).
/// S0 -> S1 -> ... -> S(n-1) with mass action, as Tests/SBMLTests/ImportScalingTests.swift builds it.
private func speciesChain(_ n: Int) -> String {
    var species = "", parameters = "", reactions = ""
    let math = "xmlns=\"http://www.w3.org/1998/Math/MathML\""
    for i in 0..<n {
        species += "<species id=\"S\(i)\" compartment=\"c\" initialConcentration=\"\(i == 0 ? 1 : 0)\" hasOnlySubstanceUnits=\"false\" boundaryCondition=\"false\" constant=\"false\"/>"
    }
    for i in 0..<(n - 1) {
        parameters += "<parameter id=\"k\(i)\" value=\"\(1 + Double(i % 7) / 10)\" constant=\"true\"/>"
        reactions += "<reaction id=\"r\(i)\" reversible=\"false\"><listOfReactants><speciesReference species=\"S\(i)\" stoichiometry=\"1\" constant=\"true\"/></listOfReactants>"
            + "<listOfProducts><speciesReference species=\"S\(i + 1)\" stoichiometry=\"1\" constant=\"true\"/></listOfProducts>"
            + "<kineticLaw><math \(math)><apply><times/><ci>k\(i)</ci><ci>S\(i)</ci></apply></math></kineticLaw></reaction>"
    }
    return """
        <?xml version="1.0" encoding="UTF-8"?>
        <sbml xmlns="http://www.sbml.org/sbml/level3/version2/core" level="3" version="2"><model id="chain">
        <listOfCompartments><compartment id="c" size="1" constant="true"/></listOfCompartments>
        <listOfSpecies>\(species)</listOfSpecies><listOfParameters>\(parameters)</listOfParameters>
        <listOfReactions>\(reactions)</listOfReactions></model></sbml>
        """
}

private func chainYAML(states n: Int) -> String {
    var text = """
        name: chain
        description: a generated chain of \(n) states
        time_unit: h
        parameters:
          k: {value: 0.5, unit: 1/h, assumption: generated}
          k2: {value: 1.5e-3, unit: 1/h, assumption: generated}
        states:

        """
    for i in 0..<n {
        text += "  s\(i):\n    initial: \(i == 0 ? "1" : "0.0")\n    unit: umol/L\n"
        text += "    description: state \(i) of a generated chain, written to measure how fast a model is read\n"
    }
    text += "odes:\n  s0: -k * s0\n"
    for i in 1..<n { text += "  s\(i): k * s\(i - 1) - (k + k2) * s\(i)\n" }
    return text + "outputs: [s0, s\(n - 1)]\n"
}

private func plan(_ model: CompiledModel, _ name: String, every: Double = 1.0 / 6) -> SimulationPlan {
    guard let s = model.definition.scenario(named: name) else { fatalError("no scenario \(name)") }
    var p = SimulationPlan(scenario: s)
    p.outputEvery = every
    return p
}

private let petabBenchmark = root.deletingLastPathComponent().appendingPathComponent("shared/petab-benchmark").path

/// A PEtab benchmark problem as a fit sees it; nil (and the benchmark skipped) without `../shared`.
private func petabResiduals(_ name: String) -> PEtabResiduals? {
    let path = "\(petabBenchmark)/\(name)/\(name).yaml"
    guard FileManager.default.fileExists(atPath: path) else { return nil }
    do { return try PEtabResiduals(try PEtabProblem.load(path)) } catch {
        fatalError("\(name): \(error)")
    }
}

let benchmarks: @Sendable () -> Void = {
    // The hot path must not allocate: any malloc in RHS or Jacobian evaluation fails the threshold.
    let zeroMallocs: [BenchmarkMetric: BenchmarkThresholds] = [
        .mallocCountTotal: .init(absolute: [.p0: 0, .p25: 0, .p50: 0, .p75: 0, .p90: 0, .p99: 0, .p100: 0]),
    ]
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .cpuTotal, .mallocCountTotal, .peakMemoryResident],
        warmupIterations: 1,
        maxDuration: .seconds(5),
        maxIterations: 100
    )

    // Twice the submodels should take about twice the time (a quadratic step would take four times).
    for n in [2_000, 4_000] {
        let xml = compInstances(n)
        Benchmark("comp flattening and import, \(n) submodels", configuration: .init(maxIterations: 5)) { benchmark in
            for _ in benchmark.scaledIterations {
                do { blackHole(try SBMLImporter.importModel(xml: xml, file: "many.xml")) } catch {
                    fatalError("the generated comp document does not import: \(error)")
                }
            }
        }
    }

    // Import and compile of a species chain: twice the species should take about twice the time (a
    // quadratic step once made 10,000 species take 18 minutes).
    for n in [2_000, 4_000] {
        Benchmark("SBML chain import and compile, \(n) species", configuration: .init(maxDuration: .seconds(20), maxIterations: 5)) { benchmark, xml in
            for _ in benchmark.scaledIterations {
                do { blackHole(try CompiledModel(try SBMLImporter.importModel(xml: xml, file: "chain.xml").definition)) } catch {
                    fatalError("the generated chain does not import: \(error)")
                }
            }
        } setup: { speciesChain(n) }
    }

    // Reading is linear in the file: twice the states should take twice the time. More states than
    // `CompiledModel.maximumStates` are refused once the file is parsed, before any state is read.
    for n in [15_000, 30_000, 250_000] {
        Benchmark("read a generated YAML model, \(n) states", configuration: .init(maxDuration: .seconds(20), maxIterations: 5)) { benchmark, yaml in
            for _ in benchmark.scaledIterations {
                do { blackHole(try ModelLoader.parse(yaml, file: "chain.yaml")) } catch {
                    guard n > CompiledModel.maximumStates else { fatalError("the generated model does not read: \(error)") }
                    blackHole(error)
                }
            }
        } setup: { chainYAML(states: n) }
    }

    Benchmark("model load and compile", configuration: .init(maxIterations: 20)) { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(loadModel())
        }
    }

    // The full system, and the one an intravenous ketamine dose integrates (the states of the drugs it
    // does not give left out).
    let systems: [(String, @Sendable () -> any ODESystem)] = [
        ("right-hand side", { ratWorkspace() }), ("right-hand side, dormant states left out", { ketamineOnlyWorkspace() }),
    ]
    for (name, system) in systems {
        Benchmark(
            name,
            configuration: .init(metrics: [.wallClock, .instructions, .mallocCountTotal], scalingFactor: .kilo, maxIterations: 1_000_000, thresholds: zeroMallocs)
        ) { benchmark, setup in
            let (system, start) = setup
            let n = system.dimension
            let f = UnsafeMutablePointer<Double>.allocate(capacity: n)
            defer { f.deallocate() }
            start.withUnsafeBufferPointer { y in
                guard let y = y.baseAddress else { return }
                benchmark.startMeasurement()
                for _ in benchmark.scaledIterations {
                    system.evaluate(t: 1, y: y, dydt: f)
                    blackHole(f[0])
                }
                benchmark.stopMeasurement()
            }
        } setup: {
            atInitialValues(system())
        }
    }

    Benchmark(
        "jacobian",
        configuration: .init(metrics: [.wallClock, .instructions, .mallocCountTotal], scalingFactor: .kilo, maxIterations: 1_000_000, thresholds: zeroMallocs)
    ) { benchmark, workspace in
        let n = workspace.model.stateCount
        let y = UnsafeMutablePointer<Double>.allocate(capacity: n)
        let j = UnsafeMutablePointer<Double>.allocate(capacity: n * n)
        let dt = UnsafeMutablePointer<Double>.allocate(capacity: n)
        defer { y.deallocate(); j.deallocate(); dt.deallocate() }
        for i in 0..<n { y[i] = workspace.model.definition.states[i].initial }
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            workspace.jacobian(t: 1, y: y, dfdy: j, dfdt: dt)
            blackHole(j[0])
        }
        benchmark.stopMeasurement()
    } setup: {
        ModelWorkspace(model: loadModel(), organism: "rat")
    }

    for mode in OutputMode.allCases {
        Benchmark("stress_ketamine 35 d, every 10 min, msbdf, \(mode.rawValue)", configuration: .init(maxIterations: 50)) { benchmark, model in
            let simulator = try Simulator(model: model, settings: SolverSettings(outputMode: mode))
            let p = plan(model, "stress_ketamine")
            _ = try simulator.run(p)  // the steady state is cached after the first run, as in a sweep
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations { blackHole(try simulator.run(p)) }
            benchmark.stopMeasurement()
        } setup: { loadModel() }
    }

    Benchmark("stress_ketamine 35 d, every 10 min, msbdf, every state integrated", configuration: .init(maxIterations: 50)) { benchmark, model in
        let simulator = try Simulator(model: model)
        simulator.reducesDormantStates = false
        let p = plan(model, "stress_ketamine")
        _ = try simulator.run(p)
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations { blackHole(try simulator.run(p)) }
        benchmark.stopMeasurement()
    } setup: { loadModel() }

    // bsimp is left out: on this model it stalls near t = 0.2 h with ever smaller steps (it gives up
    // after --max-steps), so a single iteration would not finish within any useful time.
    for stepper in Stepper.allCases where stepper != .msbdf && stepper != .bsimp {
        Benchmark("stress_ketamine 35 d, \(stepper.rawValue)", configuration: .init(maxDuration: .seconds(3), maxIterations: 10)) { benchmark, model in
            let simulator = try Simulator(model: model, settings: SolverSettings(stepper: stepper, outputMode: .interpolate))
            let p = plan(model, "stress_ketamine")
            _ = try? simulator.initialState(for: p)
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations { blackHole(try simulator.run(p)) }
            benchmark.stopMeasurement()
        } setup: { loadModel() }
    }

    Benchmark("human_esketamine_course", configuration: .init(maxIterations: 50)) { benchmark, model in
        let simulator = try Simulator(model: model)
        let p = plan(model, "human_esketamine_course")
        _ = try simulator.run(p)
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations { blackHole(try simulator.run(p)) }
        benchmark.stopMeasurement()
    } setup: { loadModel() }

    for jobs in Set([1, ProcessInfo.processInfo.activeProcessorCount]).sorted() {
        Benchmark("sweep 1000 runs (dose x stress), jobs \(jobs)", configuration: .init(maxDuration: .seconds(60), maxIterations: 3)) { benchmark, model in
            let base = plan(model, "stress_ketamine", every: 1)
            let dose = try SweepAxis.parse("dose=log:0.1:100:40", model: model.definition).get()
            let stress = try SweepAxis.parse("stress=0:1:0.0416666667", model: model.definition).get()
            let design = SweepDesign(grid: [dose, stress])
            let runner = SweepRunner(model: model, settings: SolverSettings(outputMode: .interpolate), base: base, design: design,
                                     outputs: ["synapse_density"], metrics: .standard, jobs: jobs,
                                     runIDs: .all(design.count), keepSeries: false)
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations { blackHole(runner.run { row in blackHole(row) }) }
            benchmark.stopMeasurement()
        } setup: { loadModel() }
    }

    // What one iteration of `fit` costs: residuals and their Jacobian at the nominal point, from
    // forward sensitivities or from p + 1 objectives (forward differences, as GSL's default). The first
    // evaluation, outside the measurement, is where anything cached per problem is built.
    for name in ["Boehm_JProteomeRes2014", "Bruno_JExpBot2016", "Fiedler_BMCSystBiol2016"] {
        for gradient in ["sensitivities", "differences"] {
            Benchmark("objective+gradient \(name), \(gradient)", configuration: .init(maxDuration: .seconds(10), maxIterations: 20)) { benchmark in
                guard let residuals = petabResiduals(name) else { return }
                let x = residuals.nominalPoint, p = x.count
                var r = [Double](repeating: 0, count: residuals.residualCount)
                var jacobian = [Double](repeating: 0, count: residuals.residualCount * p)
                func once() {
                    if gradient == "sensitivities" {
                        blackHole(residuals.residualsAndJacobian(at: x, residuals: &r, jacobian: &jacobian))
                    } else {
                        blackHole(residuals.residuals(at: x, into: &r))
                        for j in 0..<p {
                            var a = x
                            a[j] += 1e-6 * max(1, abs(x[j]))
                            blackHole(residuals.residuals(at: a, into: &r))
                        }
                    }
                }
                once()
                benchmark.startMeasurement()
                for _ in benchmark.scaledIterations { once() }
                benchmark.stopMeasurement()
            }
        }
    }
}

/// A system of the bundled model and its states' initial values.
func atInitialValues(_ system: any ODESystem) -> (any ODESystem, [Double]) {
    guard let reduced = system as? ReducedWorkspace else {
        return (system, (system as? ModelWorkspace)?.model.definition.states.map(\.initial) ?? [])
    }
    let states = reduced.base.model.definition.states
    return (system, reduced.reduction.active.map { states[$0].initial })
}

func ratWorkspace() -> ModelWorkspace { ModelWorkspace(model: loadModel(), organism: "rat") }

/// The bundled model's workspace over the states an intravenous ketamine dose moves.
func ketamineOnlyWorkspace() -> ReducedWorkspace {
    let model = loadModel()
    let dosed = Set(["ket_central"].compactMap(model.stateIndex))
    guard let reduction = model.dormantReduction(start: model.definition.states.map(\.initial), dosed: dosed) else {
        fatalError("the bundled model has no dormant states for a ketamine dose")
    }
    return ReducedWorkspace(base: ModelWorkspace(model: model, organism: "human"), reduction: reduction)
}
