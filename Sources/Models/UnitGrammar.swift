/// Checks `unit:` strings against a small grammar of the units models use, so that `unit: banana`
/// or `unit: umo/L` is flagged. Only a warning: the unit is documentation, nothing converts by it.
///
///     unit    := "1" | product
///     product := factor (("*" | "/" | " ") factor)*
///     factor  := ("(" product ")" | atom) ("^" integer)?
///     atom    := symbol | prefix symbol | word          (e.g. umol, uM, L/h/kg, 1/h, mg/kg, fold)
public enum UnitGrammar {
    /// SI symbols that take a prefix.
    static let prefixable: Set<String> = ["g", "mol", "M", "L", "l", "s", "m", "Hz", "Pa", "Da", "eq", "K", "J", "W", "V", "A", "Bq", "Gy", "kat", "N"]
    /// Symbols that take no prefix, and words used as units.
    static let plain: Set<String> = [
        "1", "h", "hr", "min", "d", "day", "days", "wk", "week", "weeks", "mo", "month", "months", "yr", "year", "years",
        "fold", "%", "percent", "dimensionless", "ratio", "fraction", "probability", "a.u.", "au", "AU", "U", "IU",
        "cell", "cells", "molecule", "molecules", "item", "items", "count", "event", "events", "mmHg", "bpm",
        "kg_bw", "beats", "score", "degC", "°C", "rad", "sr",
    ]
    /// SI prefixes; `u`, `µ` and `μ` all mean micro.
    static let prefixes: Set<String> = ["y", "z", "a", "f", "p", "n", "u", "µ", "μ", "m", "c", "d", "da", "h", "k", "M", "G", "T"]

    /// The first part of `unit` the grammar does not know, or nil when it is a known unit.
    public static func unknownPart(of unit: String) -> String? {
        let text = unit.trimmingCharacters(in: .whitespaces)
        if text.isEmpty { return "" }
        var tokens: [String] = []
        var current = ""
        for ch in text {
            if "*/^() ·".contains(ch) {
                if !current.isEmpty { tokens.append(current); current = "" }
                if ch != " " { tokens.append(ch == "·" ? "*" : String(ch)) }
            } else {
                current.append(ch)
            }
        }
        if !current.isEmpty { tokens.append(current) }
        var depth = 0
        var previous = "/"  // a unit may start with an atom or "(", as after an operator
        for token in tokens {
            switch token {
            case "(":
                depth += 1
            case ")":
                depth -= 1
                if depth < 0 { return ")" }
            case "*", "/":
                if previous == "*" || previous == "/" || previous == "^" || previous == "(" { return token }
            case "^":
                if previous == "*" || previous == "/" || previous == "^" || previous == "(" { return token }
            default:
                if previous == "^" {
                    let digits = token.hasPrefix("-") || token.hasPrefix("+") ? String(token.dropFirst()) : token
                    guard !digits.isEmpty, digits.allSatisfy(\.isNumber) else { return token }
                } else if !isAtom(token) {
                    return token
                }
            }
            previous = token
        }
        if depth != 0 { return "(" }
        if previous == "*" || previous == "/" || previous == "^" { return previous }
        return nil
    }

    static func isAtom(_ token: String) -> Bool {
        if plain.contains(token) || prefixable.contains(token) { return true }
        if token.allSatisfy(\.isNumber) { return true }  // 1/h, 10^3 written as a factor
        for prefix in prefixes where token.hasPrefix(prefix) {
            if prefixable.contains(String(token.dropFirst(prefix.count))) { return true }
        }
        return false
    }
}
