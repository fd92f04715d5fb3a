import Foundation

/// One self-contained HTML page of an output folder: its figures inlined, its tables, and what produced
/// them (the sidecars' command and provenance). The caller reads the folder; this only lays it out.
public struct FolderReport: Sendable {
    public enum Kind: String, Sendable, CaseIterable {
        case compare, sweep, sensitivity, population, fit, profile, unknown

        /// What the folder holds, in a sentence for the page.
        public var summary: String {
            switch self {
            case .compare: "Scenarios run side by side (ketasim compare): time courses, metrics and differences from the reference."
            case .sweep: "A parameter sweep (ketasim sweep): one row of metrics per run."
            case .sensitivity: "A sensitivity analysis (ketasim sensitivity): the design, its runs and the indices."
            case .population: "A virtual population (ketasim population): subjects, percentile bands and responders."
            case .fit: "A multistart fit (ketasim fit): every start, the best estimates and the fit against the data."
            case .profile: "Profile likelihoods (ketasim profile): profiles and confidence intervals of the estimates."
            case .unknown: "An output folder of ketasim."
            }
        }

        /// Figures and tables of this kind in the order a reader wants them; others follow by name.
        var preferred: [String] {
            switch self {
            case .compare: ["compare.svg", "summary.csv", "timeseries.csv"]
            case .sweep: []
            case .sensitivity: ["tornado.svg", "morris.svg", "sobol.svg", "local.csv", "morris.csv", "sobol.csv", "samples.csv", "runs.csv"]
            case .population: ["bands.svg", "responders.svg", "responders.csv", "bands.csv", "subjects.csv"]
            case .fit: ["fit.svg", "residuals.svg", "waterfall.svg", "estimates.csv", "residuals.tsv", "validation.tsv", "simulations.tsv", "starts.csv"]
            case .profile: ["profiles.svg", "intervals.csv", "profiles.csv"]
            case .unknown: []
            }
        }
    }

    /// The kind of folder from the names of its files (and, for a sweep, the header of a CSV file).
    public static func kind(of files: [String], headers: [String: String] = [:]) -> Kind {
        let names = Set(files)
        if names.contains("summary.csv") && names.contains("timeseries.csv") { return .compare }
        if names.contains("subjects.csv") { return .population }
        if names.contains("samples.csv") && !names.isDisjoint(with: ["local.csv", "morris.csv", "sobol.csv", "runs.csv"]) { return .sensitivity }
        if names.contains("profiles.csv") || names.contains("intervals.csv") { return .profile }
        if names.contains("starts.csv") { return .fit }
        if headers.values.contains(where: { $0.hasPrefix("run_id,") }) { return .sweep }
        return .unknown
    }

    public struct File: Sendable {
        public var name: String
        public var text: String
        public init(name: String, text: String) {
            self.name = name
            self.text = text
        }
    }

    public var folder: String
    public var kind: Kind
    public var figures: [File]
    /// CSV and TSV files (by extension).
    public var tables: [File]
    /// `.meta.json` files, by the name of the file each describes plus the suffix.
    public var sidecars: [File]
    /// Other small text files shown as they are (best.params).
    public var texts: [File]
    /// Rows shown per table; the page says how many the file holds.
    public var maxRows: Int

    public init(folder: String, kind: Kind, figures: [File], tables: [File], sidecars: [File], texts: [File] = [], maxRows: Int = 200) {
        self.folder = folder
        self.kind = kind
        self.figures = FolderReport.ordered(figures, kind.preferred)
        self.tables = FolderReport.ordered(tables, kind.preferred)
        self.sidecars = sidecars.sorted { $0.name < $1.name }
        self.texts = texts.sorted { $0.name < $1.name }
        self.maxRows = maxRows
    }

    static func ordered(_ files: [File], _ preferred: [String]) -> [File] {
        files.sorted { a, b in
            let i = preferred.firstIndex(of: a.name) ?? Int.max, j = preferred.firstIndex(of: b.name) ?? Int.max
            return i != j ? i < j : a.name < b.name
        }
    }

