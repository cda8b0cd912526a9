import FieldSyncModel
import Foundation
import GRDB

/// A replica file made on a server for a new device: the records of its scope,
/// stamped with the change-log position they cover (see Protocol/SYNC.md, "Snapshot").
extension Replica {
    /// Copies, from the snapshot `db` is reading, the customers `allows` accepts and
    /// everything in their files (children by parent, notes by case, conflicts by the
    /// record they are about), and the province-wide records, into `target`. Returns
    /// how many records it copied.
    public static func copyScope(from db: Database, to target: Replica, allows: (String, RecordState) -> Bool) throws -> Int {
        let source = RecordIO(db)
        var included: [RecordKind: Set<String>] = [:]
        var count = 0
        try target.writer.write { out in
            let sink = RecordIO(out)
            func copy(_ kind: RecordKind, _ keep: (String, RecordState) -> Bool) throws {
                try source.scan(kind) { id, state in
                    guard keep(id, state) else { return }
                    try sink.save(kind, id, state)
                    included[kind, default: []].insert(id)
                    count += 1
                }
            }
            func parent(_ kind: RecordKind, _ field: String, in parentKind: RecordKind) -> (String, RecordState) -> Bool {
                let schema = kind.schema
                return { _, state in state.value(field, in: schema).text.map { included[parentKind]?.contains($0) ?? false } ?? false }
            }
            try copy(.customer, allows)
            for kind in [RecordKind.contact, .agreement, .visit, .fault, .complaint] { try copy(kind, parent(kind, "customer", in: .customer)) }
            try copy(.faultNote, parent(.faultNote, "fault", in: .fault))
            try copy(.complaintNote, parent(.complaintNote, "complaint", in: .complaint))
            let conflict = RecordKind.conflict.schema
            try copy(.conflict) { _, state in
                guard let table = state.value("table", in: conflict).text.flatMap(RecordKind.init(rawValue:)),
                      let record = state.value("record", in: conflict).text else { return false }
                return included[table]?.contains(record) ?? false
            }
            for kind in RecordKind.allCases where kind.isProvinceWide { try copy(kind) { _, _ in true } }
        }
        return count
    }

    /// The newest HLC this replica has seen: a snapshot carries it so the new device's clock starts above it.
    public static func clockValue(_ db: Database) throws -> UInt64 { try clock(db).last.rawValue }

    /// Makes the snapshot file at `snapshotPath` this device's replica at `path`: it takes
    /// the device's identity (its enrolled node, never the server's), starts its cursor at
    /// `cursor` and its clock above `hlc`, must pass `verify`, and then replaces the file
    /// at `path` (whose replica must be closed and hold nothing to send).
    public static func installSnapshot(at snapshotPath: String, as identity: ReplicaIdentity, cursor: Int64, hlc: UInt64, replacing path: String) throws {
        let snapshot = try Replica.open(path: snapshotPath)
        do {
            if let existing = try snapshot.identity() {
                throw StoreError.unsupported("the snapshot already belongs to node \(existing.node); a replica is never shared")
            }
            try snapshot.initialize(identity)
            try snapshot.writer.write { db in
                try setMeta(MetaKey.cursor, String(cursor), db)
                var clock = try clock(db)
                clock.observe(HLC(rawValue: hlc))
                try saveClock(clock, db)
                try setMeta(MetaKey.remoteHLC, String(hlc), db)
            }
            let problems = try snapshot.verify()
            guard problems.isEmpty else { throw StoreError.unsupported("the snapshot does not verify: \(problems.prefix(3).joined(separator: "; "))") }
            try snapshot.closeIntoOneFile()
        } catch {
            try? snapshot.close()
            throw error
        }
        for suffix in ["-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
        guard rename(snapshotPath, path) == 0 else { throw StoreError.unsupported("cannot move the snapshot into place (errno \(errno))") }
    }

    /// Closes the database with everything in its main file (the log checkpointed and emptied),
    /// so the file alone can be moved or sent.
    public func closeIntoOneFile() throws {
        try writer.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)") }
        try close()
    }

    /// Whether this replica is new enough to start from a snapshot: nothing pulled, nothing to send, no customer.
    public func isEmptyForSnapshot() throws -> Bool {
        try writer.read { db in
            try (Int64(try Self.meta(MetaKey.cursor, db) ?? "0") ?? 0) == 0
                && (Int.fetchOne(db, sql: "SELECT COUNT(*) FROM outbox") ?? 0) == 0
                && (Int.fetchOne(db, sql: "SELECT COUNT(*) FROM customers") ?? 0) == 0
        }
    }
}
