import ArgumentParser
import Experiments
import Fitting
import Foundation
import Models
import PEtab

struct Profile: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Profile likelihoods of a fit's parameters: which ones the data determine, with 95% intervals.",
        discussion: """
        For each chosen parameter, holds it at values stepping away from the fit's estimate (on its scale) \
        and re-fits every other parameter, until the objective has risen by twice the 95% threshold, the \
        bound is reached, or --max-points are spent on a side. The 95% interval is where the rise crosses \
        chi2(1, 0.95) / 2 = 1.92; a side that stays below it up to its bound is open, and a parameter open \
        on both sides is reported as not identifiable.

        Writes, in -o DIR (the fit folder's `profiles` by default): profiles.csv (every point: parameter, \
        value on the scale, linear value, objective, rise, fit status), intervals.csv (estimate and interval \
        per parameter, on the scale and linear, and whether it is identifiable) and, with --plot, profiles.svg. \
        Progress goes to standard error after every point; a note says so when the problem or a file it \
        reads changed since the fit (the hash in the fit's starts.csv.meta.json), since the profile then \
        starts from an estimate that may no longer be the optimum.

        Examples:
          ketasim fit problem.yaml --starts 20 -o fit
          ketasim profile problem.yaml --fit fit --plot
          ketasim profile models/calibration/human_ketamine_pk.yaml --fit fit --parameters v1_ket,ka_ket
        """
    )

    @Argument(help: "The problem that was fitted: a PEtab problem or a ketasim calibration file.")
    var problem: String

    @Option(help: "Folder of the fit (its best.params is the estimate).")
    var fit: String

    @Option(help: "Comma-separated parameters to profile; every estimated parameter by default.")
    var parameters: String?

    @Option(parsing: .unconditional, help: "Most re-fits on each side of the estimate.")
    var maxPoints = 30

    @Option(parsing: .unconditional, help: "Iterations per re-fit.")
    var maxIterations = 100

    @Option(parsing: .unconditional, help: "Parameters profiled at once, each on its own thread with its own integrator.")
    var jobs = 1

    @Option(name: .shortAndLong, help: "Output folder (default: FIT/profiles).")
    var output: String?

    @Flag(help: "Also draw profiles.svg.")
    var plot = false

    @Flag(help: "Overwrite existing files.")
    var force = false

    func validate() throws {
        guard maxPoints >= 1 else { throw ValidationError("--max-points must be at least 1") }
        guard maxIterations >= 1 else { throw ValidationError("--max-iterations must be at least 1") }
        guard jobs >= 1 else { throw ValidationError("--jobs must be at least 1") }
    }

    func run() throws {
        let residuals = try Fit.loadFitProblem(problem)
        let names = residuals.parameterNames
        let bestFile = URL(fileURLWithPath: fit).appendingPathComponent("best.params").path
        let values: [String: Double]
        do { values = try FitFiles.readParameterFile(bestFile) } catch {
            printError("\(error.description) (run `ketasim fit \(problem) -o \(fit)` first)")
            throw Exit.usage
        }
        if let missing = names.first(where: { values[$0] == nil }) {
            printError("\(bestFile) has no value for `\(missing)`; it is not a fit of \(problem)")
            throw Exit.usage
        }
        // A profile is taken around the fit's estimate: if the problem's files changed since (the model
        // recalibrated by hand, a data row added), that estimate is no longer the optimum of this problem.
        let startsFile = URL(fileURLWithPath: fit).appendingPathComponent("starts.csv").path
        if let recorded = try? RunMetadata.read(besides: startsFile), recorded.modelSHA256 != FitFiles.filesSHA256(residuals.sourceFiles) {
            printError("note: \(problem) or a file it reads changed since the fit in \(fit) (their hash differs from "
                + "starts.csv.meta.json); the profile starts from that fit's estimate, which may no longer be the optimum: re-run `ketasim fit`")
        }
        var chosen = names
        if let list = try parseOutputList(parameters) {
            if let unknown = list.first(where: { !names.contains($0) }) {
                throw ValidationError("--parameters: `\(unknown)` is not estimated by \(problem)\(didYouMean(unknown, among: names)); estimated: \(names.joined(separator: ", "))")
            }
            chosen = list
        }
        let folder = output ?? URL(fileURLWithPath: fit).appendingPathComponent("profiles").path
        if !FileManager.default.fileExists(atPath: folder) {
            do { try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: false) } catch {
                printError("cannot create \(folder): \(error.localizedDescription)")
                throw Exit.cannotWrite
            }
        }
        func path(_ name: String) -> String { URL(fileURLWithPath: folder).appendingPathComponent(name).path }
        let files = ["profiles.csv", "intervals.csv"] + (plot ? ["profiles.svg"] : [])
        let locks = try lockOutputs(files.map { Optional(path($0)) }, inputs: [problem, bestFile])
        defer { withExtendedLifetime(locks) {} }
        for file in files where FileManager.default.fileExists(atPath: path(file)) && !force {
            printError("\(path(file)) already exists; pass --force to overwrite it")
            throw Exit.cannotWrite
        }

        let estimate = residuals.point(values)
        var options = LeastSquaresOptions()
        options.maxIterations = maxIterations
        let optimizer = GSLLeastSquares(options: options)
        var profiles: [ProfileLikelihood] = []
        let indices = chosen.compactMap { names.firstIndex(of: $0) }
        let began = Date()
        let problemFile = problem
        // At most 2 * maxPoints re-fits a side pair, plus the estimate itself.
        let most = 2 * maxPoints + 1
        try ProfileLikelihood.computeAll(indices: indices, at: estimate, optimizer: optimizer, maxPoints: maxPoints, jobs: jobs,
                                         makeProblem: { try Fit.loadFitProblem(problemFile) },
                                         progress: { index, points in
            printStandardError("profile: \(names[index]): \(points) of at most \(most) points, \(Progress.clock(Date().timeIntervalSince(began))) since the start")
        }) { profile, failure in
            guard let profile else {
                printError("a profile worker could not load \(problemFile): \(failure ?? "")")
                throw Exit.failedRun
            }
            profiles.append(profile)
            printStandardError("\(profile.parameter): \(profile.points.count) points, \(String(format: "%.1f", Date().timeIntervalSince(began))) s since the start")
            try printOut(describe(profile, scale: residuals.parameterScales[profile.index]))
        }
        let scales = Dictionary(uniqueKeysWithValues: zip(names, residuals.parameterScales))
        try write(ProfileFiles.points(profiles, scales: scales), to: path("profiles.csv"), force: true)
        try write(ProfileFiles.intervals(profiles, scales: scales), to: path("intervals.csv"), force: true)
        if plot {
            let panels = profiles.map { p in
                SVGPlot.XYPanel(title: p.parameter, xLabel: "\(p.parameter) (\(scales[p.parameter]?.rawValue ?? "lin") scale)",
                                yLabel: "objective rise", series: [PlotSeries(label: p.parameter, times: p.points.map(\.value),
                                                                               values: p.points.map { $0.objective - p.bestObjective })],
                                horizontal: [ProfileLikelihood.threshold], vertical: [p.estimate])
            }
            try write(SVGPlot.xy(title: "Profile likelihoods (dashed red: 95% threshold)", panels: panels), to: path("profiles.svg"), force: true)
        }
        // The record of what was profiled, as every other command writes beside its files.
        let solver = CalibrationProblem.looksLikeCalibration(problem) ? CalibrationResiduals.solverSettings : PEtabProblem.solverSettings
        let meta = RunMetadata(version: Ketasim.version, inputFile: problem,
                               inputSHA256: FileManager.default.contents(atPath: problem).map { SHA256.hex($0) } ?? "unreadable",
                               solver: solver, seed: nil,
                               extra: ["fit": fit, "estimate": bestFile, "parameters": chosen.joined(separator: ","), "max_points": String(maxPoints)])
        for file in files { try write(meta.json(), to: path(file) + ".meta.json", force: true) }
        let unresolved = profiles.filter { !$0.identifiable && $0.unresolved }.count
        try printOut("identifiable: \(profiles.filter(\.identifiable).count) of \(profiles.count) profiled parameters"
            + (unresolved > 0 ? " (\(unresolved) unresolved within --max-points)" : ""))
    }

    func describe(_ p: ProfileLikelihood, scale: PEtabScale) -> String {
        func side(_ v: Double?, _ end: ProfileLikelihood.SideEnd) -> String {
            if let v { return formatNumber(v) }
            switch end {
            case .bound: return "open (flat to the bound)"
            case .points: return "not reached in \(maxPoints) re-fits"
            case .failed: return "not reached (a re-fit failed)"
            case .crossed: return "?"
            }
        }
        let interval = "[\(side(p.lower, p.lowerEnd)), \(side(p.upper, p.upperEnd))]"
        let verdict: String
        if p.identifiable { verdict = "" }
        else if p.unresolved { verdict = "; unresolved (raise --max-points)" }
        else if p.lower == nil && p.upper == nil { verdict = "; not identifiable" }
        else { verdict = "; practically not identifiable on one side" }
        return "\(p.parameter): estimate \(formatNumber(p.estimate)) (\(scale.rawValue)), 95% interval \(interval)\(verdict)"
    }
}

