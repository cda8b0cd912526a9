import FieldSyncModel
import FieldSyncProtocol
import FieldSyncStore
import Foundation

public struct SyncSummary: Sendable, Equatable {
    /// Mutations (user actions) the server acknowledged.
    public var pushed = 0
    /// Field changes received.
    public var pulled = 0
    /// Records those field changes touched, each counted once however many pages carried it
    /// (a person counts the visits and files that arrived, not their fields).
    public var pulledRecords: Int { recordsSeen.count }
    /// Hashes of the records pulled, so a record split over pages counts once.
    var recordsSeen: Set<Int> = []
    /// Conflict records created here or received.
    public var conflicts = 0
    /// Mutations the server refused; they stay in the outbox with the reason.
    public var rejected: [RejectedMutation] = []
    /// Customers whose files left this replica's scope and were dropped here.
    public var filesDropped: [String] = []
    /// A supervisor's decisions applied here: refused actions discarded, or handed back with a note.
    public var decisions: [OutboxDecision] = []
    public var roundTrips = 0
    /// The server was restored from an earlier state (or made anew) since the last sync: this
    /// replica read its log again from the start and offered back `reoffered` records of its own.
    public var serverRestored = false
    public var reoffered = 0
    /// Record kinds and fields ("kind.field") the server sent that this version does not know:
    /// skipped here, and read again once FieldSync is upgraded (`Replica.noteUnknownContent`).
    public var unknownContent: [String] = []
    /// Records a supervisor's discard left emptied here, taken back from the server's copy.
    public var takenBack = 0
    /// A discard's records could not be taken back from the server's copy (`fieldsync verify --server` does it).
    public var serverCopyPending = false
    /// What this version knows now that an older one skipped: read again from where it was skipped.
    public var readAgain: [String] = []
    /// The regular comparison with the server by digests, when this sync made one (`Synchronizer.comparisonEvery`).
    public var comparison: Comparison?

    public enum Comparison: Sendable, Equatable {
        /// This replica and the server's copy of its scope held the same records.
        case identical
        /// They differed: `taken` records came from the server's copy, `offered` went back to it.
        case repaired(taken: Int, offered: Int)
        /// The server could not narrow the comparison by digests (an older server, or too much differing):
        /// `fieldsync verify --server` compares with a snapshot.
        case notNarrowed
    }

    public init() {}

    mutating func add(_ other: SyncSummary) {
        pushed += other.pushed
        pulled += other.pulled
        recordsSeen.formUnion(other.recordsSeen)
        conflicts += other.conflicts
        rejected += other.rejected
        for decision in other.decisions where !decisions.contains(decision) { decisions.append(decision) }
        filesDropped += other.filesDropped
        roundTrips += other.roundTrips
        for name in other.unknownContent where !unknownContent.contains(name) { unknownContent.append(name) }
    }
}

/// Push the outbox and pull what is new, one round trip per page, until the
/// server has nothing more and the outbox nothing unsent.
///
/// Round trips are pipelined one deep: as soon as an answer arrives, the next
/// request (the following outbox page, and the changes after the answer's
/// cursor) is on its way while this replica stores the answer. The next request
/// already asks from the new cursor and pushes only mutations after those just
/// sent, so nothing is sent twice; if storing fails, the request in flight is
/// cancelled and, like any interrupted sync, the next one starts again from what
/// was stored (the server ignores mutations it has applied already).
///
/// The outbox page after the one in flight is read and compressed while its
/// answer is awaited (`PreparedSyncBody`): only the request's end (cursor, clock)
/// waits for the answer. A page read ahead is used only if it starts where the
/// answer says the push stands; otherwise (a refused clock re-stamps the outbox)
/// it is read again.
///
/// An outbox of more than a page goes first, two requests deep and push only
/// (`pushAhead`): the server decodes a page while it applies the one before, and
/// keeps them in the order sent (`follows`, Protocol/SYNC.md).
///
/// Pages that only pull are stored several to a transaction (`changesPerCommit`):
/// a commit writes every index page it touched, and random record ids touch
/// most of them, so a page per commit wrote the id index again and again (a
/// fifth of a first sync's CPU). What is held is only what the server still
/// has: a sync that fails before storing it pulls it again next time.
public struct Synchronizer: Sendable {
    public var maxMutationsPerPage = 1_000
    public var maxBytesPerPage = 4 << 20
    public var maxChangesPerPage = 10_000
    /// Pulled changes held to be stored in one transaction, at most.
    public var changesPerCommit = 50_000
    /// Whether an outbox of more than a page is pushed two requests deep first (`pushAhead`).
    public var pushesAhead = true
    /// How often (ms, this replica's clock) a sync that leaves nothing in the outbox also compares the
    /// replica with the server by digests and repairs what differs (`ServerVerifier`); 0: never. The
    /// server keeps each device's latest comparison: its branch's freshness rests on them.
    public var comparisonEvery: UInt64 = 86_400_000

