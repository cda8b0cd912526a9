import FieldSyncModel
import FieldSyncProtocol
import FieldSyncServerCore
import FieldSyncStore
import Foundation
import GRDB

/// What a backup or a restore did, for the administrator.
public struct BackupReport: Sendable, Equatable {
    public var path: String
    public var bytes: Int64
    /// The last change-log number the copy holds.
    public var logHead: Int64
    /// The copy's incarnation: new, so devices that synced with another history are told.
    public var incarnation: String
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
        let partial = path + ".partial"
        try? FileManager.default.removeItem(atPath: partial)
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
            let (head, incarnation): (Int64, String) = try copy.write { db in
                if try db.tableExists("server_identity") { try Self.renewIncarnation(db) }
                let incarnation = try db.tableExists("server_identity") ? try Self.incarnation(db) : "made when the server opens it"
                return (try Int64.fetchOne(db, sql: "SELECT MAX(seq) FROM change_log") ?? 0, incarnation)
            }
            // One file, no log beside it: the copy is complete in itself.
            try copy.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)") }
            try copy.close()
            var kept: String?
            if FileManager.default.fileExists(atPath: target) {
                let stamp = ISO8601DateFormatter().string(from: now).replacingOccurrences(of: ":", with: "")
                let aside = target + ".before-restore-" + stamp
                try FileManager.default.moveItem(atPath: target, toPath: aside)
                for suffix in ["-wal", "-shm"] where FileManager.default.fileExists(atPath: target + suffix) {
                    try FileManager.default.moveItem(atPath: target + suffix, toPath: aside + suffix)
                }
                kept = aside
            }
            try FileManager.default.moveItem(atPath: incoming, toPath: target)
            let bytes = (try FileManager.default.attributesOfItem(atPath: target)[.size] as? NSNumber)?.int64Value ?? 0
            return (BackupReport(path: target, bytes: bytes, logHead: head, incarnation: incarnation), kept)
        } catch {
            for leftover in [incoming, incoming + "-wal", incoming + "-shm"] { try? FileManager.default.removeItem(atPath: leftover) }
            throw error
        }
    }

    private static func check(_ database: DatabaseQueue, what: String) throws {
        let problems = try database.read { db in try String.fetchAll(db, sql: "PRAGMA quick_check") }
        guard problems == ["ok"] else {
            throw StoreError.unsupported("\(what) fails SQLite's check: \(problems.prefix(3).joined(separator: "; "))")
        }
    }
}
