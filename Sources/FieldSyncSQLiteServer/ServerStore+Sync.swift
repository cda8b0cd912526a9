import FieldSyncModel
import FieldSyncProtocol
import FieldSyncServerCore
import FieldSyncStore
import Foundation
import GRDB

extension ServerStore {
    /// The province's lists as the pulls and the partial index `change_log_province_wide` name them.
    static var provinceWideTables: String { RecordKind.provinceWideSQLList }

    /// One sync round trip: validates and applies the pushed mutations, logs
    /// them with sequence numbers, and returns the next page of changes in the
    /// device's scope — all in one transaction, durable before it returns.
    public func sync(_ request: SyncRequest, from device: DeviceContext, limits: SyncLimits = SyncLimits()) throws -> SyncOutcome {
        let work = try syncWork(request, from: device, limits: limits)
        return try writer.write { db in try work(db) }
    }

    /// The same, in a transaction shared with the syncs that arrive meanwhile
    /// (`GroupCommit`): one disk flush for them all.
    public func syncGrouped(_ request: SyncRequest, from device: DeviceContext, limits: SyncLimits = SyncLimits()) throws -> SyncOutcome {
        try syncGrouped(prepareSync(request, from: device, limits: limits))
    }

    /// Writes a prepared sync in a shared transaction (`GroupCommit`). The HTTP server's path:
    /// it prepares a push sent ahead while the one it follows is being written.
    public func syncGrouped(_ prepared: PreparedSync) throws -> SyncOutcome {
        try groupCommit.run(writer, prepared.work)
    }

    /// Checks what needs no database (the clock, each mutation's content) and encodes the
    /// log rows of the mutations that pass: work the one writer need not wait for.
    public func prepareSync(_ request: SyncRequest, from device: DeviceContext, limits: SyncLimits) throws -> PreparedSync {
        PreparedSync(work: try syncWork(request, from: device, limits: limits))
    }