    public init() {}

    public func sync(_ replica: Replica, binding: ServerBinding, client: SyncClient,
                     progress: @Sendable (SyncSummary) -> Void = { _ in }) async throws -> SyncSummary {
        var summary = try await syncTellingRestores(replica, binding: binding, client: client, progress: progress)
        // A supervisor's discard emptied the fields its action wrote (their earlier values were overwritten on this
        // laptop): the server's copy of exactly those records comes back, as `outbox discard` does. Noted in the
        // replica with the discard, so a sync cut short, or a failure here, leaves them for the next sync; a failure
        // never fails the sync, which went through.
        let keys = try replica.recordsToTakeBack()
        guard !keys.isEmpty else {
            try await compareRegularly(replica, binding: binding, client: client, summary: &summary)
            return summary
        }
        do {
            // By digests (the records lie in a few buckets of 256); the whole snapshot from an older server.
            var drift = try await client.drift(of: replica, token: binding.token, downloadingIfNeededTo: replica.path + ".verify")
            drift.records.removeAll { !keys.contains($0.key) }
            summary.takenBack = try replica.repair(drift).taken
            try replica.tookBack(keys)
        } catch {
            summary.serverCopyPending = true
        }
        return summary
    }

    /// Once every `comparisonEvery`, after a sync that left the outbox empty: digests compared with the
    /// server's (`POST /v1/digest`; the server keeps the outcome), what differs repaired as `verify --server`
    /// does, and what the repair offered sent. The first sync only starts the count. Never a snapshot (a
    /// server without digests, or too much differing, is left to `verify --server`); a failure never
    /// fails the sync, which went through, and is tried again an hour later.
    private func compareRegularly(_ replica: Replica, binding: ServerBinding, client: SyncClient, summary: inout SyncSummary) async throws {
        guard comparisonEvery > 0 else { return }
        let now = replica.wallClock()
        do {
            guard try replica.outboxCount() == 0 else { return }
            guard let last = try replica.lastDigestComparison() else { return try replica.noteDigestComparison(at: now) }
            // A time ahead of the clock (a clock set back since) counts as due.
            guard now < last || now - last >= comparisonEvery else { return }
            guard let drift = try await client.driftByDigest(of: replica, token: binding.token) else {
                // A server without digests, or too much differing for one answer: `verify --server` compares with a snapshot.
                summary.comparison = .notNarrowed
                return try replica.noteDigestComparison(at: now)
            }
            guard !drift.isIdentical else {
                summary.comparison = .identical
                return try replica.noteDigestComparison(at: now)
            }
            let repair = try replica.repair(drift)
            summary.comparison = .repaired(taken: repair.taken, offered: repair.offered)
            try replica.noteDigestComparison(at: now)
            if repair.offered > 0 { summary.add(try await syncOnce(replica, binding: binding, client: client, progress: { _ in })) }
            // Compared once more, so that the server keeps the repaired state's outcome, not the drift found.
            _ = try await client.driftByDigest(of: replica, token: binding.token)
        } catch {
            // Never fails the sync, which went through; tried again an hour later (not at every sync: each costs the server a snapshot's read).
            // Noted as if compared `comparisonEvery` less an hour ago: due again an hour from now.
            let (due, overflow) = now.addingReportingOverflow(min(3_600_000, comparisonEvery))
            try? replica.noteDigestComparison(at: overflow ? now : (due >= comparisonEvery ? due - comparisonEvery : 0))
        }
    }

