import Foundation
import Models

/// Reads a NONMEM-style dosing table, one record per line:
///
///     time,drug,amount,unit,route,duration,ii,addl
///     21d,ketamine,10,mg/kg,ip,,,
///     0,esketamine,84,mg,intranasal,0,84,7
///
/// `time`, `duration` and `ii` are durations (hours when bare); `duration` empty or 0 is a bolus;
/// `addl` additional doses `ii` apart follow the first, as in NONMEM. Header names are matched without
/// regard to case, so `TIME`, `AMT`, `II`, `ADDL` work too (`amt` = amount, `dur` = duration).
public enum DosingTable {
    public static func read(path: String) throws(DosingTableError) -> [DoseRegimen] {
        guard let data = FileManager.default.contents(atPath: path) else { throw DosingTableError(path: path, line: 0, message: "cannot read the file") }
        return try parse(String(decoding: data, as: UTF8.self), path: path)
    }

    public static func parse(_ text: String, path: String) throws(DosingTableError) -> [DoseRegimen] {
        let lines = text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).map(String.init)
        guard let headerIndex = lines.firstIndex(where: { !$0.trimmingCharacters(in: .whitespaces).isEmpty && !$0.hasPrefix("#") }) else {
            throw DosingTableError(path: path, line: 1, message: "the table is empty; the first line must name the columns time,drug,amount,unit,route,duration,ii,addl")
        }
        let aliases = ["amt": "amount", "dur": "duration", "cmt": "route"]
        let header = lines[headerIndex].split(separator: ",", omittingEmptySubsequences: false).map { h -> String in
            let name = h.trimmingCharacters(in: .whitespaces).lowercased()
            return aliases[name] ?? name
        }
        for required in ["time", "drug", "amount", "unit", "route"] where !header.contains(required) {
            throw DosingTableError(path: path, line: headerIndex + 1, message: "missing column `\(required)`; the columns are time,drug,amount,unit,route,duration,ii,addl")
        }
        var doses: [DoseRegimen] = []
        // Dose times over the whole table: each regimen is capped, but a table of many capped rows
        // would expand just as far.
        var total = 0
        for (k, line) in lines.enumerated().dropFirst(headerIndex + 1) {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            let fields = line.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard fields.count == header.count else {
                throw DosingTableError(path: path, line: k + 1, message: "\(fields.count) fields where the header has \(header.count)")
            }
            var row: [String: String] = [:]
            for (name, value) in zip(header, fields) { row[name] = value }
            var spec = "\(row["drug"] ?? "") \(row["amount"] ?? "") \(row["unit"] ?? "") \(row["route"] ?? "")"
            if let d = row["duration"], !d.isEmpty, Double(d) != 0 { spec += " over \(d)" }
            spec += " at \(row["time"] ?? "")"
            let addl = row["addl"].flatMap { $0.isEmpty ? nil : $0 }
            if let addl {
                // NONMEM tables often write counts as reals (`7.0`, `1e3`); the cap is checked before
                // anything is expanded, and before n + 1 could overflow.
                guard let real = Double(addl), real >= 0, real == real.rounded() else {
                    throw DosingTableError(path: path, line: k + 1, message: "addl `\(addl)` is not a whole number >= 0")
                }
                guard real < Double(DoseRegimen.maximumCount) else {
                    throw DosingTableError(path: path, line: k + 1, message: "addl \(addl) makes more than \(DoseRegimen.maximumCount) doses, ketasim's limit for one regimen")
                }
                let n = Int(real)
                if n > 0 {
                    guard let ii = row["ii"], !ii.isEmpty, Double(ii) != 0 else {
                        throw DosingTableError(path: path, line: k + 1, message: "addl \(n) needs an interval in `ii`")
                    }
                    spec += " every \(ii) x\(n + 1)"
                }
            }
            switch DoseRegimen.parse(spec) {
            case .success(let d):
                total += d.count
                guard total <= DoseRegimen.maximumCount else {
                    throw DosingTableError(path: path, line: k + 1, message: "the table holds more than \(DoseRegimen.maximumCount) doses by this line, ketasim's limit")
                }
                doses.append(d)
            case .failure(let e): throw DosingTableError(path: path, line: k + 1, message: e.message)
            }
        }
        return doses
    }
}

public struct DosingTableError: Error, Sendable, Equatable, CustomStringConvertible {
    public var path: String
    public var line: Int
    public var message: String
    public var description: String { "\(path):\(line): \(message)" }
}
