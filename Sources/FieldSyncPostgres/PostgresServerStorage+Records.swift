import FieldSyncModel
import FieldSyncProtocol
import FieldSyncServerCore
import FieldSyncStore
import Foundation
import Logging
import NIOCore
import PostgresNIO

/// Records in PostgreSQL: one row per record (`RecordStateCodec`), merged with
/// the model's rules like any replica's.
///
/// Writers lock, in this order, the records they write (advisory locks by key,
/// sorted, so a record not stored yet is locked too), then `server_state` when
/// they stamp, then the change log's head: no two transactions wait on each other in a circle.
extension PostgresServerStorage {
    /// Registered branches, by name.
    public func branches() async throws -> [String] {
        AdministrationRules.registered(try await records(of: .branch).map(\.state))
    }

    /// Registers a branch (again, if it was renamed away).
    public func addBranch(_ name: String) async throws {
        try await writeLocal(try AdministrationRules.addBranch(name, registered: try await branches()))
    }

    /// Renames a branch: the new name registered, its customers and users moved to it, the old name retired.
    public func renameBranch(_ old: String, to new: String) async throws -> (customers: Int, users: Int) {
        let customers = try await client.withConnection { connection in
            var ids: [String] = []
            for try await id in try await connection.query("""
                SELECT id FROM records WHERE kind = 'customers' AND branch = \(old) ORDER BY id COLLATE "C"
                """, logger: logger).decode(String.self) { ids.append(id) }
            return ids
        }
        let (name, edits) = try AdministrationRules.renameBranch(old, to: new, registered: try await branches(), customers: customers)
        try await writeLocal(edits)
        var moved: Int64 = 0
        for try await count in try await client.query("""
            WITH moved AS (UPDATE users SET branch = \(name) WHERE branch = \(old) RETURNING 1) SELECT count(*) FROM moved
            """, logger: logger).decode(Int64.self) { moved = count }
        // The retired name keeps no history: a branch registered later under it inherits nothing of these files' past.
        try await client.query("UPDATE scope_history SET branch = \(name) WHERE branch = \(old)", logger: logger)
        return (customers.count, Int(moved))
    }

    /// Hands a customer (id or unique prefix) over to a manager of its branch.
    public func assign(_ prefix: String, manager: String, team: [String]?) async throws -> String {
        let customers = try await records(of: .customer)
        let id = try AdministrationRules.resolve(prefix, among: customers.map(\.id), kind: .customer)
        let state = customers.first { $0.id == id }?.state
        try await writeLocal(try AdministrationRules.assign(id, customer: state, to: manager, team: team, users: try await users()))
        return id
    }

    /// Every record of a kind, in id order.
    public func records(of kind: RecordKind) async throws -> [(id: String, state: RecordState)] {
        try await client.withConnection { try await self.records(of: kind, on: $0) }
    }

    /// Every record of a kind, in id order.
    func records(of kind: RecordKind, on connection: PostgresConnection) async throws -> [(id: String, state: RecordState)] {
        var result: [(id: String, state: RecordState)] = []
        for try await (id, bytes) in try await connection.query("""
            SELECT id, state FROM records WHERE kind = \(kind.rawValue) ORDER BY id COLLATE "C"
            """, logger: logger).decode((String, ByteBuffer).self) {
            result.append((id, try Self.state(bytes, kind, id)))
        }
        return result
    }

    /// The stored states of `keys` (absent: not stored), one index probe per key (the `LATERAL … LIMIT 1`
    /// keeps the planner from hashing the whole table, whose cost grows with it).
    func load(_ keys: some Collection<RecordKey>, on connection: PostgresConnection) async throws -> [RecordKey: RecordState] {
        guard !keys.isEmpty else { return [:] }
        let kinds = keys.map(\.table.rawValue), ids = keys.map(\.record)
        var states: [RecordKey: RecordState] = [:]
        for try await (kind, id, bytes) in try await connection.query("""
            SELECT k.kind, k.id, r.state FROM unnest(\(kinds)::text[], \(ids)::text[]) AS k(kind, id),
                LATERAL (SELECT state FROM records r WHERE r.kind = k.kind AND r.id = k.id LIMIT 1) AS r
            """, logger: logger).decode((String, String, ByteBuffer).self) {
            guard let table = RecordKind(rawValue: kind) else { continue }
            states[RecordKey(table: table, record: id)] = try Self.state(bytes, table, id)
        }
        return states
    }

    /// Locks `keys` for writing until the transaction ends, in one order for every writer.
    func lock(_ keys: some Collection<RecordKey>, on connection: PostgresConnection) async throws {
        try await lock(names: keys.map { "\($0.table.rawValue)/\($0.record)" }, on: connection)
    }

