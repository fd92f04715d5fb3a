import Foundation

/// Finds the bundled default model from any working directory.
public enum ModelLocator {
    public static let defaultModelFile = "models/ketamine_stress.yaml"

    /// Candidates in order: `$KETASIM_MODEL`, then `models/` beside the executable or in any folder
    /// above it (a build folder inside the checkout), then the working directory and above.
    public static func defaultModelPath(executable: String = CommandLine.arguments.first ?? "") -> String? {
        let fm = FileManager.default
        if let env = ProcessInfo.processInfo.environment["KETASIM_MODEL"], !env.isEmpty { return env }
        var roots: [URL] = []
        let exe = URL(fileURLWithPath: executable).resolvingSymlinksInPath().deletingLastPathComponent()
        roots.append(exe)
        roots.append(exe.appendingPathComponent("../share/ketasim"))
        roots.append(URL(fileURLWithPath: fm.currentDirectoryPath))
        for root in roots {
            var dir = root.standardizedFileURL
            for _ in 0..<6 {
                let candidate = dir.appendingPathComponent(defaultModelFile).path
                if fm.fileExists(atPath: candidate) { return candidate }
                let share = dir.appendingPathComponent("ketamine_stress.yaml").path
                if dir.lastPathComponent == "ketasim", fm.fileExists(atPath: share) { return share }
                dir = dir.deletingLastPathComponent()
            }
        }
        return nil
    }
}
