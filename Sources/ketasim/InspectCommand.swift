import ArgumentParser
import Models

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Describe a model: states, outputs, parameters with units and sources, drugs, routes, scenarios."
    )

    @Argument(help: "Model file (same as --model).")
    var modelArgument: String?

    @Option(help: "Model file; the bundled default when absent.")
    var model: String?

    @Flag(help: "Print the parameter table and organism overrides as Markdown (docs/MODEL.md's Parameters section).")
    var markdown = false

    func validate() throws {
        if modelArgument != nil && model != nil { throw ValidationError("give the model either as an argument or with --model, not both") }
    }

    func run() throws {
        let loaded = try loadModel(modelArgument ?? model)
        let (path, m) = (loaded.path, loaded.definition)
        if markdown { return try printOut(Self.markdownTables(m)) }
        var out: [String] = []
        out.append("\(m.name) (\(path))")
        out.append(m.description)
        out.append("")
        out.append("States (\(m.states.count)):")
        for s in m.states {
            let ids = s.identifiers.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            out.append("  \(pad(s.name, 26)) \(pad(s.unit, 8)) \(s.description)\(ids.isEmpty ? "" : " [\(ids)]")")
        }
        out.append("")
        out.append("Outputs: \(m.outputs.joined(separator: ", "))")
        if !m.inputs.isEmpty {
            out.append("")
            out.append("Inputs:")
            for i in m.inputs { out.append("  \(pad(i.name, 26)) default \(formatNumber(i.defaultValue)) \(i.unit)  \(i.description)") }
        }
        out.append("")
        out.append("Parameters (\(m.parameters.count)):")
        for p in m.parameters {
            out.append("  \(pad(p.name, 26)) \(pad(formatNumber(p.value), 10)) \(pad(p.unit, 10)) \(p.description)")
            out.append("  \(pad("", 26)) \(p.provenance.text)")
        }
        if !m.organisms.isEmpty {
            out.append("")
            out.append("Organisms:")
            for o in m.organisms {
                let values = o.parameters.sorted { $0.key < $1.key }.map { "\($0.key)=\(formatNumber($0.value))" }.joined(separator: " ")
                out.append("  \(pad(o.name, 8)) \(o.description)  \(values)")
            }
        }
        if !m.drugs.isEmpty {
            out.append("")
            out.append("Drugs and routes:")
            for d in m.drugs {
                let routes = d.routes.map { r -> String in
                    switch r.bioavailability {
                    case .constant(let f): return "\(r.name) -> \(r.target) (F=\(formatNumber(f)))"
                    case .parameter(let p): return "\(r.name) -> \(r.target) (F=\(p))"
                    }
                }
                out.append("  \(pad(d.name, 14)) \(formatNumber(d.molarMass)) g/mol  \(routes.joined(separator: ", "))")
            }
        }
        if !m.scenarios.isEmpty {
            out.append("")
            out.append("Scenarios:")
            for s in m.scenarios {
                out.append("  \(pad(s.name, 28)) \(s.organism ?? "-"), \(m.timeUnit.describe(s.tEnd)): \(s.description)")
                for d in s.doses { out.append("  \(pad("", 28)) dose: \(d)") }
            }
        }
        if let sbml = loaded.sbml {
            out.append("")
            out.append("Imported from SBML: \(sbml.events.count) event(s)" + (sbml.notes.isEmpty ? "" : "; notes:"))
            for note in sbml.notes { out.append("  \(note)") }
        }
        try printOut(out.joined(separator: "\n"))
    }
}

extension Inspect {
    /// Parameters (name, default value, unit, bounds, description, source or assumption) and the
    /// organisms' overrides, as Markdown: the model file is the one place the values live.
    static func markdownTables(_ m: ModelDefinition) -> String {
        func cell(_ s: String) -> String { s.replacingOccurrences(of: "|", with: "\\|").replacingOccurrences(of: "\n", with: " ") }
        var lines = ["| name | value (default) | unit | bounds | description | source / assumption |", "| --- | --- | --- | --- | --- | --- |"]
        for p in m.parameters {
            let bounds = p.bounds.map { "\(formatNumber($0.lowerBound))-\(formatNumber($0.upperBound))" } ?? ""
            lines.append("| `\(p.name)` | \(formatNumber(p.value)) | \(cell(p.unit)) | \(bounds) | \(cell(p.description)) | \(cell(p.provenance.text)) |")
        }
        if !m.organisms.isEmpty {
            lines += ["", "Organism overrides:", ""]
            for o in m.organisms {
                let pairs = o.parameters.sorted { $0.key < $1.key }.map { "`\($0.key)` \(formatNumber($0.value))" }.joined(separator: ", ")
                lines.append("- **\(o.name)** (\(cell(o.description))): \(pairs)")
                for v in o.variability {
                    lines.append("  - between individuals: `\(v.parameter)` log-normal, CV \(formatNumber(v.cv * 100))% (\(cell(v.source)))")
                }
            }
        }
        return lines.joined(separator: "\n")
    }
}

func pad(_ s: String, _ width: Int) -> String {
    s.count >= width ? s : s + String(repeating: " ", count: width - s.count)
}
