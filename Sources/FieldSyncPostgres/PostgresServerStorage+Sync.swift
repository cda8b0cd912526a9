import FieldSyncModel
import FieldSyncProtocol
import FieldSyncServerCore
import Foundation
import Logging
import NIOCore
import PostgresNIO

/// Sync in PostgreSQL, for several server instances on one database. A push is
/// one transaction that locks, in a fixed order, the pushing nodes and the
/// records it touches (so two instances never merge into one record at once,
/// nor apply one mutation twice), reads ahead what the decisions need, decides
/// with the same rules as SQLite (`PushRules`, `PushScopeCheck`), merges with
/// the model's rules, and appends to the log last. The pull reads one snapshot
/// (`REPEATABLE READ`) after the push commits.
extension PostgresServerStorage: SyncStorage {
    public var serverNode: NodeID { get async throws { node } }

    public func sync(_ request: SyncRequest, from device: DeviceContext, limits: SyncLimits) async throws -> SyncOutcome {
        let now = self.now
        try PushRules.checkClock(request, now: now, limits: limits)
        var history: (incarnation: String, head: Int64)?
        for try await row in try await client.query("SELECT s.incarnation, h.seq FROM server_state s, change_log_head h", logger: logger)
            .decode((String, Int64).self) { history = row }
        guard let (incarnation, head) = history else { throw PostgresStorageError("the server's identity in the database is missing") }
        try PushRules.checkHistory(request, incarnation: incarnation, head: head)
        var pushed = PushOutcome()
        if !request.mutations.isEmpty {
            pushed = try await retryingConflicts { try await self.push(request, from: device, now: now, limits: limits) }
        } else if request.pending == 0 {
            // Nothing of the device's outbox is unsent: its floor may rise (at most once a minute).
            let floor = try await stampFloor(of: device, on: nil)
            if let raised = floor.raised(by: request, accepted: [], refusals: 0, now: now, skew: limits.maxClockSkew) {
                try await raise(device, to: raised, on: nil)
            }
        }
        let waiting = request.pending.map { PushRules.waitingAfter(reported: $0, accepted: pushed.accepted, own: device.node) }
        try await note(request, from: device, now: now, waiting: waiting, refused: RefusedWork.update(rejected: pushed.rejected, waiting: waiting, now: now))
        let page = try await pull(after: request.cursor, for: device, limits: limits, maxChanges: request.maxChanges)
        let response = SyncResponse(accepted: pushed.accepted, rejected: pushed.rejected, changes: page.changes, cursor: page.cursor,
                                    more: page.more, serverTime: now, left: page.left, incarnation: incarnation)
        return SyncOutcome(response: response, conflictsCreated: pushed.conflicts)
    }

    struct PushOutcome: Sendable {
        var accepted: [MutationID] = []
        var rejected: [Rejection] = []
        var conflicts = 0
    }

    /// Runs `body` again when PostgreSQL broke a deadlock or a serialisation conflict by aborting it.
    func retryingConflicts<T>(_ body: () async throws -> T) async throws -> T {
        var attempt = 0
        while true {
            do {
                return try await body()
            } catch let error as PSQLError where ["40P01", "40001"].contains(error.serverInfo?[.sqlState] ?? "") && attempt < 5 {
                attempt += 1
            }
        }
    }