    /// Advisory locks on `names` (records as "kind/id", nodes as "node/id"), taken in sorted order.
    func lock(names: [String], on connection: PostgresConnection) async throws {
        let sorted = Set(names).sorted()
        guard !sorted.isEmpty else { return }
        try await connection.query("""
            SELECT pg_advisory_xact_lock(hashtextextended(k, 7423)) FROM (SELECT unnest(\(sorted)::text[]) AS k ORDER BY 1) AS keys
            """, logger: logger)
    }

    /// The server's clock and mutation counter, locked until the transaction ends.
    func serverState(on connection: PostgresConnection) async throws -> ServerClockState {
        var stamped: (hlc: Int64, counter: Int64)?
        for try await row in try await connection.query("SELECT hlc, counter FROM server_state FOR UPDATE", logger: logger)
            .decode((Int64, Int64).self) { stamped = row }
        guard let (hlc, counter) = stamped else { throw PostgresStorageError("the server's identity in the database is missing") }
        return ServerClockState(clock: HybridClock(last: HLC(rawValue: UInt64(bitPattern: hlc))), counter: UInt64(clamping: counter))
    }

    func save(_ state: ServerClockState, on connection: PostgresConnection) async throws {
        try await connection.query("""
            UPDATE server_state SET hlc = \(Int64(bitPattern: state.clock.last.rawValue)), counter = \(Int64(clamping: state.counter))
            """, logger: logger)
    }

    /// `states` extended with every record above them, up to their customers: what `RecordOwner` follows.
    func loadOwners(of keys: [RecordKey], into states: inout [RecordKey: RecordState], on connection: PostgresConnection) async throws {
        var frontier = keys
        for _ in 0..<RecordOwner.maxDepth {
            let parents = Set(frontier.compactMap { key in states[key].flatMap { RecordOwner.parentKey(of: key.table, $0) } })
                .filter { states[$0] == nil }
            guard !parents.isEmpty else { return }
            for (key, state) in try await load(parents, on: connection) { states[key] = state }
            frontier = Array(parents)
        }
    }

    /// Writes records' states with their owner, the record they hang from, and a customer's scope.
    static func save(_ rows: [RecordRow], on connection: PostgresConnection, logger: Logger) async throws {
        guard !rows.isEmpty else { return }
        var kinds: [String] = [], ids: [String] = [], blobs: [ByteBuffer] = [], customers: [String] = [], parents: [String] = []
        var branches: [String] = [], managers: [String] = [], teams: [String] = []
        for row in rows {
            kinds.append(row.key.table.rawValue)
            ids.append(row.key.record)
            blobs.append(ByteBuffer(bytes: try RecordStateCodec.encode(row.state, table: row.key.table, record: row.key.record)))
            customers.append(row.customer ?? "")
            parents.append(row.parent ?? "")
            let schema = row.key.table.schema
            let isCustomer = row.key.table == .customer
            branches.append(isCustomer ? row.state.value("branch", in: schema).text ?? "" : "")
            managers.append(isCustomer ? row.state.value("manager", in: schema).text ?? "" : "")
            teams.append(isCustomer ? row.state.value("team", in: schema).text ?? "" : "")
        }
        // Arrays hold no NULL: an absent value travels as ''.
        try await connection.query("""
            INSERT INTO records (kind, id, state, customer, parent, branch, manager, team)
            SELECT k, i, s, NULLIF(c, ''), NULLIF(p, ''), NULLIF(b, ''), NULLIF(m, ''), NULLIF(t, '')
            FROM unnest(\(kinds)::text[], \(ids)::text[], \(blobs)::bytea[], \(customers)::text[], \(parents)::text[], \(branches)::text[],
                        \(managers)::text[], \(teams)::text[]) AS x(k, i, s, c, p, b, m, t)
            ON CONFLICT (kind, id) DO UPDATE SET state = EXCLUDED.state, customer = EXCLUDED.customer, parent = EXCLUDED.parent,
                branch = EXCLUDED.branch, manager = EXCLUDED.manager, team = EXCLUDED.team
            """, logger: logger)
    }

    /// The rows of records written in `order`, with their owners as stored after the write.
    func recordRows(_ order: [RecordKey], states: [RecordKey: RecordState], reads: inout PushReads,
              on connection: PostgresConnection) async throws -> [RecordRow] {
        var rows: [RecordRow] = []
        for key in order {
            guard let state = states[key] else { continue }
            let customer = try await self.customer(of: key, in: states, reads: &reads, on: connection)
            let parent = RecordOwner.parentKey(of: key.table, state).map { "\($0.table.rawValue)/\($0.record)" }
            rows.append(RecordRow(key: key, state: state, customer: customer, parent: parent))
        }
        return rows
    }

    /// Validates and records a change the server makes itself (branches, the
    /// calendar, handovers) as one mutation of the server's node, logged for every
    /// device in its scope; a file it moves is logged again for its new holders.
    /// - Returns: the mutation, or nil if it changed nothing.
    @discardableResult
    public func writeLocal(_ edits: [RecordEdit]) async throws -> Mutation? {
        let now = self.now
        let node = self.node
        // A file it moves waits on the log's rows of that file's customer (`PostgresChangeLog.append`): a
        // deadlock PostgreSQL breaks by aborting one side is run again.
        return try await retryingConflicts { try await writeLocalOnce(edits, now: now, node: node) }
    }

