import Experiments
import Foundation
import Models

private let model: ModelDefinition = {
    let text = """
    name: fuzz
    description: a model for --vary values
    time_unit: h
    parameters:
      k: {value: 0.5, unit: 1/h, description: rate, assumption: fuzzing, bounds: [0, 10]}
      tau: {value: 2, unit: h, description: time constant, assumption: fuzzing}
    states:
      x: {initial: 1, unit: "1"}
    odes:
      x: -k * x / tau
    outputs: [x]
    """
    guard let model = try? ModelLoader.parse(text, file: "fuzz.yaml") else { fatalError("the fuzz model does not load") }
    return model
}()

/// A `--vary NAME=VALUES` value, then the grid and a small Latin hypercube over it. Input lines
/// after the first are further axes.
func fuzzSweep(_ input: UnsafeBufferPointer<UInt8>) {
    let text = String(decoding: input, as: UTF8.self)
    var axes: [SweepAxis] = []
    for line in text.split(separator: "\n").prefix(4) {
        switch SweepAxis.parse(String(line), model: model) {
        case .success(let axis):
            precondition(!axis.values.isEmpty && axis.values.count <= 10_000_001)
            axes.append(axis)
        case .failure(let error):
            _ = error.description
        }
    }
    guard !axes.isEmpty else { return }
    let grid = SweepDesign(grid: axes)
    precondition(grid.count >= 1)
    _ = grid.point(grid.count - 1)
    if let lhs = try? SweepDesign(latinHypercube: axes, samples: 7, seed: 1) { _ = lhs.point(6) }
}