    /// What the device reports (when it was seen, what waits in its outbox after this push, where its cursor stands,
    /// and for a branch server the devices below it), written when it changes or once a minute.
    func note(_ request: SyncRequest, from device: DeviceContext, now: UInt64, waiting: Int?, refused: RefusedWork.Update) async throws {
        let at = Int64(clamping: now), pending = waiting.map { Int64($0) }, cursor = request.cursor
        // The refused work it shows (`RefusedWork`) in the same statement: no extra round trip per sync.
        var clear = false, count: Int64?, reason: String?, refusedAt: Int64?
        switch refused {
        case .keep: break
        case .clear: clear = true
        case .set(let work): (count, reason, refusedAt) = (Int64(work.count), work.reason, Int64(clamping: work.at))
        }
        try await client.query("""
            UPDATE devices SET last_seen = \(at), pending = COALESCE(\(pending), pending), cursor = \(cursor),
                refused = CASE WHEN \(clear) THEN NULL WHEN \(count)::bigint IS NOT NULL THEN \(count) ELSE refused END,
                refused_reason = CASE WHEN \(clear) THEN NULL WHEN \(count)::bigint IS NOT NULL THEN \(reason) ELSE refused_reason END,
                refused_at = CASE WHEN \(clear) THEN NULL WHEN \(count)::bigint IS NOT NULL THEN \(refusedAt) ELSE refused_at END
            WHERE id = \(device.device) AND (last_seen IS NULL OR last_seen < \(at - 60_000)
                OR (\(pending)::bigint IS NOT NULL AND pending IS DISTINCT FROM \(pending)) OR cursor IS DISTINCT FROM \(cursor)
                OR \(count)::bigint IS NOT NULL OR (\(clear) AND refused IS NOT NULL))
            """, logger: logger)
        if let below = request.below, device.user.role == .branch {
            let complete = below.completeUpTo.map { Int64(clamping: $0) }
            try await client.query("""
                INSERT INTO reported_below (device, complete_up_to, devices, pending, stale, reported_at)
                VALUES (\(device.device), \(complete), \(Int64(below.devices)), \(Int64(below.pending)), \(Int64(below.notSeenForThreeDays)), \(at))
                ON CONFLICT (device) DO UPDATE SET complete_up_to = EXCLUDED.complete_up_to, devices = EXCLUDED.devices,
                    pending = EXCLUDED.pending, stale = EXCLUDED.stale, reported_at = EXCLUDED.reported_at
                """, logger: logger)
        }
    }

    // MARK: Push

    func push(_ request: SyncRequest, from device: DeviceContext, now: UInt64, limits: SyncLimits) async throws -> PushOutcome {
        // Checked before the transaction: a push sent ahead is checked while the one before it holds the locks.
        let contentRefusals = request.mutations.map { PushRules.validateContent($0, now: now, limits: limits) }
        return try await transaction { connection in
            let touched = Set(request.mutations.flatMap { $0.changes.map { RecordKey(table: $0.table, record: $0.record) } })
            // The device's node, the origins it may relay and the touched records locked first, in one sorted order
            // with every other writer's: the relay holders read next stay as read, and no two instances merge into
            // one record at once. Only those: a push naming another device's node must not hold that node's lock.
            let foreign = RelayClaims.origins(of: request, for: device, server: node)
            try await lock(touched, origins: foreign.union([device.node]), on: connection)
            let claims = try await relayClaims(foreign, for: device, on: connection)
            let relayed = claims.allowed
            let own = request.mutations.filter { $0.origin == device.node || relayed.contains($0.origin) }
            var appliedRuns = AppliedRuns()
            try await readAppliedRuns(for: own.map { MutationID(origin: $0.origin, counter: $0.counter) }, into: &appliedRuns, on: connection)
            let applied = appliedRuns
            var floor = try await stampFloor(of: device, on: connection)
            if !relayed.isEmpty {
                for try await (name, value) in try await connection.query("""
                    SELECT node, stamp_floor FROM relayed_nodes WHERE node = ANY(\(relayed.map(\.description)))
                    """, logger: logger).decode((String, Int64).self) {
                    if let node = NodeID(name) { floor.relayed[node] = HLC(rawValue: UInt64(bitPattern: value)) }
                }
            }
            var decider = PushDecider(request, from: device, relaying: relayed,
                                      contentRefusals: contentRefusals,
                                      isApplied: applied.contains, floor: floor,
                                      signatures: RelaySignatures(request, device: device.node, pinned: try await pinnedKeys(relayed, on: connection)))
            let decisions: PushDecisions
            deciding: while true {
                switch try decider.next() {
                case .read(let needs): decider.receive(try await read(needs, on: connection))
                case .decided(let decided, _):
                    decisions = decided
                    break deciding
                }
            }
            var reads = decider.reads
            let signatures = decisions.signatures
            let toApply = decisions.toApply.map { request.mutations[$0] }
            var outcome = PushOutcome(accepted: decisions.accepted, rejected: decisions.rejected)
            // A node is claimed, or a revoked device's node taken over, only by a push that has one of its mutations accepted.
            let (claimedNodes, takenNodes) = claims.confirmed(by: outcome.accepted)
            if !claimedNodes.isEmpty {
                try await connection.query("""
                    INSERT INTO relayed_nodes (node, device) SELECT unnest(\(claimedNodes.map(\.description))::text[]), \(device.device)
                    """, logger: logger)
            }
            if !takenNodes.isEmpty {
                try await connection.query("UPDATE relayed_nodes SET device = \(device.device) WHERE node = ANY(\(takenNodes.map(\.description)))",
                                           logger: logger)
            }
            if let raised = floor.raised(by: request, accepted: toApply, refusals: outcome.rejected.count, now: now, skew: limits.maxClockSkew) {
                try await raise(device, to: raised, on: connection)
            }
            for (node, raised) in floor.raisedRelayed(by: toApply) {
                let value = Int64(bitPattern: raised.rawValue)
                try await connection.query("UPDATE relayed_nodes SET stamp_floor = \(value) WHERE node = \(node.description) AND stamp_floor < \(value)",
                                           logger: logger)
            }
            for (node, key) in signatures.newPins {
                let bytes = ByteBuffer(bytes: key)
                try await connection.query("INSERT INTO node_keys (node, key) VALUES (\(node.description), \(bytes)) ON CONFLICT (node) DO NOTHING",
                                           logger: logger)
            }
            guard !toApply.isEmpty else { return outcome }
            // The merge starts from every touched record as stored: those the decisions did not read (a province's push) are read now.
            try await readAhead(touched, into: &reads, on: connection)
            outcome.conflicts = try await apply(toApply, reads: reads, applied: applied, now: now, on: connection)
            return outcome
        }
    }