    private func writeLocalOnce(_ edits: [RecordEdit], now: UInt64, node: NodeID) async throws -> Mutation? {
        try await transaction { connection in
            let keys = edits.map { RecordKey(table: $0.table, record: $0.record) }
            let references = edits.flatMap { edit in
                edit.fields.compactMap { name, value -> RecordKey? in
                    guard case .reference(let target)? = edit.table.schema.spec(name)?.type, let id = value.text else { return nil }
                    return RecordKey(table: target, record: id)
                }
            }
            try await lock(keys, on: connection)
            var reads = PushReads()
            try await readAhead(Set(keys + references), into: &reads, on: connection)
            // Records this write may move, and their owners before.
            var ownersBefore: [RecordKey: RecordOwner] = [:]
            for edit in edits where edit.fields.contains(where: { RecordOwner.moves(table: edit.table, field: $0.0) }) {
                let key = RecordKey(table: edit.table, record: edit.record)
                if reads.found[key] != nil { ownersBefore[key] = try await owner(of: key, in: [:], reads: &reads, on: connection) }
            }
            var server = try await serverState(on: connection)
            let hlc = server.clock.tick(nowMilliseconds: now)
            // A change of manager writes its handover record too, as every writer does (`HandoverRecords`).
            let edits = try HandoverRecords.adding(to: edits, at: hlc.milliseconds) { try reads.stored(RecordKey(table: .customer, record: $0)) }
            try await readAhead(Set(edits.map { RecordKey(table: $0.table, record: $0.record) }), into: &reads, on: connection)
            var written: [RecordKey: RecordState] = [:]
            var order: [RecordKey] = []
            var changes: [FieldChange] = []
            for edit in edits {
                let key = RecordKey(table: edit.table, record: edit.record)
                let current = try written[key] ?? reads.stored(key)
                do {
                    try Replica.check(edit, current: current) { reads.found[$0] != nil || written[$0] != nil }
                } catch let error as StoreError {
                    throw ServerError.badRequest(error.description)
                }
                let editChanges = LocalEdit.changes(table: edit.table, record: edit.record, current: current, fields: edit.fields, hlc: hlc, node: node)
                guard !editChanges.isEmpty else { continue }
                var state = current ?? RecordState(fieldCount: edit.table.schema.fields.count)
                var overwrites: [Overwrite] = []  // a local write is based on what it replaces: never concurrent
                _ = RecordMerge.apply(editChanges, to: &state, schema: edit.table.schema, overwrites: &overwrites)
                if written.updateValue(state, forKey: key) == nil { order.append(key) }
                changes += editChanges
            }
            guard !changes.isEmpty else { return nil }
            let saved = try await recordRows(order, states: written, reads: &reads, on: connection)
            try await Self.save(saved, on: connection, logger: logger)
            let owners = Dictionary(uniqueKeysWithValues: saved.compactMap { row in row.customer.map { (row.key, $0) } })
            server.counter += 1
            let counter = server.counter
            let mutation = Mutation(origin: node, counter: counter, user: nil, changes: changes)
            var runs = AppliedRuns()
            try await markApplied([MutationID(origin: node, counter: counter)], in: &runs, on: connection)
            try await save(server, on: connection)
            var rows: [ChangeLogRow] = []
            for key in order {
                let own = changes.filter { $0.table == key.table && $0.record == key.record }
                rows.append(ChangeLogRow(table: key.table.rawValue, record: key.record, origin: node.description, customer: owners[key],
                                         changes: try ChangeLogCodec.encode(own, schema: key.table.schema), counter: Int64(clamping: counter)))
            }
            rows += try await movedFiles(ownersBefore, after: written, reads: &reads, on: connection)
            try await PostgresChangeLog.append(rows, receivedAt: now, on: connection, logger: logger)
            return mutation
        }
    }

    static func state(_ bytes: ByteBuffer, _ table: RecordKind, _ id: String) throws -> RecordState {
        try bytes.withUnsafeReadableBytes { try RecordStateCodec.decode($0, table: table, record: id) }
    }
}

/// The server's clock and the counter of its own mutations, as stored.
struct ServerClockState {
    var clock: HybridClock
    var counter: UInt64
}

extension PostgresServerStorage {
    /// Gives the database a new incarnation, after it was restored with PostgreSQL's tools:
    /// devices that synced with the history before are told at their next sync (`server_restored`).
    public func renewIncarnation() async throws -> String {
        let incarnation = Incarnation.make()
        try await client.query("UPDATE server_state SET incarnation = \(incarnation)", logger: logger)
        return incarnation
    }
}
