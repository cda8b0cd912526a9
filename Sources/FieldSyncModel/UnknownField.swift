/// A field of a known record kind that this version does not know: a newer peer added it.
/// Servers keep such a field in their change log and relay it as it came (they neither store
/// it in the record nor merge it: the peers that know it do); a replica that does not know it
/// passes over it and reads it again once upgraded.
public enum UnknownField {
    /// Most unknown fields in one record of one mutation.
    public static let maxPerRecord = 16

    /// Whether `name` can be a field's name: 1 to 64 of a–z, 0–9 and `_`, starting with a letter
    /// (as every field this version knows is named).
    public static func isWritable(_ name: String) -> Bool {
        let bytes = name.utf8
        guard (1...64).contains(bytes.count), let first = bytes.first, (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(first) else { return false }
        return bytes.allSatisfy { (UInt8(ascii: "a")...UInt8(ascii: "z")).contains($0) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) || $0 == UInt8(ascii: "_") }
    }

    /// Why a value cannot be kept for an unknown field, or nil: its type is unknown here, so only
    /// what every field is bound by applies (text at most `RecordLimits.maxTextLength`).
    public static func refusal(of value: FieldValue) -> String? {
        if case .text(let text) = value, text.unicodeScalars.count > RecordLimits.maxTextLength {
            return "at most \(RecordLimits.maxTextLength) characters"
        }
        return nil
    }
}