    /// The keys pinned for `nodes` (`RelaySignatures`).
    func pinnedKeys(_ nodes: Set<NodeID>, on connection: PostgresConnection) async throws -> [NodeID: [UInt8]] {
        guard !nodes.isEmpty else { return [:] }
        var keys: [NodeID: [UInt8]] = [:]
        for try await (name, key) in try await connection.query("SELECT node, key FROM node_keys WHERE node = ANY(\(nodes.map(\.description)))",
                                                                 logger: logger).decode((String, ByteBuffer).self) {
            if let node = NodeID(name) { keys[node] = Array(key.readableBytesView) }
        }
        return keys
    }

    /// The device's `StampFloor` as stored; on `connection` inside a push's transaction.
    func stampFloor(of device: DeviceContext, on connection: PostgresConnection?) async throws -> StampFloor {
        var created: Int64 = 0, stored: Int64 = 0
        let query: PostgresQuery = "SELECT created_at, stamp_floor FROM devices WHERE id = \(device.device)"
        let rows = if let connection { try await connection.query(query, logger: logger) } else { try await client.query(query, logger: logger) }
        for try await (createdAt, floor) in rows.decode((Int64, Int64).self) { (created, stored) = (createdAt, floor) }
        return StampFloor(node: device.node, own: HLC(rawValue: UInt64(bitPattern: stored)), enrolled: StampFloor.at(UInt64(clamping: created)), now: self.now)
    }

    func raise(_ device: DeviceContext, to floor: HLC, on connection: PostgresConnection?) async throws {
        let value = Int64(bitPattern: floor.rawValue)
        let query: PostgresQuery = "UPDATE devices SET stamp_floor = \(value) WHERE id = \(device.device) AND stamp_floor < \(value)"
        if let connection { try await connection.query(query, logger: logger) } else { try await client.query(query, logger: logger) }
    }

    /// What a push's decisions asked for (`PushDecider`), read on the transaction's connection.
    func read(_ needs: PushReadNeeds, on connection: PostgresConnection) async throws -> PushReadResult {
        var result = PushReadResult()
        result.records = try await load(needs.records, on: connection)
        if !needs.histories.isEmpty {
            for try await (customer, from, branch, manager, team) in try await connection.query("""
                SELECT customer, from_hlc, branch, manager, team FROM scope_history WHERE customer = ANY(\(Array(needs.histories)))
                ORDER BY customer, from_hlc
                """, logger: logger).decode((String, Int64, String?, String?, String?).self) {
                result.histories[customer, default: []].append(ScopeHistory.Entry(
                    from: HLC(rawValue: UInt64(bitPattern: from)),
                    scope: CustomerScope(branch: branch, manager: manager, team: Team.members(team.map(FieldValue.text) ?? .null))))
            }
        }
        if needs.people {
            var people: [String: UserInfo] = [:]
            for try await (name, role, branch) in try await connection.query("SELECT name, role, branch FROM users", logger: logger)
                .decode((String, String, String?).self) {
                people[name] = UserInfo(name: name, role: Role(rawValue: role) ?? .manager, branch: branch)
            }
            result.people = people
        }
        if needs.branches {
            result.branches = Set(AdministrationRules.registered(try await records(of: .branch, on: connection).map(\.state)))
        }
        return result
    }

