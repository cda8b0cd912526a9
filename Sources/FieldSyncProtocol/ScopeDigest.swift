import Crypto
import FieldSyncModel

/// Digests of the records two peers share (Protocol/SYNC.md, "Digests"): records are spread over
/// 256 buckets by a hash of their key, each bucket has a SHA-256 over its records' states, and the
/// scope one over the buckets. Two peers compare the 256 bucket digests and exchange the records
/// of the buckets that differ only, so a laptop that agrees with its server sends its digests and reads
/// a few hundred bytes instead of downloading its whole scope (17 KiB of request).
///
/// A record's state is hashed as `RecordDrift` compares it: its stamped fields only, each by name,
/// value and write (HLC and node; the base is not part of a write's identity). Two states that
/// `RecordDrift.compare` finds equal hash the same; any difference it would report changes the
/// record's bucket digest. Pure: no I/O, the same bytes on every engine and every replica.
public struct ScopeDigest: Sendable, Equatable {
    public static let bucketCount = 256
    public static let hashBytes = 32

    /// The digest of each bucket, `hashBytes` each, bucket 0 first.
    public private(set) var buckets: [[UInt8]]
    /// Records in the scope.
    public private(set) var records: Int

    public init?(buckets: [[UInt8]], records: Int) {
        guard buckets.count == Self.bucketCount, buckets.allSatisfy({ $0.count == Self.hashBytes }), records >= 0 else { return nil }
        (self.buckets, self.records) = (buckets, records)
    }

    /// The scope's digest: SHA-256 of the bucket digests in order.
    public var top: [UInt8] {
        var hash = SHA256()
        for bucket in buckets { hash.update(data: bucket) }
        return Array(hash.finalize())
    }

    /// What this version digests, as 64 hex digits: SHA-256 of every record kind and its fields in
    /// schema order (`kind:field,field;…`). Peers of different schemas hash different things (a field
    /// one does not know, a kind the other lacks), so they compare whole snapshots instead.
    public static let schema: String = {
        let text = RecordKind.allCases.map { "\($0.rawValue):" + $0.schema.fields.map(\.name).joined(separator: ",") }.joined(separator: ";")
        return hex(Array(SHA256.hash(data: Array(text.utf8))))
    }()

    /// The buckets whose digests differ from `other`'s, in order.
    public func differing(from other: ScopeDigest) -> [Int] {
        buckets.indices.filter { buckets[$0] != other.buckets[$0] }
    }

    /// The bucket a record belongs to: the first byte of SHA-256(kind ‖ 0x00 ‖ id).
    public static func bucket(of key: RecordKey) -> Int {
        var hash = SHA256()
        hash.update(data: Array(key.table.rawValue.utf8))
        hash.update(data: [0])
        hash.update(data: Array(key.record.utf8))
        return Int(hash.finalize().withUnsafeBytes { $0[0] })
    }

    /// SHA-256 of a record's key and stamped fields in schema order, each as
    /// `u8 name length ‖ name ‖ u64 hlc ‖ u64 node ‖ value` (integers big-endian; a value is
    /// `0x00` for null, `0x01 ‖ i64` for an integer, `0x02 ‖ u32 length ‖ UTF-8` for text).
    public static func recordHash(_ key: RecordKey, _ state: RecordState) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(256)
        bytes.append(contentsOf: key.table.rawValue.utf8)
        bytes.append(0)
        bytes.append(contentsOf: key.record.utf8)
        bytes.append(0)
        let fields = key.table.schema.fields
        for index in fields.indices where index < state.stamps.count {
            guard let stamp = state.stamps[index] else { continue }
            let name = Array(fields[index].name.utf8)
            bytes.append(UInt8(truncatingIfNeeded: name.count))
            bytes.append(contentsOf: name)
            append(stamp.hlc.rawValue, to: &bytes)
            append(stamp.node.rawValue, to: &bytes)
            switch index < state.values.count ? state.values[index] : .null {
            case .null:
                bytes.append(0)
            case .int(let value):
                bytes.append(1)
                append(UInt64(bitPattern: value), to: &bytes)
            case .text(let text):
                bytes.append(2)
                let utf8 = Array(text.utf8)
                let count = UInt32(truncatingIfNeeded: utf8.count)
                for shift in stride(from: 24, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: count >> UInt32(shift))) }
                bytes.append(contentsOf: utf8)
            }
        }
        return Array(SHA256.hash(data: bytes))
    }

    private static func append(_ value: UInt64, to bytes: inout [UInt8]) {
        for shift in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: value >> UInt64(shift))) }
    }

    /// Collects records in any order and makes their digest. A bucket's digest is SHA-256 of its
    /// records' hashes sorted bytewise (32 zero bytes for an empty bucket), so the order in which
    /// a peer reads its records does not matter.
    public struct Builder: Sendable {
        private var hashes: [[[UInt8]]] = Array(repeating: [], count: ScopeDigest.bucketCount)
        private var count = 0

        public init() {}

        public mutating func add(_ key: RecordKey, _ state: RecordState) {
            hashes[ScopeDigest.bucket(of: key)].append(ScopeDigest.recordHash(key, state))
            count += 1
        }

        public func finish() -> ScopeDigest {
            let buckets = hashes.map { records -> [UInt8] in
                guard !records.isEmpty else { return [UInt8](repeating: 0, count: ScopeDigest.hashBytes) }
                var hash = SHA256()
                for record in records.sorted(by: { $0.lexicographicallyPrecedes($1) }) { hash.update(data: record) }
                return Array(hash.finalize())
            }
            // 256 buckets of 32 bytes by construction.
            return ScopeDigest(checked: buckets, records: count)
        }
    }

    private init(checked buckets: [[UInt8]], records: Int) {
        (self.buckets, self.records) = (buckets, records)
    }
}

extension ScopeDigest {
    /// Lowercase hex of `bytes`.
    public static func hex(_ bytes: [UInt8]) -> String { Hex.encode(bytes) }

    /// The bytes of 64 lowercase hex digits; nil for anything else.
    public static func hash(hex text: String) -> [UInt8]? {
        guard text.utf8.count == hashBytes * 2 else { return nil }
        return Hex.decode(text)
    }
}