    private func syncTellingRestores(_ replica: Replica, binding: ServerBinding, client: SyncClient,
                                     progress: @Sendable (SyncSummary) -> Void) async throws -> SyncSummary {
        do {
            return try await syncOnce(replica, binding: binding, client: client, progress: progress)
        } catch let error as SyncError where error.code == ErrorCode.serverRestored {
            // The server lost part of its history: nothing of the refused request was stored there.
            // This replica offers back its own acknowledged work and reads the log from the start.
            guard let incarnation = error.incarnation, Incarnation.isValid(incarnation) else { throw error }
            let reoffered = try replica.reofferAfterServerRestore(incarnation: incarnation)
            var summary = try await syncOnce(replica, binding: binding, client: client, progress: progress)
            summary.serverRestored = true
            summary.reoffered = reoffered
            return summary
        }
    }

    private func syncOnce(_ replica: Replica, binding: ServerBinding, client: SyncClient,
                          progress: @Sendable (SyncSummary) -> Void) async throws -> SyncSummary {
        guard let me = try replica.identity()?.node else { throw StoreError.notInitialized("this replica") }
        var summary = SyncSummary()
        // Upgraded since an older version skipped what it did not know: read again from where it skipped.
        summary.readAgain = try replica.readAgainWhatIsNowKnown()
        var skewRetries = 0
        // What waits in the outbox, counted once and then kept by subtracting what the server
        // acknowledges: counting a large outbox for every page made a big push quadratic.
        var waiting = try replica.outboxCount()
        var next: Task<RoundTrip, any Error>?
        var ahead: Task<PushPage, any Error>?
        // Nothing read ahead outlives the sync: the caller may close the replica when it returns.
        func settleAhead() async {
            ahead?.cancel()
            _ = try? await ahead?.value
        }
        // A push of more than a page goes first, two requests deep.
        if pushesAhead, waiting > maxMutationsPerPage {
            try await pushAhead(replica, binding, client, me: me, summary: &summary, waiting: &waiting, skewRetries: &skewRetries, progress: progress)
        }
        // Answers that only pulled, not stored yet, and the batch of them being stored meanwhile.
        var held: [RoundTrip] = []
        var storing: Task<SyncSummary, any Error>?
        func finishStoring() async throws {
            guard let task = storing else { return }
            storing = nil
            summary.add(try await task.value)
            progress(summary)
        }
        // Stores what is held in one transaction, while the next pages arrive.
        func storeHeldMeanwhile() async throws {
            try await finishStoring()
            guard let last = held.last else { return }
            var merged = last
            merged.response.changes = held.flatMap(\.response.changes)
            merged.response.unknownKinds = held.flatMap(\.response.unknownKinds)
            merged.requestCursor = held[0].requestCursor
            let rounds = held.count
            held = []
            storing = Task { try store(merged, me: me, replica, rounds: rounds) }
        }
        func storeHeld() async throws {
            try await storeHeldMeanwhile()
            try await finishStoring()
        }
        do {
            (next, ahead) = start(replica, binding, client, page: prepare(replica, after: 0), cursor: try replica.syncCursor(), pending: waiting)
            while let inFlight = next {
                next = nil
                let round: RoundTrip
                do {
                    round = try await inFlight.value
                } catch let skew as ClockSkew where skewRetries < 2 {
                    // The server refused our stamps: learn the offset, fix the unsent changes, send them again.
                    skewRetries += 1
                    await settleAhead()
                    // The retry asks from the stored cursor: what is held is stored first.
                    try await storeHeld()
                    try restamp(replica, skew)
                    (next, ahead) = start(replica, binding, client, page: prepare(replica, after: skew.after), cursor: try replica.syncCursor(), pending: waiting)
                    continue
                } catch let skew as ClockSkew {
                    throw skew.error
                }
                let response = round.response
                let acknowledgedHere = response.accepted.lazy.filter { $0.origin == me }.count
                waiting = max(0, waiting - acknowledgedHere)
                if try response.more || replica.hasOutbox(after: round.pushedThrough) {
                    let page = ahead ?? prepare(replica, after: round.pushedThrough)
                    (next, ahead) = start(replica, binding, client, page: page, expecting: round.pushedThrough, cursor: response.cursor, pending: waiting)
                }
                do {
                    if round.onlyPulled(after: held.last?.pushedThrough), next != nil, changesPerCommit > maxChangesPerPage {
                        held.append(round)
                        if held.reduce(0, { $0 + $1.response.changes.count }) + maxChangesPerPage > changesPerCommit { try await storeHeldMeanwhile() }
                        continue
                    }
                    try await storeHeld()
                    summary.add(try store(round, me: me, replica))
                    progress(summary)
                    // Storing the answer may have added a mutation (conflict records this replica was first to see).
                    if next == nil, try replica.hasOutbox(after: round.pushedThrough) {
                        // Read now: a page read ahead was read before this answer was stored.
                        await settleAhead()
                        (next, ahead) = start(replica, binding, client, page: prepare(replica, after: round.pushedThrough), cursor: response.cursor,
                                              pending: try replica.outboxCount())
                    }
                } catch {
                    next?.cancel()
                    _ = try? await next?.value
                    throw error
                }
            }
        } catch {
            await settleAhead()
            // What was pulled before the failure is kept; if even that fails, the next sync pulls it again.
            try? await storeHeld()
            throw error
        }
        await settleAhead()
        return summary
    }