    /// Reads `keys` and, level by level, what they point at, up to the customers.
    func readAhead(_ keys: Set<RecordKey>, into reads: inout PushReads, on connection: PostgresConnection) async throws {
        var frontier = keys.filter { !reads.knows($0) }
        for _ in 0...RecordOwner.maxDepth {
            guard !frontier.isEmpty else { return }
            var result = PushReadResult()
            result.records = try await load(frontier, on: connection)
            frontier = reads.add(result, asked: PushReadNeeds(records: frontier))
        }
    }

    /// Locks the pushing nodes and the touched records until the transaction ends, in one sorted order with every other writer's.
    func lock(_ keys: Set<RecordKey>, origins: Set<NodeID>, on connection: PostgresConnection) async throws {
        try await lock(names: keys.map { "\($0.table.rawValue)/\($0.record)" } + origins.map { "node/\($0)" }, on: connection)
    }

    /// The holders of the origins a branch device relays in this push, as stored, and what that allows (`RelayClaims`).
    /// The origins are locked: what is read here stays so until the push commits.
    func relayClaims(_ origins: Set<NodeID>, for device: DeviceContext, on connection: PostgresConnection) async throws -> RelayClaims {
        guard !origins.isEmpty else { return RelayClaims() }
        let names = origins.map(\.description)
        var holders: [NodeID: RelayClaims.Holder] = [:], enrolled = Set<NodeID>()
        for try await (name, holder, revoked, role, branch) in try await connection.query("""
            SELECT r.node, r.device, d.revoked_at IS NOT NULL, u.role, u.branch FROM relayed_nodes r
            LEFT JOIN devices d ON d.id = r.device LEFT JOIN users u ON u.id = d.user_id WHERE r.node = ANY(\(names))
            """, logger: logger).decode((String, String, Bool?, String?, String?).self) {
            if let node = NodeID(name) { holders[node] = RelayClaims.Holder(device: holder, revoked: revoked ?? false, role: role, branch: branch) }
        }
        for try await name in try await connection.query("SELECT node FROM devices WHERE node = ANY(\(names))", logger: logger).decode(String.self) {
            if let node = NodeID(name) { enrolled.insert(node) }
        }
        return RelayClaims(origins: origins, holders: holders, enrolled: enrolled, for: device)
    }

    /// Reads into `runs` the stored runs of applied counters around `ids` (`AppliedRuns`): per span, the run
    /// starting nearest below it and those starting in it, both index ranges, bounded by what they return.
    func readAppliedRuns(for ids: [MutationID], into runs: inout AppliedRuns, on connection: PostgresConnection) async throws {
        for (origin, span) in AppliedRuns.spans(of: ids.filter { !runs.hasRead($0) }) {
            let (bottom, top) = AppliedRuns.bounds(of: span)
            let name = origin.description
            var found: [(low: Int64, high: Int64)] = []
            for try await run in try await connection.query("""
                (SELECT low, high FROM applied_ranges WHERE origin = \(name) AND low < \(bottom) ORDER BY low DESC LIMIT 1)
                UNION ALL (SELECT low, high FROM applied_ranges WHERE origin = \(name) AND low >= \(bottom) AND low <= \(top))
                """, logger: logger).decode((Int64, Int64).self) {
                found.append(run)
            }
            runs.received(found, origin: origin, span: span)
        }
    }

    /// Marks `ids` applied in `runs` (reading the stored runs around them first where needed) and writes the runs that changed.
    func markApplied(_ ids: [MutationID], in runs: inout AppliedRuns, on connection: PostgresConnection) async throws {
        try await readAppliedRuns(for: ids, into: &runs, on: connection)
        for id in ids { runs.mark(id) }
        let writes = runs.writes
        guard !writes.isEmpty else { return }
        let deleted = writes.flatMap { write in write.delete.map { (write.origin, $0) } }
        if !deleted.isEmpty {
            try await connection.query("""
                DELETE FROM applied_ranges a USING unnest(\(deleted.map(\.0))::text[], \(deleted.map(\.1))::bigint[]) AS d(origin, low)
                WHERE a.origin = d.origin AND a.low = d.low
                """, logger: logger)
        }
        let inserted = writes.flatMap { write in write.insert.map { (write.origin, $0) } }
        try await connection.query("""
            INSERT INTO applied_ranges (origin, low, high)
            SELECT * FROM unnest(\(inserted.map(\.0))::text[], \(inserted.map(\.1.lowerBound))::bigint[], \(inserted.map(\.1.upperBound))::bigint[])
            """, logger: logger)
    }

