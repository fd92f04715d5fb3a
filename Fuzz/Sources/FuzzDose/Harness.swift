import Foundation
import Models

/// The dose shorthand. An accepted regimen must stay within the cap, expand to exactly `count`
/// times, and print back to the same regimen.
func fuzzDose(_ input: UnsafeBufferPointer<UInt8>) {
    let text = String(decoding: input, as: UTF8.self)
    switch DoseRegimen.parse(text) {
    case .success(let regimen):
        precondition(regimen.count >= 1 && regimen.count <= DoseRegimen.maximumCount, "count \(regimen.count) escaped the cap")
        precondition(regimen.times.count == regimen.count)
        _ = regimen.lastTime
        _ = DoseRegimen.parse(regimen.description)
    case .failure(let error):
        _ = error.description
    }
}
