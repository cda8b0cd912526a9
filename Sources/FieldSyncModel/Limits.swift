/// Sizes every replica and server holds a record to. They bound the work one
/// push can cause and the size of one change-log row (a record's changes in one
/// mutation travel as one row, never split across pages).
public enum RecordLimits {
    /// Longest text value, in characters (Unicode scalars, as JSON Schema's
    /// maxLength counts): at most 32 KiB of UTF-8.
    public static let maxTextLength = 8_192
    /// Most changes one mutation may make to one record (a record has at most 14 fields).
    public static let maxChangesPerRecord = 64
}

extension RecordID {
    /// Whether `text` is an id in the documented form: 36 characters,
    /// lowercase hexadecimal in groups of 8-4-4-4-12.
    public static func isValid(_ text: String) -> Bool {
        guard text.utf8.count == 36 else { return false }
        var offset = 0
        for byte in text.utf8 {
            if offset == 8 || offset == 13 || offset == 18 || offset == 23 {
                guard byte == UInt8(ascii: "-") else { return false }
            } else {
                guard (byte >= 0x30 && byte <= 0x39) || (byte >= 0x61 && byte <= 0x66) else { return false }
            }
            offset += 1
        }
        return true
    }
}
