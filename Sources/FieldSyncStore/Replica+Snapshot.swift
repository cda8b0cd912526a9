import FieldSyncModel
import Foundation
import GRDB

/// A replica file made on a server for a new device: the records of its scope,
/// stamped with the change-log position they cover (see Protocol/SYNC.md, "Snapshot").
extension Replica {
    /// What `writeSnapshot` asks of the caller inside its read transaction: the position
    /// the snapshot covers, and which customers (id, branch, manager, team) it holds.
    public typealias SnapshotScope = (cursor: Int64, allows: (String, String?, String?, String?) -> Bool)

    /// Writes a replica file at `target` with the records of `source` (a replica file) that
    /// the scope `prepare` gives, all read in one read transaction, by SQL from one file into
    /// the other (`src` and `dst` are attached to a connection of its own). Returns the
    /// position, the source's clock and how many records were copied.
    /// `wholeTables: false` always copies row by row (tests compare both ways).
    public static func writeSnapshot(from source: String, to target: String, wholeTables: Bool = true,
                                     prepare: (Database) throws -> SnapshotScope) throws -> (cursor: Int64, hlc: UInt64, records: Int) {
        try Replica.open(path: target).closeIntoOneFile()
        let connection = try DatabaseQueue()
        defer { try? connection.close() }
        return try connection.writeWithoutTransaction { db in
            try db.execute(sql: "ATTACH DATABASE ? AS src", arguments: [source])
            try db.execute(sql: "ATTACH DATABASE ? AS dst", arguments: [target])
            // The file is new and thrown away on any failure: no journal, no syncs (half the time of
            // writing it through a log). It is read back whole, hashed and checked, before it is used.
            try db.execute(sql: "PRAGMA dst.journal_mode = OFF")
            try db.execute(sql: "PRAGMA dst.synchronous = OFF")
            defer {
                try? db.execute(sql: "DETACH DATABASE src")
                try? db.execute(sql: "DETACH DATABASE dst")
            }
            var result: (cursor: Int64, hlc: UInt64, records: Int) = (0, 0, 0)
            try db.inTransaction(.deferred) {
                let scope = try prepare(db)
                let hlc = UInt64(try String.fetchOne(db, sql: "SELECT value FROM src.meta WHERE key = ?", arguments: [MetaKey.hlc]) ?? "0") ?? 0
                try db.execute(sql: "CREATE TEMP TABLE snapshot_customers (id TEXT PRIMARY KEY NOT NULL) WITHOUT ROWID")
                let insert = try db.makeStatement(sql: "INSERT INTO temp.snapshot_customers (id) VALUES (?)")
                let rows = try Row.fetchCursor(db, sql: "SELECT id, branch, manager, team FROM src.customers")
                while let row = try rows.next() {
                    // Read as text whatever is stored: nothing a peer wrote can trap a conversion here.
                    func text(_ index: Int) -> String? { String.fromDatabaseValue(row[index] as DatabaseValue) }
                    guard let id = text(0) else { continue }
                    if scope.allows(id, text(1), text(2), text(3)) { try insert.execute(arguments: [id]) }
                }
                let tables = Self.snapshotTables
                let whole = try wholeTables && Self.holdsEveryCustomer(db) && tables.allSatisfy { try Self.sameColumns($0.0, db) }
                var records = 0
                for (kind, condition) in tables {
                    if whole {
                        // Every file is in scope: SQLite copies the tables page by page (its transfer
                        // optimisation, about six times faster than row by row through the random-id
                        // index), then what belongs to no file in scope is deleted (usually nothing).
                        try db.execute(sql: "INSERT INTO dst.\(kind.rawValue) SELECT * FROM src.\(kind.rawValue)")
                        records += db.changesCount
                        if let condition {
                            try db.execute(sql: "DELETE FROM dst.\(kind.rawValue) AS t WHERE NOT COALESCE(\(condition), 0)")
                            records -= db.changesCount
                        }
                    } else {
                        let columns = (["id"] + kind.schema.fields.map { "\"\($0.name)\"" } + ["_stamps"]).joined(separator: ", ")
                        try db.execute(sql: "INSERT INTO dst.\(kind.rawValue) (\(columns)) SELECT \(columns) FROM src.\(kind.rawValue) t"
                                       + (condition.map { " WHERE \($0)" } ?? ""))
                        records += db.changesCount
                    }
                }
                try db.execute(sql: "DROP TABLE temp.snapshot_customers")
                result = (scope.cursor, hlc, records)
                return .commit
            }
            return result
        }
    }

