import FieldSyncModel
import FieldSyncProtocol
import FieldSyncServerCore
import FieldSyncStore
import Foundation
import GRDB
import Glibc

/// What a backup or a restore did, for the administrator.
public struct BackupReport: Sendable, Equatable {
    public var path: String
    public var bytes: Int64
    /// The last change-log number the copy holds.
    public var logHead: Int64
    /// The copy's incarnation: new, so devices that synced with another history are told.
    public var incarnation: String
    /// On a restore: devices revoked in the database replaced and not in the backup, revoked again.
    public var revocationsKept = 0
    /// On a restore: the server's clock as the backup holds it (ms): what the server did later is not in it.
    public var asOf: UInt64 = 0
    /// On a restore: people, devices and enrolment codes the replaced database holds and the backup
    /// does not (added after it), carried into the restored one.
    public var usersKept = 0
    public var devicesKept = 0
    public var codesKept = 0
    /// On a restore: records the server's own writes after the backup (its administrator's
    /// assignments, branches, calendar days) changed, carried from the database it replaced.
    public var ownWritesKept = 0
    /// On a restore: whether the database replaced could be read (what it held since the backup is then kept).
    public var replacedWasRead = false
}

extension ServerStore {
    /// A consistent copy of the server's database at `path`, made while it serves (SQLite's
    /// online backup: syncs go on meanwhile), checked (`quick_check`) and given an incarnation of
    /// its own, so a server later put back from it is known as restored by every device that
    /// synced since. Written beside `path` and renamed into place: no half-written backup is left.
    public func backup(to path: String) throws -> BackupReport {
        guard !FileManager.default.fileExists(atPath: path) else {
            throw StoreError.unsupported("\(path) exists already; give a new file name (a backup never overwrites)", text: ("admin.backup-exists", ["path": path]))
        }
        // A name of its own, created here first (no file or link of that name is followed).
        let partial = path + ".partial-" + Incarnation.make().prefix(12)
        let descriptor = Glibc.open(partial, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw StoreError.unsupported("cannot create \(partial): \(String(cString: strerror(errno)))") }
        Glibc.close(descriptor)
        do {
            let copy = try DatabaseQueue(path: partial)
            try writer.backup(to: copy)
            let (head, incarnation) = try copy.write { db in
                try Self.renewIncarnation(db)
                return (try Int64.fetchOne(db, sql: "SELECT MAX(seq) FROM change_log") ?? 0, try Self.incarnation(db))
            }
            try Self.check(copy, what: "the backup")
            try copy.close()
            try FileManager.default.moveItem(atPath: partial, toPath: path)
            let bytes = (try FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.int64Value ?? 0
            return BackupReport(path: path, bytes: bytes, logHead: head, incarnation: incarnation)
        } catch {
            try? FileManager.default.removeItem(atPath: partial)
            throw error
        }
    }

    /// Puts the backup at `source` in place of the server's database in `folder` (no server may be
    /// serving it: the caller holds its `ServingLock`). The backup is checked first and copied, never
    /// moved; the database it replaces is kept beside it (`server.sqlite.before-restore-<time>`).
    /// The restored database gets a new incarnation: every device that synced with the server is
    /// told at its next sync, offers back its own work and reads the log again from the start.
    public static func restore(from source: String, into folder: String, now: Date = Date()) throws -> (BackupReport, kept: String?) {
        guard FileManager.default.fileExists(atPath: source) else { throw StoreError.unsupported("no file \(source)") }
        let target = (folder as NSString).appendingPathComponent(fileName)
        let incoming = target + ".restoring"
        for leftover in [incoming, incoming + "-wal", incoming + "-shm"] { try? FileManager.default.removeItem(atPath: leftover) }
        do {
            try FileManager.default.copyItem(atPath: source, toPath: incoming)
            let copy = try DatabaseQueue(path: incoming)
            let looksLikeServer = try copy.read { db in try db.tableExists("change_log") && db.tableExists("devices") }
            guard looksLikeServer else {
                throw StoreError.unsupported("\(source) is not a FieldSync server's database (no change log or devices)")
            }
            try Self.check(copy, what: source)
            // A backup made by an earlier version is brought to this version's schema first (as serving it would):
            // one made before incarnations existed (server-v16) gets its identity, so it is renewed and the upstream
            // comparison requested like any other's.
            // One made by a newer version is refused by name: this version cannot read it soundly.
            let unknown = try copy.read { db in try Self.migrator.appliedIdentifiers(db) }.subtracting(try Self.knownMigrations())
            guard unknown.isEmpty else {
                let names = unknown.sorted().joined(separator: ", ")
                throw StoreError.unsupported("\(source) was made by a newer FieldSync (its database has \(names)); restore it with that version or a later one",
                                             text: ("admin.backup-newer", ["path": source, "names": names]))
            }
            _ = try Replica(writer: copy)
            try Self.migrator.migrate(copy)
            // The server's clock as the backup holds it; a server that never wrote has none: the file's time then.
            let backupClock = try copy.read { db in try Replica.clockAndCounter(db).clock }
            var asOf = backupClock.milliseconds
            if asOf == 0, let modified = try FileManager.default.attributesOfItem(atPath: source)[.modificationDate] as? Date {
                asOf = UInt64(max(0, modified.timeIntervalSince1970 * 1000))
            }
            // The database this restore replaces, when it reads soundly and is this same server's (same node; not
            // one a fresh `init` made on a new disk): what it holds since the backup that is not sync history is kept.
            let replaced = FileManager.default.fileExists(atPath: target) ? try Self.replacedFacts(target, sameServerAs: copy) : nil
            let (head, incarnation): (Int64, String) = try copy.write { db in
                try Self.renewIncarnation(db)
                // A branch server put back compares its branch with the province once it serves (`UpstreamSync`):
                // the province's log does not send it back what its own laptops wrote after the backup.
                try db.execute(sql: "INSERT OR REPLACE INTO server_identity (key, value) VALUES (?, '1')", arguments: [Self.upstreamCheckKey])
                // What this server numbered after the backup was seen by its upstream (a branch server's own
                // mutations, the counters it makes up from log numbers): numbers it hands out from now on must
                // be new there, or the upstream would take new work for a retry and drop it.
                // From the higher of the backup's and the replaced database's (a restore over a restored one).
                let counter = try Replica.clockAndCounter(db).counter
                let ahead = Int64(clamping: replaced?.counter ?? 0) > Int64(clamping: counter) ? Int64(clamping: replaced?.counter ?? 0) - Int64(clamping: counter) : 0
                try Replica.skipCounters(by: Self.restoreCounterGap + ahead, db)
                try db.execute(sql: "UPDATE sqlite_sequence SET seq = MAX(seq, ?) + ? WHERE name = 'change_log'",
                               arguments: [replaced?.logHead ?? 0, Self.restoreCounterGap])
                return (try Int64.fetchOne(db, sql: "SELECT MAX(seq) FROM change_log") ?? 0, try Self.incarnation(db))
            }
            // A device revoked after the backup (a stolen laptop) stays revoked: the database being replaced says so.
            var revocationsKept = 0
            var accounts = (users: 0, devices: 0, codes: 0)
            if replaced != nil {
                // People, devices and codes added after the backup come along: accounts are not the sync's history,
                // and a laptop enrolled since must still be let in, to offer back what it wrote.
                // Branches (a person's, a history's) only from a database later than the backup: restoring an
                // older backup over a newer one's restore must not put back names renamed since.
                accounts = try Self.carryAccounts(from: target, into: copy, branches: (replaced?.clock ?? 0) >= backupClock.milliseconds)
            }
            if FileManager.default.fileExists(atPath: target) {
                let revoked = try Self.revocations(in: target)
                try copy.write { db in
                    for (device, at) in revoked {
                        try db.execute(sql: "UPDATE devices SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", arguments: [at, device])
                        revocationsKept += db.changesCount
                    }
                }
            }
            // One file, no log beside it: the copy is complete in itself.
            try copy.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)") }
            try copy.close()
            // What the server's administrator did after the backup, from the database it replaces: written again as it was.
            var ownWritesKept = 0
            let replacedWasRead = replaced != nil
            if replacedWasRead {
                let store = try ServerStore(replica: Replica.open(path: incoming))
                do {
                    ownWritesKept = try store.carryOwnWrites(from: target, after: backupClock)
                    try store.replica.closeIntoOneFile()
                } catch {
                    try? store.replica.close()
                    throw error
                }
            }
            var kept: String?
            let stamp = ISO8601DateFormatter().string(from: now).replacingOccurrences(of: ":", with: "")
            var aside = target + ".before-restore-" + stamp
            // Two restores within a second keep both files they replaced.
            var number = 2
            while ["", "-wal", "-shm"].contains(where: { FileManager.default.fileExists(atPath: aside + $0) }) {
                aside = target + ".before-restore-" + stamp + "-\(number)"
                number += 1
            }
            // The replaced file and its log beside it, also a log left without its file: a stale log must never meet the new one.
            for suffix in ["", "-wal", "-shm"] where FileManager.default.fileExists(atPath: target + suffix) {
                try FileManager.default.moveItem(atPath: target + suffix, toPath: aside + suffix)
                if suffix.isEmpty { kept = aside }
            }
            try FileManager.default.moveItem(atPath: incoming, toPath: target)
            let bytes = (try FileManager.default.attributesOfItem(atPath: target)[.size] as? NSNumber)?.int64Value ?? 0
            return (BackupReport(path: target, bytes: bytes, logHead: head, incarnation: incarnation, revocationsKept: revocationsKept, asOf: asOf,
                                 usersKept: accounts.users, devicesKept: accounts.devices, codesKept: accounts.codes,
                                 ownWritesKept: ownWritesKept, replacedWasRead: replacedWasRead),
                    kept)
        } catch {
            for leftover in [incoming, incoming + "-wal", incoming + "-shm"] { try? FileManager.default.removeItem(atPath: leftover) }
            throw error
        }
    }

