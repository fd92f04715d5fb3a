import Expressions
import Integrator

/// The part of a model that a run actually moves. A state that starts at exactly 0, receives no dose
/// and whose right-hand side vanishes whenever it and the other such states are 0 stays exactly 0:
/// the drugs a scenario does not give, in a model that knows many. Integrating only the others gives
/// the same trajectory, and GSL's msbdf factorises an m x m matrix instead of n x n (45 -> 27 states
/// for one drug of the bundled model: a quarter less work a run, docs/PERFORMANCE.md).
///
/// The proof is symbolic, not numerical: the dormant states are replaced by the constant 0, the
/// assignments re-resolved (so one that becomes 0 is folded into its users, as any constant leaf) and
/// each dormant state's right-hand side must simplify to exactly 0. The simplifier's rules (x * 0 = 0,
/// 0 / x = 0) are those every program is already compiled under; the two can differ only where the full
/// system computes 0 * inf or 0 / 0 from a dormant 0, a NaN that fails the run or is absorbed by a
/// comparison, `min` or `max`. A state whose right-hand side does not fold (0^n with a parameter n, a
/// function of 0, an input) is kept. Models with events are not reduced: an event may assign any state.
public final class DormantReduction: Sendable {
    /// Indices of the states integrated, in model order.
    public let active: [Int]
    /// Indices of the states that stay 0.
    public let dormant: [Int]
    let programs: DerivativePrograms

    init(active: [Int], dormant: [Int], programs: DerivativePrograms) {
        self.active = active
        self.dormant = dormant
        self.programs = programs
    }
}

extension CompiledModel {
    /// The greatest set of states that stay 0 for a run starting at `start` in which only the states
    /// in `dosed` receive boluses or infusions, with the programs over the others; nil when no state is
    /// dormant (or fewer than an eighth of them), the model has events, or the search does not settle
    /// within a few rounds.
    public func dormantReduction(start: [Double], dosed: Set<Int>) -> DormantReduction? {
        guard events == nil, start.count == stateCount else { return nil }
        let states = definition.states
        var zero = Set(states.indices.filter { start[$0] == 0 && !dosed.contains($0) })
        // Compiling the reduced programs costs about what compiling the model did; below an eighth of
        // the states (a fifth less work in each factorisation) that is not worth it.
        guard worthReducing(zero.count) else { return nil }
        // Removing a state that turns out to move can wake the states it feeds: a chain of k such
        // links takes k rounds. Past a few, give up rather than compile the model again and again.
        for _ in 0..<8 {
            guard worthReducing(zero.count) else { return nil }
            var map: [String: Expr] = [:]
            for i in zero {
                map[states[i].name] = .constant(0)
                if let slot = infusionSlot(forState: i) { map[variableNames[infusionOffset + slot]] = .constant(0) }
            }
            var graph = ExpressionGraph(definition.assignments.map { ($0.name, $0.expression.substituting(map)) })
            let reduced = odes.map { graph.resolved($0.substituting(map)) }
            let stays = zero.filter { if case .constant(0) = reduced[$0] { true } else { false } }
            guard stays == zero else { zero = stays; continue }
            let active = states.indices.filter { !zero.contains($0) }
            guard !active.isEmpty else { return nil }
            do {
                let programs = try DerivativePrograms(odes: active.map { reduced[$0] }, states: active.map { states[$0].name },
                                                      graph: &graph, variables: variableNames, varying: 1 + stateCount)
                return DormantReduction(active: active, dormant: zero.sorted(), programs: programs)
            } catch {
                // The full programs compiled from the same names; a failure here is a bug, and the full
                // system still gives the right answer.
                return nil
            }
        }
        return nil
    }
}

extension CompiledModel {
    func worthReducing(_ dormant: Int) -> Bool { dormant > 0 && dormant * 8 >= stateCount }
}

/// A `ModelWorkspace` seen through a `DormantReduction`: the integrator's state is the active states
/// only; parameters, inputs and infusion rates are the base workspace's, copied when they change. Not
/// thread-safe, like its base.
public final class ReducedWorkspace: ODESystem {
    public let base: ModelWorkspace
    public let reduction: DormantReduction
    private let derivatives: DerivativeEvaluator
    /// The base's `generation` the registers hold; the preludes re-run when it moves.
    private var seen: Int?

    public var dimension: Int { derivatives.dimension }
    public let stateNames: [String]

    public init(base: ModelWorkspace, reduction: DormantReduction) {
        self.base = base
        self.reduction = reduction
        stateNames = reduction.active.map { base.stateNames[$0] }
        derivatives = DerivativeEvaluator(reduction.programs, variableCount: base.model.variableNames.count, stateCount: base.model.stateCount,
                                          states: reduction.active)
    }

    /// The full state with the dormant states 0, from the active ones.
    public func expand(_ y: UnsafePointer<Double>, into full: UnsafeMutablePointer<Double>) {
        for (k, i) in reduction.active.enumerated() { full[i] = y[k] }
    }

    /// The active states of a full state.
    public func restrict(_ full: UnsafePointer<Double>, into y: UnsafeMutablePointer<Double>) {
        for (k, i) in reduction.active.enumerated() { y[k] = full[i] }
    }

    @inline(__always)
    private func refresh() {
        guard seen != base.generation else { return }
        base.copyVariables(into: derivatives)
        derivatives.prepare()
        seen = base.generation
    }

    public func evaluate(t: Double, y: UnsafePointer<Double>, dydt: UnsafeMutablePointer<Double>) {
        refresh()
        derivatives.evaluate(t: t, y: y, dydt: dydt)
    }

    public func jacobian(t: Double, y: UnsafePointer<Double>, dfdy: UnsafeMutablePointer<Double>, dfdt: UnsafeMutablePointer<Double>) {
        refresh()
        derivatives.jacobian(t: t, y: y, dfdy: dfdy, dfdt: dfdt)
    }
}
