import FieldSyncClient
import FieldSyncModel
import FieldSyncProtocol
import FieldSyncSQLiteServer
import FieldSyncServerCore
import FieldSyncStore
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// A branch server's link to its provincial server: the same sync client a
/// laptop uses, relaying up every mutation this server's laptops and it itself
/// made and storing what comes down for its laptops. It runs beside the HTTPS
/// service: after local changes (debounced), at an interval, and with backoff
/// while the province is unreachable; laptops are served all the while.
public final class UpstreamSync: Service, Sendable {
    public let store: ServerStore
    public let binding: ServerBinding
    let client: SyncClient
    let interval: Duration
    let logger: Logger
    let metrics: Metrics?
    private let poked = Mutex(false)
    /// The directory last reported up (`FreshnessReport.names`): its fingerprint, when, and the nodes
    /// whose work went up with it. Reported again when it changes, with the first work of a node (the
    /// province keeps a name only for a node whose work it has), and every `namesEvery` (a province
    /// restored, or moved, has them again).
    private let namesSent = Mutex<(fingerprint: Int, at: UInt64, withWork: Set<NodeID>)?>(nil)
    static let namesEvery: UInt64 = 6 * 3_600_000
    /// The branch compared with the province by digests once an hour.
    public static let comparisonEvery: UInt64 = 3_600_000

    /// The checkpoint's key: the upstream instance and the scope. A recreated
    /// province (another node) or a changed scope starts a full resync.
    public var key: String { Self.key(binding) }

    public static func key(_ binding: ServerBinding) -> String {
        "\(binding.serverNode)|\(binding.user.role.rawValue)|\(binding.user.branch ?? "*")"
    }

    /// How often this branch is compared with the province by digests when nothing asked for it (ms; 0: never).
    let comparisonEvery: UInt64
    /// When the next comparison falls due (server clock, ms): one interval after start, then after each one that succeeded.
    private let nextComparison: Mutex<UInt64>

    /// `comparisonEvery`: how often (ms) the branch's records are compared with the province's copy by
    /// digests and repaired (`verifyAgainstUpstream`); the province then shows the branch as identical
    /// as of that time. 0 turns the regular comparison off (a restore still asks for one).
    public init(store: ServerStore, binding: ServerBinding, caPEM: String, interval: Duration = .seconds(30), logger: Logger,
                metrics: Metrics? = nil, comparisonEvery: UInt64 = UpstreamSync.comparisonEvery) throws {
        self.comparisonEvery = comparisonEvery
        self.nextComparison = Mutex(comparisonEvery == 0 ? .max : Self.later(store.now, by: comparisonEvery))
        self.store = store
        store.relaysUpstream.turnOn()
        self.binding = binding
        self.client = try SyncClient(url: binding.url, caPEM: caPEM)
        self.interval = interval
        self.logger = logger
        self.metrics = metrics
    }

    /// Where the edge's figures go (the server's `/metrics`): after every round, whether it failed,
    /// the log rows waiting to be relayed, and the last success (ms) with the lag since (ms).
    public struct Metrics: Sendable {
        public var report: @Sendable (_ failed: Bool, _ unsent: Int, _ lastSuccess: UInt64?, _ lag: UInt64?) -> Void

        public init(report: @escaping @Sendable (_ failed: Bool, _ unsent: Int, _ lastSuccess: UInt64?, _ lag: UInt64?) -> Void) {
            self.report = report
        }
    }

    /// The edge's figures: rows waiting, last success and the lag since.
    private func report(failed: Bool) {
        guard let metrics, let state = try? store.upstreamState(key) else { return }
        let lag = state.lastSuccess.map { store.now > $0 ? store.now - $0 : 0 }
        metrics.report(failed, state.unsent, state.lastSuccess, lag)
    }

    /// Enrols `store`'s node at the provincial server `url` with a code made for
    /// a `branch` account, and returns the binding to save (`upstream set`).
    public static func enrol(_ store: ServerStore, at url: String, code: String, caPEM: String, deviceName: String) async throws -> ServerBinding {
        guard let node = try store.replica.identity()?.node else { throw ServerError.badRequest("this server has no identity; run 'fieldsync-server init'") }
        let client = try SyncClient(url: url, caPEM: caPEM)
        let response: EnrollResponse
        do {
            response = try await client.enroll(code: code, node: node, deviceName: deviceName, expectRole: .branch)
        } catch {
            try? await client.shutdown()
            throw error
        }
        try await client.shutdown()
        guard response.user.role == .branch else {
            throw ServerError.badRequest("the code is for a \(response.user.role.rawValue); a branch server needs an account made with 'user add --role branch'")
        }
        return ServerBinding(url: url, token: response.token, device: response.device, user: response.user, serverNode: response.serverNode)
    }

