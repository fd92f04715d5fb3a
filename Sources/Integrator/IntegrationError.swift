import Foundation

/// Why an integration or a steady-state search stopped short. Each case says what failed, when, and
/// with which values, and prints as one sentence.
public enum IntegrationError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The right-hand side returned NaN or infinity. Common reasons: division by a state that reached
    /// zero, `log` or `sqrt` of a negative value, overflow after a too-large step or dose.
    case nonFiniteDerivative(variable: String, time: Double, state: [NamedValue])
    /// The Jacobian held NaN or infinity in the given row and column.
    case nonFiniteJacobian(row: String, column: String, time: Double, state: [NamedValue])
    /// More than `maxSteps` accepted steps in one segment. Common reasons: a stiff problem given to
    /// an explicit stepper, tolerances far tighter than the problem needs.
    case maxStepsReached(steps: Int, time: Double, stiffStepper: Bool)
    /// The step size fell below what the stepper can resolve. Common reasons: a solution that
    /// diverges (grows without bound in finite time), a discontinuity not declared as one, a singularity.
    case stepSizeUnderflow(time: Double, step: Double, state: [NamedValue])
    /// Any other non-success status GSL returned.
    case solverFailure(status: Int32, reason: String, time: Double)
    case invalidSettings(String)
    case invalidProblem(String)
    /// Neither the root finder nor long integration found a point where all derivatives vanish.
    case noSteadyState(reason: String, residual: Double, worst: String)

    public struct NamedValue: Sendable, Equatable {
        public var name: String
        public var value: Double
        public init(name: String, value: Double) { self.name = name; self.value = value }
    }

    /// The time at which the failure happened, when there is one.
    public var time: Double? {
        switch self {
        case .nonFiniteDerivative(_, let t, _), .nonFiniteJacobian(_, _, let t, _), .maxStepsReached(_, let t, _),
             .stepSizeUnderflow(let t, _, _), .solverFailure(_, _, let t):
            return t
        case .invalidSettings, .invalidProblem, .noSteadyState:
            return nil
        }
    }

    public var description: String {
        switch self {
        case let .nonFiniteDerivative(variable, time, state):
            return "non-finite derivative of `\(variable)` at t = \(format(time))\(stateSummary(state, focus: variable))"
        case let .nonFiniteJacobian(row, column, time, state):
            return "non-finite Jacobian entry d(\(row))/d(\(column)) at t = \(format(time))\(stateSummary(state, focus: row))"
        case let .maxStepsReached(steps, time, stiff):
            return "gave up after \(steps) steps at t = \(format(time)); " + (stiff
                ? "the tolerances may be too tight or the equations nearly singular there"
                : "the problem may be stiff (a stiff stepper such as msbdf would help) or the tolerances too tight")
        case let .stepSizeUnderflow(time, step, state):
            let largest = state.filter { $0.value.isFinite }.max { abs($0.value) < abs($1.value) }
            let where_ = largest.map { "; the largest state is `\($0.name)` = \(format($0.value))" } ?? ""
            return "the solution diverged or became singular at t = \(format(time)): the step size fell to \(format(step)) and could not be reduced further\(where_)"
        case let .solverFailure(status, reason, time):
            return "GSL failed with status \(status) (\(reason)) at t = \(format(time))"
        case let .invalidSettings(message):
            return "invalid solver settings: \(message)"
        case let .invalidProblem(message):
            return "invalid problem: \(message)"
        case let .noSteadyState(reason, residual, worst):
            return "no steady state found: \(reason) (largest remaining derivative \(format(residual)) in `\(worst)`)"
        }
    }

    private func stateSummary(_ state: [NamedValue], focus: String) -> String {
        if state.isEmpty { return "" }
        // The focused variable first, then any non-finite or negative ones: those are the usual culprits.
        var shown = state.filter { $0.name == focus }
        shown += state.filter { $0.name != focus && (!$0.value.isFinite || $0.value < 0) }.prefix(5)
        if shown.isEmpty { return "" }
        return " (" + shown.map { "\($0.name) = \(format($0.value))" }.joined(separator: ", ") + ")"
    }
}

func format(_ x: Double) -> String {
    if x.isNaN { return "NaN" }
    if x.isInfinite { return x > 0 ? "inf" : "-inf" }
    let a = abs(x)
    if a != 0 && (a < 1e-3 || a >= 1e6) {
        return String(format: "%.4g", x)
    }
    var s = String(format: "%.6g", x)
    if s.contains("e") { return s }
    if s.contains(".") {
        while s.hasSuffix("0") { s.removeLast() }
        if s.hasSuffix(".") { s.removeLast() }
    }
    return s
}
