import Foundation

/// The units a dose may be written in.
public enum DoseUnit: String, Sendable, CaseIterable, Codable {
    case mgPerKg = "mg/kg", ugPerKg = "ug/kg", mg, ug, g, umol, nmol
    case mgPerKgPerHour = "mg/kg/h", ugPerKgPerHour = "ug/kg/h", mgPerHour = "mg/h"

    /// Rates need a duration; their amount is rate x duration.
    public var isRate: Bool { self == .mgPerKgPerHour || self == .ugPerKgPerHour || self == .mgPerHour }
    public var isPerKilogram: Bool { [.mgPerKg, .ugPerKg, .mgPerKgPerHour, .ugPerKgPerHour].contains(self) }

    /// umol for one unit, given the molar mass (g/mol) and body weight (kg).
    func micromoles(molarMass: Double, bodyWeight: Double) -> Double {
        let perKg = isPerKilogram ? bodyWeight : 1
        switch self {
        case .mgPerKg, .mg, .mgPerKgPerHour, .mgPerHour: return perKg * 1000 / molarMass
        case .ugPerKg, .ug, .ugPerKgPerHour: return perKg / molarMass
        case .g: return 1e6 / molarMass
        case .umol: return 1
        case .nmol: return 1e-3
        }
    }
}

/// One dose or a regimen of equal doses, as written in a model file, on the command line or in a
/// dosing table:
///
///     <drug> <amount> <unit> <route> [over <duration>] at <time> [every <duration> x<count>]
public struct DoseRegimen: Sendable, Equatable, Codable, CustomStringConvertible {
    public var drug: String
    public var amount: Double
    public var unit: DoseUnit
    public var route: String
    /// Infusion length in hours; nil for a bolus.
    public var duration: Double?
    /// Time of the first dose, hours.
    public var time: Double
    /// Time between doses, hours; nil for a single dose.
    public var interval: Double?
    /// Number of doses in all.
    public var count: Int

    public init(drug: String, amount: Double, unit: DoseUnit, route: String, duration: Double? = nil, time: Double, interval: Double? = nil, count: Int = 1) {
        self.drug = drug
        self.amount = amount
        self.unit = unit
        self.route = route
        self.duration = duration
        self.time = time
        self.interval = interval
        self.count = count
    }

    /// The most doses one regimen may hold. A regimen becomes one event and one breakpoint per
    /// dose, and callers expand `times` into an array; 100,000 doses (more than ten years of
    /// hourly dosing) keep that within a megabyte, where x1000000000 asked for 15 GB.
    public static let maximumCount = 100_000

    /// The dose times, first to last.
    public var times: [Double] {
        (0..<count).map { time + Double($0) * (interval ?? 0) }
    }

    /// The last dose time, without expanding the regimen.
    public var lastTime: Double { time + Double(max(0, count - 1)) * (interval ?? 0) }

    public var description: String {
        var s = "\(drug) \(formatNumber(amount)) \(unit.rawValue) \(route)"
        if let d = duration { s += " over \(formatNumber(d))h" }
        s += " at \(formatNumber(time))h"
        if count > 1, let i = interval { s += " every \(formatNumber(i))h x\(count)" }
        return s
    }

    /// Parses the shorthand; the error says which part is wrong and what was expected.
    public static func parse(_ text: String) -> Result<DoseRegimen, DoseSpecError> {
        let words = text.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        func fail(_ message: String) -> Result<DoseRegimen, DoseSpecError> {
            .failure(DoseSpecError(text: text, message: message))
        }
        let form = "expected `<drug> <amount> <unit> <route> [over <duration>] at <time> [every <duration> x<count>]`"
        guard words.count >= 6 else { return fail(form) }
        let drug = words[0]
        guard let amount = Double(words[1]), amount.isFinite else { return fail("`\(words[1])` is not a dose amount") }
        guard amount >= 0 else { return fail("the dose amount must not be negative, got \(words[1])") }
        guard let unit = DoseUnit(rawValue: words[2]) else {
            return fail("unknown dose unit `\(words[2])`; use one of " + DoseUnit.allCases.map(\.rawValue).joined(separator: ", "))
        }
        let route = words[3]
        var i = 4
        var duration: Double?
        if words[i] == "over" {
            guard i + 1 < words.count else { return fail("`over` needs a duration") }
            switch Duration.hours(words[i + 1]) {
            case .success(let d) where d > 0: duration = d
            case .success: return fail("the infusion duration must be positive, got `\(words[i + 1])`")
            case .failure(let e): return fail(e.description)
            }
            i += 2
        }
        guard i < words.count, words[i] == "at", i + 1 < words.count else { return fail(form) }
        let time: Double
        switch Duration.hours(words[i + 1]) {
        case .success(let t): time = t
        case .failure(let e): return fail(e.description)
        }
        i += 2
        var interval: Double?
        var count = 1
        if i < words.count {
            guard words[i] == "every", i + 1 < words.count else { return fail("unexpected `\(words[i])`; " + form) }
            switch Duration.hours(words[i + 1]) {
            case .success(let d) where d > 0: interval = d
            case .success: return fail("the dosing interval must be positive, got `\(words[i + 1])`")
            case .failure(let e): return fail(e.description)
            }
            i += 2
            guard i < words.count else { return fail("`every` needs a count such as `x8`") }
            var countText = words[i]
            if countText == "x", i + 1 < words.count { i += 1; countText = words[i] } else { countText = String(countText.dropFirst()) }
            guard words[i].hasPrefix("x") || countText != words[i], let n = Int(countText), n >= 1 else {
                return fail("`\(words[i])` is not a dose count; write x<count>, e.g. x8")
            }
            guard n <= maximumCount else {
                return fail("x\(n) is more than \(maximumCount) doses, ketasim's limit for one regimen; "
                            + "write a longer interval or several regimens")
            }
            count = n
            i += 1
        }
        guard i == words.count else { return fail("unexpected `\(words[i...].joined(separator: " "))` at the end") }
        if unit.isRate && duration == nil { return fail("a rate in \(unit.rawValue) needs `over <duration>`") }
        if let d = duration, let iv = interval, d > iv {
            return fail("each infusion (\(formatNumber(d)) h) is longer than the dosing interval (\(formatNumber(iv)) h)")
        }
        return .success(DoseRegimen(drug: drug, amount: amount, unit: unit, route: route, duration: duration, time: time, interval: interval, count: count))
    }

    /// Amount of one dose in umol (rates: rate x duration).
    public func micromolesPerDose(molarMass: Double, bodyWeight: Double) -> Double {
        let perUnit = unit.micromoles(molarMass: molarMass, bodyWeight: bodyWeight)
        return amount * perUnit * (unit.isRate ? (duration ?? 0) : 1)
    }
}

public struct DoseSpecError: Error, Sendable, Equatable, CustomStringConvertible {
    public var text: String
    public var message: String
    public var description: String { "bad dose `\(text)`: \(message)" }
}