    /// Local changes were accepted: sync soon (debounced by a second).
    public func poke() { poked.withLock { $0 = true } }

    /// Exchanges pages with the upstream until it has nothing more and nothing is left to relay.
    @discardableResult
    public func syncOnce() async throws -> (pushed: Int, pulled: Int) {
        var exchanged = try await exchangeUntilQuiet()
        // A restore (or `upstream verify`) asked for this branch to be compared with the province, or the
        // regular comparison by digests is due: after an exchange, so both stand at the same point. The
        // request stays until a comparison succeeds (a crash meanwhile loses nothing); a failed one is tried
        // again an hour later, and never fails the exchange, which went through.
        let requested = try store.hasUpstreamCheckRequest()
        let due = store.now >= nextComparison.withLock { $0 }
        guard requested || due, store.now >= checkNotBefore.withLock({ $0 }) else { return exchanged }
        do {
            let verification = try await verifyAgainstUpstream(repair: true, offerAll: requested)
            let level: Logger.Level = verification.drift.isIdentical ? .debug : .info
            logger.log(level: level, "compared this branch with the province", metadata: [
                "differing": "\(verification.drift.records.count)", "taken": "\(verification.taken)", "province_lacks": "\(verification.provinceLacks)",
                "by_digest": "\(verification.drift.digest != nil)"])
            _ = try store.takeUpstreamCheckRequest()
            if comparisonEvery > 0 { nextComparison.withLock { $0 = Self.later(store.now, by: comparisonEvery) } }
            if verification.provinceLacks > 0 {
                let again = try await exchangeUntilQuiet()
                exchanged = (exchanged.pushed + again.pushed, exchanged.pulled + again.pulled)
            }
        } catch {
            let retry = store.now + 3_600_000
            checkNotBefore.withLock { $0 = retry }
            logger.warning("could not compare this branch with the province; trying again in an hour", metadata: ["error": "\(error)"])
        }
        return exchanged
    }

    /// `time` plus `interval`, held at the largest time instead of wrapping.
    static func later(_ time: UInt64, by interval: UInt64) -> UInt64 {
        let (sum, overflow) = time.addingReportingOverflow(interval)
        return overflow ? .max : sum
    }

    /// When a failed comparison with the province may be tried again (server clock, ms).
    private let checkNotBefore = Mutex<UInt64>(0)

    /// What comparing this branch's records with the province's copy found and did.
    public struct UpstreamVerification: Sendable {
        public var drift: ServerDrift
        /// Records this server took from the province's copy (logged for its laptops).
        public var taken = 0
        /// Records the province lacks of this branch (its lists aside).
        public var provinceLacks = 0
        /// Mutations offered again for them (`reoffer`) that the province acknowledged.
        public var reoffered = 0
    }

