import Foundation
import SBML

// Usage: sbml-test-suite [--by-tag] DIR [CASE...]
// DIR holds cases/ and index.tsv. Prints one line per failing case, then "N passed, M failed (R refused, W wrong)";
// with --by-tag, first a Markdown table of passed, refused and wrong cases per tag (component and test tags).
// Exits 1 when any case failed, 64 on bad usage.
var arguments = Array(CommandLine.arguments.dropFirst())
let byTag = arguments.first == "--by-tag"
if byTag { arguments.removeFirst() }
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
if byTag {
    var counts: [String: (cases: Int, passed: Int, refused: Int)] = [:]
    for r in summary.results {
        for tag in Set(r.componentTags + r.testTags) {
            var c = counts[tag] ?? (0, 0, 0)
            c.cases += 1
            if r.passed { c.passed += 1 } else if r.refused { c.refused += 1 }
            counts[tag] = c
        }
    }
    print("| tag | passed | refused | wrong | cases | rate |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for (tag, c) in counts.sorted(by: { ($0.value.cases, $1.key) > ($1.value.cases, $0.key) }) {
        let wrong = c.cases - c.passed - c.refused
        print("| \(tag) | \(c.passed) | \(c.refused) | \(wrong) | \(c.cases) | \(String(format: "%.1f%%", 100 * Double(c.passed) / Double(c.cases))) |")
    }
}
print(summary.line)
exit(summary.failed == 0 ? 0 : 1)
