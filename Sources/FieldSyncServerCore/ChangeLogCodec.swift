import FieldSyncModel

/// The change log keeps one row per record per mutation, not one per field:
/// a visit of ten fields is one insert, not ten. The row's changes are this blob
/// (all integers little-endian):
///
///     [k: u16] k × [hlc: u64][node: u64][base: u64]      distinct stamps, in order of first use
///     [n: u16] n × [field: u8][stamp: u8 or u16][value]   field = index in the table's schema
///     value = 0 (null) | 1 [i64] | 2 [length: u32][UTF-8]
///
/// The stamp index is one byte when k ≤ 255, two otherwise. A field this version does not know
/// (a newer peer's: `UnknownField`) can be held as `field` 255 followed by its name,
/// `[length: u8][UTF-8]`; no schema has 255 fields, so rows written before read alike. No push
/// writes one today (a server refuses such a mutation): the format is ready for servers that
/// keep and relay such fields.
package enum ChangeLogCodec {
    package struct Malformed: Error, CustomStringConvertible {
        package var description: String { "a change-log row is malformed" }
        package init() {}
    }

    /// Encodes changes that all concern one record of `schema`'s table. Input
    /// the format cannot hold (a field outside the schema, more than 65,535
    /// changes or stamps) is refused with `Malformed`, never trapped on; the
    /// server's limits keep a push far below it.
    package static func encode(_ changes: some Collection<FieldChange>, schema: RecordSchema) throws -> [UInt8] {
        var stamps: [FieldStamp] = []
        var known: [FieldStamp: Int] = [:]
        var stampIndex: [Int] = []
        stampIndex.reserveCapacity(changes.count)
        for change in changes {
            let stamp = change.stamp
            // Most rows have one stamp: compare with the last before hashing.
            if let last = stamps.last, last == stamp {
                stampIndex.append(stamps.count - 1)
            } else if let index = known[stamp] {
                stampIndex.append(index)
            } else {
                known[stamp] = stamps.count
                stampIndex.append(stamps.count)
                stamps.append(stamp)
            }
        }
        guard let stampCount = UInt16(exactly: stamps.count), let changeCount = UInt16(exactly: changes.count) else { throw Malformed() }
        var out: [UInt8] = []
        out.reserveCapacity(4 + stamps.count * 24 + changes.count * 24)
        append(stampCount, to: &out)
        for stamp in stamps {
            append(stamp.hlc.rawValue, to: &out)
            append(stamp.node.rawValue, to: &out)
            append(stamp.base.rawValue, to: &out)
        }
        append(changeCount, to: &out)
        let wide = stamps.count > 255
        var hint = 0
        for (change, stamp) in zip(changes, stampIndex) {
            // A record's changes mostly come in schema order: the next field is tried before hashing the name.
            if let position = schema.index(of: change.field, hint: hint) {
                guard let field = UInt8(exactly: position), field != Self.namedField else { throw Malformed() }
                hint = position + 1
                out.append(field)
            } else {
                guard UnknownField.isWritable(change.field) else { throw Malformed() }
                out.append(Self.namedField)
                out.append(UInt8(change.field.utf8.count))
                out.append(contentsOf: change.field.utf8)
            }
            if wide { append(UInt16(truncatingIfNeeded: stamp), to: &out) } else { out.append(UInt8(truncatingIfNeeded: stamp)) }
            switch change.value {
            case .null:
                out.append(0)
            case .int(let number):
                out.append(1)
                append(UInt64(bitPattern: number), to: &out)
            case .text(let text):
                guard let length = UInt32(exactly: text.utf8.count) else { throw Malformed() }
                out.append(2)
                append(length, to: &out)
                out.append(contentsOf: text.utf8)
            }
        }
        return out
    }

    package static func decode(_ bytes: UnsafeRawBufferPointer, table: RecordKind, record: String, into changes: inout [FieldChange]) throws {
        var reader = Reader(bytes: bytes)
        let schema = table.schema
        let stampCount = Int(try reader.u16())
        var stamps: [FieldStamp] = []
        stamps.reserveCapacity(stampCount)
        for _ in 0..<stampCount {
            stamps.append(FieldStamp(hlc: HLC(rawValue: try reader.u64()), node: NodeID(rawValue: try reader.u64()),
                                     base: HLC(rawValue: try reader.u64())))
        }
        let count = Int(try reader.u16())
        let wide = stampCount > 255
        for _ in 0..<count {
            let field = Int(try reader.u8())
            var name: String?
            if field == Int(Self.namedField) {
                name = try reader.text(length: Int(try reader.u8()))
                guard let name, UnknownField.isWritable(name) else { throw Malformed() }
            }
            let stampIndex = wide ? Int(try reader.u16()) : Int(try reader.u8())
            guard name != nil || field < schema.fields.count, stampIndex < stamps.count else { throw Malformed() }
            let value: FieldValue
            switch try reader.u8() {
            case 0: value = .null
            case 1: value = .int(Int64(bitPattern: try reader.u64()))
            case 2: value = .text(try reader.text(length: Int(try reader.u32())))
            default: throw Malformed()
            }
            let stamp = stamps[stampIndex]
            changes.append(FieldChange(table: table, record: record, field: name ?? schema.fields[field].name, value: value,
                                       hlc: stamp.hlc, node: stamp.node, base: stamp.base))
        }
        guard reader.offset == bytes.count else { throw Malformed() }
    }

    /// The `field` byte of a named field (one this version does not know).
    static let namedField: UInt8 = 255

    private static func append<T: FixedWidthInteger>(_ value: T, to out: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { out.append(contentsOf: $0) }
    }

    private struct Reader {
        let bytes: UnsafeRawBufferPointer
        var offset = 0

        mutating func take<T: FixedWidthInteger>(_: T.Type) throws -> T {
            let size = MemoryLayout<T>.size
            guard offset + size <= bytes.count else { throw Malformed() }
            defer { offset += size }
            return T(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: T.self))
        }

        mutating func u8() throws -> UInt8 { try take(UInt8.self) }
        mutating func u16() throws -> UInt16 { try take(UInt16.self) }
        mutating func u32() throws -> UInt32 { try take(UInt32.self) }
        mutating func u64() throws -> UInt64 { try take(UInt64.self) }

        mutating func text(length: Int) throws -> String {
            guard length >= 0, offset + length <= bytes.count else { throw Malformed() }
            defer { offset += length }
            return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + length]), as: UTF8.self)
        }
    }
}
