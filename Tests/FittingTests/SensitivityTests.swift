import Experiments
import Fitting
import Foundation
import Integrator
import PEtab
import Testing

/// Forward sensitivities against closed forms and central differences.
enum SensitivityCheck {
    static let shared = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("shared").path
    static var suite: String { shared + "/petab-test-suite/cases" }
    static var benchmark: String { shared + "/petab-benchmark" }

    /// The residual Jacobian from sensitivities and from central differences (steps `h` and h/2 relative
    /// on the estimation scale) at x, and their largest deviation relative to max(|entry|, 1e-3 of the
    /// largest entry): tiny entries are compared on the matrix's scale, not their own.
    /// `kink`: rows whose residual is smaller are left out, for Laplace residuals sign(z) sqrt(2|z|), whose
    /// derivative is infinite at z = 0, where a difference across the kink means nothing (and whose
    /// curvature near it asks for a smaller step).
    /// `rows`: only these residuals are compared (all when nil).
    static func deviation(_ residuals: some LeastSquaresProblem, at x: [Double], step h: Double = 1e-2, kink: Double = 0, rows: Set<Int>? = nil) throws -> Double {
        let n = residuals.residualCount, p = x.count
        var r = [Double](repeating: 0, count: n), analytic = [Double](repeating: 0, count: n * p)
        let ok = residuals.residualsAndJacobian(at: x, residuals: &r, jacobian: &analytic)
        guard ok == true else {
            let why = (residuals as? PEtabResiduals).map { $0.sensitivityRefusal ?? $0.lastError } ?? (residuals as? CalibrationResiduals).map { $0.sensitivityRefusal ?? $0.lastError }
            Issue.record("no analytic Jacobian: \(why.flatMap { $0 } ?? "?")")
            return .infinity
        }
        // Central differences at h and h/2 combined by Richardson's rule (error h^4), so that the
        // comparison sees the sensitivities' error and the integrator's, not the difference's truncation.
        func centralDifference(_ h: Double) -> [Double] {
            var column = [Double](repeating: 0, count: n * p), up = r, down = r
            for j in 0..<p {
                let step = h * max(1, abs(x[j]))
                var a = x, b = x
                a[j] += step
                b[j] -= step
                #expect(residuals.residuals(at: a, into: &up) && residuals.residuals(at: b, into: &down))
                for i in 0..<n { column[i * p + j] = (up[i] - down[i]) / (2 * step) }
            }
            return column
        }
        let coarse = centralDifference(h), fine = centralDifference(h / 2)
        let central = zip(coarse, fine).map { (4 * $1 - $0) / 3 }
        let compared = (0..<(n * p)).filter { abs(r[$0 / p]) >= kink && rows?.contains($0 / p) != false }
        let largest = compared.map { abs(central[$0]) }.max() ?? 0
        var worst = 0.0
        for k in compared {
            worst = max(worst, abs(analytic[k] - central[k]) / max(abs(central[k]), 1e-3 * largest, 1e-12))
        }
        return worst
    }
}

@Suite struct SensitivityTests {
    /// A -> B -> 0 with A(0) = 10: A = 10 e^(-k1 t), B = 10 k1 / (k2 - k1) (e^(-k1 t) - e^(-k2 t)), and
    /// their derivatives by k1 and k2 in closed form, with msbdf (the block-diagonal Newton matrix) and
    /// with rk8pd (an explicit stepper that uses no Jacobian): the approximation changes nothing.
    @Test(arguments: [Stepper.msbdf, .rk8pd])
    func theChainMatchesItsClosedForm(stepper: Stepper) throws {
        let synthetic = try SyntheticProblem(name: "closed-form-\(stepper.rawValue)")
        defer { synthetic.remove() }
        let problem = try synthetic.make()
        let settings = SolverSettings(stepper: stepper, relativeTolerance: 1e-10, absoluteTolerance: 1e-12)
        let simulator = try problem.makeSimulator(settings: settings)
        let (k1, k2, a0) = (0.5, 0.2, 10.0)
        var plan = SimulationPlan(model: simulator.model.definition, tEnd: 15)
        plan.parameters = ["k1": k1, "k2": k2]
        plan.outputTimes = SyntheticProblem.times
        let columns = try simulator.columns(["A", "B"])
        let run = try simulator.run(plan, columns: columns, sensitivities: SensitivityPlan(parameters: ["k1", "k2"], stateCount: 2))
        #expect(run.result.failure == nil)
        var worst = 0.0
        for (k, t) in run.result.times.enumerated() {
            let e1 = exp(-k1 * t), e2 = exp(-k2 * t), c = k2 - k1
            let expected = [
                [-t * a0 * e1, 0],
                [a0 * (k2 / (c * c) * (e1 - e2) - k1 / c * t * e1), a0 * (-k1 / (c * c) * (e1 - e2) + k1 / c * t * e2)],
            ]
            for output in 0..<2 {
                for j in 0..<2 {
                    let got = run.gradient(time: k, output: output, direction: j)
                    worst = max(worst, abs(got - expected[output][j]) / max(abs(expected[output][j]), 1e-6))
                }
            }
        }
        #expect(worst < 1e-6, "max relative deviation \(worst)")
    }

