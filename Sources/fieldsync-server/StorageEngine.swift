import ArgumentParser
import FieldSyncModel
import FieldSyncPostgres
import FieldSyncProtocol
import FieldSyncServer
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
    /// The embedded store, when the engine is SQLite.
    var store: ServerStore?
    var name: String

    /// Opens the engine `options` names, runs `body`, and closes it.
    static func with<T>(_ options: DataOptions, logger: Logger = StorageEngine.quietLogger, _ body: (StorageEngine) async throws -> T) async throws -> T {
        if let url = options.databaseURL {
            return try await withPostgres(url, logger: logger) { storage, location in
                try await body(StorageEngine(accounts: storage, sync: storage, branches: { try await storage.branches() },
                                             addBranch: { try await storage.addBranch($0) }, store: nil, name: location.description))
            }
        }
        let store = try options.folder.openStore()
        defer { try? store.close() }
        return try await body(StorageEngine(accounts: SQLiteAccountStorage(store), sync: SQLiteSyncStorage(store), branches: { try store.branches() },
                                            addBranch: { try store.addBranch($0) }, store: store, name: options.folder.path))
    }

    /// Runs `body` with the PostgreSQL storage at `url` open (its client running), migrated to this build's schema.
    static func withPostgres<T>(_ url: String, logger: Logger, _ body: (PostgresServerStorage, PostgresLocation) async throws -> T) async throws -> T {
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
                storage = try await PostgresServerStorage.open(client: client, logger: logger)
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
