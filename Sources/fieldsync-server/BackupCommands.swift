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
        discussion: t("srv.the-copy-is-sqlite.6d22"))

    @OptionGroup var options: DataOptions
    @Option(help: ArgumentHelp(t("srv.the-new-file-to.5349"), valueName: "file"))
    var to: String

    func run() throws {
        if let url = options.databaseURL {
            throw ValidationError(t("srv.on-postgresql-back-up.5457", ["to": "\(to)", "url": "\(url)"]))
        }
        let folder = options.folder
        guard folder.isInitialized else { throw ValidationError(t("srv.no-server-in-path.7dd7", ["path": "\(folder.path)"])) }
        let store = try folder.openStore()
        defer { try? store.close() }
        let report = try store.backup(to: to)
        if options.json {
            printJSON(["to": report.path, "bytes": report.bytes, "log_head": report.logHead, "incarnation": report.incarnation])
        } else {
            print(t("srv.backed-up-path-to.d3a2", ["path": "\(folder.path)", "path2": "\(report.path)", "value": count(Int(clamping: report.bytes), "byte"), "log-head": "\(report.logHead)"]))
            print(t("srv.restore-it-with-fieldsync.25c5", ["path": "\(folder.path)", "path2": "\(report.path)"]))
        }
    }
}

/// `fieldsync-server restore --from FILE`: puts a backup in place on a stopped server.
struct RestoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore",
        abstract: CommandLanguage.strings("srv.restore.abstract"),
        discussion: t("srv.the-backup-is-checked.2d15"))

    @OptionGroup var options: DataOptions
    @Option(help: ArgumentHelp(t("srv.the-backup-to-put.ae41"), valueName: "file"))
    var from: String?
    @Flag(help: ArgumentHelp(t("srv.on-postgresql-after-pg.f284")))
    var markRestored = false

    func run() async throws {
        if let url = options.databaseURL {
            guard markRestored, from == nil else {
                throw ValidationError(t("srv.on-postgresql-restore-with.3b85", ["url": "\(url)"]))
            }
            let incarnation = try await StorageEngine.withPostgres(url, logger: StorageEngine.quietLogger, migrate: true) { storage, _ in
                try await storage.renewIncarnation()
            }
            if options.json { printJSON(["incarnation": incarnation]) } else {
                print(t("srv.marked-the-database-as.bfa2", ["incarnation": "\(incarnation)"]))
            }
            return
        }
        guard !markRestored else { throw ValidationError(t("srv.mark-restored-is-for.5955")) }
        guard let from else { throw ValidationError(t("srv.give-the-backup-to.84a1")) }
        let folder = options.folder
        guard folder.isInitialized else {
            throw ValidationError(t("srv.no-server-in-path.d97f", ["path": "\(folder.path)"]))
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
            print(t("srv.restored-from-into-path.bc0e", ["from": "\(from)", "path": "\(folder.path)", "log-head": "\(report.logHead)"]))
            if let kept { print(t("srv.the-database-it-replaced.7a9e", ["kept": "\(kept)"])) }
            if report.revocationsKept > 0 {
                print(t("srv.restore.revocations-kept", ["devices": count(report.revocationsKept, "device")]))
            }
            if report.usersKept + report.devicesKept + report.codesKept > 0 {
                print(t("srv.restore.accounts-kept", ["users": count(report.usersKept, "user"), "devices": count(report.devicesKept, "device"),
                                                      "codes": count(report.codesKept, "enrolment-code")]))
            }
            let asOf = Timestamp(epochSeconds: Int64(clamping: report.asOf / 1000), offsetMinutes: TimeZone.current.secondsFromGMT() / 60)
            if report.replacedWasRead {
                print(t("srv.restore.own-writes-kept", ["as-of": CommandLanguage.strings.time(asOf), "records": count(report.ownWritesKept, "record")]))
            } else {
                print(t("srv.restore.own-writes-lost", ["as-of": CommandLanguage.strings.time(asOf)]))
            }
            print(t("srv.start-the-server-laptops.0dfd"))
        }
    }
}
