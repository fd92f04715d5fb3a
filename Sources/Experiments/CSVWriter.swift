import Foundation
import Models

/// Formats numbers for CSV: shortest round-trip text, so files reload to the same doubles.
public func csvNumber(_ x: Double) -> String {
    if x.isNaN { return "NaN" }
    if x.isInfinite { return x > 0 ? "Inf" : "-Inf" }
    if x == x.rounded(), abs(x) < 1e15 { return String(Int64(x)) }
    return "\(x)"
}

/// Quotes a CSV field when it holds a comma, quote or newline (RFC 4180).
public func csvField(_ s: String) -> String {
    if s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) {
        return "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
    return s
}

extension SimulationResult {
    /// Wide CSV: the time in the model's unit (`time_h`), then one column per output.
    public func csv() -> String {
        var lines = [([timeUnit.column] + outputNames).map(csvField).joined(separator: ",")]
        lines.reserveCapacity(times.count + 1)
        let m = outputNames.count
        for k in 0..<times.count {
            var row = csvNumber(times[k])
            for j in 0..<m { row += "," + csvNumber(values[k * m + j]) }
            lines.append(row)
        }
        return lines.joined(separator: "\n") + "\n"
    }
}

/// Why an output file was not written.
public enum OutputFileError: Error, Sendable, Equatable, CustomStringConvertible {
    case exists(String)
    case cannotWrite(String, String)
    /// A file that does not belong with the others (resume, merge): its path and why.
    case mismatch(String, String)
    /// Runs missing from a merge.
    case incomplete(String)

    public var description: String {
        switch self {
        case .exists(let p): return "\(p) already exists"
        case let .cannotWrite(p, reason): return "cannot write \(p): \(reason)"
        case let .mismatch(p, reason): return "\(p): \(reason)"
        case let .incomplete(reason): return reason
        }
    }
}

/// Writes a whole file under a temporary name in the same folder and renames it into place, so a
/// reader never sees half a file and an interrupted run leaves the old file intact.
public func writeAtomically(_ text: String, to path: String, force: Bool) throws(OutputFileError) {
    let fm = FileManager.default
    if fm.fileExists(atPath: path) && !force { throw .exists(path) }
    if isSpecialFile(path) {
        // A device or a pipe (/dev/null, a FIFO): renaming a file over it would replace the node.
        guard let handle = FileHandle(forWritingAtPath: path) else { throw .cannotWrite(path, "it cannot be opened for writing") }
        do {
            try handle.write(contentsOf: Data(text.utf8))
            try handle.close()
        } catch {
            throw .cannotWrite(path, (error as NSError).localizedDescription)
        }
        return
    }
    let url = URL(fileURLWithPath: path)
    let dir = url.deletingLastPathComponent()
    let temp = dir.appendingPathComponent(".\(url.lastPathComponent).tmp-\(ProcessInfo.processInfo.processIdentifier)")
    do {
        try fm.createDirectory(at: dir, withIntermediateDirectories: true)
        try Data(text.utf8).write(to: temp)
        // rename(2) replaces the target atomically within one file system.
        if rename(temp.path, url.path) != 0 {
            throw OutputFileError.cannotWrite(path, String(cString: strerror(errno)))
        }
    } catch let error as OutputFileError {
        try? fm.removeItem(at: temp)
        throw error
    } catch {
        try? fm.removeItem(at: temp)
        throw .cannotWrite(path, (error as NSError).localizedDescription)
    }
}

/// True for an existing path that is neither a regular file nor a directory (a device, a pipe): it is
/// written through, never replaced, and gets no `.meta.json` beside it.
public func isSpecialFile(_ path: String) -> Bool {
    var info = stat()
    guard stat(path, &info) == 0 else { return false }
    let kind = info.st_mode & S_IFMT
    return kind != S_IFREG && kind != S_IFDIR
}
