import FieldSyncModel
import FieldSyncProtocol
import FieldSyncStore
import Foundation

public struct SyncSummary: Sendable, Equatable {
    /// Mutations (user actions) the server acknowledged.
    public var pushed = 0
    /// Field changes received.
    public var pulled = 0
    /// Conflict records created here or received.
    public var conflicts = 0
    /// Mutations the server refused; they stay in the outbox with the reason.
    public var rejected: [RejectedMutation] = []
    public var roundTrips = 0

    public init() {}
}

/// Push the outbox and pull what is new, one round trip per page, until the
/// server has nothing more and the outbox nothing unsent.
public struct Synchronizer: Sendable {
    public var maxMutationsPerPage = 500
    public var maxBytesPerPage = 4 << 20
    public var maxChangesPerPage = 5_000

    public init() {}

    public func sync(_ replica: Replica, binding: ServerBinding, client: SyncClient,
                     progress: @Sendable (SyncSummary) -> Void = { _ in }) async throws -> SyncSummary {
        guard let me = try replica.identity()?.node else { throw StoreError.notInitialized("this replica") }
        var summary = SyncSummary()
        var pushedThrough: UInt64 = 0
        var skewRetries = 0
        while true {
            let mutations = try replica.outboxBodies(after: pushedThrough, maxMutations: maxMutationsPerPage, maxBytes: maxBytesPerPage)
            let sent = replica.wallClock()
            let offset = try replica.clockOffset()
            let body = WireJSON.syncRequest(cursor: try replica.syncCursor(), clientTime: UInt64(max(0, Int64(sent) + offset)),
                                            maxChanges: maxChangesPerPage, mutationBodies: mutations.map(\.body))
            let response: SyncResponse
            do {
                response = try await client.exchange(body: body, token: binding.token)
            } catch let error as SyncError where error.code == ErrorCode.clockSkew && skewRetries < 2 {
                // The server refused our stamps: learn the offset, fix the unsent changes, retry.
                guard let serverTime = error.serverTime else { throw error }
                skewRetries += 1
                try replica.setClockOffset(Int64(serverTime) - Int64(sent))
                try replica.restampOutbox()
                continue
            }
            let received = replica.wallClock()
            // The server's clock at the midpoint of the round trip.
            let midpoint = Int64(sent) + (Int64(received) - Int64(sent)) / 2
            let learnt = Int64(response.serverTime) - midpoint
            try replica.setClockOffset(abs(learnt) > 1_000 ? learnt : 0)

            let acknowledged = response.accepted.filter { $0.origin == me }.map(\.counter)
            let rejected = response.rejected.filter { $0.origin == me }.map { RejectedMutation(counter: $0.counter, reason: $0.reason) }
            let report = try replica.finishExchange(
                pulled: response.changes, cursor: response.cursor, acknowledged: acknowledged, rejected: rejected,
                syncedAt: Timestamp(epochSeconds: Int64(received / 1000), offsetMinutes: TimeZone.current.secondsFromGMT() / 60).description)
            summary.roundTrips += 1
            summary.pushed += acknowledged.count
            summary.pulled += response.changes.count
            summary.conflicts += report.conflictsCreated.count
                + Set(response.changes.filter { $0.table == .conflict && $0.field == "record" }.map(\.record)).count
            summary.rejected += rejected
            progress(summary)
            pushedThrough = mutations.last?.counter ?? pushedThrough
            if !response.more, try replica.outboxBodies(after: pushedThrough, maxMutations: 1, maxBytes: .max).isEmpty {
                return summary
            }
        }
    }
}