    /// The synthetic problem's residual Jacobian (log10 parameters, an estimated sigma, log10 and laplace
    /// observables, a prior) against central differences.
    @Test(arguments: [("lin", "normal", false), ("log10", "normal", true), ("log", "laplace", false)])
    func theSyntheticResidualJacobianMatchesCentralDifferences(transformation: String, noise: String, prior: Bool) throws {
        var synthetic = try SyntheticProblem(name: "jacobian-\(transformation)-\(noise)")
        defer { synthetic.remove() }
        synthetic.obsBTransformation = transformation
        synthetic.obsBNoise = noise
        if prior { synthetic.k2Prior = ("logNormal", "-1.5;0.5") }
        let residuals = try PEtabResiduals(try synthetic.make())
        for x in [[-0.2, -0.8, 0.2, -1.0], [0.3, 0.1, -0.5, 0.4]] {
            let worst = try SensitivityCheck.deviation(residuals, at: x, step: noise == "laplace" ? 1e-3 : 1e-2, kink: noise == "laplace" ? 1 : 0)
            // The Laplace residual's sqrt bends sharply near small |z|: the difference needs a small step
            // there and then carries the integrator's noise, so the reference is good to a few 1e-4 only.
            #expect(worst < (noise == "laplace" ? 3e-4 : 1e-4), "at \(x): max relative deviation \(worst)")
            print("sensitivities: synthetic \(transformation) \(noise)\(prior ? " prior" : ""): max relative deviation \(worst)")
        }
    }

    /// The synthetic problem with events whose times and amounts are estimated: A := A + dose at
    /// t = tau (a time trigger at a parameter), and B := frac B whenever B rises above bmax (a state
    /// trigger at a parameter threshold, with an assignment that depends on the state). The residual
    /// Jacobian (lin and log10 observables) against central differences, at two points.
    @Test(arguments: ["lin", "log10"])
    func aProblemWithEventsHasTheResidualJacobianOfCentralDifferences(transformation: String) throws {
        var synthetic = try SyntheticProblem(name: "events-\(transformation)")
        defer { synthetic.remove() }
        synthetic.obsBTransformation = transformation
        synthetic.extraParameters = [("tau", 5.5), ("dose", 5), ("bmax", 4), ("frac", 0.5)]
        let time = "<csymbol encoding=\"text\" definitionURL=\"http://www.sbml.org/sbml/symbols/time\">t</csymbol>"
        synthetic.events = EventModels.event("bolus", trigger: "<apply><geq/>\(time)<ci>tau</ci></apply>", assignments: [("A", "<apply><plus/><ci>A</ci><ci>dose</ci></apply>")])
            + EventModels.event("cut", trigger: "<apply><gt/><ci>B</ci><ci>bmax</ci></apply>", assignments: [("B", "<apply><times/><ci>frac</ci><ci>B</ci></apply>")])
        // Integrated to 1e-12: moving an event moves the steps of the other states too, whose error then
        // shows in the differences (1e-9 of A at PEtab's 1e-10, where A's exact derivative by bmax is 0).
        let residuals = try PEtabResiduals(try synthetic.make(), settings: SolverSettings(stepper: .msbdf, relativeTolerance: 1e-12, absoluteTolerance: 1e-14))
        #expect(residuals.parameterNames == ["k1", "k2", "scale", "sd_B", "tau", "dose", "bmax", "frac"])
        let truth = [log10(0.5), log10(0.2), log10(2), log10(0.05)]
        for x in [truth + [log10(5.5), log10(5), log10(4), log10(0.5)], truth.map { $0 + 0.05 } + [log10(4.3), log10(3), log10(3.5), log10(0.6)]] {
            let worst = try SensitivityCheck.deviation(residuals, at: x, step: 1e-3)
            #expect(worst < 1e-4, "at \(x): max relative deviation \(worst)")
            print("sensitivities: synthetic with events, \(transformation): max relative deviation \(worst)")
        }
        #expect(residuals.sensitivityRefusal == nil)
    }

