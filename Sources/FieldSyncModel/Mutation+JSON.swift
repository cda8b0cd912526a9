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
    /// Runs of bytes that need no escape are copied whole: appending byte by byte
    /// was a fifth of the server's CPU while serving a pull.
    public static func appendString(_ text: String, to out: inout [UInt8]) {
        var text = text
        out.append(UInt8(ascii: "\""))
        text.withUTF8 { bytes in
            var plain = 0
            for index in bytes.indices {
                let byte = bytes[index]
                guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else { continue }
                out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[plain..<index]))
                plain = index + 1
                switch byte {
                case UInt8(ascii: "\""): out.append(contentsOf: #"\""#.utf8)
                case UInt8(ascii: "\\"): out.append(contentsOf: #"\\"#.utf8)
                case 0x0A: out.append(contentsOf: #"\n"#.utf8)
                case 0x0D: out.append(contentsOf: #"\r"#.utf8)
                case 0x09: out.append(contentsOf: #"\t"#.utf8)
                default:
                    out.append(contentsOf: #"\u00"#.utf8)
                    out.append(hexDigits[Int(byte >> 4)])
                    out.append(hexDigits[Int(byte & 0xF)])
                }
            }
            out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[plain...]))
        }
        out.append(UInt8(ascii: "\""))
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)
}
