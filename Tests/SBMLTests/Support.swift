import Foundation

/// Paths relative to this file, so tests work from any working directory.
enum TestPaths {
    static let repository: URL = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let suite = repository.deletingLastPathComponent().appendingPathComponent("shared/sbml-test-suite").path
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures").path
    static func model(_ relative: String) -> String { repository.appendingPathComponent(relative).path }

    static var suiteAvailable: Bool { FileManager.default.fileExists(atPath: suite + "/cases") }
}
