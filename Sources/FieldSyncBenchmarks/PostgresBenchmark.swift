import FieldSyncPostgres
import FieldSyncSQLiteServer
import FieldSyncServer
import Foundation
import Logging
import PostgresNIO

/// The sync benchmark's server on PostgreSQL (`--database URL`, or
/// `$FIELDSYNC_BENCH_DATABASE_URL`): each run gets a database of its own on
/// that server, dropped afterwards.
enum PostgresBench {
    static var logger: Logger {
        var logger = Logger(label: "bench-postgres")
        logger.logLevel = .error
        return logger
    }

    /// Runs `body` with the storage at `url` open (client running, migrated).
    static func withStorage<T>(_ url: String, _ body: (PostgresServerStorage) async throws -> T) async throws -> T {
        let location = try PostgresLocation(url: url)
        let client = PostgresClient(configuration: location.configuration, backgroundLogger: logger)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            return try await body(try await PostgresServerStorage.open(client: client, logger: logger))
        }
    }

    /// Runs `body` with a running client of `url` (nothing migrated).
    static func withClient<T>(_ url: String, _ body: (PostgresClient) async throws -> T) async throws -> T {
        let client = PostgresClient(configuration: try PostgresLocation(url: url).configuration, backgroundLogger: logger)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            return try await body(client)
        }
    }

    /// A new, empty database on the server `url` names; returns its URL.
    static func createDatabase(on url: String) async throws -> String {
        let server = try PostgresLocation(url: url)
        let name = "fieldsync_bench_\(getpid())_\(UInt32.random(in: 0...UInt32.max))"
        try await admin(server) { try await $0.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name)"), logger: logger) }
        return server.with(database: name).url
    }

    static func dropDatabase(_ url: String) async {
        guard let location = try? PostgresLocation(url: url) else { return }
        try? await admin(location.with(database: "postgres")) {
            try await $0.query(PostgresQuery(unsafeSQL: "DROP DATABASE IF EXISTS \(location.database) WITH (FORCE)"), logger: logger)
        }
    }

    private static func admin(_ location: PostgresLocation, _ body: (PostgresClient) async throws -> Void) async throws {
        let client = PostgresClient(configuration: location.configuration, backgroundLogger: logger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            try await body(client)
        }
    }
}
