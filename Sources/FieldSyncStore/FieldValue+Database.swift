import FieldSyncModel
import GRDB

extension FieldValue {
    /// Columns have no declared type (no affinity), so SQLite keeps exactly
    /// the value the merge chose and a replica dumps byte-for-byte like its peers.
    @inlinable
    var databaseValue: DatabaseValue {
        switch self {
        case .null: return .null
        case .int(let value): return value.databaseValue
        case .text(let value): return value.databaseValue
        }
    }

    @inlinable
    init(_ databaseValue: DatabaseValue) {
        switch databaseValue.storage {
        case .null: self = .null
        case .int64(let value): self = .int(value)
        case .string(let value): self = .text(value)
        case .double(let value): self = .text(String(value))
        case .blob(let data): self = .text(String(decoding: data, as: UTF8.self))
        }
    }
}

/// The `_stamps` column: for each field in schema order, 24 bytes (HLC, node,
/// base HLC, little-endian); an all-zero entry means the field was never written.
/// One blob beside the values keeps a merge-apply to one read and one write per record.
enum StampCodec {
    static let width = 24

    static func encode(_ stamps: [FieldStamp?]) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: stamps.count * width)
        bytes.withUnsafeMutableBytes { raw in
            for (index, stamp) in stamps.enumerated() {
                guard let stamp else { continue }
                let offset = index * width
                raw.storeBytes(of: stamp.hlc.rawValue.littleEndian, toByteOffset: offset, as: UInt64.self)
                raw.storeBytes(of: stamp.node.rawValue.littleEndian, toByteOffset: offset + 8, as: UInt64.self)
                raw.storeBytes(of: stamp.base.rawValue.littleEndian, toByteOffset: offset + 16, as: UInt64.self)
            }
        }
        return bytes
    }

    static func decode(_ bytes: UnsafeRawBufferPointer, fieldCount: Int) -> [FieldStamp?] {
        var stamps = [FieldStamp?](repeating: nil, count: fieldCount)
        for index in 0..<min(fieldCount, bytes.count / width) {
            let offset = index * width
            let hlc = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
            guard hlc != 0 else { continue }
            let node = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset + 8, as: UInt64.self))
            let base = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset + 16, as: UInt64.self))
            stamps[index] = FieldStamp(hlc: HLC(rawValue: hlc), node: NodeID(rawValue: node), base: HLC(rawValue: base))
        }
        return stamps
    }
}