    /// Pushes the outbox with a request sent ahead of each answer: the server decodes
    /// one while it applies the one before (`follows` keeps them in order). These
    /// requests only push (`max_changes` 0: the cursor stays); the paged loop after
    /// them pulls, and sends again whatever they left (refused mutations). Any
    /// refusal by the server but a clock skew hands over to that loop.
    private func pushAhead(_ replica: Replica, _ binding: ServerBinding, _ client: SyncClient, me: NodeID,
                           summary: inout SyncSummary, waiting: inout Int, skewRetries: inout Int,
                           progress: @Sendable (SyncSummary) -> Void) async throws {
        let cursor = try replica.syncCursor()
        var inFlight: [Task<RoundTrip, any Error>] = []
        var ahead: Task<PushPage, any Error>? = prepare(replica, after: 0)
        // Nothing sent or read ahead outlives this phase.
        func settle() async {
            for task in inFlight { task.cancel() }
            for task in inFlight { _ = try? await task.value }
            inFlight = []
            ahead?.cancel()
            _ = try? await ahead?.value
            ahead = nil
        }
        // Two requests in flight, each page sent as soon as it is read.
        func send() async throws {
            while inFlight.count < 2, let page = ahead {
                let prepared = try await page.value
                guard prepared.through > prepared.after else {
                    ahead = nil
                    return
                }
                let sent = start(replica, binding, client, page: page, cursor: cursor, pending: waiting, maxChanges: 0,
                                 follows: prepared.after > 0 ? prepared.after : nil)
                inFlight.append(sent.request)
                ahead = sent.ahead
            }
        }
        do {
            while true {
                try await send()
                guard !inFlight.isEmpty else { return }
                let round: RoundTrip
                do {
                    round = try await inFlight.removeFirst().value
                } catch let skew as ClockSkew where skewRetries < 2 {
                    skewRetries += 1
                    await settle()
                    try restamp(replica, skew)
                    ahead = prepare(replica, after: 0)
                    continue
                } catch let skew as ClockSkew {
                    throw skew.error
                } catch let refusal as SyncError where refusal.code != nil {
                    // The server answered with a refusal (`out_of_order`, or a server that takes no push only):
                    // one request at a time from here, which reports any refusal that remains.
                    await settle()
                    return
                }
                waiting = max(0, waiting - round.response.accepted.lazy.filter { $0.origin == me }.count)
                // The next push leaves before this answer is stored: the server decodes it meanwhile.
                try await send()
                summary.add(try store(round, me: me, replica))
                progress(summary)
            }
        } catch {
            await settle()
            throw error
        }
    }

