import FieldSyncModel
import FieldSyncProtocol
import Synchronization

/// The sync engine in memory: the reference the SQLite and PostgreSQL engines are
/// compared with (`EngineDifferentialTests`), and the proof of how little an engine
/// is. Everything it decides comes from this module's shared pieces, in the order
/// both engines follow:
///
/// - push: `PushRules.checkClock`, content checks, `PushDecider` (reads from the
///   dictionaries below), `MergedRecords.merging`, `ConflictRecord.plan`,
///   `MovedFile.moved`, one log row per record per mutation, `StampFloor`;
/// - pull: the log after the cursor through `PullPageBuilder`.
///
/// What only a SQLite branch server does (relaying its laptops' nodes, files that
/// departed upstream, work refused upstream) is refused here, as PostgreSQL refuses
/// to serve as a branch server. Nothing is durable: a test's process is its life.
package final class MemorySyncStorage: SyncStorage {
    package let node: NodeID
    /// The id of this history (`SyncResponse.incarnation`).
    package let incarnation = Incarnation.make()
    private let wallClock: @Sendable () -> UInt64
    private let state: Mutex<Stored>

    /// Everything the engine stores, as the SQL engines' tables hold it.
    private struct Stored {
        var records: [RecordKey: RecordState] = [:]
        var log: [Row] = []
        var applied = Set<MutationID>()
        var histories: [String: [ScopeHistory.Entry]] = [:]
        var people: [String: UserInfo] = [:]
        var devices: [String: Device] = [:]
        var clock = HybridClock()
        var counter: UInt64 = 0
    }

    private struct Device {
        var context: DeviceContext
        var enrolledAt: UInt64
        var floor = HLC.zero
    }

    /// A change-log row: one record's changes from one mutation, or an exit of a file from a scope.
    private struct Row {
        var table: RecordKind
        var record: String
        var origin: NodeID
        /// The customer whose file held the record when logged.
        var customer: String?
        var changes: [FieldChange]
        var exit: CustomerScope?
    }

    package init(node: NodeID, wallClock: @escaping @Sendable () -> UInt64) {
        self.node = node
        self.wallClock = wallClock
        state = Mutex(Stored())
    }

    package var serverNode: NodeID { node }

    // MARK: Administration

    /// Registers a person and a device of theirs (what enrolment stores), and returns the device as it authenticates.
    package func enrol(_ user: UserInfo, node: NodeID, device: String) -> DeviceContext {
        let now = wallClock()
        let context = DeviceContext(device: device, node: node, user: user)
        state.withLock { stored in
            stored.people[user.name] = user
            stored.devices[device] = Device(context: context, enrolledAt: now)
        }
        return context
    }

    /// Registers a branch, as `fieldsync-server branch add` does.
    package func addBranch(_ name: String) throws {
        try writeLocal(AdministrationRules.addBranch(name, registered: registeredBranches()))
    }

    /// Hands a customer over, as `fieldsync-server assign` does.
    package func assign(_ customer: String, manager: String, team: [String]?) throws {
        let (current, users) = state.withLock { ($0.records[RecordKey(table: .customer, record: customer)], Array($0.people.values)) }
        let records = users.map { UserRecord(id: $0.name, info: $0, createdAt: 0) }
        try writeLocal(AdministrationRules.assign(customer, customer: current, to: manager, team: team, users: records))
    }

    /// A change the server makes itself: stamped by its clock, merged, logged with the files it moves.
    package func writeLocal(_ edits: [RecordEdit]) throws {
        let now = wallClock()
        state.withLock { stored in
            let movable = edits.filter { edit in edit.fields.contains { RecordOwner.moves(table: edit.table, field: $0.0) } }
            let before = Self.owners(of: Set(movable.map { RecordKey(table: $0.table, record: $0.record) }), in: stored)
            let hlc = stored.clock.tick(nowMilliseconds: now)
            var changes: [FieldChange] = []
            let records = stored.records
            for edit in HandoverRecords.adding(to: edits, at: hlc.milliseconds, stored: { records[RecordKey(table: .customer, record: $0)] }) {
                let key = RecordKey(table: edit.table, record: edit.record)
                let edited = LocalEdit.changes(table: edit.table, record: edit.record, current: stored.records[key], fields: edit.fields,
                                               hlc: hlc, node: node)
                var record = stored.records[key] ?? RecordState(fieldCount: edit.table.schema.fields.count)
                var ignored: [Overwrite] = []  // based on what it replaces: never concurrent
                _ = RecordMerge.apply(edited, to: &record, schema: edit.table.schema, overwrites: &ignored)
                stored.records[key] = record
                changes += edited
            }
            guard !changes.isEmpty else { return }
            stored.counter += 1
            let mutation = Mutation(origin: node, counter: stored.counter, user: nil, changes: changes)
            stored.applied.insert(MutationID(origin: node, counter: mutation.counter))
            Self.log(mutation, in: &stored)
            logMoves(from: before, in: &stored)
        }
    }

    private func registeredBranches() -> [String] {
        state.withLock { Self.registeredBranches($0) }
    }

    // MARK: Sync

    package func sync(_ request: SyncRequest, from device: DeviceContext, limits: SyncLimits) async throws -> SyncOutcome {
        guard device.user.role != .branch else {
            throw ServerError.badRequest("the in-memory engine serves no branch servers (relaying is the SQLite engine's)")
        }
        let now = wallClock()
        try PushRules.checkClock(request, now: now, limits: limits)
        let refusals = request.mutations.map { PushRules.validateContent($0, now: now, limits: limits) }
        return try state.withLock { stored in
            try PushRules.checkHistory(request, incarnation: incarnation, head: Int64(stored.log.count))
            var conflictsCreated = 0
            let enrolledAt = stored.devices[device.device]?.enrolledAt ?? 0
            let floor = StampFloor(node: device.node, own: stored.devices[device.device]?.floor ?? .zero, enrolled: StampFloor.at(enrolledAt), now: now)
            let applied = stored.applied
            var decider = PushDecider(request, from: device, relaying: [], contentRefusals: refusals, isApplied: applied.contains,
                                      floor: floor, signatures: RelaySignatures(request, device: device.node, pinned: [:]))
            let decisions: PushDecisions
            deciding: while true {
                switch try decider.next() {
                case .read(let needs): decider.receive(Self.read(needs, in: stored))
                case .decided(let decided, _):
                    decisions = decided
                    break deciding
                }
            }
            let toApply = decisions.toApply.map { request.mutations[$0] }
            for mutation in toApply { stored.applied.insert(MutationID(origin: mutation.origin, counter: mutation.counter)) }
            if let raised = floor.raised(by: request, accepted: toApply, refusals: decisions.rejected.count, now: now, skew: limits.maxClockSkew) {
                stored.devices[device.device]?.floor = raised
            }
            if !toApply.isEmpty {
                let changes = toApply.flatMap(\.changes)
                let before = Self.owners(of: Set(changes.lazy.filter { RecordOwner.moves($0) }.map { RecordKey(table: $0.table, record: $0.record) }),
                                         in: stored)
                let records = stored.records
                let merged = MergedRecords.merging(changes[...], into: { records[$0] })
                for (key, record) in merged.records { stored.records[key] = record }
                stored.clock.observe(merged.newest)
                let conflicts = ConflictRecord.plan(for: merged.overwrites, isStored: { [records = stored.records] in
                    records[RecordKey(table: .conflict, record: $0)] != nil
                }, node: node, user: nil, clock: stored.clock, counter: stored.counter, now: now)
                (stored.clock, stored.counter) = (conflicts.clock, conflicts.counter)
                for (key, record) in conflicts.records { stored.records[key] = record }
                conflictsCreated = conflicts.records.count
                for mutation in toApply { Self.log(mutation, in: &stored) }
                for mutation in conflicts.mutations {
                    stored.applied.insert(MutationID(origin: node, counter: mutation.counter))
                    Self.log(mutation, in: &stored)
                }
                logMoves(from: before, in: &stored)
            }
            let page = try Self.pull(after: request.cursor, for: device, limits: limits, maxChanges: request.maxChanges, server: node, in: stored)
            let response = SyncResponse(accepted: decisions.accepted, rejected: decisions.rejected, changes: page.changes, cursor: page.cursor,
                                        more: page.more, serverTime: now, left: page.left, incarnation: incarnation)
            return SyncOutcome(response: response, conflictsCreated: conflictsCreated)
        }
    }

    /// Every stored record, for comparison with the other engines.
    package func records() -> [RecordKey: RecordState] { state.withLock { $0.records } }

    // MARK: Steps

    private static func read(_ needs: PushReadNeeds, in stored: Stored) -> PushReadResult {
        var result = PushReadResult()
        for key in needs.records { result.records[key] = stored.records[key] }
        for customer in needs.histories { result.histories[customer] = stored.histories[customer] ?? [] }
        if needs.people { result.people = stored.people }
        if needs.branches {
            result.branches = Set(registeredBranches(stored))
        }
        return result
    }

    private static func registeredBranches(_ stored: Stored) -> [String] {
        AdministrationRules.registered(stored.records.filter { $0.key.table == .branch }.map(\.value))
    }

    private static func owners(of keys: Set<RecordKey>, in stored: Stored) -> [RecordKey: RecordOwner] {
        Dictionary(uniqueKeysWithValues: keys.map { ($0, RecordOwner.of($0, in: { stored.records[$0] })) })
    }

    /// One row per record of `mutation`, naming the customer whose file holds it as stored now.
    private static func log(_ mutation: Mutation, in stored: inout Stored) {
        for group in ChangeGroups(mutation.changes[...]).groups {
            let key = RecordKey(table: group.table, record: group.record)
            let records = stored.records
            stored.log.append(Row(table: key.table, record: key.record, origin: mutation.origin,
                                  customer: RecordOwner.file(of: key, in: { records[$0] })?.customer,
                                  changes: group.ranges.flatMap { mutation.changes[$0] }))
        }
    }

    /// The files a write moved, logged again for their new holders; a customer's scope change kept and its exit logged.
    private func logMoves(from before: [RecordKey: RecordOwner], in stored: inout Stored) {
        let records = stored.records
        for move in MovedFile.moved(before: before, after: { RecordOwner.of($0, in: { records[$0] }) }) {
            let tree = records.keys.filter { key in
                var current = key
                for _ in 0...RecordOwner.maxDepth {
                    if current == move.key { return true }
                    guard let record = records[current], let parent = RecordOwner.parentKey(of: current.table, record) else { return false }
                    current = parent
                }
                return false
            }
            for key in tree.sorted(by: { ($0.table.rawValue, $0.record) < ($1.table.rawValue, $1.record) }) {
                guard let changes = records[key]?.changes(table: key.table, record: key.record), !changes.isEmpty else { continue }
                stored.log.append(Row(table: key.table, record: key.record, origin: node, customer: move.customer, changes: changes))
            }
            if let (old, new) = move.scopeChange, let customer = records[move.key] {
                var history = stored.histories[move.key.record] ?? [ScopeHistory.Entry(from: .zero, scope: old)]
                let since = ScopeHistory.since(customer)
                history.removeAll { $0.from == since }
                history.append(ScopeHistory.Entry(from: since, scope: new))
                stored.histories[move.key.record] = history.sorted { $0.from < $1.from }
                stored.log.append(Row(table: .customer, record: move.key.record, origin: node, customer: nil, changes: [], exit: old))
            }
        }
    }

    private static func pull(after cursor: Int64, for device: DeviceContext, limits: SyncLimits, maxChanges: Int?, server: NodeID,
                             in stored: Stored) throws -> (changes: [FieldChange], cursor: Int64, more: Bool, left: [String]) {
        guard maxChanges != 0 else { return ([], cursor, false, []) }
        var page = PullPageBuilder(device: device, cursor: cursor, limits: limits, maxChanges: maxChanges, own: [device.node], departed: []) {
            stored.records[RecordKey(table: .customer, record: $0)].map(CustomerScope.init)
        }
        let head = Int64(stored.log.count)
        var seq = max(cursor, 0)
        while seq < head {
            let row = stored.log[Int(seq)]
            seq += 1
            if row.origin == device.node { continue }
            let taken = try page.add(seq: seq, table: row.table, record: row.record, customer: row.customer, exit: row.exit,
                                     fromServer: row.origin == server) { changes in
                changes += row.changes
                // The size the SQL engines count: the row's encoded changes.
                return try ChangeLogCodec.encode(row.changes, schema: row.table.schema).count
            }
            if !taken { break }
        }
        page.finish(head: head)
        return (page.changes, page.cursor, page.more, page.left)
    }
}