    private func syncWork(_ request: SyncRequest, from device: DeviceContext, limits: SyncLimits) throws -> @Sendable (Database) throws -> SyncOutcome {
        let received = self.now
        try PushRules.checkClock(request, now: received, limits: limits)
        let prepared = request.mutations.map { mutation in
            PreparedMutation(mutation, now: received, limits: limits)
        }
        // A device that synced with another history of this server is refused before it waits for the
        // writer: a refusal inside the shared transaction would undo the syncs grouped with it. The log's
        // head only grows, so a cursor within the head seen last needs no read.
        let incarnation = try self.incarnation()
        if request.incarnation.map({ $0 != incarnation }) ?? false || request.cursor > knownHead.value {
            let head = try writer.read { db in try Int64.fetchOne(db.cachedStatement(sql: "SELECT MAX(seq) FROM change_log")) ?? 0 }
            knownHead.raise(to: head)
            try PushRules.checkHistory(request, incarnation: incarnation, head: head)
        }
        return { db in
            // Read again: a push sent ahead may have waited for the one it follows since it was prepared.
            let now = self.now
            if let below = request.below, device.user.role == .branch {
                try db.cachedStatement(sql: """
                    INSERT OR REPLACE INTO reported_below (device, complete_up_to, devices, pending, stale, reported_at) VALUES (?, ?, ?, ?, ?, ?)
                    """).execute(arguments: [device.device, below.completeUpTo.map { Int64(clamping: $0) }, below.devices, below.pending,
                                            below.notSeenForThreeDays, Int64(clamping: now)])
            }
            let io = RecordIO(db)
            // Files that left this server's scope upstream: few, read once per push.
            let departed = Set(try String.fetchAll(db.cachedStatement(sql: "SELECT customer FROM departed")))
            var floor = try StampFloor.read(device, now: now, db)
            let claims = device.user.role == .branch
                ? try Self.relayClaims(RelayClaims.origins(of: request, for: device, server: try self.ownNode.read(db)), for: device, db) : RelayClaims()
            let relayed = claims.allowed
            for node in relayed {
                floor.relayed[node] = HLC(rawValue: UInt64(bitPattern: try Int64.fetchOne(db.cachedStatement(sql: "SELECT stamp_floor FROM relayed_nodes WHERE node = ?"),
                                                                                           arguments: [node.description]) ?? 0))
            }
            // This device's work accepted here earlier and refused by the provincial server (usually none): read once per push.
            let refusedUpstream = try Dictionary(Row.fetchAll(db.cachedStatement(sql: "SELECT counter, reason FROM upstream_rejections WHERE origin = ?"),
                                                              arguments: [device.node.description]).map { (UInt64(clamping: $0[0] as Int64), $0[1] as String) },
                                                 uniquingKeysWith: { first, _ in first })
            // Only this device's own mutations are looked up (and, for a branch server,
            // those of the nodes it relays): a node belongs to one device, so no device
            // can answer for another's counters.
            var applied = try AppliedMarks(for: request.mutations.lazy.filter { $0.origin == device.node || relayed.contains($0.origin) }, db)
            let appliedBefore = applied
            var decider = PushDecider(request, from: device, relaying: relayed, contentRefusals: prepared.map(\.refusal),
                                      refusedUpstream: refusedUpstream, isApplied: { appliedBefore.contains($0) },
                                      departed: { departed.contains($0) }, floor: floor,
                                      signatures: RelaySignatures(request, device: device.node, pinned: try Self.pinnedKeys(relayed, db)))
            let (decisions, scope) = try Self.decide(&decider, io: io, db)
            let signatures = decisions.signatures
            let accepted = decisions.accepted, rejected = decisions.rejected
            for counter in decisions.returnedUpstream {
                try db.execute(sql: "UPDATE upstream_rejections SET returned = 1 WHERE origin = ? AND counter = ?",
                               arguments: [device.node.description, Int64(clamping: counter)])
            }
            var toApply: [Mutation] = []
            var logEntries: [[ChangeLogWriter.Entry]?] = []
            var movable = Set<RecordKey>()
            for index in decisions.toApply {
                let mutation = request.mutations[index]
                toApply.append(mutation)
                logEntries.append(prepared[index].logEntries)
                for key in prepared[index].movable {
                    // A record the scope check found not stored is created by this push: it has no owner to move from.
                    if case .some(.none) = scope.loaded[key] { continue }
                    movable.insert(key)
                }
                try applied.insert(MutationID(origin: mutation.origin, counter: mutation.counter), db)
            }
            try applied.save(db)
            try Self.keep(signatures, accepted: toApply, relaysUpstream: self.relaysUpstream.isOn, db)
            // At most once a minute: a pull that writes nothing else then commits without a disk flush.
            // What waits on the device is written when it changes (freshness, `GET /v1/nodes`): what it
            // reported before this push, less what this push acknowledged of its own.
            let waiting = request.pending.map { PushRules.waitingAfter(reported: $0, accepted: accepted, own: device.node) }
            // The refused work it showed goes in the same statement once nothing waits (`RefusedWork`): no extra one per sync.
            let refusedWork = RefusedWork.update(rejected: rejected, waiting: waiting, now: now)
            let clear = refusedWork == .clear
            try db.cachedStatement(sql: """
                UPDATE devices SET last_seen = ?, pending = COALESCE(?, pending), cursor = ?,
                    refused = CASE WHEN ? THEN NULL ELSE refused END, refused_reason = CASE WHEN ? THEN NULL ELSE refused_reason END,
                    refused_at = CASE WHEN ? THEN NULL ELSE refused_at END
                WHERE id = ? AND (last_seen IS NULL OR last_seen < ? OR (? IS NOT NULL AND pending IS NOT ?) OR cursor IS NOT ?
                                  OR (? AND refused IS NOT NULL))
                """).execute(arguments: [Int64(clamping: now), waiting, request.cursor, clear, clear, clear, device.device, Int64(clamping: now) - 60_000,
                                        waiting, waiting, request.cursor, clear])
            if case .set(let work) = refusedWork {
                try db.cachedStatement(sql: "UPDATE devices SET refused = ?, refused_reason = ?, refused_at = ? WHERE id = ?")
                    .execute(arguments: [work.count, work.reason, Int64(clamping: work.at), device.device])
            }
            // A node is claimed, or a revoked device's node taken over, only by a push that has one of its mutations
            // accepted: a refused mutation under another branch's laptop's node claims nothing.
            let (claimedNodes, takenNodes) = claims.confirmed(by: accepted)
            for node in claimedNodes {
                try db.execute(sql: "INSERT INTO relayed_nodes (node, device) VALUES (?, ?)", arguments: [node.description, device.device])
            }
            for node in takenNodes {
                try db.execute(sql: "UPDATE relayed_nodes SET device = ? WHERE node = ?", arguments: [device.device, node.description])
            }
            for (node, raised) in floor.raisedRelayed(by: toApply) {
                try db.cachedStatement(sql: "UPDATE relayed_nodes SET stamp_floor = ? WHERE node = ? AND stamp_floor < ?")
                    .execute(arguments: [Int64(bitPattern: raised.rawValue), node.description, Int64(bitPattern: raised.rawValue)])
            }
            if let raised = floor.raised(by: request, accepted: toApply, refusals: rejected.count, now: now, skew: limits.maxClockSkew) {
                try db.cachedStatement(sql: "UPDATE devices SET stamp_floor = ? WHERE id = ? AND stamp_floor < ?")
                    .execute(arguments: [Int64(bitPattern: raised.rawValue), device.device, Int64(bitPattern: raised.rawValue)])
            }
            var conflictsCreated = 0
            if !toApply.isEmpty {
                // Records this push may move (a customer's branch or manager, a
                // child's parent): if the merged value moves them, their whole
                // file is logged again under the new owner.
                let ownersBefore = try Self.owners(of: movable, io: io, known: scope.loaded)
                let report: ApplyReport
                if scope.mergesEveryMutation {
                    // The scope check merged each accepted mutation into the records: stored as it merged them.
                    report = try Replica.store(scope.merged, now: now, db)
                } else {
                    var changes: [FieldChange] = []
                    changes.reserveCapacity(toApply.reduce(0) { $0 + $1.changes.count })
                    for mutation in toApply { changes.append(contentsOf: mutation.changes) }
                    report = try Replica.apply(changes[...], now: now, db, preloaded: scope.loaded)
                }
                conflictsCreated = report.conflictsCreated.count
                // The scope check merged the same mutations into the same records: its results are what was stored.
                var log = ChangeLogWriter(db, io: io, receivedAt: now, known: scope.states)
                for (mutation, entries) in zip(toApply, logEntries) {
                    try log.append(entries ?? ChangeLogWriter.entries(mutation.changes), origin: mutation.origin, counter: mutation.counter)
                }
                for conflicts in report.conflictMutations { try log.appendOwn(conflicts) }
                try Self.logMoves(from: ownersBefore, io: io, log: &log, db)
            }
            try Self.dropDepartedFiles(db)
            let page = try pull(after: request.cursor, for: device, limits: limits, maxChanges: request.maxChanges, db)
            // The device's work refused upstream after this server accepted it goes back to its outbox.
            let returned = try Row.fetchAll(db.cachedStatement(sql: """
                SELECT body, reason FROM upstream_rejections WHERE origin = ? AND returned = 0 AND body IS NOT NULL LIMIT 100
                """), arguments: [device.node.description]).compactMap { row -> SyncResponse.Returned? in
                    guard let mutation = try? JSONDecoder().decode(Mutation.self, from: row[0] as Data) else { return nil }
                    return SyncResponse.Returned(mutation: mutation, reason: row[1])
                }
            self.knownHead.raise(to: page.cursor)
            let response = SyncResponse(accepted: accepted, rejected: rejected, changes: page.changes,
                                        cursor: page.cursor, more: page.more, serverTime: now, left: page.left, returned: returned,
                                        incarnation: incarnation)
            return SyncOutcome(response: response, conflictsCreated: conflictsCreated)
        }
    }

