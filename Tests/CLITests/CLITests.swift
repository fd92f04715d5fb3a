import Foundation
import Testing

let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
let example = repositoryRoot.appendingPathComponent("models/examples/two_compartment.yaml").path

/// The built `ketasim` beside the test bundle (`swift test` builds the executable it depends on).
func ketasimBinary() throws -> URL {
    let testBinary = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
    var dir = testBinary.deletingLastPathComponent()
    for _ in 0..<4 {
        let candidate = dir.appendingPathComponent("ketasim")
        if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        dir = dir.deletingLastPathComponent()
    }
    let fallback = repositoryRoot.appendingPathComponent(".build/debug/ketasim")
    try #require(FileManager.default.isExecutableFile(atPath: fallback.path), "ketasim binary not found")
    return fallback
}

struct Outcome {
    var status: Int32
    var stdout: String
    var stderr: String
}

func ketasim(_ arguments: [String], cwd: URL? = nil, environment: [String: String]? = nil) throws -> Outcome {
    let process = Process()
    process.executableURL = try ketasimBinary()
    process.arguments = arguments
    if let cwd { process.currentDirectoryURL = cwd }
    if let environment { process.environment = environment }
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let o = out.fileHandleForReading.readDataToEndOfFile()
    let e = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return Outcome(status: process.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
}

func temporaryDirectory() throws -> URL {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ketasim-cli-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    return dir
}

@Suite("ketasim command line")
struct CLITests {
    @Test func runWritesCSVWithTimeUnitToStandardOutput() throws {
        let r = try ketasim(["run", example, "--outputs", "concentration", "--t-end", "2h"])
        #expect(r.status == 0, "\(r.stderr)")
        let lines = r.stdout.split(separator: "\n")
        #expect(lines.first == "time_h,concentration")
        #expect(lines.count == 4)  // header + t = 0, 1, 2
        let c1 = Double(lines[2].split(separator: ",")[1]) ?? .nan
        #expect(abs(c1 - 32.3555) < 1e-3)  // Bateman at 1 h: 32.3555 uM
    }

    @Test func outputFileIsNotOverwrittenWithoutForce() throws {
        let dir = try temporaryDirectory()
        let path = dir.appendingPathComponent("out.csv").path
        #expect(try ketasim(["run", example, "-o", path]).status == 0)
        try "keep me".write(toFile: path, atomically: true, encoding: .utf8)
        let again = try ketasim(["run", example, "-o", path])
        #expect(again.status == 64)
        #expect(again.stderr.contains("already exists; pass --force to overwrite it"))
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "keep me")
        #expect(try ketasim(["run", example, "-o", path, "--force"]).status == 0)
        #expect(try String(contentsOfFile: path, encoding: .utf8).hasPrefix("time_h,"))
    }

    @Test(arguments: [
        (["run", example, "--scenario", "single_orl"], "unknown scenario `single_orl`; did you mean `single_oral`?"),
        (["run", example, "--dose", "drug 10 mg/kg xx at 0"], "drug has no route `xx`"),
        (["run", example, "--dose", "drug 10 mg/kg oral at 3d"], "not after the last dose at 72 h"),
        (["run", example, "--t-end", "3 weeks"], "--t-end: `3 weeks` is not a duration"),
        (["run", example, "--set", "kx=2"], "--set: unknown parameter `kx`; did you mean `ka` or `ke`?"),
        (["run", example, "--stepper", "rk5"], "The value 'rk5' is invalid for '--stepper <stepper>'"),
        (["run", example, "--rtol=-1"], "relative tolerance must be a finite number >= 0"),
    ])
    func badArgumentsExit64WithOneReason(arguments: [String], message: String) throws {
        let r = try ketasim(arguments)
        #expect(r.status == 64)
        #expect(r.stderr.contains(message), "\(r.stderr)")
        #expect(r.stdout.isEmpty)
    }

    @Test func badModelFileExits65WithLocations() throws {
        let dir = try temporaryDirectory()
        let path = dir.appendingPathComponent("bad.yaml").path
        let text = try String(contentsOfFile: example, encoding: .utf8)
            .replacingOccurrences(of: "central: ka * depot - ke * central", with: "central: ka * depot - kee * central")
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        for args in [["validate", path], ["run", path]] {
            let r = try ketasim(args)
            #expect(r.status == 65)
            #expect(r.stderr.contains("bad.yaml:45:25: error: unknown symbol `kee`; did you mean `ke`?"), "\(r.stderr)")
            #expect(r.stderr.contains("1 problem in the model file"))
        }
        #expect(try ketasim(["validate", example]).status == 0)
    }

    @Test func helpTeachesDosesAndDurations() throws {
        let r = try ketasim(["run", "--help"])
        #expect(r.status == 0)
        #expect(r.stdout.contains("ketamine 0.5 mg/kg iv over 40min at 0"))
        #expect(r.stdout.contains("30s, 30min, 2h, 21d, 1w"))
        #expect(r.stdout.contains("msbdf"))
    }
}
