/// Byte checks eight bytes at a time. Every string of a sync passes through them
/// (its UTF-8 checked when decoded, NUL looked for when validated): the generic
/// `Sequence` versions went a byte at a time and were a twentieth of a laptop's
/// pull in a profile.
public enum ByteScan {
    private static let highBits: UInt64 = 0x8080_8080_8080_8080
    private static let lowBits: UInt64 = 0x0101_0101_0101_0101

    /// Whether every byte is below 0x80 (ASCII, so valid UTF-8 as it stands).
    public static func isASCII(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let start = bytes.baseAddress else { return true }
        let raw = UnsafeRawPointer(start)
        var seen: UInt64 = 0
        var offset = 0
        while offset + 8 <= bytes.count {
            seen |= raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
            offset += 8
        }
        var tail: UInt8 = 0
        while offset < bytes.count {
            tail |= bytes[offset]
            offset += 1
        }
        return seen & highBits == 0 && tail < 0x80
    }

    /// Whether any byte is zero.
    public static func containsZero(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let start = bytes.baseAddress else { return false }
        let raw = UnsafeRawPointer(start)
        var offset = 0
        while offset + 8 <= bytes.count {
            let word = raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
            // Sets a byte's high bit where that byte of `word` is zero (and, past a zero byte, perhaps elsewhere: still true).
            if (word &- lowBits) & ~word & highBits != 0 { return true }
            offset += 8
        }
        while offset < bytes.count {
            if bytes[offset] == 0 { return true }
            offset += 1
        }
        return false
    }

    /// Whether the two hold the same bytes.
    public static func equal(_ first: UnsafeBufferPointer<UInt8>, _ second: UnsafeBufferPointer<UInt8>) -> Bool {
        guard first.count == second.count else { return false }
        guard let a = first.baseAddress, let b = second.baseAddress else { return true }
        let (rawA, rawB) = (UnsafeRawPointer(a), UnsafeRawPointer(b))
        var offset = 0
        while offset + 8 <= first.count {
            if rawA.loadUnaligned(fromByteOffset: offset, as: UInt64.self) != rawB.loadUnaligned(fromByteOffset: offset, as: UInt64.self) {
                return false
            }
            offset += 8
        }
        while offset < first.count {
            if first[offset] != second[offset] { return false }
            offset += 1
        }
        return true
    }
}
