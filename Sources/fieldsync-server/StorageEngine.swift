import ArgumentParser
import FieldSyncClient
import FieldSyncCommandLine
import FieldSyncLocalization
import FieldSyncModel
import FieldSyncPostgres
import FieldSyncProtocol
import FieldSyncServer
import FieldSyncServerCore
import FieldSyncSQLiteServer
import FieldSyncStore
import Foundation
import Logging
import PostgresNIO

/// What a command works on: the data folder's embedded SQLite store, or a
/// PostgreSQL database (`--database`, or `$FIELDSYNC_DATABASE_URL`) that several
/// server instances may share.
struct StorageEngine {
    var accounts: any AccountStorage
    var sync: any SyncStorage
    var branches: () async throws -> [String]
    var addBranch: (String) async throws -> Void
    var renameBranch: (String, String) async throws -> (customers: Int, users: Int)
    var assign: (String, String, [String]?) async throws -> String
    var writeLocal: ([RecordEdit]) async throws -> Void
    var records: (RecordKind) async throws -> [(id: String, state: RecordState)]
    var kpi: any KPIStorage
    /// The embedded store, when the engine is SQLite.
    var store: ServerStore?
    var name: String

    /// Opens the engine `options` names, runs `body`, and closes it.
    static func with<T>(_ options: DataOptions, logger: Logger = StorageEngine.quietLogger, _ body: (StorageEngine) async throws -> T) async throws -> T {
        if let url = options.databaseURL {
            return try await withPostgres(url, logger: logger) { storage, location in
                try await body(StorageEngine(accounts: storage, sync: storage, branches: { try await storage.branches() },
                                             addBranch: { try await storage.addBranch($0) },
                                             renameBranch: { try await storage.renameBranch($0, to: $1) },
                                             assign: { try await storage.assign($0, manager: $1, team: $2) },
                                             writeLocal: { try await storage.writeLocal($0) }, records: { try await storage.records(of: $0) },
                                             kpi: storage, store: nil, name: location.description))
            }
        }
        let store = try options.folder.openStore()
        defer { try? store.close() }
        return try await body(StorageEngine(accounts: SQLiteAccountStorage(store), sync: SQLiteSyncStorage(store), branches: { try store.branches() },
                                            addBranch: { try store.addBranch($0) }, renameBranch: { try store.renameBranch($0, to: $1) },
                                            assign: { try store.assign($0, manager: $1, team: $2) }, writeLocal: { try store.writeLocal($0) },
                                            records: { kind in try store.replica.records(kind).map { ($0.id, $0.state) } },
                                            kpi: SQLiteKPIStorage(store), store: store, name: options.folder.path))
    }

    /// Runs `body` with the PostgreSQL storage at `url` open (its client running), migrated to this build's schema.
    /// `migrate: false` opens the client only (`store copy` migrates and writes the identity itself).
    static func withPostgres<T>(_ url: String, logger: Logger, migrate: Bool = true,
                                _ body: (PostgresServerStorage, PostgresLocation) async throws -> T) async throws -> T {
        let location: PostgresLocation
        do {
            location = try PostgresLocation(url: url)
        } catch {
            throw ValidationError(t("srv.database-error.a923", ["error": "\(error.description)"]))
        }
        var configuration = location.configuration
        configuration.options.connectTimeout = .seconds(10)
        // The pool's own chatter (a lease asked for while it starts) is not the operator's business; failures reach the caller.
        var poolLogger = logger
        poolLogger.logLevel = .error
        do {
            try await location.probe(logger: poolLogger)
        } catch {
            throw StorageError(t("srv.database.cannot-open", ["database": "\(location)", "reason": Self.describe(error)]))
        }
        let client = PostgresClient(configuration: configuration, backgroundLogger: poolLogger)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            let storage: PostgresServerStorage
            do {
                storage = migrate ? try await PostgresServerStorage.open(client: client, logger: logger)
                    : PostgresServerStorage.unopened(client: client, logger: logger)
            } catch let error as PostgresSchema.TooNew {
                throw StorageError("\(location): \(error)")
            } catch {
                throw StorageError(t("srv.database.cannot-open", ["database": "\(location)", "reason": Self.describe(error)]))
            }
            return try await body(storage, location)
        }
    }

    /// A PostgreSQL error in a line a person can act on.
    static func describe(_ error: any Error) -> String {
        if let error = error as? PSQLError {
            if let message = error.serverInfo?[.message] { return message }
            if let underlying = error.underlying {
                let text = "\(underlying)"
                if text.contains("Connection refused") { return t("srv.database.refused") }
                return text
            }
            return "\(error.code)"
        }
        if "\(error)".contains("ConnectionPoolError") {
            return t("srv.database.no-connection")
        }
        return "\(error)"
    }

    static var quietLogger: Logger {
        var logger = Logger(label: "fieldsync-server")
        logger.logLevel = ProcessInfo.processInfo.environment["LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .warning
        return logger
    }
}

/// A failure of the storage a command was pointed at, said in one line.
struct StorageError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

struct StoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store", abstract: CommandLanguage.strings("srv.store.abstract"), subcommands: [Copy.self])

    struct Copy: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: t("srv.copy-this-server-s.07bd"),
            discussion: t("srv.devices-keep-their-tokens.76b3"))

        @OptionGroup var options: DataOptions
        @Option(help: ArgumentHelp(t("srv.the-empty-postgresql-database.ad13"), valueName: "url"))
        var to: String

        func run() async throws {
            if options.database != nil { throw ValidationError(t("srv.store-copy-reads-the.34ec")) }
            let folder = options.folder
            guard folder.isInitialized else { throw ValidationError(t("srv.no-server-in-path.7dd7", ["path": "\(folder.path)"])) }
            if let (binding, _) = try ServerBinding.load(home: folder.upstreamFolder) {
                throw ValidationError(t("srv.this-is-a-branch.1fca", ["url": "\(binding.url)"]))
            }
            // A server writing while this reads would leave work behind in the old store.
            let lock = try ServingLock(folder: folder)
            defer { withExtendedLifetime(lock) {} }
            let store = try folder.openStore()
            defer { try? store.close() }
            let export = try store.export()
            let terminal = isatty(STDERR_FILENO) == 1 && !options.json
            let report = try await StorageEngine.withPostgres(to, logger: StorageEngine.quietLogger, migrate: false) { storage, location in
                let report = try await PostgresStoreCopy.copy(export, into: storage.client, logger: StorageEngine.quietLogger) { step in
                    if terminal { FileHandle.standardError.write(Data("\r\u{1B}[K\(step)".utf8)) }
                }
                if terminal { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
                return (report, location)
            }
            let (copied, location) = report
            if options.json {
                printJSON(["to": location.description, "records": copied.records, "log_rows": copied.logRows, "applied": copied.applied,
                           "users": copied.users, "devices": copied.devices, "identical": copied.mismatches.isEmpty, "mismatches": copied.mismatches])
            } else {
                print(t("srv.store.copied", ["records": count(copied.records, "record"), "log-rows": count(copied.logRows, "log-row"), "applied": count(copied.applied, "applied-mark"),
                                             "users": count(copied.users, "user"), "devices": count(copied.devices, "device"), "database": "\(location)"]))
                print(copied.mismatches.isEmpty ? t("srv.store.identical", ["path": folder.path])
                      : t("srv.store.different") + "\n  " + copied.mismatches.joined(separator: "\n  "))
            }
            if !copied.mismatches.isEmpty { throw ExitCode(1) }
        }
    }
}
