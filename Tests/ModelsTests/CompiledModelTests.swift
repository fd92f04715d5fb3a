import Expressions
import Foundation
import Testing
@testable import Models

/// A model whose ODEs use assignments in a chain, hill functions and a time-dependent term, so the
/// Jacobian and ∂f/∂t go through substitution and every differentiation rule that matters here.
let chainModel = """
name: chain
description: test chain
time_unit: h
parameters:
  K: {value: 0.7, unit: "1", assumption: test}
  n: {value: 2.5, unit: "1", assumption: test}
  tau: {value: 3, unit: h, assumption: test}
inputs:
  stress: {default: 0.2, unit: "1"}
states:
  a: {initial: 1, unit: "1"}
  b: {initial: 0.5, unit: "1"}
  c: {initial: 2, unit: "1"}
assignments:
  drive: hill(a, K, n) / hill(1, K, n)
  inhibition: 1 / (1 + stress * b^2)
  target: drive * inhibition + 0.1 * sin_free
  sin_free: exp(-t / 10) * c
odes:
  a: (1 - a) / tau - 0.2 * a * b
  b: (target - b) / tau
  c: -log(1 + c) * a + max(0, 1 - c) + if(t > 5, 0.1, 0.2) * stress
outputs: [a, b, c, target]
"""

@Suite("Compiled model")
struct CompiledModelTests {
    /// More states than a dense Jacobian can index in 32 bits (a 250,000-state file stopped on a
    /// precondition): refused as a problem of the model, with the count and what it would take.
    @Test func moreStatesThanTheDenseJacobianCanHoldAreRefused() throws {
        var def = try ModelLoader.parse(chainModel, file: "chain.yaml")
        let extra = CompiledModel.maximumStates + 1 - def.states.count
        def.states += (0..<extra).map { State(name: "s\($0)", initial: 0, unit: "uM", description: "filler", location: def.states[0].location) }
        let error = #expect(throws: ModelError.self) { _ = try CompiledModel(def) }
        #expect(error?.description.contains("the model has 46341 states, more than 46340, ketasim's limit") == true, "\(String(describing: error))")
    }

    @Test func rightHandSideMatchesTheReferenceEvaluator() throws {
        let def = try ModelLoader.parse(chainModel, file: "chain.yaml")
        let model = try CompiledModel(def)
        let ws = ModelWorkspace(model: model)
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<50 {
            let y = (0..<3).map { _ in Double.random(in: 0.05...3, using: &rng) }
            let t = Double.random(in: 0...10, using: &rng)
            var f = [0.0, 0, 0]
            y.withUnsafeBufferPointer { yb in f.withUnsafeMutableBufferPointer { ws.evaluate(t: t, y: yb.baseAddress!, dydt: $0.baseAddress!) } }
            let env: [String: Double] = ["t": t, "a": y[0], "b": y[1], "c": y[2], "K": 0.7, "n": 2.5, "tau": 3, "stress": 0.2, "__infusion_a": 0]
            for i in 0..<3 {
                let expected = try model.expandedODEs[i].evaluate(env)
                #expect(abs(f[i] - expected) <= 1e-12 * max(1, abs(expected)))
            }
        }
    }

    @Test func jacobianMatchesFiniteDifferences() throws {
        let model = try CompiledModel(try ModelLoader.parse(chainModel, file: "chain.yaml"))
        let ws = ModelWorkspace(model: model)
        var rng = SystemRandomNumberGenerator()
        let n = 3
        for _ in 0..<40 {
            let y = (0..<n).map { _ in Double.random(in: 0.1...3, using: &rng) }
            let t = Double.random(in: 0...10, using: &rng)
            var J = [Double](repeating: 0, count: n * n), dfdt = [Double](repeating: 0, count: n)
            y.withUnsafeBufferPointer { yb in
                J.withUnsafeMutableBufferPointer { jb in dfdt.withUnsafeMutableBufferPointer { ws.jacobian(t: t, y: yb.baseAddress!, dfdy: jb.baseAddress!, dfdt: $0.baseAddress!) } }
            }
            func f(_ y: [Double], _ t: Double) -> [Double] {
                var out = [Double](repeating: 0, count: n)
                y.withUnsafeBufferPointer { yb in out.withUnsafeMutableBufferPointer { ws.evaluate(t: t, y: yb.baseAddress!, dydt: $0.baseAddress!) } }
                return out
            }
            for j in 0..<n {
                let h = 1e-6 * max(1, abs(y[j]))
                var up = y, down = y
                up[j] += h; down[j] -= h
                let fu = f(up, t), fd = f(down, t)
                for i in 0..<n {
                    let fdValue = (fu[i] - fd[i]) / (2 * h)
                    #expect(abs(J[i * n + j] - fdValue) <= 1e-6 * max(1, abs(fdValue)), "d f\(i) / d y\(j)")
                }
            }
            // ∂f/∂t away from the step at t = 5 in `c`'s equation.
            if abs(t - 5) > 1e-3 {
                let h = 1e-6
                let fu = f(y, t + h), fd = f(y, t - h)
                for i in 0..<n {
                    #expect(abs(dfdt[i] - (fu[i] - fd[i]) / (2 * h)) <= 1e-6 * max(1, abs(dfdt[i])))
                }
            }
        }
    }

