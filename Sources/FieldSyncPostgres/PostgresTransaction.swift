import Logging
import PostgresNIO

enum PostgresTransaction {
    /// `withTransaction`, throwing the body's own error (the rollback is done)
    /// instead of the wrapper that carries it, so callers catch what they threw.
    static func run<T>(_ client: PostgresClient, logger: Logger, isolation: isolated (any Actor)? = #isolation,
                       _ body: nonisolated(nonsending) (PostgresConnection) async throws -> sending T) async throws -> sending T {
        do {
            return try await client.withTransaction(logger: logger, isolation: isolation, body)
        } catch let error as PostgresTransactionError {
            if let thrown = error.closureError, error.rollbackError == nil { throw thrown }
            throw error
        }
    }
}
