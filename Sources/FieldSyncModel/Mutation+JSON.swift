extension Mutation {
    /// The mutation as compact JSON, byte-compatible with `JSONDecoder`.
    ///
    /// Written by hand because every local write stores one in the outbox and
    /// Foundation's encoder costs more than the SQLite work around it.
    public func jsonBytes() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(64 + changes.count * 64)
        out.append(contentsOf: #"{"origin":""#.utf8)
        out.append(contentsOf: origin.description.utf8)
        out.append(contentsOf: #"","counter":"#.utf8)
        out.append(contentsOf: String(counter).utf8)
        if let user {
            out.append(contentsOf: #","user":"#.utf8)
            JSONText.appendString(user, to: &out)
        }
        out.append(contentsOf: #","records":"#.utf8)
        RecordChanges.appendJSON(changes, to: &out)
        out.append(UInt8(ascii: "}"))
        return out
    }
}

public enum JSONText {
    /// Appends `text` as a JSON string literal (RFC 8259 escaping; non-ASCII stays UTF-8).
    public static func appendString(_ text: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out.append(contentsOf: #"\""#.utf8)
            case UInt8(ascii: "\\"): out.append(contentsOf: #"\\"#.utf8)
            case 0x0A: out.append(contentsOf: #"\n"#.utf8)
            case 0x0D: out.append(contentsOf: #"\r"#.utf8)
            case 0x09: out.append(contentsOf: #"\t"#.utf8)
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                out.append(contentsOf: #"\u00"#.utf8)
                out.append(hex[Int(byte >> 4)])
                out.append(hex[Int(byte & 0xF)])
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}