    /// Compares every record of this branch with the province's copy of it (by digests, `POST
    /// /v1/digest`, or its snapshot, `GET /v1/snapshot`, as this server's branch account), as
    /// `fieldsync verify --server` does for a laptop: what
    /// the province holds and this server lacks (a restored branch server: its own laptops' work
    /// the province's log does not send back to it) is stored and logged for the laptops; when the
    /// province lacks some of this branch, the mutations that wrote it are offered again, to be
    /// merged again though marked applied there (`reoffer`). Run by the serving process, between exchanges.
    /// `offerAll`: offer again all the province lacks, even what this process offered before (a restore or
    /// `upstream verify` asked); otherwise only what it did not.
    public func verifyAgainstUpstream(repair: Bool, offerAll everything: Bool = true) async throws -> UpstreamVerification {
        // Beside the database (not a temporary folder, which may be memory), one per process; a leftover of a crash goes first.
        let folder = store.folder ?? FileManager.default.temporaryDirectory.path
        let download = (folder as NSString).appendingPathComponent("upstream-verify-\(ProcessInfo.processInfo.processIdentifier).sqlite")
        // Digests first (only the differing buckets' records travel); the whole snapshot when the
        // province is older or too much differs for one answer.
        var drift = try await client.drift(of: store.replica, token: binding.token, downloadingIfNeededTo: download)
        // What waits to be relayed is not drift: the province lacks it because it was not sent yet.
        let unsent = try store.unsentRecords(key)
        drift.records.removeAll { record in
            unsent.contains(record.key) && record.fields.allSatisfy { $0.drift == .serverLacks }
        }
        // The province's lists (branches, calendar days, settings) are the province's to write: one it lacks
        // or holds otherwise is reported, never offered (it would take nothing).
        let lacking = Set(drift.records.filter { !$0.serverLacks.isEmpty && !$0.key.table.isProvinceWide }.map(\.key))
        var verification = UpstreamVerification(drift: drift, provinceLacks: lacking.count)
        guard repair else { return verification }
        let taken = drift.records.filter { !$0.replicaLacks.isEmpty || !$0.serverCopyOfAlteredWrites.isEmpty }
        try store.takeFromUpstream(taken.flatMap(\.replicaLacks), altered: taken.flatMap(\.serverCopyOfAlteredWrites), key: key)
        verification.taken = taken.count
        // Offered again once: records the province still lacks after that (it refused their work, no longer
        // holds the signed pages' keys' proof, or is an older version that ignores `reapply`) are reported at each
        // comparison, not offered every hour. Asked-for comparisons (a restore, `upstream verify`) offer them all.
        let fresh = everything ? lacking : lacking.subtracting(reofferedBefore.withLock { $0 })
        if !fresh.isEmpty {
            verification.reoffered = try await reoffer(writing: fresh)
            reofferedBefore.withLock { $0.formUnion(fresh) }
        }
        return verification
    }

    /// Records offered to the province again by this process (`reoffer`).
    private let reofferedBefore = Mutex<Set<RecordKey>>([])

    /// Offers the province again the mutations of this server's log that wrote `keys`, which it lacks
    /// (`SyncRequest.reapply`: merged again even where the province marked them applied, as after a
    /// record deleted there by hand; merging is idempotent). Returns how many it acknowledged.
    func reoffer(writing keys: Set<RecordKey>) async throws -> Int {
        let selection = try store.upstreamSelection(writing: keys, key: key)
        var acknowledged = 0
        var after: Int64 = 0
        while !selection.isEmpty {
            let page = try store.upstreamPage(after: after, only: selection)
            guard !page.mutations.isEmpty, page.through > after else { break }
            after = page.through
            let state = try store.upstreamState(key)
            // No `pending`: these were relayed before and are not what waits here.
            var request = SyncRequest(cursor: state.cursor, mutations: page.mutations, clientTime: store.now, maxChanges: 10_000,
                                      signed: try store.signedPages(covering: page.mutations), incarnation: state.incarnation)
            request.reapply = true
            let response = try await client.exchange(request, token: binding.token)
            // Nothing of the relay's position moves (`sent` stays): what comes down is stored as any answer.
            try store.applyFromUpstream(response, sentThrough: state.sent, key: key, relayed: page.mutations, askedFrom: state.cursor)
            acknowledged += response.accepted.count
        }
        return acknowledged
    }

