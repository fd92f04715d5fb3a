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
    /// Another run holds the lock on this output.
    case busy(String)
    /// An output that is also one of the run's inputs.
    case isInput(String)

    public var description: String {
        switch self {
        case .exists(let p): return "\(p) already exists"
        case let .cannotWrite(p, reason): return "cannot write \(p): \(reason)"
        case let .mismatch(p, reason): return "\(p): \(reason)"
        case let .incomplete(reason): return reason
        case let .busy(p): return "another ketasim run is writing \(p); wait for it to finish or choose another output"
        case let .isInput(p): return "\(p) is an input of this run and cannot also be an output"
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
    var isDirectory: ObjCBool = false
    // A mistyped folder is a mistake to report, not a tree to create (as root, anywhere on the disk).
    guard fm.fileExists(atPath: dir.path, isDirectory: &isDirectory), isDirectory.boolValue else {
        throw .cannotWrite(path, "its folder \(dir.path) does not exist")
    }
    do {
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

/// An exclusive lock on an output path, held for a whole run so that two runs never write one file:
/// the second stops at once. The lock is a hidden file beside the output (`.NAME.lock`), because the
/// output itself is replaced by rename and a lock on it would not survive that.
public final class OutputLock {
    private let descriptor: Int32
    private let lockPath: String

    public init(path: String) throws(OutputFileError) {
        let url = URL(fileURLWithPath: path)
        lockPath = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).lock").path
        descriptor = open(lockPath, O_CREAT | O_RDWR | O_CLOEXEC, 0o644)
        if descriptor < 0 {
            let folder = url.deletingLastPathComponent().path
            throw .cannotWrite(path, FileManager.default.fileExists(atPath: folder) ? String(cString: strerror(errno)) : "its folder \(folder) does not exist")
        }
        if flock(descriptor, LOCK_EX | LOCK_NB) != 0 {
            close(descriptor)
            throw .busy(path)
        }
    }

    deinit {
        unlink(lockPath)
        flock(descriptor, LOCK_UN)
        close(descriptor)
    }

    /// Locks every output that is a regular file path (devices and pipes are written through unlocked)
    /// after checking that none of them is one of `inputs`.
    public static func outputs(_ paths: [String], inputs: [String]) throws(OutputFileError) -> [OutputLock] {
        func canonical(_ p: String) -> String { URL(fileURLWithPath: p).resolvingSymlinksInPath().standardizedFileURL.path }
        let given = Set(inputs.map(canonical))
        for p in paths where given.contains(canonical(p)) || given.contains(canonical(p + ".meta.json")) { throw .isInput(p) }
        var locks: [OutputLock] = []
        for p in paths where !isSpecialFile(p) { locks.append(try OutputLock(path: p)) }
        return locks
    }
}
