import Experiments
import Foundation
import Models

/// A NONMEM-style dosing table: every regimen it accepts is within the dose cap, and so is the total.
func fuzzDosingTable(_ input: UnsafeBufferPointer<UInt8>) {
    let text = String(decoding: input, as: UTF8.self)
    do {
        let doses = try DosingTable.parse(text, path: "fuzz.csv")
        precondition(doses.reduce(0) { $0 + $1.count } <= DoseRegimen.maximumCount, "the table escaped the dose cap")
    } catch {
        _ = error.description
    }
}
