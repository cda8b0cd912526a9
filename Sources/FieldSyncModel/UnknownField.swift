/// A field of a known record kind that this version does not know: a newer peer added it.
///
/// Today a server refuses a mutation carrying one, with the reason, and it waits on its device
/// until the server is upgraded (`PushRules.newerThanServer`); a replica that meets one in a
/// page passes over it and reads it again once upgraded. The change log's format can already
/// hold one by name (`ChangeLogCodec`, field 255): the ground for servers keeping and relaying
/// such fields, which needs them stored per record as well (Protocol/SYNC.md, "New fields and
/// record kinds").
public enum UnknownField {
    /// Whether `name` can be a field's name: 1 to 64 of a–z, 0–9 and `_`, starting with a letter
    /// (as every field this version knows is named).
    public static func isWritable(_ name: String) -> Bool {
        let bytes = name.utf8
        guard (1...64).contains(bytes.count), let first = bytes.first, (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(first) else { return false }
        return bytes.allSatisfy { (UInt8(ascii: "a")...UInt8(ascii: "z")).contains($0) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) || $0 == UInt8(ascii: "_") }
    }
}