    /// The page. Figures are `<figure class="figure" data-file="NAME">` holding the SVG itself, tables
    /// `<table data-file="NAME">`; no script, so nothing can fail to run in the browser.
    public var html: String {
        var page = """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8"><title>\(Self.escape("ketasim report: " + folder))</title>
        <style>
        body { font-family: sans-serif; margin: 2em auto; max-width: 1320px; color: #222; padding: 0 1em; }
        h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ccc; } h3 { font-size: 1em; }
        figure { margin: 1em 0 2em; overflow-x: auto; } figcaption { font-size: 0.9em; color: #555; margin-bottom: 0.3em; }
        figure svg { max-width: 100%; height: auto; }
        .scroll { overflow: auto; max-height: 32em; border: 1px solid #ddd; margin-bottom: 0.5em; }
        table { border-collapse: collapse; font-size: 0.8em; } th, td { border: 1px solid #ddd; padding: 2px 6px; text-align: right; white-space: nowrap; }
        th { background: #f4f4f4; position: sticky; top: 0; } td:first-child, th:first-child { text-align: left; }
        .note { color: #555; font-size: 0.9em; } pre { background: #f6f6f6; padding: 0.6em; overflow-x: auto; font-size: 0.85em; }
        dl { display: grid; grid-template-columns: max-content auto; gap: 2px 1em; font-size: 0.9em; } dt { font-weight: bold; } dd { margin: 0; word-break: break-all; }
        nav a { margin-right: 1em; }
        </style></head><body>
        <h1>ketasim report: \(Self.escape(folder))</h1>
        <p class="kind" data-kind="\(kind.rawValue)">\(Self.escape(kind.summary))</p>

        """
        page += "<nav>" + (figures.isEmpty ? "" : "<a href=\"#figures\">Figures</a>") + (tables.isEmpty ? "" : "<a href=\"#tables\">Tables</a>")
            + (sidecars.isEmpty ? "" : "<a href=\"#provenance\">Provenance</a>") + "</nav>\n"
        if !figures.isEmpty {
            page += "<h2 id=\"figures\">Figures</h2>\n"
            for (k, f) in figures.enumerated() {
                page += "<figure class=\"figure\" id=\"figure-\(k + 1)\" data-file=\"\(Self.escape(f.name))\"><figcaption>Figure \(k + 1): \(Self.escape(f.name))</figcaption>\n"
                page += Self.inlineSVG(f.text) + "\n</figure>\n"
            }
        }
        if !tables.isEmpty {
            page += "<h2 id=\"tables\">Tables</h2>\n"
            for t in tables { page += table(t) }
        }
        for t in texts {
            page += "<h3>\(Self.escape(t.name))</h3>\n<pre data-file=\"\(Self.escape(t.name))\">\(Self.escape(t.text))</pre>\n"
        }
        if !sidecars.isEmpty {
            page += "<h2 id=\"provenance\">Provenance</h2>\n"
            // Commands write the same record beside several files: shown once, with the files it describes.
            var groups: [(text: String, files: [String])] = []
            for s in sidecars {
                let described = s.name.hasSuffix(".meta.json") ? String(s.name.dropLast(".meta.json".count)) : s.name
                if let i = groups.firstIndex(where: { Self.sameRecord($0.text, s.text) }) { groups[i].files.append(described) }
                else { groups.append((s.text, [described])) }
            }
            for g in groups { page += provenance(g.text, files: g.files) }
        }
        return page + "</body></html>\n"
    }

