import Foundation

/// Paths relative to this file, so tests work from any working directory.
enum TestPaths {
    static let repository: URL = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let suite = repository.deletingLastPathComponent().appendingPathComponent("shared/petab-test-suite").path
    static let benchmark = repository.deletingLastPathComponent().appendingPathComponent("shared/petab-benchmark").path

    static var suiteAvailable: Bool { FileManager.default.fileExists(atPath: suite + "/cases") }
    static var benchmarkAvailable: Bool { FileManager.default.fileExists(atPath: benchmark + "/reference.tsv") }

    /// The case directories, sorted (0001, 0002, ...).
    static var cases: [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: suite + "/cases")) ?? []
        return names.filter { $0.count == 4 && Int($0) != nil }.sorted()
    }
}
