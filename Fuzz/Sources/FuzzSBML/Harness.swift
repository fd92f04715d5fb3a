import Foundation
import Models
import SBML

/// An SBML document (XML, MathML, units, events): import it and compile what imports.
func fuzzSBML(_ input: UnsafeBufferPointer<UInt8>) {
    do {
        let model = try SBMLImporter.importModel(data: Data(input), file: "fuzz.xml")
        _ = try CompiledModel(model.definition)
    } catch {
        _ = "\(error)"
    }
}
