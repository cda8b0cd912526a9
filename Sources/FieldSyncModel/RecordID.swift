/// Record ids are made where the record is created, so nothing made offline is
/// ever renumbered: 128 random bits in the canonical 8-4-4-4-12 form.
///
/// They are random from the first digit (UUID version 4) rather than
/// time-ordered (version 7) so that the first few digits are enough to name a
/// record on the command line, the way git abbreviates commits.
public enum RecordID {
    public static func make<G: RandomNumberGenerator>(using generator: inout G) -> String {
        var high = generator.next() as UInt64
        var low = generator.next() as UInt64
        high = (high & ~0xF000) | 0x4000                      // version 4
        low = (low & 0x3FFF_FFFF_FFFF_FFFF) | 0x8000_0000_0000_0000 // RFC 4122 variant
        let h = hex16(high), l = hex16(low)
        return "\(h.prefix(8))-\(h.dropFirst(8).prefix(4))-\(h.suffix(4))-\(l.prefix(4))-\(l.suffix(12))"
    }

    /// A deterministic id from a name, for records that two replicas must create
    /// identically without talking (conflict records).
    /// The calendar record of a date: one record per date, whoever marks it.
    public static func calendarDay(_ date: LocalDate) -> String { derived(from: "calendar-day:\(date)") }

    /// The record of a registered branch: one record per name, whoever registers it.
    public static func branch(_ name: String) -> String { derived(from: "branch:\(name)") }

    public static func derived(from name: String) -> String {
        // Two FNV-1a passes with different offsets give 128 bits; no security
        // property is needed, only determinism and a negligible collision rate.
        let high = fnv1a(name, offset: 0xcbf2_9ce4_8422_2325)
        let low = fnv1a(name, offset: 0x84222325_cbf29ce4)
        let h = hex16(high), l = hex16(low)
        return "\(h.prefix(8))-\(h.dropFirst(8).prefix(4))-\(h.suffix(4))-\(l.prefix(4))-\(l.suffix(12))"
    }

    private static func fnv1a(_ text: String, offset: UInt64) -> UInt64 {
        var hash = offset
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01b3
        }
        // Final avalanche (from SplitMix64) so similar names differ in the first digits.
        hash ^= hash >> 30
        hash = hash &* 0xbf58_476d_1ce4_e5b9
        hash ^= hash >> 27
        hash = hash &* 0x94d0_49bb_1331_11eb
        hash ^= hash >> 31
        return hash
    }
}
