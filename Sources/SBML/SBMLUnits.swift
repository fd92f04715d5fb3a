import Foundation

/// ketasim unit strings ("1/h", "umol/L", "mg/kg/h", "uM") as SBML unit definitions.
enum SBMLUnits {
    struct Factor: Equatable {
        var kind: String
        var exponent: Int
        var scale: Int
        var multiplier: Double
    }

    /// Each known symbol as SBML base units (kind, exponent, scale, multiplier).
    private static let symbols: [String: [Factor]] = {
        var table: [String: [Factor]] = [
            "1": [], "dimensionless": [],
            "s": [Factor(kind: "second", exponent: 1, scale: 0, multiplier: 1)],
            "min": [Factor(kind: "second", exponent: 1, scale: 0, multiplier: 60)],
            "h": [Factor(kind: "second", exponent: 1, scale: 0, multiplier: 3600)],
            "d": [Factor(kind: "second", exponent: 1, scale: 0, multiplier: 86400)],
            "w": [Factor(kind: "second", exponent: 1, scale: 0, multiplier: 604800)],
            "kg": [Factor(kind: "kilogram", exponent: 1, scale: 0, multiplier: 1)],
        ]
        let prefixes: [(String, Int)] = [("", 0), ("m", -3), ("u", -6), ("µ", -6), ("n", -9), ("p", -12)]
        for (p, scale) in prefixes {
            table[p + "mol"] = [Factor(kind: "mole", exponent: 1, scale: scale, multiplier: 1)]
            table[p + "g"] = [Factor(kind: "gram", exponent: 1, scale: scale, multiplier: 1)]
            table[p + "L"] = [Factor(kind: "litre", exponent: 1, scale: scale, multiplier: 1)]
            table[p + "M"] = [Factor(kind: "mole", exponent: 1, scale: scale, multiplier: 1), Factor(kind: "litre", exponent: -1, scale: 0, multiplier: 1)]
        }
        return table
    }()

    /// The factors of a unit string, or nil when some part is not understood.
    static func parse(_ text: String) -> [Factor]? {
        let compact = text.replacingOccurrences(of: " ", with: "")
        guard !compact.isEmpty else { return nil }
        var result: [Factor] = []
        var sign = 1
        var token = ""
        func flush() -> Bool {
            defer { token = "" }
            if token.isEmpty { return false }
            var name = token
            var exponent = 1
            if let caret = token.firstIndex(of: "^") {
                name = String(token[..<caret])
                guard let e = Int(token[token.index(after: caret)...]) else { return false }
                exponent = e
            }
            guard let factors = symbols[name] else { return false }
            for f in factors {
                var g = f
                g.exponent *= exponent * sign
                result.append(g)
            }
            return true
        }
        for ch in compact {
            if ch == "/" || ch == "*" || ch == "·" {
                guard flush() else { return nil }
                sign = ch == "/" ? -1 : 1
            } else {
                token.append(ch)
            }
        }
        guard flush() else { return nil }
        return result
    }

    /// An SBML id for a unit string: letters, digits and `_` only.
    static func id(for text: String) -> String {
        var s = "u_"
        for ch in text {
            switch ch {
            case "/": s += "_per_"
            case "*", "·": s += "_"
            case "^": s += "_pow_"
            case "-": s += "m"
            case "µ": s += "u"
            default: s += ch.isASCII && (ch.isLetter || ch.isNumber) ? String(ch) : "_"
            }
        }
        return s
    }
}