    /// Stores one answer in one transaction (the clock learnt, the pulled changes, the acknowledgements) and counts it
    /// as `rounds` round trips (answers that only pulled are stored together, `changesPerCommit`).
    private func store(_ round: RoundTrip, me: NodeID, _ replica: Replica, rounds: Int = 1) throws -> SyncSummary {
        let response = round.response
        // The server's clock at the midpoint of the round trip.
        let learnt = Self.offset(serverTime: response.serverTime, at: round.sentAt / 2 + round.receivedAt / 2)
        try replica.setClockOffset(abs(learnt) > 1_000 ? learnt : 0)
        if let incarnation = response.incarnation, Incarnation.isValid(incarnation) {
            try replica.noteServerIncarnation(incarnation)
        }

        let acknowledged = response.accepted.filter { $0.origin == me }.map(\.counter)
        let rejected = response.rejected.filter { $0.origin == me }.map {
            RejectedMutation(counter: $0.counter, reason: $0.reason, textKey: $0.text?.key, textValues: $0.text?.values ?? [:])
        }
        // What a newer server sent that this version does not know: kinds the reader passed over, fields the merge passes over.
        let unknown = response.unknownContent
        let offset = TimeZone.current.secondsFromGMT() / 60
        // A supervisor's decisions about the actions refused in this answer.
        let decisions = response.instructions.map { OutboxDecision($0, offsetMinutes: offset) }
        // Conflict records this answer brings that were not here before: one already held (a resolved conflict,
        // a file sent again whole after a handover or a restore) is not news.
        let pulledConflicts = Set(response.changes.lazy.filter { $0.table == .conflict && $0.field == "record" }.map(\.record))
        let conflictsHeld = try replica.held(.conflict, among: pulledConflicts)
        let report = try replica.finishExchange(
            pulled: response.changes, cursor: response.cursor, acknowledged: acknowledged, rejected: rejected, left: response.left,
            returned: response.returned.filter { $0.mutation.origin == me }.map { ($0.mutation, $0.reason) },
            unknown: unknown, readFrom: round.requestCursor, decisions: decisions,
            syncedAt: Timestamp(epochSeconds: Int64(round.receivedAt / 1000), offsetMinutes: offset).description)
        var summary = SyncSummary()
        summary.roundTrips = rounds
        summary.pushed = acknowledged.count
        summary.pulled = response.changes.count
        summary.recordsSeen = Set(response.changes.map { change in
            var hasher = Hasher()
            hasher.combine(change.table)
            hasher.combine(change.record)
            return hasher.finalize()
        })
        summary.conflicts = report.conflictsCreated.count
            + (try replica.held(.conflict, among: pulledConflicts.subtracting(conflictsHeld), unresolvedOnly: true)).count
        let discarded = Set(report.discarded)
        summary.rejected = rejected.filter { !discarded.contains($0.counter) }
        summary.decisions = decisions.filter { !$0.discard || discarded.contains($0.counter) }
        summary.filesDropped = report.filesDropped
        summary.unknownContent = unknown
        return summary
    }

    /// The server refused our stamps: learn the offset and fix the unsent changes, to send them again.
    private func restamp(_ replica: Replica, _ skew: ClockSkew) throws {
        try replica.setClockOffset(Self.offset(serverTime: skew.serverTime, at: skew.sentAt))
        try replica.restampOutbox()
    }

    /// How far the server's clock is from this device's at `local` (milliseconds), whatever the
    /// server sent: the times are clamped, never converted with a trap (`Replica.setClockOffset` bounds the result).
    package static func offset(serverTime: UInt64, at local: UInt64) -> Int64 {
        Int64(clamping: serverTime) - Int64(clamping: local)
    }

    /// One answered request: what it pushed and when it left and came back.
    struct RoundTrip: Sendable {
        var response: SyncResponse
        /// The cursor the request asked from.
        var requestCursor: Int64
        /// The last outbox counter this request carried (or the one before it, if it carried none).
        var pushedThrough: UInt64
        var sentAt: UInt64
        var receivedAt: UInt64

        /// Whether this answer only brought changes, with more to come: nothing acknowledged,
        /// refused, returned or handed over, and nothing pushed since `previous` (the push's
        /// position after the answer before, if one is held). Such answers may be stored together.
        func onlyPulled(after previous: UInt64?) -> Bool {
            response.more && response.accepted.isEmpty && response.rejected.isEmpty && response.returned.isEmpty
                && response.left.isEmpty && (previous == nil || previous == pushedThrough)
        }
    }

