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
        let bytes = text.utf8
        guard bytes.count == 36 else { return false }
        for (offset, byte) in bytes.enumerated() {
            switch offset {
            case 8, 13, 18, 23:
                guard byte == UInt8(ascii: "-") else { return false }
            default:
                guard (0x30...0x39).contains(byte) || (0x61...0x66).contains(byte) else { return false }
            }
        }
        return true
    }
}
