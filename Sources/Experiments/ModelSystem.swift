import Integrator
import Models

/// Presents a model workspace to the integrator, which knows nothing about models.
final class ModelSystem: ODESystem {
    let workspace: ModelWorkspace
    let dimension: Int
    let stateNames: [String]

    init(workspace: ModelWorkspace) {
        self.workspace = workspace
        dimension = workspace.model.stateCount
        stateNames = workspace.model.definition.states.map(\.name)
    }

    func evaluate(t: Double, y: UnsafePointer<Double>, dydt: UnsafeMutablePointer<Double>) {
        workspace.evaluate(t: t, y: y, dydt: dydt)
    }

    func jacobian(t: Double, y: UnsafePointer<Double>, dfdy: UnsafeMutablePointer<Double>, dfdt: UnsafeMutablePointer<Double>) {
        workspace.jacobian(t: t, y: y, dfdy: dfdy, dfdt: dfdt)
    }
}