    /// From the same starts, a fit with the sensitivities' Jacobian reaches the optimum the
    /// finite-difference fit reaches.
    @Test func aFitWithSensitivitiesReachesTheSameOptimum() throws {
        let synthetic = try SyntheticProblem(name: "fit-sensitivities")
        defer { synthetic.remove() }
        let problem = try synthetic.make()
        var differences = LeastSquaresOptions()
        var sensitivities = differences
        sensitivities.analyticJacobian = true
        differences.analyticJacobian = false
        let residuals = try PEtabResiduals(problem)
        for start in [[-0.5, -0.5, 0.5, -0.5], [0.5, -1.5, 0.0, -1.5]] {
            let a = GSLLeastSquares(options: differences).minimize(residuals, from: start)
            let b = GSLLeastSquares(options: sensitivities).minimize(residuals, from: start)
            #expect(a.status != .failed && b.status != .failed)
            #expect(abs(a.objective - b.objective) < 1e-4, "differences \(a.objective), sensitivities \(b.objective)")
            for j in 0..<4 { #expect(abs(a.estimate[j] - b.estimate[j]) < 1e-3, "\(a.estimate) vs \(b.estimate)") }
        }
        #expect(residuals.sensitivityRefusal == nil)
    }
}

/// The PEtab test suite's cases with estimated parameters (preequilibration, initial assignments,
/// condition-table parameters and initial values, observable and noise parameters, log observables):
/// the residual Jacobian on lin and on log10 parameter scales against central differences.
@Suite(.enabled(if: FileManager.default.fileExists(atPath: SensitivityCheck.suite), "no PEtab test suite at ../shared"))
struct SuiteSensitivityTests {
    @Test(arguments: ["0001", "0004", "0005", "0009", "0010", "0013", "0015", "0016", "0017", "0019"])
    func theResidualJacobianMatchesCentralDifferences(name: String) throws {
        var problem = try PEtabProblem.load(SensitivityCheck.suite + "/\(name)/_\(name).yaml")
        let residuals = try PEtabResiduals(problem)
        let lin = try SensitivityCheck.deviation(residuals, at: residuals.nominalPoint)
        #expect(lin < 1e-4, "case \(name), lin: \(lin)")
        // The same problem with every positive parameter estimated on log10.
        for k in problem.parameters.indices where problem.parameters[k].nominalValue > 0 { problem.parameters[k].scale = .log10 }
        let logResiduals = try PEtabResiduals(problem)
        let log10 = try SensitivityCheck.deviation(logResiduals, at: logResiduals.nominalPoint)
        #expect(log10 < 1e-4, "case \(name), log10: \(log10)")
        print("sensitivities: case \(name): max relative deviation \(lin) (lin), \(log10) (log10)")
    }
}

@Suite(.enabled(if: FileManager.default.fileExists(atPath: SensitivityCheck.benchmark + "/reference.tsv"), "no benchmark collection at ../shared"))
struct BenchmarkSensitivityTests {
    @Test(arguments: ["Boehm_JProteomeRes2014", "Bruno_JExpBot2016", "Fiedler_BMCSystBiol2016"])
    func theResidualJacobianMatchesCentralDifferences(name: String) throws {
        let residuals = try PEtabResiduals(try PEtabProblem.load(SensitivityCheck.benchmark + "/\(name)/\(name).yaml"))
        let worst = try SensitivityCheck.deviation(residuals, at: residuals.nominalPoint)
        #expect(worst < 1e-4, "\(name): \(worst)")
        print("sensitivities: \(name): max relative deviation \(worst)")
    }