    // MARK: Apply

    /// Merges the accepted mutations into the stored records, records the
    /// conflicts it saw first, logs everything (and files that moved, again);
    /// returns how many conflict records it created.
    func apply(_ mutations: [Mutation], reads: PushReads, applied: AppliedRuns, now: UInt64, on connection: PostgresConnection) async throws -> Int {
        var reads = reads
        let changes = mutations.flatMap(\.changes)
        // Records this push may move, and their owners before.
        let moving = Set(changes.lazy.filter { RecordOwner.moves($0) }.map { RecordKey(table: $0.table, record: $0.record) })
            .filter { reads.found[$0] != nil }
        var ownersBefore: [RecordKey: RecordOwner] = [:]
        for key in moving {
            ownersBefore[key] = try await owner(of: key, in: [:], reads: &reads, on: connection)
        }

        let snapshot = reads
        let merged = try MergedRecords.merging(changes[...], into: { try snapshot.stored($0) })
        let (overwrites, newest) = (merged.overwrites, merged.newest)
        var after = Dictionary(merged.records.map { ($0.key, $0.state) }, uniquingKeysWith: { $1 })
        var order = merged.records.map(\.key)

        // The server's clock: it has seen `newest`; it stamps the conflict records it makes.
        var conflictKeys: [RecordKey] = []
        var seen = Set<String>()
        for overwrite in overwrites where seen.insert(ConflictRecord.id(for: overwrite)).inserted {
            conflictKeys.append(RecordKey(table: .conflict, record: ConflictRecord.id(for: overwrite)))
        }
        if !conflictKeys.isEmpty {
            try await lock(names: conflictKeys.map { "\($0.table.rawValue)/\($0.record)" }, on: connection)
            try await readAhead(Set(conflictKeys), into: &reads, on: connection)
        }
        var state = try await serverState(on: connection)
        state.clock.observe(newest)
        let conflicts = ConflictRecord.plan(for: overwrites, isStored: { id in
            let key = RecordKey(table: .conflict, record: id)
            return reads.found[key] != nil || after[key] != nil
        }, node: node, user: nil, clock: state.clock, counter: state.counter, now: now)
        (state.clock, state.counter) = (conflicts.clock, conflicts.counter)
        for (key, record) in conflicts.records {
            after[key] = record
            order.append(key)
        }
        let conflictMutations = conflicts.mutations

        // Owners as stored after the merge: the log's rows and each record's row name them.
        let saved = try await recordRows(order, states: after, reads: &reads, on: connection)
        try await Self.save(saved, on: connection, logger: logger)
        let owners = Dictionary(uniqueKeysWithValues: saved.compactMap { row in row.customer.map { (row.key, $0) } })

        var rows: [ChangeLogRow] = []
        for mutation in mutations + conflictMutations {
            for group in ChangeGroups(mutation.changes[...]).groups {
                let key = RecordKey(table: group.table, record: group.record)
                let own = group.ranges.flatMap { mutation.changes[$0] }
                var customer = owners[key]
                if customer == nil { customer = try await self.customer(of: key, in: after, reads: &reads, on: connection) }
                rows.append(ChangeLogRow(table: key.table.rawValue, record: key.record, origin: mutation.origin.description, customer: customer,
                                         changes: try ChangeLogCodec.encode(own, schema: key.table.schema), counter: Int64(clamping: mutation.counter)))
            }
        }
        rows += try await movedFiles(ownersBefore, after: after, reads: &reads, on: connection)

        // The conflict records' mutations are the server's, numbered under its clock's lock (taken above).
        var runs = applied
        try await markApplied((mutations + conflictMutations).map { MutationID(origin: $0.origin, counter: $0.counter) }, in: &runs, on: connection)
        try await save(state, on: connection)
        try await PostgresChangeLog.append(rows, receivedAt: now, on: connection, logger: logger)
        return conflicts.records.count
    }

    /// The customer whose file holds `key` (nil: unknown), following parents through `overlay`, then what was
    /// read, reading what is missing. Without the customer's scope: parsing its team for every record cost a
    /// twentieth of a push.
    func customer(of key: RecordKey, in overlay: [RecordKey: RecordState], reads: inout PushReads,
                  on connection: PostgresConnection) async throws -> String? {
        try await following(key, in: overlay, reads: &reads, on: connection) { try RecordOwner.file(of: key, in: $0)?.customer }
    }

