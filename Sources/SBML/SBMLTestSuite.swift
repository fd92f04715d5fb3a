import Experiments
import Foundation
import Integrator
import Models

/// Runs cases of the SBML Test Suite (semantic time-course cases) and judges them by the suite's rule:
/// every reported value v and expected value e must satisfy |v - e| <= absolute + relative * |e|.
public enum SBMLTestSuite {
    public struct CaseSettings: Sendable, Equatable {
        public var start: Double
        public var duration: Double
        public var steps: Int
        public var variables: [String]
        public var absolute: Double
        public var relative: Double
        public var amounts: Set<String>
        public var concentrations: Set<String>

        public var times: [Double] {
            (0...steps).map { start + duration * Double($0) / Double(steps) }
        }
    }

    public struct CaseResult: Sendable {
        public var name: String
        public var componentTags: [String]
        public var testTags: [String]
        public var passed: Bool
        /// True when the case was not simulated because the import or compilation refused it with a
        /// typed error naming the element; a failure that is not a refusal is a wrong (or failed) run.
        public var refused: Bool = false
        /// Empty when passed: the import or run error, or the first mismatch.
        public var message: String
        public var seconds: Double
    }

    public struct Summary: Sendable {
        public var results: [CaseResult]
        public var passed: Int { results.filter(\.passed).count }
        public var failed: Int { results.count - passed }
        /// Failures that are refusals (the model was not run).
        public var refused: Int { results.filter { !$0.passed && $0.refused }.count }
        /// Failures that ran and disagree with the expected values, or whose run failed.
        public var wrong: Int { failed - refused }
        /// `N passed, M failed (R refused, W wrong)`.
        public var line: String { "\(passed) passed, \(failed) failed (\(refused) refused, \(wrong) wrong)" }
    }

