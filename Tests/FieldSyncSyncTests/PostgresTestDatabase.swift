import FieldSyncPostgres
import Foundation
import Logging
import PostgresNIO
import Testing

/// A new, empty database on the cluster `FIELDSYNC_TEST_DATABASE_URL` names
/// (`scripts/test` starts one with `scripts/postgres`), dropped afterwards.
///
/// Without that variable the PostgreSQL tests are skipped, with a visible
/// note, outside CI only: in CI (`CI=true`) they fail instead.
struct PostgresTestDatabase {
    static let url = ProcessInfo.processInfo.environment["FIELDSYNC_TEST_DATABASE_URL"].flatMap { $0.isEmpty ? nil : $0 }
    static let inCI = ProcessInfo.processInfo.environment["CI"] == "true"
    /// Whether the PostgreSQL tests run: with a database, or in CI (where a missing one fails them).
    static let enabled = url != nil || inCI

    static var logger: Logger {
        var logger = Logger(label: "postgres-test")
        logger.logLevel = .warning
        return logger
    }

    /// Runs `body` with a client of a new database, then drops it.
    static func with<T>(_ body: (PostgresClient, PostgresLocation) async throws -> T) async throws -> T {
        let text = try #require(url, "CI runs the PostgreSQL tests: FIELDSYNC_TEST_DATABASE_URL is not set (scripts/test sets it)")
        let server = try PostgresLocation(url: text)
        let name = "fieldsync_test_\(UInt64.random(in: 0...UInt64.max))"
        try await run(server) { admin in _ = try await admin.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name)"), logger: logger) }
        let location = server.with(database: name)
        do {
            let result = try await run(location) { client in try await body(client, location) }
            try await drop(name, on: server)
            return result
        } catch {
            try? await drop(name, on: server)
            throw error
        }
    }

    private static func drop(_ name: String, on server: PostgresLocation) async throws {
        try await run(server) { admin in _ = try await admin.query(PostgresQuery(unsafeSQL: "DROP DATABASE IF EXISTS \(name) WITH (FORCE)"), logger: logger) }
    }

    /// A client of `location`, running for the length of `body`.
    static func run<T>(_ location: PostgresLocation, _ body: (PostgresClient) async throws -> T) async throws -> T {
        // The pool's notice that a lease was asked for while it starts is noise here.
        var quiet = logger
        quiet.logLevel = .error
        let client = PostgresClient(configuration: location.configuration, backgroundLogger: quiet)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            return try await body(client)
        }
    }
}
