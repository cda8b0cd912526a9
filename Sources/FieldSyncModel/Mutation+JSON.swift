extension Mutation {
    /// The mutation as compact JSON, byte-compatible with `JSONDecoder`.
    ///
    /// Written by hand because every local write stores one in the outbox and
    /// Foundation's encoder costs more than the SQLite work around it.
    public func jsonBytes() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(64 + changes.count * 160)
        out.append(contentsOf: #"{"origin":""#.utf8)
        out.append(contentsOf: origin.description.utf8)
        out.append(contentsOf: #"","counter":"#.utf8)
        out.append(contentsOf: String(counter).utf8)
        if let user {
            out.append(contentsOf: #","user":"#.utf8)
            JSONText.appendString(user, to: &out)
        }
        out.append(contentsOf: #","changes":["#.utf8)
        for (index, change) in changes.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            change.appendJSON(to: &out)
        }
        out.append(contentsOf: "]}".utf8)
        return out
    }
}

extension FieldChange {
    public func appendJSON(to out: inout [UInt8]) {
        out.append(contentsOf: #"{"table":""#.utf8)
        out.append(contentsOf: table.rawValue.utf8)
        out.append(contentsOf: #"","record":"#.utf8)
        JSONText.appendString(record, to: &out)
        out.append(contentsOf: #","field":"#.utf8)
        JSONText.appendString(field, to: &out)
        out.append(contentsOf: #","value":"#.utf8)
        switch value {
        case .null: out.append(contentsOf: "null".utf8)
        case .int(let number): out.append(contentsOf: String(number).utf8)
        case .text(let text): JSONText.appendString(text, to: &out)
        }
        out.append(contentsOf: #","hlc":"#.utf8)
        out.append(contentsOf: String(hlc.rawValue).utf8)
        out.append(contentsOf: #","node":""#.utf8)
        out.append(contentsOf: node.description.utf8)
        out.append(contentsOf: #"","base":"#.utf8)
        out.append(contentsOf: String(base.rawValue).utf8)
        out.append(UInt8(ascii: "}"))
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