    public static func parseSettings(_ text: String) -> CaseSettings {
        var fields: [String: String] = [:]
        for line in text.split(whereSeparator: \.isNewline) {
            guard let colon = line.firstIndex(of: ":") else { continue }
            fields[line[..<colon].trimmingCharacters(in: .whitespaces)] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        func list(_ key: String) -> [String] {
            (fields[key] ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        }
        return CaseSettings(
            start: Double(fields["start"] ?? "") ?? 0, duration: Double(fields["duration"] ?? "") ?? 0,
            steps: Int(fields["steps"] ?? "") ?? 0, variables: list("variables"),
            absolute: Double(fields["absolute"] ?? "") ?? 0, relative: Double(fields["relative"] ?? "") ?? 0,
            amounts: Set(list("amount")), concentrations: Set(list("concentration")))
    }

    /// `index.tsv`: case -> (component tags, test tags).
    public static func readIndex(root: String) -> [String: (components: [String], tests: [String])] {
        guard let text = try? String(contentsOfFile: root + "/index.tsv", encoding: .utf8) else { return [:] }
        var result: [String: (components: [String], tests: [String])] = [:]
        for line in text.split(whereSeparator: \.isNewline).dropFirst() {
            let columns = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            guard columns.count >= 3 else { continue }
            func tags(_ s: String) -> [String] { s.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty } }
            result[columns[0]] = (tags(columns[1]), tags(columns[2]))
        }
        return result
    }

    public static func caseNames(root: String) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: root + "/cases")) ?? []
        return names.filter { $0.count == 5 && $0.allSatisfy(\.isNumber) }.sorted()
    }

    /// Runs one case directory `root/cases/NNNNN`.
    /// Settings that resolve the suite's tolerances with a wide margin: a step cut at every output
    /// time (the suite's tightest cases need integrated, not interpolated, values).
    public static let solverSettings = SolverSettings(stepper: .msbdf, relativeTolerance: 1e-10, absoluteTolerance: 1e-14,
                                                      initialStep: 1e-6, maxSteps: 2_000_000, outputMode: .driver)

    public static func run(case name: String, root: String, settings solver: SolverSettings = solverSettings,
                           tags: (components: [String], tests: [String]) = ([], [])) -> CaseResult {
        let started = Date()
        let directory = root + "/cases/" + name
        var result = CaseResult(name: name, componentTags: tags.components, testTags: tags.tests, passed: false, message: "", seconds: 0)
        defer { result.seconds = Date().timeIntervalSince(started) }
        func finish(_ message: String, refused: Bool = false) -> CaseResult {
            result.message = message
            result.refused = refused && !message.isEmpty
            result.passed = message.isEmpty
            result.seconds = Date().timeIntervalSince(started)
            return result
        }
        guard let settingsText = try? String(contentsOfFile: "\(directory)/\(name)-settings.txt", encoding: .utf8),
              let expectedText = try? String(contentsOfFile: "\(directory)/\(name)-results.csv", encoding: .utf8)
        else { return finish("missing settings or results file") }
        let settings = parseSettings(settingsText)
        let expected = parseCSV(expectedText)
        do throws(SBMLError) {
            let model = try SBMLImporter.importModel(path: "\(directory)/\(name)-sbml-l3v2.xml")
            let columns = try model.columns(ids: settings.variables, amounts: settings.amounts, concentrations: settings.concentrations)
            var tuned = solver
            // Never looser than a ten-thousandth of what the case accepts.
            tuned.absoluteTolerance = min(solver.absoluteTolerance, settings.absolute * 1e-4)
            let listed = expected.rows.map { $0.first ?? 0 }
            let times = listed.isEmpty ? settings.times : listed
            let result: SimulationResult
            let compiled: CompiledModel
            do {
                compiled = try CompiledModel(model.definition)
            } catch {
                return finish("\(error)", refused: true)
            }
            do {
                let simulator = try Simulator(model: compiled, settings: tuned)
                var plan = SimulationPlan(model: model.definition, tEnd: max(times.max() ?? 0, 1e-12))
                plan.outputTimes = times
                result = try simulator.run(plan, columns: columns)
            } catch {
                return finish("\(error)")
            }
            if let failure = result.failure { return finish("simulation failed: \(failure)") }
            return finish(compare(result, expected: expected, settings: settings))
        } catch {
            return finish(error.description, refused: true)
        }
    }

    /// "" when every value is within tolerance, else a sentence naming the first mismatch.
    static func compare(_ trajectory: SimulationResult, expected: (header: [String], rows: [[Double]]), settings: CaseSettings) -> String {
        guard trajectory.times.count == expected.rows.count else {
            return "produced \(trajectory.times.count) time points, expected \(expected.rows.count)"
        }
        let m = trajectory.outputNames.count
        for (column, name) in expected.header.enumerated().dropFirst() {
            guard let j = trajectory.outputNames.firstIndex(of: name) else { return "no output for `\(name)`" }
            for (i, row) in expected.rows.enumerated() where column < row.count {
                let e = row[column]
                let v = trajectory.values[i * m + j]
                let ok: Bool
                if e.isNaN { ok = v.isNaN } else if e.isInfinite { ok = v == e } else {
                    ok = abs(v - e) <= settings.absolute + settings.relative * abs(e)
                }
                if !ok {
                    return "`\(name)` at t = \(trajectory.times[i]) is \(v), expected \(e)"
                }
            }
        }
        return ""
    }

    static func parseCSV(_ text: String) -> (header: [String], rows: [[Double]]) {
        let lines = text.split(whereSeparator: \.isNewline).map(String.init).filter { !$0.isEmpty }
        guard let first = lines.first else { return ([], []) }
        let header = first.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        let rows = lines.dropFirst().map { line in
            line.split(separator: ",", omittingEmptySubsequences: false).map { field -> Double in
                let f = field.trimmingCharacters(in: .whitespaces)
                switch f.lowercased() {
                case "nan": return .nan
                case "inf", "infinity": return .infinity
                case "-inf", "-infinity": return -.infinity
                default: return Double(f) ?? .nan
                }
            }
        }
        return (header, rows)
    }

    /// Runs every case under `root` (the folder holding `cases/` and `index.tsv`) on `threads` threads.
    public static func runAll(root: String, threads: Int = 2, only: [String]? = nil) -> Summary {
        let names = only ?? caseNames(root: root)
        let index = readIndex(root: root)
        let box = ResultBox(count: names.count)
        DispatchQueue.concurrentPerform(iterations: max(1, threads)) { worker in
            var k = worker
            while k < names.count {
                let tags = index[names[k]] ?? ([], [])
                box.set(k, run(case: names[k], root: root, tags: tags))
                k += max(1, threads)
            }
        }
        return Summary(results: box.results.compactMap { $0 })
    }
}

/// Results written by worker threads, each to its own slot.
private final class ResultBox: @unchecked Sendable {
    private let lock = NSLock()
    private var storage: [SBMLTestSuite.CaseResult?]
    init(count: Int) { storage = Array(repeating: nil, count: count) }
    func set(_ index: Int, _ value: SBMLTestSuite.CaseResult) {
        lock.lock()
        storage[index] = value
        lock.unlock()
    }
    var results: [SBMLTestSuite.CaseResult?] {
        lock.lock()
        defer { lock.unlock() }
        return storage
    }
}