    /// The schema versions (migrations of the replica and the server) this build knows.
    static func knownMigrations() throws -> Set<String> {
        let probe = try DatabaseQueue()
        _ = try Replica(writer: probe)
        try migrator.migrate(probe)
        return try probe.read { db in try migrator.appliedIdentifiers(db) }
    }

    /// What a restore needs of the database it replaces: its mutation counter and log head. Nil
    /// unless it opens read only, passes SQLite's quick check, and is the same server as `copy`
    /// (the same node: a database a fresh `init` made on a new disk is another server).
    private static func replacedFacts(_ path: String, sameServerAs copy: DatabaseQueue) throws -> (counter: UInt64, logHead: Int64, clock: UInt64)? {
        var configuration = Configuration()
        configuration.readonly = true
        guard let database = try? DatabaseQueue(path: path, configuration: configuration) else { return nil }
        defer { try? database.close() }
        let node = try copy.read { db in try Replica.identity(db)?.node }
        return try? database.read { db -> (counter: UInt64, logHead: Int64, clock: UInt64)? in
            guard try db.tableExists("change_log"), try String.fetchAll(db, sql: "PRAGMA quick_check") == ["ok"],
                  let node, try Replica.identity(db)?.node == node else { return nil }
            let (clock, counter) = try Replica.clockAndCounter(db)
            return (counter, try Int64.fetchOne(db, sql: "SELECT MAX(seq) FROM change_log") ?? 0, clock.milliseconds)
        } ?? nil
    }

