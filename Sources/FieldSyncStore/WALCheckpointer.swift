import Foundation
import GRDB
import GRDBSQLite
import Synchronization

/// Copies the write-ahead log back into the database file on a connection and
/// a thread of its own, so a long run of commits (a sync) does not stop to do
/// it inside a commit, as SQLite's automatic checkpoint does.
///
/// It replaces SQLite's automatic checkpoint on the writer (`watch(_:)`): once
/// the log holds `walPagesBeforeBackgroundCheckpoint` pages, a commit starts a
/// background checkpoint; should those fall behind, the writer checkpoints
/// itself at `walPagesBeforeWriterCheckpoints`. Checkpointing after every
/// commit (as this did before) copied a page each time a commit touched it; a
/// first sync of random ids touches most leaf pages in every commit, so one
/// checkpoint per few commits copies a fraction of the pages (`fieldsync-bench
/// --only sync`: a tenth of the server's CPU time went to checkpoints).
///
/// Checkpoints are passive: they never wait for, or block, a reader or the
/// writer. Durability does not depend on them: a commit is in the log, synced.
public final class WALCheckpointer: Sendable {
    public static let walPagesBeforeWriterCheckpoints: Int32 = 20_000
    /// 16 MiB of 4 KiB pages.
    public static let walPagesBeforeBackgroundCheckpoint: Int32 = 4_096

    private let connection: DatabaseQueue
    private let queue = DispatchQueue(label: "fieldsync.wal-checkpoint")
    /// A checkpoint is running, and whether another commit asked for one since it started.
    private let state = Mutex<(running: Bool, again: Bool)>((false, false))

    init(path: String) throws {
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        connection = try DatabaseQueue(path: path, configuration: configuration)
    }

    /// What the writer's WAL hook reaches. Weak: the hook outlives neither the
    /// checkpointer's use nor its owner's; the box itself (a few bytes) stays
    /// with the connection, which SQLite gives no safe moment to unhook.
    private final class HookTarget: @unchecked Sendable {
        weak var checkpointer: WALCheckpointer?
        let backgroundPages: Int32
        init(_ checkpointer: WALCheckpointer, backgroundPages: Int32) {
            self.checkpointer = checkpointer
            self.backgroundPages = backgroundPages
        }
    }

    /// Installs the hook on `writer`'s connection, in place of `PRAGMA wal_autocheckpoint`.
    /// `backgroundPages`: the log's size that starts a background checkpoint (tests lower it).
    func watch(_ writer: any DatabaseWriter, backgroundPages: Int32 = walPagesBeforeBackgroundCheckpoint) {
        let target = Unmanaged.passRetained(HookTarget(self, backgroundPages: backgroundPages)).toOpaque()
        writer.writeWithoutTransaction { db in
            guard let handle = db.sqliteConnection else { return }
            sqlite3_wal_hook(handle, { context, handle, name, pages in
                guard let context else { return SQLITE_OK }
                let target = Unmanaged<HookTarget>.fromOpaque(context).takeUnretainedValue()
                if pages >= WALCheckpointer.walPagesBeforeWriterCheckpoints {
                    // What SQLite's automatic checkpoint does, at a higher threshold.
                    sqlite3_wal_checkpoint(handle, name)
                } else if pages >= target.backgroundPages {
                    target.checkpointer?.poke()
                }
                return SQLITE_OK
            }, target)
        }
    }

    /// Starts a checkpoint, or asks the running one to go again.
    private func poke() {
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
