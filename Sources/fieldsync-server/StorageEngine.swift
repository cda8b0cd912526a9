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
            throw ValidationError("--database: \(error.description)")
        }
        var configuration = location.configuration
        configuration.options.connectTimeout = .seconds(10)
        // The pool's own chatter (a lease asked for while it starts) is not the operator's business; failures reach the caller.
        var poolLogger = logger
        poolLogger.logLevel = .error
        do {
            try await location.probe(logger: poolLogger)
        } catch {
            throw StorageError("cannot open the database \(location): \(Self.describe(error))")
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
                throw StorageError("cannot open the database \(location): \(Self.describe(error))")
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
                if text.contains("Connection refused") { return "nothing accepts connections there (connection refused); is PostgreSQL running?" }
                return text
            }
            return "\(error.code)"
        }
        if "\(error)".contains("ConnectionPoolError") {
            return "no connection could be made; is PostgreSQL running, and does it accept this user from this host?"
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
            abstract: "Copy this server's data (records, change log, people, devices, sessions, its node and clock) into an empty PostgreSQL database, and verify it.",
            discussion: """
                Devices keep their tokens and cursors: once 'serve --database URL' runs in place of this server (same \
                address and certificate), they sync on without enrolling again. Stop 'serve' on the SQLite folder first: \
                what it accepts after the copy began would not be copied. A branch server (one with an upstream) cannot \
                move: the province is the server on PostgreSQL.
                """)

        @OptionGroup var options: DataOptions
        @Option(help: ArgumentHelp("The empty PostgreSQL database to copy into: postgres://USER@HOST[:PORT]/DATABASE (the password from $PGPASSWORD or $FIELDSYNC_DATABASE_PASSWORD_FILE; one in the URL shows in 'ps').", valueName: "url"))
        var to: String

        func run() async throws {
            if options.database != nil { throw ValidationError("store copy reads the data folder's SQLite store; give the target with --to, not --database") }
            let folder = options.folder
            guard folder.isInitialized else { throw ValidationError("no server in \(folder.path); give --data DIR") }
            if let (binding, _) = try ServerBinding.load(home: folder.upstreamFolder) {
                throw ValidationError("this is a branch server syncing with \(binding.url); only the provincial server runs on PostgreSQL")
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
                print("Copied \(Wording.count(copied.records, "record")), \(Wording.count(copied.logRows, "change-log row")), \(Wording.count(copied.applied, "applied mutation")), \(Wording.count(copied.users, "user")) and \(Wording.count(copied.devices, "device")) to \(location).")
                print(copied.mismatches.isEmpty ? "Read back: identical. Serve it with: fieldsync-server serve --data \(folder.path) --database URL"
                      : "Read back: DIFFERENT:\n  " + copied.mismatches.joined(separator: "\n  "))
            }
            if !copied.mismatches.isEmpty { throw ExitCode(1) }
        }
    }
}
