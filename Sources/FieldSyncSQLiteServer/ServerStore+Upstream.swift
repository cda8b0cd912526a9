import FieldSyncModel
import FieldSyncProtocol
import FieldSyncServerCore
import FieldSyncStore
import Foundation
import GRDB

/// A branch server's side of its upstream (the provincial server): what it
/// relays up (every mutation its laptops and it itself made, with their origin
/// and counter, never what came down) and how it stores what comes down.
extension ServerStore {
    /// Where a branch server stands with one upstream (`key`: the upstream's
    /// node and the scope; a recreated province or a changed scope starts afresh).
    public struct UpstreamState: Sendable, Equatable {
        public var cursor: Int64 = 0
        /// The last log sequence relayed up.
        public var sent: Int64 = 0
        public var lastSuccess: UInt64?
        public var lastError: String?
        /// Mutations the upstream refused, with its reasons.
        public var rejections: Int = 0
        /// Log rows not relayed yet.
        public var unsent: Int = 0
        /// The upstream's incarnation as last seen (`SyncResponse.incarnation`).
        public var incarnation: String?
    }

    public func upstreamState(_ key: String) throws -> UpstreamState {
        try writer.read { db in
            var state = UpstreamState()
            if let row = try Row.fetchOne(db, sql: "SELECT cursor, sent, last_success, last_error, incarnation FROM upstream_state WHERE key = ?",
                                          arguments: [key]) {
                state.cursor = row[0]
                state.sent = row[1]
                state.lastSuccess = (row[2] as Int64?).map { UInt64(clamping: $0) }
                state.lastError = row[3]
                state.incarnation = row[4]
            }
            state.rejections = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM upstream_rejections") ?? 0
            state.unsent = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM change_log WHERE seq > ? AND from_upstream = 0 AND exit_branch IS NULL",
                                            arguments: [state.sent]) ?? 0
            return state
        }
    }

    /// Log rows written without a mutation counter (before the tier, or a file
    /// logged again after a move) travel as one mutation per writer with a
    /// counter far above any real one, made of this server's node and the row's
    /// sequence: unique per writer, also if this server is ever recreated.
    static func synthesizedCounter(server: NodeID, seq: Int64) -> UInt64 {
        (1 << 62) | ((server.rawValue & 0x3F_FFFF) << 40) | (UInt64(clamping: seq) & 0xFF_FFFF_FFFF)
    }

    /// The next mutations to relay up, after log sequence `seq`: whole mutations, at most
    /// `maxMutations` of them, `maxChanges` field changes (the upstream refuses a longer push)
    /// and about `maxBytes` of log rows; a mutation past a bound on its own goes alone.
    ///
    /// A page ends between mutations, never inside one: the upstream marks a mutation applied
    /// as it takes it, so the rest of one, sent in the next page, would be taken for a retry and dropped.
    /// `only`: the mutations offered again (`upstreamSelection`), up to its `through`; the others are passed over.
    public func upstreamPage(after seq: Int64, maxMutations: Int = 1_000, maxChanges: Int = SyncRequestLimits().maxChanges,
                             maxBytes: Int = 4 << 20, only selection: UpstreamSelection? = nil) throws -> (mutations: [Mutation], through: Int64) {
        try writer.read { db in
            var page = UpstreamPage(after: seq, maxMutations: maxMutations, maxChanges: maxChanges, maxBytes: maxBytes)
            let server = try Replica.identity(db)?.node ?? NodeID(rawValue: 0)
            let rows = try Row.fetchCursor(db, sql: """
                SELECT seq, tbl, record, origin, counter, changes FROM change_log
                WHERE seq > ? AND seq <= ? AND from_upstream = 0 AND exit_branch IS NULL ORDER BY seq
                """, arguments: [seq, selection?.through ?? Int64.max])
            while let row = try rows.next() {
                guard let table = RecordKind(rawValue: row[1]), let origin = NodeID(row[3] as String) else { continue }
                let seq: Int64 = row[0]
                let counter = (row[4] as Int64?).map { UInt64(clamping: $0) }
                if let selection, !selection.contains(seq: seq, origin: origin, counter: counter) { continue }
                let blob: Data = row[5]
                var changes: [FieldChange] = []
                try blob.withUnsafeBytes { try ChangeLogCodec.decode($0, table: table, record: row[2], into: &changes) }
                guard page.add(seq: seq, origin: origin, counter: counter, changes: changes, bytes: blob.count,
                               synthesized: Self.synthesizedCounter(server: server, seq: seq)) else { break }
            }
            page.finish()
            return (page.mutations, page.through)
        }
    }

    /// Mutations of this server's log to offer the upstream again (`SyncRequest.reapply`): those relayed
    /// already that wrote any of the records it lacks, by id (a row without a counter by its position).
    public struct UpstreamSelection: Sendable, Equatable {
        var ids: Set<MutationID> = []
        var rows: Set<Int64> = []
        /// The last log position relayed when it was made: nothing after it is offered again.
        public var through: Int64 = 0
        public var isEmpty: Bool { ids.isEmpty && rows.isEmpty }

        func contains(seq: Int64, origin: NodeID, counter: UInt64?) -> Bool {
            counter.map { ids.contains(MutationID(origin: origin, counter: $0)) } ?? rows.contains(seq)
        }
    }

    /// The mutations relayed already (up to the upstream state's `sent`) that wrote any of `keys`, less
    /// those the upstream refused (offering them again would change nothing). One read of the log
    /// (a repair is rare; the log has no index by record for relayable rows).
    public func upstreamSelection(writing keys: Set<RecordKey>, key: String) throws -> UpstreamSelection {
        guard !keys.isEmpty else { return UpstreamSelection() }
        return try writer.read { db in
            let sent = try Int64.fetchOne(db, sql: "SELECT sent FROM upstream_state WHERE key = ?", arguments: [key]) ?? 0
            var selection = UpstreamSelection(through: sent)
            let refused = Set(try Row.fetchAll(db, sql: "SELECT origin, counter FROM upstream_rejections").compactMap { row -> MutationID? in
                NodeID(row[0] as String).map { MutationID(origin: $0, counter: UInt64(clamping: row[1] as Int64)) }
            })
            let rows = try Row.fetchCursor(db, sql: """
                SELECT seq, tbl, record, origin, counter FROM change_log WHERE seq <= ? AND from_upstream = 0 AND exit_branch IS NULL
                """, arguments: [sent])
            while let row = try rows.next() {
                guard let table = RecordKind(rawValue: row[1]), keys.contains(RecordKey(table: table, record: row[2])) else { continue }
                if let counter = row[4] as Int64?, let origin = NodeID(row[3] as String) {
                    let id = MutationID(origin: origin, counter: UInt64(clamping: counter))
                    if !refused.contains(id) { selection.ids.insert(id) }
                } else {
                    selection.rows.insert(row[0])
                }
            }
            return selection
        }
    }

    /// Stores an upstream answer in one transaction: merges what came down and
    /// logs it for this server's laptops (marked as from upstream, so it is
    /// never relayed back), records refusals, and moves both checkpoints.
    /// `relayed` are the mutations the request carried: one the upstream refuses is kept whole here, never lost.
    public func applyFromUpstream(_ response: SyncResponse, sentThrough: Int64, key: String, relayed: [Mutation] = [],
                                  askedFrom cursor: Int64 = 0) throws {
        let now = self.now
        try writer.write { db in
            let io = RecordIO(db)
            // What a newer upstream sent that this version does not know: noted, read again after an upgrade, and
            // neither stored nor logged (a field this version does not know has no place in a log row).
            let unknown = response.unknownContent
            if !unknown.isEmpty { try Replica.noteUnknownContent(unknown, readFrom: cursor, db) }
            let changes = unknown.isEmpty ? response.changes : response.changes.filter { $0.table.schema.index(of: $0.field) != nil }
            let ownersBefore = try Self.owners(of: Set(changes.lazy.filter { RecordOwner.moves($0) }.map { RecordKey(table: $0.table, record: $0.record) }), io: io)
            let report = try Replica.apply(changes[...], now: now, db)
            var log = ChangeLogWriter(db, io: io, receivedAt: now)
            // Each run of one writer's changes keeps its origin: no device is sent back what it wrote.
            var start = changes.startIndex
            while start < changes.endIndex {
                var end = start + 1
                while end < changes.endIndex, changes[end].node == changes[start].node { end += 1 }
                try log.append(Array(changes[start..<end]), origin: changes[start].node, fromUpstream: true)
                start = end
            }
            for conflicts in report.conflictMutations { try log.appendOwn(conflicts) }
            // Files the province moved are logged again for this server's laptops only.
            log.marksFromUpstream = true
            try Self.logMoves(from: ownersBefore, io: io, log: &log, db)
            // A file that came down again is back in this server's scope.
            for customer in Set(changes.lazy.filter { $0.table == .customer }.map(\.record)) {
                try db.execute(sql: "DELETE FROM departed WHERE customer = ?", arguments: [customer])
            }
            // Files that left this server's scope upstream (moved to another branch there):
            // its laptops are told to drop them; their work stamped from now on is refused.
            let departure = HLC(milliseconds: now, counter: 0)
            for customer in response.left {
                guard let state = try io.load(.customer, customer),
                      try !(Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM departed WHERE customer = ?)", arguments: [customer]) ?? false)
                else { continue }
                let scope = CustomerScope(state)
                try ScopeHistory.record(customer, from: scope, to: CustomerScope(), at: departure, db)
                try log.appendExit(of: customer, from: scope, origin: try Replica.identity(db)?.node ?? NodeID(rawValue: 0))
                try db.execute(sql: "INSERT INTO departed (customer, at_hlc, exit_seq) VALUES (?, ?, ?)",
                               arguments: [customer, Int64(bitPattern: departure.rawValue), db.lastInsertedRowID])
            }
            try Self.dropDepartedFiles(db)
            // Pages whose every mutation the province took are relayed for good.
            var relayedThrough: [NodeID: UInt64] = [:]
            for id in response.accepted where !RelaySignatures.isSynthesized(id.counter) {
                relayedThrough[id.origin] = max(relayedThrough[id.origin] ?? 0, id.counter)
            }
            // Kept for `signedPageRetention` after, then let go: a province put back from a backup made meanwhile
            // has pinned the devices' keys and needs the pages again when this server relays its log again.
            for (node, counter) in relayedThrough {
                try db.execute(sql: "UPDATE signed_pages SET relayed_at = ? WHERE node = ? AND high <= ? AND relayed_at IS NULL",
                               arguments: [Int64(clamping: now), node.description, Int64(clamping: counter)])
            }
            try db.execute(sql: "DELETE FROM signed_pages WHERE relayed_at < ?", arguments: [Int64(clamping: now) - Self.signedPageRetention])
            for rejection in response.rejected {
                let body = relayed.first { $0.origin == rejection.origin && $0.counter == rejection.counter }.map { Data($0.jsonBytes()) }
                try db.execute(sql: "INSERT OR REPLACE INTO upstream_rejections (origin, counter, reason, body) VALUES (?, ?, ?, ?)",
                               arguments: [rejection.origin.description, Int64(clamping: rejection.counter), rejection.reason, body])
            }
            try db.execute(sql: """
                INSERT INTO upstream_state (key, cursor, sent, last_success, last_error, incarnation) VALUES (?, ?, ?, ?, NULL, ?)
                ON CONFLICT(key) DO UPDATE SET cursor = excluded.cursor, sent = excluded.sent, last_success = excluded.last_success, last_error = NULL,
                    incarnation = COALESCE(excluded.incarnation, upstream_state.incarnation)
                """, arguments: [key, response.cursor, sentThrough, Int64(clamping: now), response.incarnation.flatMap { Incarnation.isValid($0) ? $0 : nil }])
        }
    }

    /// How long (ms) a signed page is kept after the upstream took all it covers: longer than a
    /// province's backups are kept, so one put back from a backup gets the pages again.
    public static let signedPageRetention: Int64 = 35 * 86_400_000

    /// The key, in `server_identity`, of a request to compare this branch with the province
    /// (set by a restore, and by `upstream verify` for the province's missing records).
    static let upstreamCheckKey = "upstream_check"

    /// Asks the serving process to compare this branch with the province at its next exchange, and to
    /// offer again what the province lacks of it (`UpstreamSync.reoffer`).
    public func requestUpstreamCheck() throws {
        try writer.write { db in
            try db.execute(sql: "INSERT OR REPLACE INTO server_identity (key, value) VALUES (?, '1')", arguments: [Self.upstreamCheckKey])
        }
    }

    /// Whether a check was asked for (the request stays).
    public func hasUpstreamCheckRequest() throws -> Bool {
        try writer.read { db in
            try String.fetchOne(db, sql: "SELECT value FROM server_identity WHERE key = ?", arguments: [Self.upstreamCheckKey]) != nil
        }
    }

    /// The records of log rows not relayed yet (the upstream lacks them for now).
    public func unsentRecords(_ key: String) throws -> Set<RecordKey> {
        let sent = try upstreamState(key).sent
        return try writer.read { db in
            var keys = Set<RecordKey>()
            for row in try Row.fetchAll(db, sql: "SELECT tbl, record FROM change_log WHERE seq > ? AND from_upstream = 0", arguments: [sent]) {
                if let kind = RecordKind(rawValue: row[0]) { keys.insert(RecordKey(table: kind, record: row[1])) }
            }
            return keys
        }
    }

    /// Whether a check was asked for; the request is taken (cleared).
    public func takeUpstreamCheckRequest() throws -> Bool {
        try writer.write { db in
            guard try String.fetchOne(db, sql: "SELECT value FROM server_identity WHERE key = ?", arguments: [Self.upstreamCheckKey]) != nil else { return false }
            try db.execute(sql: "DELETE FROM server_identity WHERE key = ?", arguments: [Self.upstreamCheckKey])
            return true
        }
    }

    /// Stores the province's states this branch lacks (found by comparing with its snapshot), logged
    /// for this server's laptops as from upstream, as any page from the province is.
    /// `altered`: the province's values of writes this server holds with the same stamp and another value
    /// (changed outside FieldSync): put back as the province has them.
    public func takeFromUpstream(_ changes: [FieldChange], altered: [FieldChange] = [], key: String) throws {
        if !altered.isEmpty { try replica.putBack(altered) }
        guard !changes.isEmpty else { return }
        let state = try upstreamState(key)
        try applyFromUpstream(SyncResponse(accepted: [], rejected: [], changes: changes, cursor: state.cursor, more: false, serverTime: now),
                              sentThrough: state.sent, key: key, askedFrom: state.cursor)
    }

    /// Once this version knows what an older one skipped of the upstream's answers, the upstream's
    /// log is read again from where it was first skipped. Returns the names now known.
    public func readUpstreamAgainWhatIsNowKnown(_ key: String) throws -> [String] {
        try writer.write { db in
            guard let from = try Replica.takeNowKnown(db) else { return [] }
            try db.execute(sql: "UPDATE upstream_state SET cursor = MIN(cursor, ?) WHERE key = ?", arguments: [from.cursor, key])
            return from.names
        }
    }

    /// The upstream lost part of its history (restored from a backup): this server relays its whole log
    /// again, with the original origins and counters (what the upstream kept is acknowledged again, what
    /// it lost is applied), and reads the upstream's log from the start.
    public func restartUpstream(_ key: String, incarnation: String) throws {
        try writer.write { db in
            try db.execute(sql: """
                INSERT INTO upstream_state (key, cursor, sent, incarnation) VALUES (?, 0, 0, ?)
                ON CONFLICT(key) DO UPDATE SET cursor = 0, sent = 0, incarnation = excluded.incarnation
                """, arguments: [key, incarnation])
        }
    }

    /// Mutations the upstream refused, kept whole with its reasons (`upstream status`).
    public func upstreamRejections() throws -> [(mutation: Mutation?, reason: String)] {
        try writer.read { db in
            try Row.fetchAll(db, sql: "SELECT body, reason FROM upstream_rejections ORDER BY origin, counter").map { row in
                ((row[0] as Data?).flatMap { try? JSONDecoder().decode(Mutation.self, from: $0) }, row[1] as String)
            }
        }
    }

    public func recordUpstreamFailure(_ message: String, key: String) throws {
        try writer.write { db in
            try db.execute(sql: """
                INSERT INTO upstream_state (key, last_error) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET last_error = excluded.last_error
                """, arguments: [key, String(message.prefix(500))])
        }
    }

    /// Drops the files that left this server's scope upstream once every device
    /// of the branch has read past their exit row with nothing left to send:
    /// then no laptop below holds work on them, and the server holds exactly its branch.
    static func dropDepartedFiles(_ db: Database) throws {
        // Run with every sync group: a statement compiled once per connection.
        let waiting = try Row.fetchAll(db.cachedStatement(sql: "SELECT customer, exit_seq FROM departed WHERE dropped = 0"))
        guard !waiting.isEmpty else { return }
        for row in waiting {
            let customer: String = row[0], exit: Int64 = row[1]
            let behind = try Bool.fetchOne(db, sql: """
                SELECT EXISTS (SELECT 1 FROM devices d JOIN users u ON u.id = d.user_id
                               WHERE d.revoked_at IS NULL AND u.role IN ('manager', 'supervisor')
                               AND (d.cursor IS NULL OR d.cursor < ? OR COALESCE(d.pending, 0) > 0))
                """, arguments: [exit]) ?? true
            guard !behind else { continue }
            try Replica.delete(try Replica.file(of: RecordKey(table: .customer, record: customer), db), db)
            try db.execute(sql: "UPDATE departed SET dropped = 1 WHERE customer = ?", arguments: [customer])
        }
    }
}
