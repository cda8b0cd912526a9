import Dispatch

/// Runs blocking work (an engine's SQLite calls, a report's figures) on a thread of its own, off the
/// concurrency pool and the server's event loops.
package func offload<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global().async { continuation.resume(with: Result { try body() }) }
    }
}
