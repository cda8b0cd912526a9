import Foundation
import GRDB
import Synchronization

/// Copies the write-ahead log back into the database file on a connection and
/// a thread of its own, so a long run of commits (a sync) does not stop every
/// thousand pages to do it inside a commit, as SQLite's automatic checkpoint
/// does.
///
/// Checkpoints are passive: they never wait for, or block, a reader or the
/// writer. The writer keeps SQLite's automatic checkpoint, at a higher
/// threshold (`walPagesBeforeWriterCheckpoints`), as a bound on the log's size
/// should these fall behind.
public final class WALCheckpointer: Sendable {
    public static let walPagesBeforeWriterCheckpoints = 20_000

    private let connection: DatabaseQueue
    private let queue = DispatchQueue(label: "fieldsync.wal-checkpoint")
    /// A checkpoint is running, and whether another commit arrived since it started.
    private let state = Mutex<(running: Bool, again: Bool)>((false, false))

    init(path: String) throws {
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        connection = try DatabaseQueue(path: path, configuration: configuration)
    }

    /// Called after a commit: starts a checkpoint, or asks the running one to go again.
    public func poke() {
        let start = state.withLock { state in
            if state.running { state.again = true; return false }
            state.running = true
            return true
        }
        guard start else { return }
        queue.async { [self] in
            repeat {
                _ = try? connection.writeWithoutTransaction { db in try db.checkpoint(.passive) }
            } while state.withLock { state in
                if state.again { state.again = false; return true }
                state.running = false
                return false
            }
        }
    }

    /// Returns when no checkpoint is running.
    public func waitUntilIdle() {
        queue.sync {}
    }

    /// Waits for a running checkpoint and closes the connection.
    public func close() throws {
        waitUntilIdle()
        try connection.close()
    }
}