    /// The revoked devices of the server database at `path`, read without writing to it (it may be damaged: then none).
    private static func revocations(in path: String) throws -> [(String, Int64)] {
        var configuration = Configuration()
        configuration.readonly = true
        guard let database = try? DatabaseQueue(path: path, configuration: configuration) else { return [] }
        defer { try? database.close() }
        return (try? database.read { db in
            try Row.fetchAll(db, sql: "SELECT id, revoked_at FROM devices WHERE revoked_at IS NOT NULL").map { ($0[0] as String, $0[1] as Int64) }
        }) ?? []
    }

    /// Copies into `copy`, in one transaction, what the database at `path` holds of the server's
    /// accounts that `copy` lacks (by key), in the columns both hold: people (and, for people both
    /// hold, the branch the replaced database gives them: a move or a branch rename since), devices,
    /// enrolment codes (and, for codes both hold, that one was used since: a used code never works
    /// again), the keys pinned for relayed nodes and which branch server relays them, and the branch
    /// of the scope-history entries both hold (a branch renamed since; with `branches` only, when the
    /// replaced database is later than the backup). A row that
    /// names a person or device `copy` lacks is passed over. Read without writing to `path`.
    private static func carryAccounts(from path: String, into copy: DatabaseQueue, branches: Bool) throws -> (users: Int, devices: Int, codes: Int) {
        var configuration = Configuration()
        configuration.readonly = true
        let old = try DatabaseQueue(path: path, configuration: configuration)
        defer { try? old.close() }
        func rows(_ table: String, columnsIn db: Database) throws -> [Row] {
            guard try db.tableExists(table) else { return [] }
            let here = Set(try String.fetchAll(db, sql: "SELECT name FROM pragma_table_info(?)", arguments: [table]))
            return try old.read { source -> [Row] in
                guard try source.tableExists(table) else { return [] }
                let columns = try String.fetchAll(source, sql: "SELECT name FROM pragma_table_info(?)", arguments: [table]).filter(here.contains)
                guard !columns.isEmpty else { return [] }
                return try Row.fetchAll(source, sql: "SELECT \(columns.map { "\"\($0)\"" }.joined(separator: ", ")) FROM \(table)")
            }
        }
        return try copy.write { db in
            func exists(_ table: String, _ value: DatabaseValue) throws -> Bool {
                try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM \(table) WHERE id = ?)", arguments: [value]) ?? false
            }
            func insert(_ table: String, _ row: Row) throws -> Int {
                let columns = Array(row.columnNames)
                try db.execute(sql: "INSERT OR IGNORE INTO \(table) (\(columns.map { "\"\($0)\"" }.joined(separator: ", "))) VALUES (\(columns.map { _ in "?" }.joined(separator: ", ")))",
                               arguments: StatementArguments(columns.map { row[$0] as DatabaseValue }))
                return db.changesCount
            }
            var users = 0, devices = 0, codes = 0
            for row in try rows("users", columnsIn: db) {
                let added = try insert("users", row)
                users += added
                if added == 0, branches, row.hasColumn("branch") {
                    try db.execute(sql: "UPDATE users SET branch = ? WHERE id = ?", arguments: [row["branch"] as DatabaseValue, row["id"] as DatabaseValue])
                }
            }
            for row in try rows("devices", columnsIn: db) where try exists("users", row["user_id"] as DatabaseValue) {
                devices += try insert("devices", row)
            }
            for row in try rows("enrolment_codes", columnsIn: db) where try exists("users", row["user_id"] as DatabaseValue) {
                let added = try insert("enrolment_codes", row)
                codes += added
                if added == 0, row.hasColumn("used_at"), !(row["used_at"] as DatabaseValue).isNull {
                    try db.execute(sql: "UPDATE enrolment_codes SET used_at = ? WHERE code_hash = ? AND used_at IS NULL",
                                   arguments: [row["used_at"] as DatabaseValue, row["code_hash"] as DatabaseValue])
                }
            }
            for row in try rows("node_keys", columnsIn: db) { _ = try insert("node_keys", row) }
            for row in try rows("relayed_nodes", columnsIn: db) where try exists("devices", row["device"] as DatabaseValue) {
                _ = try insert("relayed_nodes", row)
            }
            for row in try rows("relayed_names", columnsIn: db) where try exists("devices", row["via"] as DatabaseValue) {
                _ = try insert("relayed_names", row)
            }
            // A branch renamed since renamed the files' past scopes too (the retired name keeps no history): the
            // entries both hold take the replaced database's branch. Entries only it holds are written again with
            // the server's own writes (`carryOwnWrites`), or are the sync's history, which the laptops give back.
            for row in try rows("scope_history", columnsIn: db) where branches && row.hasColumn("customer") && row.hasColumn("from_hlc") && row.hasColumn("branch") {
                try db.execute(sql: "UPDATE scope_history SET branch = ? WHERE customer = ? AND from_hlc = ? AND branch IS NOT ?",
                               arguments: [row["branch"] as DatabaseValue, row["customer"] as DatabaseValue, row["from_hlc"] as DatabaseValue,
                                           row["branch"] as DatabaseValue])
            }
            return (users, devices, codes)
        }
    }

    /// How far a restore moves the server's own counters and log numbers past the backup's.
    static let restoreCounterGap: Int64 = 1 << 32

    private static func check(_ database: DatabaseQueue, what: String) throws {
        let problems = try database.read { db in try String.fetchAll(db, sql: "PRAGMA quick_check") }
        guard problems == ["ok"] else {
            throw StoreError.unsupported("\(what) fails SQLite's check: \(problems.prefix(3).joined(separator: "; "))")
        }
    }
}