    /// The SVG element alone (no XML declaration), ready to sit inside HTML.
    static func inlineSVG(_ text: String) -> String {
        guard let start = text.range(of: "<svg") else { return "<p class=\"note\">not an SVG file</p>" }
        return String(text[start.lowerBound...]).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Two sidecars are one record when they differ at most in their creation time.
    static func sameRecord(_ a: String, _ b: String) -> Bool {
        func strip(_ s: String) -> String { s.split(separator: "\n").filter { !$0.contains("\"createdAt\"") }.joined(separator: "\n") }
        return a == b || strip(a) == strip(b)
    }

    func table(_ file: File) -> String {
        let separator: Character = file.name.hasSuffix(".tsv") ? "\t" : ","
        var lines = file.text.split(separator: "\n", omittingEmptySubsequences: true)
        // Comment lines (a params file's header) are not rows.
        lines.removeAll { $0.hasPrefix("#") }
        guard let headerLine = lines.first else { return "<h3>\(Self.escape(file.name))</h3><p class=\"note\">empty</p>\n" }
        let header = Self.fields(String(headerLine), separator)
        let body = lines.dropFirst()
        let shown = body.prefix(maxRows).map { Self.fields(String($0), separator) }
        var html = "<h3 id=\"table-\(Self.escape(file.name))\">\(Self.escape(file.name))</h3>\n"
        html += "<p class=\"note\">\(body.count) rows, \(header.count) columns"
            + (body.count > maxRows ? "; the first \(maxRows) are shown, the file holds them all" : "") + ".</p>\n"
        // A few rows of many columns (a comparison's metrics) read down the page, not across it.
        let transpose = header.count > 30 && shown.count <= 12 && body.count <= maxRows
        html += "<div class=\"scroll\"><table data-file=\"\(Self.escape(file.name))\">"
        if transpose {
            html += "<thead><tr><th>\(Self.escape(header[0]))</th>" + shown.map { "<th>\(Self.escape($0.first ?? ""))</th>" }.joined() + "</tr></thead><tbody>"
            for c in header.indices.dropFirst() {
                html += "<tr><td>\(Self.escape(header[c]))</td>" + shown.map { "<td>\(Self.escape(c < $0.count ? $0[c] : ""))</td>" }.joined() + "</tr>"
            }
        } else {
            html += "<thead><tr>" + header.map { "<th>\(Self.escape($0))</th>" }.joined() + "</tr></thead><tbody>"
            for row in shown { html += "<tr>" + row.map { "<td>\(Self.escape($0))</td>" }.joined() + "</tr>" }
        }
        return html + "</tbody></table></div>\n"
    }

    /// Fields of a CSV line (quotes with doubled quotes inside) or a TSV line.
    static func fields(_ line: String, _ separator: Character) -> [String] {
        guard separator == ",", line.contains("\"") else { return line.split(separator: separator, omittingEmptySubsequences: false).map(String.init) }
        var out: [String] = [], field = "", quoted = false
        var chars = Array(line)[...]
        while let c = chars.popFirst() {
            if quoted {
                if c == "\"" { if chars.first == "\"" { field.append("\""); chars.removeFirst() } else { quoted = false } } else { field.append(c) }
            } else if c == "\"" { quoted = true } else if c == "," { out.append(field); field = "" } else { field.append(c) }
        }
        out.append(field)
        return out
    }

    func provenance(_ json: String, files: [String]) -> String {
        var html = "<h3>Record of \(files.map(Self.escape).joined(separator: ", "))</h3>\n"
        guard let object = (try? JSONSerialization.jsonObject(with: Data(json.utf8))) as? [String: Any] else {
            return html + "<pre>\(Self.escape(json))</pre>\n"
        }
        if let command = object["command"] as? [String] {
            html += "<p>Command:</p><pre class=\"command\">\(Self.escape(command.map(Self.shellQuoted).joined(separator: " ")))</pre>\n"
        }
        html += "<dl>"
        let order = ["ketasimVersion", "createdAt", "modelFile", "modelSHA256", "scenario", "organism", "doses", "seed", "tEnd", "outputEvery",
                     "timeUnit", "outputGrid", "parametersChanged", "sweep", "solver", "failure"]
        for key in order {
            guard let value = object[key], !(value is NSNull) else { continue }
            let text = Self.describe(value)
            if text.isEmpty || text == "[]" || text == "{}" { continue }
            html += "<dt>\(Self.escape(key))</dt><dd>\(Self.escape(text))</dd>"
        }
        if let extra = object["extra"] as? [String: Any] {
            for key in extra.keys.sorted() { html += "<dt>\(Self.escape(key))</dt><dd>\(Self.escape(Self.describe(extra[key] ?? "")))</dd>" }
        }
        return html + "</dl>\n"
    }

    static func describe(_ value: Any) -> String {
        if let s = value as? String { return s }
        if let a = value as? [String] { return a.joined(separator: "; ") }
        if JSONSerialization.isValidJSONObject(value), let data = try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys]) {
            return String(decoding: data, as: UTF8.self)
        }
        return "\(value)"
    }

    /// A word as a POSIX shell reads it back: quoted when it holds anything but safe characters.
    static func shellQuoted(_ word: String) -> String {
        let safe = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-_./=:,+@%"))
        if !word.isEmpty && word.unicodeScalars.allSatisfy({ safe.contains($0) }) { return word }
        return "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}
