import FieldSyncKPI
import FieldSyncModel
import FieldSyncServerCore
import FieldSyncProtocol
import Foundation
import Logging
import NIOCore
import PostgresNIO

/// The server's storage in PostgreSQL, for a provincial server that outgrows one
/// machine: several `fieldsync-server` instances may share one database, so
/// everything that must be the same for all of them (codes, devices, sessions,
/// the clock, the log) lives here and never in a process.
///
/// The caller runs `client` (`client.run()`, as a service) for as long as the storage is used.
public final class PostgresServerStorage: Sendable {
    public let client: PostgresClient
    public let node: NodeID
    let logger: Logger
    let wallClock: @Sendable () -> UInt64
    /// KPI reports kept between requests, while no record changes.
    public let kpiCache = KPIFactsCache()

    init(client: PostgresClient, node: NodeID, logger: Logger, wallClock: @escaping @Sendable () -> UInt64) {
        self.client = client
        self.node = node
        self.logger = logger
        self.wallClock = wallClock
    }

    /// Brings the database to this build's schema and reads the server's identity,
    /// creating it the first time (with `node`, or a random one).
    public static func open(client: PostgresClient, logger: Logger, node: NodeID? = nil,
                            wallClock: @escaping @Sendable () -> UInt64 = { UInt64(Date().timeIntervalSince1970 * 1_000) }) async throws -> PostgresServerStorage {
        try await PostgresSchema.migrate(client, logger: logger)
        var generator = SystemRandomNumberGenerator()
        let proposed = node ?? NodeID.random(using: &generator)
        let now = Int64(clamping: wallClock())
        let stored = try await client.withConnection { connection -> NodeID? in
            try await connection.query("""
                INSERT INTO server_state (one, node, hlc, counter, created_at) VALUES (true, \(proposed.description), 0, 0, \(now))
                ON CONFLICT (one) DO NOTHING
                """, logger: logger)
            for try await text in try await connection.query("SELECT node FROM server_state", logger: logger).decode(String.self) {
                return NodeID(text)
            }
            return nil
        }
        guard let stored else { throw PostgresStorageError("the server's identity in the database is damaged") }
        return PostgresServerStorage(client: client, node: stored, logger: logger, wallClock: wallClock)
    }

    /// The client only, before any migration or identity (for `PostgresStoreCopy`, which writes both).
    public static func unopened(client: PostgresClient, logger: Logger) -> PostgresServerStorage {
        PostgresServerStorage(client: client, node: NodeID(rawValue: 0), logger: logger, wallClock: { UInt64(Date().timeIntervalSince1970 * 1_000) })
    }

    public var now: UInt64 { wallClock() }

    /// Runs `body` in a transaction, throwing the body's own errors.
    func transaction<T>(isolation: isolated (any Actor)? = #isolation,
                        _ body: nonisolated(nonsending) (PostgresConnection) async throws -> sending T) async throws -> sending T {
        try await PostgresTransaction.run(client, logger: logger, isolation: isolation, body)
    }
}

public struct PostgresStorageError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

extension PostgresConnection {
    /// The first row of a query, decoded, or nil.
    func first<T: PostgresDecodable & Sendable>(_ query: PostgresQuery, as type: T.Type, logger: Logger) async throws -> T? {
        for try await value in try await self.query(query, logger: logger).decode(T.self) { return value }
        return nil
    }
}