    /// A model with an event (U < 1e-8 sets U := 0, a state trigger): the residual Jacobian agrees with
    /// central differences at the nominal values, where U stays above the threshold, and with psi at
    /// 1e-6, where infection empties U within the first hour and the event fires.
    @Test func aModelWithEventsMatchesCentralDifferences() throws {
        let name = "Liu_IFACPapersOnLine2025"
        let residuals = try PEtabResiduals(try PEtabProblem.load(SensitivityCheck.benchmark + "/\(name)/\(name).yaml"))
        var firing = residuals.nominalPoint
        firing[try #require(residuals.parameterNames.firstIndex(of: "psi"))] = -6
        for x in [residuals.nominalPoint, firing] {
            // log10 psi is -8.5: the default relative step (0.085 in log10 psi) leaves the differences'
            // truncation at 1e-4 even after Richardson's rule.
            let worst = try SensitivityCheck.deviation(residuals, at: x, step: 1e-3)
            #expect(worst < 1e-4, "\(name) at \(x): \(worst)")
            print("sensitivities: \(name) (an event) at log10 psi = \(x[2]): max relative deviation \(worst)")
        }
        #expect(residuals.sensitivityRefusal == nil)
    }
}

/// Objective + gradient evaluation time with sensitivities and with forward differences (p + 1
/// objective evaluations), printed for docs/PERFORMANCE.md; only with KETASIM_TIMING=1, and never
/// asserted: speed depends on the machine and its load.
@Suite(.enabled(if: ProcessInfo.processInfo.environment["KETASIM_TIMING"] == "1"))
struct SensitivityTimingTests {
    @Test(arguments: ["Boehm_JProteomeRes2014", "Bruno_JExpBot2016", "Fiedler_BMCSystBiol2016", "Liu_IFACPapersOnLine2025"])
    func objectiveAndGradient(name: String) throws {
        let residuals = try PEtabResiduals(try PEtabProblem.load(SensitivityCheck.benchmark + "/\(name)/\(name).yaml"))
        try time(residuals, at: residuals.nominalPoint, name)
        // Liu's event fires with psi at 1e-6 (not at the nominal values).
        if let psi = residuals.parameterNames.firstIndex(of: "psi"), name.hasPrefix("Liu") {
            var x = residuals.nominalPoint
            x[psi] = -6
            try time(residuals, at: x, name + " (event firing)")
        }
    }