    /// A `clock_skew` refusal, with what the retry needs.
    struct ClockSkew: Error {
        var error: SyncError
        var serverTime: UInt64
        var sentAt: UInt64
        var after: UInt64
    }

    /// An outbox page read and its request's start prepared, ahead of the answer that decides the request's end.
    struct PushPage: Sendable {
        /// The outbox counter the page follows.
        var after: UInt64
        /// The last counter it holds (or `after`, if it holds none).
        var through: UInt64
        var body: PreparedSyncBody
        /// The device's signature over the page's mutations (none for an empty page).
        var signed: SignedPage?
    }

    /// Reads and prepares the outbox page after `counter`, signed with the device's key.
    private func readPage(_ replica: Replica, after counter: UInt64) throws -> PushPage {
        let mutations = try replica.outboxBodies(after: counter, maxMutations: maxMutationsPerPage, maxBytes: maxBytesPerPage)
        var signed: SignedPage?
        if !mutations.isEmpty, let node = try replica.identity()?.node {
            let decoded = try mutations.map { try WireJSON.decodeMutation($0.body) }
            signed = try SignedPage.sign(decoded, node: node, key: try DeviceKey.of(replica))
        }
        return PushPage(after: counter, through: mutations.last?.counter ?? counter,
                        body: try PreparedSyncBody(start: WireJSON.syncRequestStart(mutationBodies: mutations.map(\.body))), signed: signed)
    }

    private func prepare(_ replica: Replica, after counter: UInt64) -> Task<PushPage, any Error> {
        Task { try readPage(replica, after: counter) }
    }

    /// Sends `page` with a pull from `cursor`, and starts preparing the page after it.
    /// `expecting`: where the push stands; a page prepared ahead that does not start there is read again.
    /// `maxChanges` 0 and `follows`: a push only, sent ahead of the answer to the request it follows.
    private func start(_ replica: Replica, _ binding: ServerBinding, _ client: SyncClient, page: Task<PushPage, any Error>,
                       expecting: UInt64? = nil, cursor: Int64, pending: Int, maxChanges: Int? = nil,
                       follows: UInt64? = nil) -> (request: Task<RoundTrip, any Error>, ahead: Task<PushPage, any Error>) {
        let request = Task {
            var prepared = try await page.value
            if let expecting, prepared.after != expecting { prepared = try readPage(replica, after: expecting) }
            let sentAt = replica.wallClock()
            let offset = try replica.clockOffset()
            let end = WireJSON.syncRequestEnd(cursor: cursor, clientTime: UInt64(max(0, Int64(clamping: sentAt) + offset)),
                                              maxChanges: maxChanges ?? maxChangesPerPage, follows: follows, pending: pending,
                                              signed: prepared.signed.map { [$0] } ?? [], incarnation: try replica.serverIncarnation())
            let response: SyncResponse
            do {
                response = try await client.exchange(prepared: prepared.body, end: end, token: binding.token)
            } catch let error as SyncError where error.code == ErrorCode.clockSkew {
                guard let serverTime = error.serverTime else { throw error }
                throw ClockSkew(error: error, serverTime: serverTime, sentAt: sentAt, after: prepared.after)
            }
            return RoundTrip(response: response, requestCursor: cursor, pushedThrough: prepared.through, sentAt: sentAt, receivedAt: replica.wallClock())
        }
        let ahead = Task {
            let through = try await page.value.through
            try Task.checkCancellation()
            return try readPage(replica, after: through)
        }
        return (request, ahead)
    }
}

extension OutboxDecision {
    /// A decision as a server relayed it (`SyncResponse.instructions`), its time in `offsetMinutes`.
    public init(_ instruction: SyncResponse.Instruction, offsetMinutes: Int) {
        self.init(counter: instruction.counter, discard: instruction.action == .discard, note: instruction.note, by: instruction.by,
                  at: Timestamp(epochSeconds: Int64(clamping: instruction.at / 1000), offsetMinutes: offsetMinutes).description)
    }
}
