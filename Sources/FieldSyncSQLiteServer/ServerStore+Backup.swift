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
            throw StoreError.unsupported("\(path) exists already; give a new file name (a backup never overwrites)")
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
            // A backup made before incarnations existed gets its table here (the migration runs when the server opens it).
            // The server's clock as the backup holds it; a server that never wrote has none: the file's time then.
            var asOf = try copy.read { db in try Replica.clockAndCounter(db).clock.milliseconds }
            if asOf == 0, let modified = try FileManager.default.attributesOfItem(atPath: source)[.modificationDate] as? Date {
                asOf = UInt64(max(0, modified.timeIntervalSince1970 * 1000))
            }
            let (head, incarnation): (Int64, String) = try copy.write { db in
                if try db.tableExists("server_identity") {
                    try Self.renewIncarnation(db)
                    // A branch server put back compares its branch with the province once it serves (`UpstreamSync`):
                    // the province's log does not send it back what its own laptops wrote after the backup.
                    try db.execute(sql: "INSERT OR REPLACE INTO server_identity (key, value) VALUES (?, '1')", arguments: [Self.upstreamCheckKey])
                }
                // What this server numbered after the backup was seen by its upstream (a branch server's own
                // mutations, the counters it makes up from log numbers): numbers it hands out from now on must
                // be new there, or the upstream would take new work for a retry and drop it.
                try Replica.skipCounters(by: Self.restoreCounterGap, db)
                try db.execute(sql: "UPDATE sqlite_sequence SET seq = seq + ? WHERE name = 'change_log'", arguments: [Self.restoreCounterGap])
                let incarnation = try db.tableExists("server_identity") ? try Self.incarnation(db) : ""
                return (try Int64.fetchOne(db, sql: "SELECT MAX(seq) FROM change_log") ?? 0, incarnation)
            }
            // A device revoked after the backup (a stolen laptop) stays revoked: the database being replaced says so.
            var revocationsKept = 0
            var accounts = (users: 0, devices: 0, codes: 0)
            if FileManager.default.fileExists(atPath: target) {
                // People, devices and codes added after the backup come along: accounts are not the sync's history,
                // and a laptop enrolled since must still be let in, to offer back what it wrote.
                accounts = Self.carryAccounts(from: target, into: copy)
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
            var replacedWasRead = false
            if FileManager.default.fileExists(atPath: target), Self.isReadableServer(target) {
                replacedWasRead = true
                let store = try ServerStore(replica: Replica.open(path: incoming))
                do {
                    ownWritesKept = try store.carryOwnWrites(from: target)
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

    /// Whether `path` opens, read only, as a server database that passes SQLite's quick check.
    private static func isReadableServer(_ path: String) -> Bool {
        var configuration = Configuration()
        configuration.readonly = true
        guard let database = try? DatabaseQueue(path: path, configuration: configuration) else { return false }
        defer { try? database.close() }
        return (try? database.read { db in
            try db.tableExists("change_log") && String.fetchAll(db, sql: "PRAGMA quick_check") == ["ok"]
        }) ?? false
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

    /// Copies into `copy` the people, devices and enrolment codes of the database at `path` that
    /// `copy` lacks (by id, by code hash), in the columns both hold; a device or code only with its
    /// person. Read without writing to `path`; a damaged or unreadable one carries nothing.
    private static func carryAccounts(from path: String, into copy: DatabaseQueue) -> (users: Int, devices: Int, codes: Int) {
        var configuration = Configuration()
        configuration.readonly = true
        guard let old = try? DatabaseQueue(path: path, configuration: configuration) else { return (0, 0, 0) }
        defer { try? old.close() }
        func carry(_ table: String) -> Int {
            (try? copy.write { db -> Int in
                guard try db.tableExists(table) else { return 0 }
                let here = Set(try String.fetchAll(db, sql: "SELECT name FROM pragma_table_info(?)", arguments: [table]))
                let rows = try old.read { source -> [Row] in
                    guard try source.tableExists(table) else { return [] }
                    let columns = try String.fetchAll(source, sql: "SELECT name FROM pragma_table_info(?)", arguments: [table]).filter(here.contains)
                    let list = columns.map { "\"\($0)\"" }.joined(separator: ", ")
                    return try Row.fetchAll(source, sql: "SELECT \(list) FROM \(table)")
                }
                var added = 0
                for row in rows {
                    let columns = Array(row.columnNames)
                    // A device or code whose person the restored database lacks would point at nobody.
                    if let user = row["user_id"] as String?, try !(Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM users WHERE id = ?)", arguments: [user]) ?? false) {
                        continue
                    }
                    let sql = "INSERT OR IGNORE INTO \(table) (\(columns.map { "\"\($0)\"" }.joined(separator: ", "))) VALUES (\(columns.map { _ in "?" }.joined(separator: ", ")))"
                    try db.execute(sql: sql, arguments: StatementArguments(columns.map { row[$0] as DatabaseValue }))
                    added += db.changesCount
                }
                return added
            }) ?? 0
        }
        let users = carry("users")
        return (users, carry("devices"), carry("enrolment_codes"))
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