    /// Exchanges pages with the upstream until it has nothing more and nothing is left to relay.
    private func exchangeUntilQuiet() async throws -> (pushed: Int, pulled: Int) {
        var pushed = 0, pulled = 0
        var restarted = false
        // Upgraded since an older version skipped what the province sent: read its log again from there.
        let readAgain = try store.readUpstreamAgainWhatIsNowKnown(key)
        if !readAgain.isEmpty { logger.info("reading the upstream's log again for what this version now knows", metadata: ["known": "\(readAgain)"]) }
        while true {
            let state = try store.upstreamState(key)
            let page = try store.upstreamPage(after: state.sent)
            // With the pages its devices signed, so the province can tell their work from this server's.
            var below = try store.freshnessReport()
            let names = try namesToReport(with: page.mutations)
            below.names = names?.entries ?? []
            let request = SyncRequest(cursor: state.cursor, mutations: page.mutations, clientTime: store.now, maxChanges: 10_000,
                                      pending: state.unsent, below: below,
                                      signed: try store.signedPages(covering: page.mutations), incarnation: state.incarnation)
            let response: SyncResponse
            do {
                response = try await client.exchange(request, token: binding.token)
            } catch let error as SyncError where error.code == ErrorCode.serverRestored && !restarted {
                // The province lost part of its history: relay everything again and read its log from the start.
                guard let incarnation = error.incarnation, Incarnation.isValid(incarnation) else { throw error }
                logger.warning("the upstream server was restored from an earlier state; relaying this server's whole log again")
                try store.restartUpstream(key, incarnation: incarnation)
                namesSent.withLock { $0 = nil }
                restarted = true
                continue
            } catch {
                try? store.recordUpstreamFailure("\(error)", key: key)
                throw error
            }
            try store.applyFromUpstream(response, sentThrough: page.through, key: key, relayed: page.mutations, askedFrom: state.cursor)
            if let names {
                // A node counts as named with its work once the province took some of it (it keeps a name only then).
                let origins = Set(response.accepted.map(\.origin))
                namesSent.withLock { sent in
                    sent = (names.fingerprint, store.now, (sent?.withWork ?? []).union(origins.intersection(names.entries.map(\.node))))
                }
            }
            if !response.unknownKinds.isEmpty {
                logger.warning("the upstream sends record kinds this version does not know; upgrade this server (they are read again then)",
                               metadata: ["kinds": "\(response.unknownKinds)"])
            }
            pushed += response.accepted.count
            pulled += response.changes.count
            if !response.more, page.mutations.isEmpty { return (pushed, pulled) }
        }
    }

    /// This server's directory, when it is due to be reported up: who writes under each node of
    /// the devices enrolled here (revoked ones too: their work stays), at most `FreshnessReport.maxNames`.
    private func namesToReport(with mutations: [Mutation]) throws -> (entries: [Directory.Entry], fingerprint: Int)? {
        // Devices in use first, the newest first: past the bound, the ones left out are the oldest and revoked.
        let devices = try store.devices().filter { $0.role != .branch }
            .sorted { ($0.revokedAt == nil ? 0 : 1, -Int64(clamping: $0.createdAt)) < ($1.revokedAt == nil ? 0 : 1, -Int64(clamping: $1.createdAt)) }
        let entries = devices.prefix(FreshnessReport.maxNames).compactMap { device -> Directory.Entry? in
            guard let user = FreshnessReport.cleanName(device.user), let name = FreshnessReport.cleanName(device.name) else { return nil }
            return Directory.Entry(node: device.node, user: user, device: name)
        }
        guard !entries.isEmpty else { return nil }
        var hasher = Hasher()
        for entry in entries { hasher.combine(entry.node); hasher.combine(entry.user); hasher.combine(entry.device) }
        let fingerprint = hasher.finalize()
        let now = store.now
        let nodes = Set(entries.map(\.node))
        let due = namesSent.withLock { sent in
            guard let sent, sent.fingerprint == fingerprint, now < sent.at + Self.namesEvery else { return true }
            return mutations.contains { nodes.contains($0.origin) && !sent.withWork.contains($0.origin) }
        }
        return due ? (entries, fingerprint) : nil
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            var backoff: Duration = .seconds(1)
            while !Task.isCancelled {
                var wait = self.interval
                do {
                    let (pushed, pulled) = try await self.syncOnce()
                    if pushed + pulled > 0 { self.logger.info("synced with upstream", metadata: ["pushed": "\(pushed)", "pulled": "\(pulled)"]) }
                    self.report(failed: false)
                    backoff = .seconds(1)
                } catch is CancellationError {
                    return
                } catch {
                    self.logger.warning("upstream unreachable; laptops are served meanwhile", metadata: ["error": "\(error)", "retry_in": "\(backoff)"])
                    self.report(failed: true)
                    wait = backoff
                    backoff = min(backoff * 2, .seconds(300))
                }
                // Until the interval (or backoff) has passed, or a second after local changes.
                var waited: Duration = .zero
                while waited < wait, !Task.isCancelled {
                    if self.poked.withLock({ value in defer { value = false }; return value }) {
                        try? await Task.sleep(for: .seconds(1))
                        break
                    }
                    try? await Task.sleep(for: .milliseconds(250))
                    waited += .milliseconds(250)
                }
            }
        }
        try? await client.shutdown()
    }

    public func shutdown() async { try? await client.shutdown() }
}