    /// Whose file holds `key`, following parents through `overlay`, then what was read, reading what is missing.
    func owner(of key: RecordKey, in overlay: [RecordKey: RecordState], reads: inout PushReads,
               on connection: PostgresConnection) async throws -> RecordOwner {
        try await following(key, in: overlay, reads: &reads, on: connection) { try RecordOwner.of(key, in: $0) }
    }

    /// `body` over the states of `overlay`, then what was read; what it misses is read and it runs again.
    private func following<T>(_ key: RecordKey, in overlay: [RecordKey: RecordState], reads: inout PushReads, on connection: PostgresConnection,
                              _ body: ((RecordKey) throws -> RecordState?) throws -> T) async throws -> T {
        while true {
            do {
                let snapshot = reads
                return try body { try overlay[$0] ?? snapshot.stored($0) }
            } catch let miss as PushReadMiss {
                try await readAhead(miss.needs.records, into: &reads, on: connection)
            }
        }
    }

    /// Log rows that give the files this push moved to their new holders: each moved
    /// record and everything under it again, with its stamps; for a customer whose
    /// scope changed, its history and an exit row for the scope it left.
    func movedFiles(_ before: [RecordKey: RecordOwner], after: [RecordKey: RecordState], reads: inout PushReads,
                    on connection: PostgresConnection) async throws -> [ChangeLogRow] {
        var rows: [ChangeLogRow] = []
        var owners: [RecordKey: RecordOwner] = [:]
        for (key, owner) in before {
            guard case .customer = owner else { continue }
            owners[key] = try await self.owner(of: key, in: after, reads: &reads, on: connection)
        }
        for move in MovedFile.moved(before: before, after: { owners[$0] ?? .unknown }) {
            for (record, state) in try await tree(of: move.key, on: connection) {
                let changes = state.changes(table: record.table, record: record.record)
                guard !changes.isEmpty else { continue }
                rows.append(ChangeLogRow(table: record.table.rawValue, record: record.record, origin: node.description, customer: move.customer,
                                         changes: try ChangeLogCodec.encode(changes, schema: record.table.schema)))
            }
            if let (old, new) = move.scopeChange, let state = after[move.key] ?? reads.found[move.key] {
                try await recordScopeChange(move.key.record, from: old, to: new, at: ScopeHistory.since(state), on: connection)
                rows.append(ChangeLogRow(table: RecordKind.customer.rawValue, record: move.key.record, origin: node.description, customer: nil,
                                         changes: try ChangeLogCodec.encode([FieldChange](), schema: RecordKind.customer.schema),
                                         exit: ChangeLogRow.Exit(branch: old.branch ?? "", manager: old.manager, team: Team.value(old.team).text)))
            }
        }
        return rows
    }

    /// A record and everything that hangs from it, as stored now, with the owner column brought up to date.
    func tree(of root: RecordKey, on connection: PostgresConnection) async throws -> [(RecordKey, RecordState)] {
        var result: [(RecordKey, RecordState)] = []
        for try await (kind, id, bytes) in try await connection.query("""
            WITH RECURSIVE tree (kind, id) AS (
                SELECT kind, id FROM records WHERE kind = \(root.table.rawValue) AND id = \(root.record)
                UNION SELECT r.kind, r.id FROM records r JOIN tree t ON r.parent = t.kind || '/' || t.id)
            SELECT r.kind, r.id, r.state FROM records r JOIN tree USING (kind, id) ORDER BY r.kind COLLATE "C", r.id COLLATE "C"
            """, logger: logger).decode((String, String, ByteBuffer).self) {
            guard let table = RecordKind(rawValue: kind) else { continue }
            result.append((RecordKey(table: table, record: id), try Self.state(bytes, table, id)))
        }
        // Their file is the root's now.
        var states = Dictionary(uniqueKeysWithValues: result.map { ($0.0, $0.1) })
        try await loadOwners(of: [root], into: &states, on: connection)
        let customer = RecordOwner.file(of: root, in: { states[$0] })?.customer
        try await connection.query("""
            WITH RECURSIVE tree (kind, id) AS (
                SELECT kind, id FROM records WHERE kind = \(root.table.rawValue) AND id = \(root.record)
                UNION SELECT r.kind, r.id FROM records r JOIN tree t ON r.parent = t.kind || '/' || t.id)
            UPDATE records SET customer = \(customer) FROM tree WHERE records.kind = tree.kind AND records.id = tree.id
            """, logger: logger)
        return result
    }