/// The profile tables.
enum ProfileFiles {
    static func points(_ profiles: [ProfileLikelihood], scales: [String: PEtabScale]) -> String {
        var lines = ["parameter,scale,value_scale,value,objective,rise,status"]
        for p in profiles {
            let scale = scales[p.parameter] ?? .lin
            for q in p.points {
                lines.append([csvField(p.parameter), scale.rawValue, csvNumber(q.value), csvNumber(scale.invert(q.value)), csvNumber(q.objective),
                              csvNumber(q.objective - p.bestObjective), q.status.rawValue].joined(separator: ","))
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static func intervals(_ profiles: [ProfileLikelihood], scales: [String: PEtabScale]) -> String {
        var lines = ["parameter,scale,estimate,lower,upper,value,lower_value,upper_value,identifiable"]
        for p in profiles {
            let scale = scales[p.parameter] ?? .lin
            func lin(_ v: Double?) -> String { v.map { csvNumber(scale.invert($0)) } ?? "" }
            lines.append([csvField(p.parameter), scale.rawValue, csvNumber(p.estimate), p.lower.map(csvNumber) ?? "", p.upper.map(csvNumber) ?? "",
                          csvNumber(scale.invert(p.estimate)), lin(p.lower), lin(p.upper),
                          p.identifiable ? "yes" : p.unresolved ? "unresolved" : "no"].joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