    /// Whether the scope being copied holds every customer of `src`.
    private static func holdsEveryCustomer(_ db: Database) throws -> Bool {
        try Int.fetchOne(db, sql: "SELECT (SELECT COUNT(*) FROM temp.snapshot_customers) = (SELECT COUNT(*) FROM src.customers)") == 1
    }

    /// Each kind's rows in a snapshot, as a condition on a row `t` (nil: every row), in copying
    /// order: derived from the schemas, so no kind can be left out. The customers in scope
    /// first; then each kind under the records of its parent kind, parents before children;
    /// the province's lists whole; conflicts last, kept when their subject was copied.
    static let snapshotTables: [(RecordKind, String?)] = {
        var tables: [(RecordKind, String?)] = [(.customer, "t.id IN (SELECT id FROM temp.snapshot_customers)")]
        var parents: [RecordKind] = [.customer]
        while let parent = parents.first {
            parents.removeFirst()
            for child in parent.childKinds {
                guard let field = child.schema.parentField?.name else { continue }
                let holders = parent == .customer ? "temp.snapshot_customers" : "dst.\(parent.rawValue)"
                tables.append((child, "t.\"\(field)\" IN (SELECT id FROM \(holders))"))
                parents.append(child)
            }
        }
        tables += RecordKind.allCases.filter(\.isProvinceWide).map { ($0, nil) }
        let subjects = RecordKind.allCases.filter { $0 != .conflict }
            .map { "(t.\"table\" = '\($0.rawValue)' AND t.record IN (SELECT id FROM dst.\($0.rawValue)))" }
        tables.append((.conflict, subjects.joined(separator: " OR ")))
        return tables
    }()

    /// Whether `src` and `dst` lay out a kind's table alike (the whole-table copy takes its columns by position).
    private static func sameColumns(_ kind: RecordKind, _ db: Database) throws -> Bool {
        func columns(_ schema: String) throws -> [Row] {
            try Row.fetchAll(db, sql: "SELECT name, type, pk FROM pragma_table_info(?, ?) ORDER BY cid", arguments: [kind.rawValue, schema])
        }
        return try columns("src") == columns("dst")
    }

    /// Stores records as they are (values and stamps, no merge) into a snapshot being built
    /// from another engine's rows; one transaction per call.
    public func storeSnapshotRecords(_ records: [(RecordKey, RecordState)]) throws {
        try writer.write { db in
            let io = RecordIO(db)
            for (key, state) in records { try io.save(key.table, key.record, state) }
        }
    }

    /// Makes the snapshot file at `snapshotPath` this device's replica at `path`: it takes
    /// the device's identity (its enrolled node, never the server's), starts its cursor at
    /// `cursor` and its clock above `hlc`, must pass SQLite's quick check, and then replaces the file
    /// at `path` (whose replica must be closed and hold nothing to send).
    /// `quickCheck` false: the server ran the check on the bytes the SHA-256 vouched for (`FieldSync-Snapshot-Checked`).
    public static func installSnapshot(at snapshotPath: String, as identity: ReplicaIdentity, cursor: Int64, hlc: UInt64, replacing path: String,
                                       quickCheck: Bool = true) throws {
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
            // The SHA-256 vouched for the bytes; SQLite's quick check for the file they make
            // (a full `verify` would read every record into memory).
            if quickCheck {
                try snapshot.writer.read(requireSound)
            }
            try snapshot.closeIntoOneFile()
        } catch {
            try? snapshot.close()
            throw error
        }
        for suffix in ["-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
        guard rename(snapshotPath, path) == 0 else { throw StoreError.unsupported("cannot move the snapshot into place (errno \(errno))") }
        // The download's own log and shared-memory files, emptied by the checkpoint: nothing temporary stays behind.
        for suffix in ["-wal", "-shm"] { try? FileManager.default.removeItem(atPath: snapshotPath + suffix) }
    }

    /// SQLite's quick check of the snapshot file at `path`, read only; throws unless it is sound.
    public static func quickCheckSnapshot(at path: String) throws {
        var configuration = Configuration()
        configuration.readonly = true
        let connection = try DatabaseQueue(path: path, configuration: configuration)
        defer { try? connection.close() }
        try connection.read(requireSound)
    }

    /// Runs SQLite's quick check; throws unless the database is sound.
    private static func requireSound(_ db: Database) throws {
        let check = try String.fetchAll(db, sql: "PRAGMA quick_check")
        guard check == ["ok"] else { throw StoreError.unsupported("the snapshot is not a sound database: \(check.prefix(3).joined(separator: "; "))") }
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