    /// The signed pages this server keeps that cover `mutations` of the nodes below it, for the relay up.
    public func signedPages(covering mutations: [Mutation]) throws -> [SignedPage] {
        let own = try replica.identity()?.node
        // Per node, one read of the pages overlapping its counters here.
        var counters: [NodeID: [UInt64]] = [:]
        for mutation in mutations where mutation.origin != own && !RelaySignatures.isSynthesized(mutation.counter) {
            counters[mutation.origin, default: []].append(mutation.counter)
        }
        return try writer.read { db in
            var pages: [SignedPage] = []
            for (node, wanted) in counters {
                guard let low = wanted.min(), let high = wanted.max() else { continue }
                for stored in try Data.fetchAll(db.cachedStatement(sql: "SELECT page FROM signed_pages WHERE node = ? AND low <= ? AND high >= ?"),
                                                arguments: [node.description, Int64(clamping: high), Int64(clamping: low)]) {
                    guard let page = SignedPage(stored: Array(stored)) else { continue }
                    let covered = Set(page.counters)
                    if wanted.contains(where: covered.contains) { pages.append(page) }
                }
            }
            return Array(pages.prefix(SignedPage.maxPerRequest))
        }
    }

    /// The keys pinned for `nodes` (`RelaySignatures`).
    static func pinnedKeys(_ nodes: Set<NodeID>, _ db: Database) throws -> [NodeID: [UInt8]] {
        var keys: [NodeID: [UInt8]] = [:]
        for node in nodes {
            if let key = try Data.fetchOne(db.cachedStatement(sql: "SELECT key FROM node_keys WHERE node = ?"), arguments: [node.description]) {
                keys[node] = Array(key)
            }
        }
        return keys
    }

