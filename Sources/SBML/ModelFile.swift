import Experiments
import Models

/// A model as every command sees it: a ketasim YAML file, or an imported SBML document (its events are
/// part of the definition and every command runs them).
public struct ModelFile: Sendable {
    public var path: String
    public var definition: ModelDefinition
    public var sbml: SBMLModel?

    /// Why a model file could not be used.
    public enum LoadError: Error, Sendable, CustomStringConvertible {
        /// No path was given and the bundled model was not found.
        case noDefaultModel
        /// The file could not be read (missing, a folder, no permission).
        case unreadable(String)
        /// The file was read but is not a valid model: every problem, one per line.
        case invalid(String)

        public var description: String {
            switch self {
            case .noDefaultModel: return "cannot find the default model \(ModelLocator.defaultModelFile); name a model file or set KETASIM_MODEL"
            case .unreadable(let s), .invalid(let s): return s
            }
        }
    }

    /// Loads `path` (`.xml` or `.sbml`: SBML; anything else: ketasim YAML), or the bundled model when nil.
    public static func load(_ path: String?) throws(LoadError) -> ModelFile {
        guard let path = path ?? ModelLocator.defaultModelPath() else { throw .noDefaultModel }
        let lower = path.lowercased()
        if lower.hasSuffix(".xml") || lower.hasSuffix(".sbml") {
            do {
                let sbml = try SBMLImporter.importModel(path: path)
                return ModelFile(path: path, definition: sbml.definition, sbml: sbml)
            } catch {
                throw error.kind == .unreadable ? .unreadable(error.description) : .invalid(error.description)
            }
        }
        do {
            return ModelFile(path: path, definition: try ModelLoader.load(path: path), sbml: nil)
        } catch {
            if case .unreadable = error { throw .unreadable(error.description) }
            throw .invalid(error.description)
        }
    }

    /// The model compiled for simulation, or every problem that stops it compiling.
    public func compiled() throws(LoadError) -> CompiledModel {
        do { return try CompiledModel(definition) } catch { throw .invalid(error.description) }
    }
}