    func time(_ residuals: PEtabResiduals, at x: [Double], _ name: String) throws {
        let n = residuals.residualCount, p = x.count
        var r = [Double](repeating: 0, count: n), jacobian = [Double](repeating: 0, count: n * p)
        let repeats = 5
        _ = residuals.residualsAndJacobian(at: x, residuals: &r, jacobian: &jacobian)
        var began = Date()
        for _ in 0..<repeats { _ = residuals.residualsAndJacobian(at: x, residuals: &r, jacobian: &jacobian) }
        let sensitivities = Date().timeIntervalSince(began) / Double(repeats)
        began = Date()
        for _ in 0..<repeats {
            _ = residuals.residuals(at: x, into: &r)
            for j in 0..<p {
                var a = x
                a[j] += 1e-6 * max(1, abs(x[j]))
                _ = residuals.residuals(at: a, into: &r)
            }
        }
        let differences = Date().timeIntervalSince(began) / Double(repeats)
        print("timing: \(name): p = \(p), objective+gradient \(String(format: "%.1f", 1000 * sensitivities)) ms with sensitivities, \(String(format: "%.1f", 1000 * differences)) ms with forward differences")
    }
}

/// The initial value of A is an initial assignment `A = a60` through 60 assignment rules that each use
/// the previous one twice (a_k = (a_(k-1) + a_(k-1)) / 2, so every a_k is k0): substituted into each
/// other, as the sensitivities of initial values used to be, the tree has 2^61 nodes. They are names
/// of one expression graph now, so ∂A(0)/∂k0 = 1 comes from 60 small derivatives.
@Suite struct InitialValueSensitivityLimitTests {
    @Test func initialAssignmentsThroughADoublingChainOfRulesAreDifferentiatedLinearly() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("ketasim-initial-chain-\(getpid())")
        try? FileManager.default.removeItem(at: folder)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        func write(_ name: String, _ text: String) throws { try text.write(to: folder.appendingPathComponent(name), atomically: true, encoding: .utf8) }
        let math = "xmlns=\"http://www.w3.org/1998/Math/MathML\""
        let links = 60
        let rules = (1...links).map { k in
            let previous = k == 1 ? "k0" : "a\(k - 1)"
            return "<assignmentRule variable=\"a\(k)\"><math \(math)><apply><divide/><apply><plus/><ci>\(previous)</ci><ci>\(previous)</ci></apply><cn>2</cn></apply></math></assignmentRule>"
        }.joined(separator: "\n")
        try write("model.xml", """
            <?xml version="1.0" encoding="UTF-8"?>
            <sbml xmlns="http://www.sbml.org/sbml/level3/version2/core" level="3" version="2"><model id="chain">
            <listOfCompartments><compartment id="c" size="1" constant="true"/></listOfCompartments>
            <listOfSpecies><species id="A" compartment="c" initialConcentration="1" hasOnlySubstanceUnits="false" boundaryCondition="false" constant="false"/></listOfSpecies>
            <listOfParameters><parameter id="k0" value="1" constant="true"/><parameter id="k1" value="1" constant="true"/>
            \((1...links).map { "<parameter id=\"a\($0)\" constant=\"false\"/>" }.joined())
            </listOfParameters>
            <listOfInitialAssignments><initialAssignment symbol="A"><math \(math)><ci>a\(links)</ci></math></initialAssignment></listOfInitialAssignments>
            <listOfRules>
            \(rules)
            </listOfRules>
            <listOfReactions><reaction id="decay" reversible="false"><listOfReactants><speciesReference species="A" stoichiometry="1" constant="true"/></listOfReactants>
            <kineticLaw><math \(math)><apply><times/><ci>k1</ci><ci>A</ci></apply></math></kineticLaw></reaction></listOfReactions>
            </model></sbml>
            """)
        try write("conditions.tsv", "conditionId\nc0\n")
        try write("observables.tsv", "observableId\tobservableFormula\tnoiseFormula\nobsA\tA\t0.1\n")
        try write("parameters.tsv", "parameterId\tparameterScale\tlowerBound\tupperBound\tnominalValue\testimate\nk0\tlin\t0.1\t10\t2\t1\nk1\tlin\t0.01\t10\t0.5\t1\n")
        let times = [0.5, 1, 2, 4]
        try write("measurements.tsv", "observableId\tsimulationConditionId\ttime\tmeasurement\n" + times.map { "obsA\tc0\t\($0)\t1\n" }.joined())
        try write("problem.yaml", SyntheticProblem.problemYAML)
        let residuals = try PEtabResiduals(try PEtabProblem.load(folder.appendingPathComponent("problem.yaml").path))
        #expect(residuals.parameterNames == ["k0", "k1"])
        var r = [Double](repeating: 0, count: residuals.residualCount)
        var jacobian = [Double](repeating: 0, count: residuals.residualCount * 2)
        #expect(residuals.residualsAndJacobian(at: [2, 0.5], residuals: &r, jacobian: &jacobian) == true)
        // A(t) = k0 e^(-k1 t): the residual (A - 1) / 0.1 moves by e^(-k1 t) / 0.1 per unit of k0 and by
        // -t k0 e^(-k1 t) / 0.1 per unit of k1.
        for (i, t) in times.enumerated() {
            let e = exp(-0.5 * t)
            #expect(abs(abs(jacobian[2 * i]) - e / 0.1) <= 1e-6 * e / 0.1, "t = \(t): \(jacobian[2 * i])")
            #expect(abs(abs(jacobian[2 * i + 1]) - t * 2 * e / 0.1) <= 1e-6 * t * 2 * e / 0.1, "t = \(t): \(jacobian[2 * i + 1])")
        }
    }
}