    /// Pins the keys a push showed first, and keeps the signed pages of nodes with accepted work for the relay up.
    static func keep(_ signatures: RelaySignatures, accepted: [Mutation], relaysUpstream: Bool, _ db: Database) throws {
        for (node, key) in signatures.newPins {
            try db.execute(sql: "INSERT OR IGNORE INTO node_keys (node, key) VALUES (?, ?)", arguments: [node.description, Data(key)])
        }
        // A server with nothing above it has nobody to pass the pages to.
        guard relaysUpstream else { return }
        var origins = Set<NodeID>()
        for mutation in accepted { origins.insert(mutation.origin) }
        for page in signatures.pagesToKeep(acceptedOrigins: origins) {
            let counters = page.counters
            guard let low = counters.min(), let high = counters.max() else { continue }
            try db.cachedStatement(sql: "INSERT OR REPLACE INTO signed_pages (node, low, high, page) VALUES (?, ?, ?, ?)")
                .execute(arguments: [page.node.description, Int64(clamping: low), Int64(clamping: high), Data(page.storedBytes)])
        }
    }

    /// The people registered here, by name (`PushScopeCheck`'s person rule).
    static func people(_ db: Database) throws -> [String: UserInfo] {
        var people: [String: UserInfo] = [:]
        for row in try Row.fetchAll(db.cachedStatement(sql: "SELECT name, role, branch FROM users")) {
            people[row[0]] = UserInfo(name: row[0], role: Role(rawValue: row[1]) ?? .manager, branch: row[2])
        }
        return people
    }

    /// Owners of records before a write that may move them. `known`: records already read
    /// in this transaction, before the write (nil: not stored), not read again.
    static func owners(of keys: Set<RecordKey>, io: RecordIO, known: [RecordKey: RecordState?] = [:]) throws -> [RecordKey: RecordOwner] {
        let load = { (key: RecordKey) throws -> RecordState? in
            if let state = known[key] { return state }
            return try io.load(key.table, key.record)
        }
        return try Dictionary(uniqueKeysWithValues: keys.map { key in (key, try RecordOwner.of(key, in: load)) })
    }

    /// Logs again, with their stamps, the records the write moved to another
    /// owner or scope and everything under them, so their new holders receive
    /// all of it although it is older than their cursors.
    static func logMoves(from before: [RecordKey: RecordOwner], io: RecordIO, log: inout ChangeLogWriter, _ db: Database) throws {
        let moved = try MovedFile.moved(before: before, after: { try RecordOwner.of($0, in: { try io.load($0.table, $0.record) }) })
        guard !moved.isEmpty else { return }
        let server = try Replica.identity(db)?.node ?? NodeID(rawValue: 0)
        for move in moved {
            try log.appendTree(of: move.key, origin: server)
            if let (old, new) = move.scopeChange, let state = try io.load(.customer, move.key.record) {
                try ScopeHistory.record(move.key.record, from: old, to: new, at: ScopeHistory.since(state), db)
                try log.appendExit(of: move.key.record, from: old, origin: server)
            }
        }
    }

    /// The holders of the origins a branch device relays in this push, as stored, and what that allows (`RelayClaims`).
    static func relayClaims(_ origins: Set<NodeID>, for device: DeviceContext, _ db: Database) throws -> RelayClaims {
        guard !origins.isEmpty else { return RelayClaims() }
        var holders: [NodeID: RelayClaims.Holder] = [:], enrolled = Set<NodeID>()
        for origin in origins {
            if let row = try Row.fetchOne(db.cachedStatement(sql: """
                SELECT r.device, d.revoked_at IS NOT NULL, u.role, u.branch FROM relayed_nodes r
                LEFT JOIN devices d ON d.id = r.device LEFT JOIN users u ON u.id = d.user_id WHERE r.node = ?
                """), arguments: [origin.description]) {
                holders[origin] = RelayClaims.Holder(device: row[0], revoked: row[1] as Bool? ?? false, role: row[2], branch: row[3])
            } else if try Bool.fetchOne(db.cachedStatement(sql: "SELECT EXISTS (SELECT 1 FROM devices WHERE node = ?)"),
                                        arguments: [origin.description]) ?? false {
                enrolled.insert(origin)
            }
        }
        return RelayClaims(origins: origins, holders: holders, enrolled: enrolled, for: device)
    }

