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

}

/// A model's unit of time: what a bare number means, how durations convert into it, what the time
/// column is called and how times read in messages. ketasim's own models run in hours; an imported SBML
/// model keeps its own unit, which may be one ketasim cannot scale (then only bare numbers are taken).
public struct TimeUnit: Sendable, Hashable, Codable, CustomStringConvertible, ExpressibleByStringLiteral {
    /// `h`, `min`, `s`, `d`, `w`, another name, or empty when unspecified.
    public var symbol: String

    public static let hours = TimeUnit("h")

    public init(_ symbol: String) { self.symbol = symbol }
    public init(stringLiteral value: String) { symbol = value }
    public init(from decoder: any Decoder) throws { symbol = try decoder.singleValueContainer().decode(String.self) }
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(symbol)
    }

    public var description: String { symbol.isEmpty ? "model time units" : symbol }

    /// Hours in one unit, when ketasim can convert.
    public var hours: Double? { Duration.unitsInHours.first { $0.suffix == symbol }?.hours }

    /// The name of the time column of a CSV file: `time_h`, or `time` when the unit is unknown.
    public var column: String { symbol.isEmpty ? "time" : "time_" + symbol }

    /// A duration in this unit: a bare number is already in it; a number with a suffix is converted.
    public func value(_ text: String) -> Result<Double, DurationError> {
        let s = text.trimmingCharacters(in: .whitespaces)
        if let bare = Double(s), bare.isFinite { return .success(bare) }
        guard let h = hours else { return .failure(DurationError(text: text, timeUnit: symbol)) }
        return Duration.hours(text).map { $0 / h }
    }

    /// A time in this unit as people read it: `504 h (21 d)`, `90 s`, `12 model time units`.
    public func describe(_ value: Double) -> String {
        let v = formatNumber(value)
        guard symbol == "h" else { return "\(v) \(description)" }
        if value >= 48, (value / 24).rounded() == value / 24 { return "\(v) h (\(formatNumber(value / 24)) d)" }
        return "\(v) h"
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