    /// Records that `customer` went from `old` to `new` at `hlc` (the first change also records `old` as its scope from the beginning).
    func recordScopeChange(_ customer: String, from old: CustomerScope, to new: CustomerScope, at hlc: HLC, on connection: PostgresConnection) async throws {
        try await connection.query("""
            INSERT INTO scope_history (customer, from_hlc, branch, manager, team)
            SELECT \(customer), 0, \(old.branch), \(old.manager), \(Team.value(old.team).text)
            WHERE NOT EXISTS (SELECT 1 FROM scope_history WHERE customer = \(customer))
            """, logger: logger)
        try await connection.query("""
            INSERT INTO scope_history (customer, from_hlc, branch, manager, team)
            VALUES (\(customer), \(Int64(bitPattern: hlc.rawValue)), \(new.branch), \(new.manager), \(Team.value(new.team).text))
            ON CONFLICT (customer, from_hlc) DO UPDATE SET branch = EXCLUDED.branch, manager = EXCLUDED.manager, team = EXCLUDED.team
            """, logger: logger)
    }

    // MARK: Pull

    /// The changes after `cursor` in the device's scope, bounded in rows and bytes, read in one snapshot.
    func pull(after cursor: Int64, for device: DeviceContext, limits: SyncLimits, maxChanges: Int?) async throws
        -> (changes: [FieldChange], cursor: Int64, more: Bool, left: [String]) {
        // A push only (`max_changes` 0): nothing read, the cursor stays.
        guard maxChanges != 0 else { return ([], cursor, false, []) }
        return try await transaction { connection in
            try await connection.query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY", logger: logger)
            var own: Set<NodeID> = [device.node]
            if device.user.role == .branch {
                for try await name in try await connection.query("SELECT node FROM relayed_nodes WHERE device = \(device.device)", logger: logger)
                    .decode(String.self) {
                    if let relayed = NodeID(name) { own.insert(relayed) }
                }
            }
            var scopes: [String: CustomerScope] = [:]
            var page = PullPageBuilder(device: device, cursor: cursor, limits: limits, maxChanges: maxChanges, own: own, departed: []) {
                scopes[$0]
            }
            let restricted = page.filtersByBranch
            let branch = device.user.branch ?? ""
            let serverNode = node.description
            let columns = """
                SELECT l.seq, l.tbl, l.record, l.changes, l.customer, l.exit_branch, l.exit_manager, l.exit_team,
                       c.id IS NOT NULL, c.branch, c.manager, c.team, l.origin
                FROM change_log l LEFT JOIN records c
                    ON c.kind = 'customers' AND c.id = COALESCE(l.customer, CASE WHEN l.exit_branch IS NOT NULL THEN l.record END)
                """
            /// Adds the rows of `query` to the page, row by row (a page's bytes bound what is held): how many were
            /// read, and whether the page filled.
            func take(_ query: PostgresQuery) async throws -> (rows: Int64, full: Bool) {
                var rows: Int64 = 0
                for try await (seq, tbl, record, bytes, customer, exitBranch, exitManager, exitTeam, known, cBranch, cManager, cTeam, origin)
                    in try await connection.query(query, logger: logger)
                    .decode((Int64, String, String, ByteBuffer, String?, String?, String?, String?, Bool, String?, String?, String?, String).self) {
                    rows += 1
                    // A holder's scope is the same in every row of the pull's snapshot: its team parsed once, not per row.
                    if known, let holder = customer ?? (exitBranch != nil ? record : nil), scopes[holder] == nil {
                        scopes[holder] = CustomerScope(branch: cBranch, manager: cManager, team: Team.members(cTeam.map(FieldValue.text) ?? .null))
                    }
                    let table = RecordKind(rawValue: tbl)
                    let exit = exitBranch.map { CustomerScope(branch: $0, manager: exitManager, team: Team.members(exitTeam.map(FieldValue.text) ?? .null)) }
                    let taken = try page.add(seq: seq, table: table, record: record, customer: customer, exit: exit,
                                             fromServer: origin == serverNode) { changes in
                        guard let table else { throw ChangeLogCodec.Malformed() }
                        try bytes.withUnsafeReadableBytes { try ChangeLogCodec.decode($0, table: table, record: record, into: &changes) }
                        return bytes.readableBytes
                    }
                    if !taken { return (rows, true) }
                }
                return (rows, false)
            }
            let head = try await connection.first("SELECT COALESCE(MAX(seq), 0) FROM change_log", as: Int64.self, logger: logger) ?? cursor
            if restricted, head - cursor <= limits.indexedPullWindow {
                // The device's rows through the indexes: a manager's, the log rows of the customers they manage or
                // whose team names them (`pg-v6-pull-by-customer`); a supervisor's or branch server's, the rows
                // written for its branch's customers (`pg-v7-pull-by-branch`); for everyone the province's lists
                // and the branch's exits. A superset the current scope narrows; a page's worth of rows at most,
                // rows past the limit wait for the next page.
                let limit = Int64(max(1, min(maxChanges ?? limits.maxChanges, limits.maxChanges)))
                var binds = PostgresBindings()
                func bind(_ value: some PostgresThrowingDynamicTypeEncodable) throws -> String {
                    try binds.append(value)
                    return "$\(binds.count)"
                }
                let (after, node, relaying, inBranch) = (try bind(cursor), try bind(device.node.description), try bind(device.device), try bind(branch))
                let notOwn = "origin <> \(node) AND origin NOT IN (SELECT node FROM relayed_nodes WHERE device = \(relaying))"
                let own: String
                if device.user.role == .manager {
                    let name = try bind(device.user.name)
                    own = """
                        SELECT seq FROM change_log WHERE seq > \(after) AND \(notOwn)
                            AND customer IN (SELECT id FROM records WHERE kind = 'customers' AND branch = \(inBranch) AND manager = \(name)
                                             UNION SELECT id FROM records WHERE kind = 'customers' AND branch = \(inBranch)
                                                 AND team IS NOT NULL AND strpos(team, \(name)) > 0)
                        """
                } else {
                    own = "SELECT seq FROM change_log WHERE branch = \(inBranch) AND seq > \(after) AND \(notOwn)"
                }
                let lists = RecordKind.provinceWideSQLList, rows = try bind(limit)
                let (read, full) = try await take(PostgresQuery(unsafeSQL: """
                    \(columns)
                    WHERE l.seq IN (
                        \(own)
                        UNION ALL SELECT seq FROM change_log WHERE seq > \(after) AND \(notOwn) AND tbl IN (\(lists))
                        UNION ALL SELECT seq FROM change_log WHERE seq > \(after) AND \(notOwn) AND exit_branch = \(inBranch)
                        ORDER BY seq LIMIT \(rows))
                    ORDER BY l.seq
                    """, binds: binds))
                if !full, read >= limit { page.endBeforeHead() }
                page.finish(head: head)
                return (page.changes, page.cursor, page.more, page.left)
            }
            // In batches of log numbers: a batch's bounds come from the log's index alone, then its rows
            // in scope (filtered in SQL) are read; a batch whose rows are all out of scope still moves on.
            var after = cursor
            let batch: Int64 = 2_000
            reading: while true {
                var bounds: (Int64, Int64)?
                for try await row in try await connection.query("""
                    SELECT COALESCE(max(seq), 0), count(*) FROM (SELECT seq FROM change_log WHERE seq > \(after) ORDER BY seq LIMIT \(batch)) AS s
                    """, logger: logger).decode((Int64, Int64).self) { bounds = row }
                guard let (upper, scanned) = bounds, scanned > 0 else { break }
                var query: PostgresQuery = """
                    \(unescaped: columns)
                    WHERE l.seq > \(after) AND l.seq <= \(upper) AND l.origin <> \(device.node.description)
                        AND l.origin NOT IN (SELECT node FROM relayed_nodes WHERE device = \(device.device))
                    ORDER BY l.seq
                    """
                if restricted {
                    query = """
                        \(unescaped: columns)
                        WHERE l.seq > \(after) AND l.seq <= \(upper) AND l.origin <> \(device.node.description)
                            AND l.origin NOT IN (SELECT node FROM relayed_nodes WHERE device = \(device.device))
                            AND (c.branch = \(branch) OR l.tbl IN (\(unescaped: RecordKind.provinceWideSQLList)) OR l.exit_branch = \(branch))
                        ORDER BY l.seq
                        """
                }
                if try await take(query).full { break reading }
                after = upper
                if scanned < batch { break }
            }
            page.finish(head: head)
            return (page.changes, page.cursor, page.more, page.left)
        }
    }
}
