import Foundation
import SBML

// Usage: sbml-test-suite DIR [CASE...]
// DIR holds cases/ and index.tsv. Prints one line per failing case, then "N passed, M failed (R refused, W wrong)";
// exits 1 when any case failed, 64 on bad usage.
let arguments = Array(CommandLine.arguments.dropFirst())
guard let root = arguments.first, !root.hasPrefix("-") else {
    FileHandle.standardError.write(Data("usage: sbml-test-suite DIR [CASE...]  (DIR holds cases/ and index.tsv)\n".utf8))
    exit(64)
}
var isDirectory: ObjCBool = false
guard FileManager.default.fileExists(atPath: root + "/cases", isDirectory: &isDirectory), isDirectory.boolValue else {
    FileHandle.standardError.write(Data("sbml-test-suite: \(root)/cases is not a directory\n".utf8))
    exit(64)
}
let only = arguments.count > 1 ? Array(arguments.dropFirst()) : nil
let threads = max(1, ProcessInfo.processInfo.activeProcessorCount)
let summary = SBMLTestSuite.runAll(root: root, threads: threads, only: only)
for r in summary.results where !r.passed {
    let tags = (r.componentTags + r.testTags).joined(separator: ", ")
    print("\(r.name) [\(tags)]: \(r.message)")
}
print(summary.line)
exit(summary.failed == 0 ? 0 : 1)
