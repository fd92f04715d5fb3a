import ArgumentParser
import Experiments
import Foundation

struct Report: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Turn an output folder (compare, sweep, sensitivity, population, fit, profile) into one HTML page.",
        discussion: """
        Recognises the folder from its files and writes one self-contained page: every SVG figure inlined, \
        every CSV and TSV file as a table (the first --max-rows rows of a long one), best.params as text, and \
        the command and provenance recorded in the .meta.json sidecars. The page needs no network and runs \
        no script. Written to DIR/report.html unless -o says otherwise.

        Example:
          ketasim compare --scenarios control,stress_ketamine -o out --plot && ketasim report out
        """
    )

    @Argument(help: "Output folder of a ketasim command.")
    var folder: String

    @Option(name: .shortAndLong, help: "HTML file to write; DIR/report.html by default.")
    var output: String?

    @Option(parsing: .unconditional, help: "Rows shown per table.")
    var maxRows = 200

    @Flag(help: "Overwrite an existing page.")
    var force = false

    func validate() throws {
        if maxRows < 1 { throw ValidationError("--max-rows must be at least 1") }
    }

    func run() throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ValidationError("\(folder) is not a folder; give the -o DIR of a compare, sweep, sensitivity, population, fit or profile")
        }
        let target = output ?? URL(fileURLWithPath: folder).appendingPathComponent("report.html").path
        let targetName = URL(fileURLWithPath: target).standardizedFileURL.path
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: folder).sorted() } catch {
            printError("cannot read \(folder): \(error.localizedDescription)")
            throw Exit.usage
        }
        var figures: [FolderReport.File] = [], tables: [FolderReport.File] = [], sidecars: [FolderReport.File] = [], texts: [FolderReport.File] = []
        var headers: [String: String] = [:]
        for name in names {
            let path = URL(fileURLWithPath: folder).appendingPathComponent(name)
            if path.standardizedFileURL.path == targetName || name.hasPrefix(".") { continue }
            guard let text = try? String(contentsOf: path, encoding: .utf8) else { continue }
            let file = FolderReport.File(name: name, text: text)
            if name.hasSuffix(".meta.json") { sidecars.append(file) }
            else if name.hasSuffix(".svg") { figures.append(file) }
            else if name.hasSuffix(".csv") || name.hasSuffix(".tsv") {
                tables.append(file)
                headers[name] = text.split(separator: "\n", maxSplits: 1).first.map(String.init) ?? ""
            } else if name.hasSuffix(".params") { texts.append(file) }
        }
        if figures.isEmpty && tables.isEmpty {
            throw ValidationError("\(folder) holds no figure (.svg) and no table (.csv, .tsv) to report")
        }
        let kind = FolderReport.kind(of: names, headers: headers)
        let report = FolderReport(folder: folder, kind: kind, figures: figures, tables: tables, sidecars: sidecars, texts: texts, maxRows: maxRows)
        try write(report.html, to: target, force: force)
        printStandardError("wrote \(target) (\(kind.rawValue): \(figures.count) figures, \(tables.count) tables)")
    }
}