    @Test func observablesAreStatesThenAssignments() throws {
        let model = try CompiledModel(try ModelLoader.parse(chainModel, file: "chain.yaml"))
        #expect(model.observableNames == ["a", "b", "c", "drive", "inhibition", "sin_free", "target"])
        let ws = ModelWorkspace(model: model)
        var out = [Double](repeating: 0, count: 7)
        let y = [1.0, 0.5, 2.0]
        y.withUnsafeBufferPointer { yb in out.withUnsafeMutableBufferPointer { ws.observe(t: 0, y: yb.baseAddress!, into: $0.baseAddress!) } }
        #expect(out[0] == 1 && out[1] == 0.5 && out[2] == 2)
        #expect(abs(out[3] - 1) < 1e-15)  // drive = 1 at a = 1 by normalisation
        #expect(abs(out[4] - 1 / (1 + 0.2 * 0.25)) < 1e-15)
    }

    /// The bundled model compiled with its assignments named against the same model with them
    /// substituted into the ODEs (how it was compiled before): the same values up to rounding (the
    /// simplifier no longer folds across an assignment, and the Jacobian goes through the chain rule),
    /// and no more instructions per right-hand side or Jacobian.
    @Test func namingAssignmentsMatchesSubstitutingThemOnTheBundledModel() throws {
        let definition = try ModelLoader.load(path: ModelFiles.path("models/ketamine_stress.yaml"))
        let named = try CompiledModel(definition)
        var flat = definition
        flat.odes = definition.odes.map(named.graph.expanded)
        flat.assignments = []
        let substituted = try CompiledModel(flat)
        // 374 and 983 named, 374 and 1356 substituted (November 2026).
        #expect(named.hotInstructionCounts.rhs <= substituted.hotInstructionCounts.rhs)
        #expect(named.hotInstructionCounts.jacobian <= substituted.hotInstructionCounts.jacobian)
        let n = named.stateCount
        let y = definition.states.map(\.initial).enumerated().map { $1 * (1 + 0.1 * Double($0 % 7)) }
        func evaluate(_ model: CompiledModel) -> (f: [Double], j: [Double], dt: [Double]) {
            let ws = ModelWorkspace(model: model, organism: "rat")
            ws.setInfusion(slot: 0, rate: 2)
            var f = [Double](repeating: 0, count: n), j = [Double](repeating: 0, count: n * n), dt = f
            ws.evaluate(t: 3, y: y, dydt: &f)
            ws.jacobian(t: 3, y: y, dfdy: &j, dfdt: &dt)
            return (f, j, dt)
        }
        let a = evaluate(named), b = evaluate(substituted)
        func close(_ x: [Double], _ y: [Double], _ what: String) {
            let scale = max(1, y.map(abs).max() ?? 0)
            for (k, (u, v)) in zip(x, y).enumerated() {
                #expect(abs(u - v) <= 1e-12 * scale, "\(what)[\(k)]: \(u) named, \(v) substituted")
            }
            // Structural non-zeros agree: neither path turns an entry into an exact zero the other keeps.
            #expect(x.map { $0 == 0 } == y.map { $0 == 0 }, "\(what)")
        }
        close(a.f, b.f, "f")
        close(a.j, b.j, "J")
        close(a.dt, b.dt, "∂f/∂t")
        #expect(a.j.contains { $0 != 0 })
    }
}

@Suite("Workspace caching")
struct WorkspaceTests {
    @Test func changingAParameterOrInputAfterAnEvaluationIsSeen() throws {
        // The hoisted, parameter-only part must be recomputed after every change, or a sweep would
        // silently reuse the first run's parameters.
        let model = try CompiledModel(try ModelLoader.parse(chainModel, file: "chain.yaml"))
        let ws = ModelWorkspace(model: model)
        let y = [0.8, 0.5, 2.0]
        func f() -> [Double] {
            var out = [0.0, 0, 0]
            y.withUnsafeBufferPointer { yb in out.withUnsafeMutableBufferPointer { ws.evaluate(t: 1, y: yb.baseAddress!, dydt: $0.baseAddress!) } }
            return out
        }
        let before = f()
        ws.setParameter(try #require(model.parameterIndex("K")), 0.3)
        let afterK = f()
        #expect(afterK[1] != before[1])
        ws.setInput(try #require(model.inputIndex("stress")), 0.9)
        let afterStress = f()
        #expect(afterStress[1] != afterK[1] && afterStress[2] != afterK[2])
        let env: [String: Double] = ["t": 1, "a": y[0], "b": y[1], "c": y[2], "K": 0.3, "n": 2.5, "tau": 3, "stress": 0.9, "__infusion_a": 0]
        for i in 0..<3 { #expect(abs(afterStress[i] - (try model.expandedODEs[i].evaluate(env))) <= 1e-12 * max(1, abs(afterStress[i]))) }
        #expect(model.hotInstructionCounts.rhs < model.instructionCounts.rhs)
    }
}
