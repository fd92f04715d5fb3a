import Foundation
import Models

/// A YAML model file: load it and, when it is valid, compile it (depth checks, derivatives).
/// Every error is rendered, since the caret excerpt is where long lines used to be echoed whole.
func fuzzModel(_ input: UnsafeBufferPointer<UInt8>) {
    let bytes = Data(input)
    if ModelLoader.firstNonText(bytes) != nil { return }
    do {
        let model = try ModelLoader.parse(String(decoding: bytes, as: UTF8.self), file: "fuzz.yaml")
        _ = model.warnings.map(\.description)
        _ = try CompiledModel(model)
    } catch {
        _ = error.description
    }
}
