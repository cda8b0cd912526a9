import ArgumentParser
import FieldSyncCommandLine
import FieldSyncLocalization
import FieldSyncModel
import FieldSyncPostgres
import FieldSyncServer
import FieldSyncSQLiteServer
import Foundation

/// `fieldsync-server backup --to FILE`: a consistent copy while the server serves.
struct BackupCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup",
        abstract: CommandLanguage.strings("srv.backup.abstract"),
        discussion: """
            The copy is SQLite's online backup of the data folder's server.sqlite: syncs go on meanwhile. It holds \
            people, devices, records and the change log; keep the rest of the data folder (config.json, ca.pem, \
            ca-key.pem, server.pem, server-key.pem, and a branch server's upstream/) in a safe place of their own. A backup gets an incarnation of its \
            own, so a server later put back from it ('fieldsync-server restore') is recognised by every laptop and \
            branch server that synced since: they offer back their own work and read the log again, and nothing they \
            hold is lost. On PostgreSQL, back up with PostgreSQL's tools (pg_dump), and after pg_restore run \
            'fieldsync-server restore --database URL --mark-restored'.
            """)

    @OptionGroup var options: DataOptions
    @Option(help: ArgumentHelp("The new file to write (it must not exist).", valueName: "file"))
    var to: String

    func run() throws {
        if let url = options.databaseURL {
            throw ValidationError("on PostgreSQL, back up with pg_dump: pg_dump --format=custom --file=\(to) '\(url)'")
        }
        let folder = options.folder
        guard folder.isInitialized else { throw ValidationError("no server in \(folder.path); give --data DIR") }
        let store = try folder.openStore()
        defer { try? store.close() }
        let report = try store.backup(to: to)
        if options.json {
            printJSON(["to": report.path, "bytes": report.bytes, "log_head": report.logHead, "incarnation": report.incarnation])
        } else {
            print("Backed up \(folder.path) to \(report.path) (\(Wording.count(Int(clamping: report.bytes), "byte")), change log up to \(report.logHead)); checked: ok.")
            print("Restore it with: fieldsync-server restore --data \(folder.path) --from \(report.path) (with the server stopped)")
        }
    }
}

/// `fieldsync-server restore --from FILE`: puts a backup in place on a stopped server.
struct RestoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore",
        abstract: CommandLanguage.strings("srv.restore.abstract"),
        discussion: """
            The backup is checked, then copied in; the database it replaces is kept beside it \
            (server.sqlite.before-restore-TIME). The restored server gets a new incarnation: at their next sync, \
            laptops and branch servers see that it lost what came after the backup, offer back their own work \
            (with its original stamps, so nothing is applied twice and conflicts come out as before) and read the \
            change log again from the start. When the database it replaces can be read, what was added to it after \
            the backup and is not sync history is kept: people, devices, enrolment codes and revocations, and the \
            server's own changes (assignments, branches, calendar days), written again with their original stamps. \
            A branch server compares itself with its province once it serves, and takes back what its laptops wrote \
            after the backup. On PostgreSQL, restore with pg_restore first, then run this with \
            --database URL --mark-restored: it gives the database a new incarnation.
            """)

    @OptionGroup var options: DataOptions
    @Option(help: ArgumentHelp("The backup to put in place (made by 'fieldsync-server backup').", valueName: "file"))
    var from: String?
    @Flag(help: "On PostgreSQL, after pg_restore: give the restored database a new incarnation (it restores nothing itself).")
    var markRestored = false

    func run() async throws {
        if let url = options.databaseURL {
            guard markRestored, from == nil else {
                throw ValidationError("on PostgreSQL, restore with pg_restore (pg_restore --clean --dbname '\(url)' FILE), then run 'fieldsync-server restore --database URL --mark-restored'")
            }
            let incarnation = try await StorageEngine.withPostgres(url, logger: StorageEngine.quietLogger, migrate: true) { storage, _ in
                try await storage.renewIncarnation()
            }
            if options.json { printJSON(["incarnation": incarnation]) } else {
                print("Marked the database as restored (new incarnation \(incarnation)): devices offer back their own work at their next sync.")
            }
            return
        }
        guard !markRestored else { throw ValidationError("--mark-restored is for a PostgreSQL database restored with pg_restore (give --database URL)") }
        guard let from else { throw ValidationError("give the backup to restore: --from FILE") }
        let folder = options.folder
        guard folder.isInitialized else {
            throw ValidationError("no server in \(folder.path): put back its keys and certificates and config.json first (or run 'fieldsync-server init'), then restore; give --data DIR for another folder")
        }
        // A server writing while the file is replaced would lose what it writes, or corrupt the new one.
        let lock = try ServingLock(folder: folder)
        defer { withExtendedLifetime(lock) {} }
        let (report, kept) = try ServerStore.restore(from: from, into: folder.path)
        if options.json {
            printJSON(["from": from, "to": report.path, "log_head": report.logHead, "incarnation": report.incarnation.isEmpty ? NSNull() : report.incarnation,
                       "kept": kept ?? NSNull(), "revocations_kept": report.revocationsKept,
                       "users_kept": report.usersKept, "devices_kept": report.devicesKept, "codes_kept": report.codesKept,
                       "own_writes_kept": report.ownWritesKept, "replaced_read": report.replacedWasRead,
                       "as_of": Timestamp(epochSeconds: Int64(clamping: report.asOf / 1000), offsetMinutes: 0).description])
        } else {
            print("Restored \(from) into \(folder.path) (change log up to \(report.logHead)); checked: ok.")
            if let kept { print("The database it replaced is kept as \(kept).") }
            if report.revocationsKept > 0 {
                print("\(Wording.count(report.revocationsKept, "device")) revoked after the backup stay revoked.")
            }
            if report.usersKept + report.devicesKept + report.codesKept > 0 {
                print("Kept from the database it replaced, added after the backup: \(Wording.count(report.usersKept, "user")), "
                      + "\(Wording.count(report.devicesKept, "device")), \(Wording.count(report.codesKept, "enrolment code")).")
            }
            let asOf = Timestamp(epochSeconds: Int64(clamping: report.asOf / 1000), offsetMinutes: TimeZone.current.secondsFromGMT() / 60)
            if report.replacedWasRead {
                print("The backup holds the server as it was at \(asOf); what this server's administrator did since (assignments, branches, calendar days) "
                      + "was read from the database it replaced and written again: \(Wording.count(report.ownWritesKept, "record")) changed.")
            } else {
                print("The backup holds the server as it was at \(asOf). Administrator actions since then (users, branches, assignments, calendar days) are not in it "
                      + "(the database it replaced could not be read): do them again.")
            }
            print("Start the server; laptops and branch servers offer back what it lacks at their next sync.")
        }
    }
}
