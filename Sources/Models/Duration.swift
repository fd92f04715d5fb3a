import Foundation

/// Parses durations: a bare number in hours, or a number with `s`, `min`, `h`, `d` or `w`.
public enum Duration {
    public static let unitsInHours: [(suffix: String, hours: Double)] = [
        ("min", 1.0 / 60), ("s", 1.0 / 3600), ("h", 1), ("d", 24), ("w", 168),
    ]

    /// Hours, or nil with a reason.
    public static func hours(_ text: String) -> Result<Double, DurationError> {
        let s = text.trimmingCharacters(in: .whitespaces)
        if s.isEmpty { return .failure(DurationError(text: text)) }
        for (suffix, factor) in unitsInHours where s.hasSuffix(suffix) {
            let number = s.dropLast(suffix.count).trimmingCharacters(in: .whitespaces)
            guard let value = Double(number), value.isFinite else { return .failure(DurationError(text: text)) }
            return .success(value * factor)
        }
        guard let value = Double(s), value.isFinite else { return .failure(DurationError(text: text)) }
        return .success(value)
    }

    /// A duration in a model's time unit (`h`, `min`, `s` or `d`): a bare number is already in it; a
    /// number with a suffix is converted. A model whose time unit is something else (an SBML unit
    /// definition ketasim does not scale) takes bare numbers only.
    public static func value(_ text: String, timeUnit: String) -> Result<Double, DurationError> {
        let s = text.trimmingCharacters(in: .whitespaces)
        if let bare = Double(s), bare.isFinite { return .success(bare) }
        guard let perHour = unitsInHours.first(where: { $0.suffix == timeUnit }).map({ 1 / $0.hours }) else {
            return .failure(DurationError(text: text, timeUnit: timeUnit))
        }
        return hours(text).map { $0 * perHour }
    }

    /// The name of the time column of a CSV file: `time_h`, or `time` when the unit is unknown.
    public static func timeColumn(_ timeUnit: String) -> String { timeUnit.isEmpty ? "time" : "time_" + timeUnit }

    /// A short human form: `504 h (21 d)`.
    public static func describe(_ hours: Double) -> String {
        let h = formatNumber(hours)
        if hours >= 48, (hours / 24).rounded() == hours / 24 { return "\(h) h (\(formatNumber(hours / 24)) d)" }
        return "\(h) h"
    }
}

public struct DurationError: Error, Sendable, Equatable, CustomStringConvertible {
    public var text: String
    /// Set when the text may be fine but the model's time unit cannot be converted to.
    public var timeUnit: String?

    public init(text: String, timeUnit: String? = nil) {
        self.text = text
        self.timeUnit = timeUnit
    }

    public var description: String {
        if let unit = timeUnit {
            let name = unit.isEmpty ? "unspecified" : "`\(unit)`"
            return "`\(text)` needs converting, but the model's time unit is \(name); give a bare number in the model's time unit"
        }
        return "`\(text)` is not a duration; use a number of hours or a number with a unit: 30s, 30min, 2h, 21d, 1w"
    }
}

/// Shortest decimal that reads back as the same double, without a trailing `.0`.
public func formatNumber(_ x: Double) -> String {
    if x.isNaN { return "NaN" }
    if x.isInfinite { return x > 0 ? "inf" : "-inf" }
    if x == x.rounded(), abs(x) < 1e15 { return String(Int64(x)) }
    return "\(x)"
}
