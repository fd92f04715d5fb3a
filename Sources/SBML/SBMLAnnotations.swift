/// MIRIAM identifiers as identifiers.org URIs and back, for the database keys ketasim states use.
public enum SBMLAnnotations {
    /// ketasim identifier key -> identifiers.org prefix.
    public static let prefixes: [String: String] = [
        "hgnc": "hgnc.symbol", "entrez": "ncbigene", "ncbigene": "ncbigene", "mesh": "mesh",
        "uniprot": "uniprot", "chebi": "chebi", "kegg": "kegg.compound", "go": "GO",
    ]

    public static func uri(key: String, value: String) -> String {
        let prefix = prefixes[key] ?? key
        // CHEBI and GO identifiers carry their prefix inside the accession on identifiers.org.
        if prefix == "chebi" && !value.uppercased().hasPrefix("CHEBI:") { return "https://identifiers.org/CHEBI:\(value)" }
        if prefix == "GO" && !value.uppercased().hasPrefix("GO:") { return "https://identifiers.org/GO:\(value)" }
        if prefix == "chebi" || prefix == "GO" { return "https://identifiers.org/\(value)" }
        return "https://identifiers.org/\(prefix)/\(value)"
    }

    /// (ketasim key, value) from an identifiers.org URL or a MIRIAM URN; nil for anything else.
    static func identifier(fromURI uri: String) -> (String, String)? {
        var rest: Substring
        if let range = uri.range(of: "identifiers.org/") {
            rest = uri[range.upperBound...]
        } else if uri.hasPrefix("urn:miriam:") {
            rest = uri.dropFirst("urn:miriam:".count)
            if let colon = rest.firstIndex(of: ":") { rest = rest[..<colon] + "/" + rest[rest.index(after: colon)...] }
        } else {
            return nil
        }
        guard let slash = rest.firstIndex(of: "/") else {
            if rest.uppercased().hasPrefix("CHEBI:") { return ("chebi", String(rest)) }
            if rest.uppercased().hasPrefix("GO:") { return ("go", String(rest)) }
            return nil
        }
        let prefix = String(rest[..<slash])
        let value = String(rest[rest.index(after: slash)...]).removingPercentEncodingIfPossible
        let key = prefixes.first { $0.value == prefix && $0.key != "ncbigene" }?.key ?? prefix
        return (key, value)
    }
}

private extension String {
    var removingPercentEncodingIfPossible: String {
        var out = ""
        var bytes: [UInt8] = []
        var i = startIndex
        while i < endIndex {
            if self[i] == "%", let end = index(i, offsetBy: 3, limitedBy: endIndex),
               let byte = UInt8(self[index(after: i)..<end], radix: 16) {
                bytes.append(byte)
                i = end
                continue
            }
            if !bytes.isEmpty { out += String(decoding: bytes, as: UTF8.self); bytes = [] }
            out.append(self[i])
            i = index(after: i)
        }
        if !bytes.isEmpty { out += String(decoding: bytes, as: UTF8.self) }
        return out
    }
}