    /// Runs `decider` to its decisions, reading what it asks for in this transaction.
    static func decide(_ decider: inout PushDecider, io: RecordIO, _ db: Database) throws -> (PushDecisions, PushScopeCheck) {
        while true {
            switch try decider.next() {
            case .read(let needs): decider.receive(try read(needs, io: io, db))
            case .decided(let decisions, let scope): return (decisions, scope)
            }
        }
    }

    /// What a push's decisions asked for (`PushDecider`), read in this transaction.
    static func read(_ needs: PushReadNeeds, io: RecordIO, _ db: Database) throws -> PushReadResult {
        var result = PushReadResult()
        for key in needs.records {
            if let state = try io.load(key.table, key.record) { result.records[key] = state }
        }
        if !needs.histories.isEmpty { result.histories = try ScopeHistory.histories(of: needs.histories, db) }
        if needs.people { result.people = try people(db) }
        if needs.branches { result.branches = try Replica.registeredBranches(db) }
        return result
    }

    /// The changes after `cursor` in the device's scope, bounded in rows and bytes.
    private func pull(after cursor: Int64, for device: DeviceContext, limits: SyncLimits, maxChanges: Int?, _ db: Database) throws -> (changes: [FieldChange], cursor: Int64, more: Bool, left: [String]) {
        // A push only (`max_changes` 0): nothing read, the cursor stays.
        guard maxChanges != 0 else { return ([], cursor, false, []) }
        let columns = "l.seq, l.tbl, l.record, l.changes, l.customer, l.exit_branch, l.exit_manager, l.exit_team, l.origin"
        let notOwn = "l.origin != ? AND l.origin NOT IN (SELECT node FROM relayed_nodes WHERE device = ?)"
        var sql = "SELECT \(columns) FROM change_log l"
        var arguments: [(any DatabaseValueConvertible)?] = []
        let policy = AccessPolicy(device.user)
        // With a row limit the page may end before the log's head although it is not full: the rows past it wait.
        var rowLimit: Int?
        let head = try Int64.fetchOne(db.cachedStatement(sql: "SELECT MAX(seq) FROM change_log")) ?? cursor
        if !policy.isUnrestricted, head - cursor <= limits.indexedPullWindow, let branch = device.user.branch {
            // The device's rows through the indexes: a manager's, the log rows of the customers they manage or
            // whose team names them (`server-v14-pull-by-customer`); a supervisor's or branch server's, the rows
            // written for its branch's customers (`server-v15-pull-by-branch`); for everyone the province's lists
            // and the branch's exits. A superset of what the policy lets through, which decides below (on the
            // customer's scope now). Their numbers are sorted (from the indexes alone), a page's worth at most,
            // then those rows read.
            let limit = max(1, min(maxChanges ?? limits.maxChanges, limits.maxChanges))
            let (node, relaying, name) = (device.node.description, device.device, device.user.name)
            let own: String
            if device.user.role == .manager {
                own = """
                    SELECT l.seq FROM change_log l WHERE l.seq > ? AND \(notOwn) AND l.customer IN (
                        SELECT id FROM customers WHERE branch = ? AND manager = ?
                        UNION SELECT id FROM customers WHERE branch = ? AND team IS NOT NULL AND instr(team, ?) > 0)
                    """
                arguments = [cursor, node, relaying, branch, name, branch, name]
            } else {
                own = "SELECT l.seq FROM change_log l WHERE l.branch = ? AND l.seq > ? AND \(notOwn)"
                arguments = [branch, cursor, node, relaying]
            }
            sql = """
                SELECT \(columns) FROM change_log l WHERE l.seq IN (
                    \(own)
                    UNION ALL SELECT l.seq FROM change_log l WHERE l.seq > ? AND \(notOwn)
                        AND l.tbl IN (\(Self.provinceWideTables))
                    UNION ALL SELECT l.seq FROM change_log l WHERE l.seq > ? AND \(notOwn) AND l.exit_branch = ?
                    ORDER BY 1 LIMIT ?)
                ORDER BY l.seq
                """
            arguments += [cursor, node, relaying, cursor, node, relaying, branch, limit]
            rowLimit = limit
        } else if !policy.isUnrestricted {
            // Filtered by the customer's scope as stored now, not as it was when
            // the row was written: a file that moved away is no longer served.
            // The working-day calendar and the branch list belong to no customer and reach everyone.
            sql += " LEFT JOIN customers c ON c.id = l.customer WHERE l.seq > ? AND \(notOwn)"
            if device.user.role == .manager {
                // A manager far behind: their rows also in SQL, as a superset of what the policy lets through
                // (the name appears in the manager or the team), so other managers' rows stay in SQLite.
                sql += " AND ((c.branch = ? AND instr(COALESCE(c.manager, '') || ',' || COALESCE(c.team, ''), ?) > 0)"
                sql += " OR l.tbl IN (\(Self.provinceWideTables)) OR l.exit_branch = ?)"
                arguments = [cursor, device.node.description, device.device, device.user.branch, device.user.name, device.user.branch]
            } else {
                sql += " AND (c.branch = ? OR l.tbl IN (\(Self.provinceWideTables)) OR l.exit_branch = ?)"
                arguments = [cursor, device.node.description, device.device, device.user.branch, device.user.branch]
            }
            sql += " ORDER BY l.seq"
        } else {
            sql += " WHERE l.seq > ? AND \(notOwn) ORDER BY l.seq"
            arguments = [cursor, device.node.description, device.device]
        }
        // The nodes whose writes this device already has: its own, and for a branch server those it relays.
        var own: Set<NodeID> = [device.node]
        if device.user.role == .branch {
            own.formUnion(try String.fetchAll(db.cachedStatement(sql: "SELECT node FROM relayed_nodes WHERE device = ?"), arguments: [device.device])
                .compactMap(NodeID.init))
        }
        let io = RecordIO(db)
        let serverNode = try ownNode.read(db)?.description
        let departed = policy.isUnrestricted ? [] : Set(try String.fetchAll(db.cachedStatement(sql: "SELECT customer FROM departed")))
        var page = PullPageBuilder(device: device, cursor: cursor, limits: limits, maxChanges: maxChanges, own: own, departed: departed) {
            try io.load(.customer, $0).map(CustomerScope.init)
        }
        let rows = try Row.fetchCursor(db.cachedStatement(sql: sql), arguments: StatementArguments(arguments))
        var read = 0
        while let row = try rows.next() {
            read += 1
            let table = RecordKind(rawValue: row[1])
            let record: String = row[2]
            let exit = (row[5] as String?).map { CustomerScope(branch: $0, manager: row[6], team: Team.members((row[7] as String?).map(FieldValue.text) ?? .null)) }
            let taken = try page.add(seq: row[0], table: table, record: record, customer: row[4], exit: exit, fromServer: row[8] == serverNode) { changes in
                try row.withUnsafeData(atIndex: 3) { data in
                    guard let data, let table else { throw ChangeLogCodec.Malformed() }
                    try data.withUnsafeBytes { raw in try ChangeLogCodec.decode(raw, table: table, record: record, into: &changes) }
                    return data.count
                }
            }
            if !taken { break }
        }
        if let rowLimit, read >= rowLimit { page.endBeforeHead() }
        page.finish(head: head)
        return (page.changes, page.cursor, page.more, page.left)
    }
}

/// A sync checked as far as nothing stored is needed, its transaction's work ready to run.
public struct PreparedSync: Sendable {
    let work: @Sendable (Database) throws -> SyncOutcome
}

/// A pushed mutation's checks that need nothing stored, and its log rows encoded in advance.
private struct PreparedMutation: Sendable {
    /// Why its content is refused whoever sent it, or nil.
    let refusal: Refusal?
    /// Its change-log rows; nil if refused, or if encoding failed here (then the writer encodes them and reports the failure).
    let logEntries: [ChangeLogWriter.Entry]?
    /// The records its changes may move to another owner (`RecordOwner.moves`).
    let movable: Set<RecordKey>

    init(_ mutation: Mutation, now: UInt64, limits: SyncLimits) {
        refusal = PushRules.validateContent(mutation, now: now, limits: limits)
        logEntries = refusal == nil ? try? ChangeLogWriter.entries(mutation.changes) : nil
        var movable = Set<RecordKey>()
        for index in mutation.changes.indices where RecordOwner.moves(table: mutation.changes[index].table, field: mutation.changes[index].field) {
            movable.insert(RecordKey(table: mutation.changes[index].table, record: mutation.changes[index].record))
        }
        self.movable = movable
    }
}
