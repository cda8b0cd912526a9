import FieldSyncModel
import GRDB

extension FieldValue {
    /// Columns have no declared type (no affinity), so SQLite keeps exactly
    /// the value the merge chose and a replica dumps byte-for-byte like its peers.

    public var databaseValue: DatabaseValue {
        switch self {
        case .null: return .null
        case .int(let value): return value.databaseValue
        case .text(let value): return value.databaseValue
        }
    }


    public init(_ databaseValue: DatabaseValue) {
        switch databaseValue.storage {
        case .null: self = .null
        case .int64(let value): self = .int(value)
        case .string(let value): self = .text(value)
        case .double(let value): self = .text(String(value))
        case .blob(let data): self = .text(String(decoding: data, as: UTF8.self))
        }
    }
}

/// The `_stamps` column. Fields written by one action share a stamp, so the
/// distinct stamps are stored once:
///
///     [count k] [k × 24 bytes: HLC, node, base HLC, little-endian] [one byte per field: stamp index, 0xFF = never written]
///
/// A record created in one action costs 1 + 24 + fields bytes instead of 24 per
/// field. The encoding is deterministic (stamps in order of first use), so
/// replicas holding the same state hold the same bytes.
enum StampCodec {
    static let width = 24
    static let unset: UInt8 = 0xFF

    static func encode(_ stamps: [FieldStamp?]) -> [UInt8] {
        var distinct: [FieldStamp] = []
        var indices = [UInt8](repeating: unset, count: stamps.count)
        for (field, stamp) in stamps.enumerated() {
            guard let stamp else { continue }
            if let known = distinct.firstIndex(of: stamp) {
                indices[field] = UInt8(known)
            } else {
                indices[field] = UInt8(distinct.count)
                distinct.append(stamp)
            }
        }
        var bytes = [UInt8](repeating: 0, count: 1 + distinct.count * width + stamps.count)
        bytes[0] = UInt8(distinct.count)
        bytes.withUnsafeMutableBytes { raw in
            for (index, stamp) in distinct.enumerated() {
                let offset = 1 + index * width
                raw.storeBytes(of: stamp.hlc.rawValue.littleEndian, toByteOffset: offset, as: UInt64.self)
                raw.storeBytes(of: stamp.node.rawValue.littleEndian, toByteOffset: offset + 8, as: UInt64.self)
                raw.storeBytes(of: stamp.base.rawValue.littleEndian, toByteOffset: offset + 16, as: UInt64.self)
            }
        }
        bytes.replaceSubrange((1 + distinct.count * width)..., with: indices)
        return bytes
    }

    /// The clock reading (milliseconds) of one field's stamp, without decoding the others; nil if never written.
    static func milliseconds(ofField field: Int, in bytes: UnsafeRawBufferPointer) -> UInt64? {
        guard field >= 0, bytes.count >= 1 else { return nil }
        let count = Int(bytes[0])
        let indexStart = 1 + count * width
        guard bytes.count > indexStart + field else { return nil }
        let index = Int(bytes[indexStart + field])
        guard index < count else { return nil }
        return HLC(rawValue: UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: 1 + index * width, as: UInt64.self))).milliseconds
    }

    static func decode(_ bytes: UnsafeRawBufferPointer, fieldCount: Int) -> [FieldStamp?] {
        var stamps = [FieldStamp?](repeating: nil, count: fieldCount)
        guard bytes.count >= 1 else { return stamps }
        let count = Int(bytes[0])
        let indexStart = 1 + count * width
        guard bytes.count >= indexStart else { return stamps }
        var distinct: [FieldStamp] = []
        distinct.reserveCapacity(count)
        for index in 0..<count {
            let offset = 1 + index * width
            distinct.append(FieldStamp(
                hlc: HLC(rawValue: UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self))),
                node: NodeID(rawValue: UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset + 8, as: UInt64.self))),
                base: HLC(rawValue: UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset + 16, as: UInt64.self)))))
        }
        for field in 0..<min(fieldCount, bytes.count - indexStart) {
            let index = Int(bytes[indexStart + field])
            if index < count { stamps[field] = distinct[index] }
        }
        return stamps
    }
}
