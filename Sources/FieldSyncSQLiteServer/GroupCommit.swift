import FieldSyncServerCore
import Foundation
import GRDB
import Synchronization

/// Group commit: syncs that arrive while another is being written share the
/// next transaction, and so its one disk flush. None is answered before the
/// transaction holding it has committed. When one of a batch throws, the shared
/// transaction is undone and each runs again alone (errors are rare: a refused
/// mutation is an answer, not an error), so a failure never touches the others.
///
/// A leader/follower queue: the first caller with nobody writing becomes the
/// leader and writes batch after batch until the queue is empty; the others
/// wait for their slot's result.
final class GroupCommit: @unchecked Sendable {
    final class Slot: @unchecked Sendable {
        let work: @Sendable (Database) throws -> SyncOutcome
        /// Set under `condition`'s lock.
        var result: Result<SyncOutcome, any Error>?

        init(_ work: @escaping @Sendable (Database) throws -> SyncOutcome) { self.work = work }
    }

    private let condition = NSCondition()
    /// Both guarded by `condition`'s lock.
    private var queue: [Slot] = []
    private var leading = false
    /// Most syncs in one transaction: a long batch delays every answer in it.
    static let maxBatch = 64

    /// Runs `work` in a shared transaction of `writer`; blocks until that transaction is durable.
    func run(_ writer: any DatabaseWriter, _ work: @escaping @Sendable (Database) throws -> SyncOutcome) throws -> SyncOutcome {
        let slot = Slot(work)
        condition.lock()
        queue.append(slot)
        while slot.result == nil && leading { condition.wait() }
        if let result = slot.result {
            condition.unlock()
            return try result.get()
        }
        // Nobody is writing: lead until the queue is empty.
        leading = true
        while !queue.isEmpty {
            let batch = Array(queue.prefix(Self.maxBatch))
            queue.removeFirst(batch.count)
            condition.unlock()
            var results: [Result<SyncOutcome, any Error>]
            do {
                let started = ContinuousClock.now
                results = try writer.write { db in try batch.map { .success(try $0.work(db)) } }
                let share = (ContinuousClock.now - started) / batch.count
                results = results.map { $0.map { $0.spending(share) } }
            } catch {
                // One of them failed (a refused request, a full disk): the shared transaction
                // is undone, and each runs again alone in its own, exactly as without grouping.
                results = batch.map { slot in
                    Result {
                        let started = ContinuousClock.now
                        let outcome = try writer.write { db in try slot.work(db) }
                        return outcome.spending(ContinuousClock.now - started)
                    }
                }
            }
            condition.lock()
            for (slot, result) in zip(batch, results) { slot.result = result }
            condition.broadcast()
        }
        leading = false
        condition.broadcast()
        let result = slot.result
        condition.unlock()
        guard let result else { throw CancellationError() }
        return try result.get()
    }
}

extension SyncOutcome {
    /// The outcome with `time` of the writer's counted against it.
    fileprivate func spending(_ time: Duration) -> SyncOutcome {
        var outcome = self
        outcome.writerSeconds = Double(time.components.seconds) + Double(time.components.attoseconds) / 1e18
        return outcome
    }
}
