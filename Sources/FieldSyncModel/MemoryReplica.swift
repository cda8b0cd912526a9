/// A replica held in memory: the reference implementation of what a replica
/// does with local writes and remote changes, without SQLite.
///
/// The SQLite store follows the same steps through the same pure functions;
/// the property tests run thousands of random schedules against this type and
/// check the store against it.
public struct MemoryReplica: Sendable {
    public let node: NodeID
    public private(set) var clock: HybridClock
    public private(set) var tables: [RecordKind: [String: RecordState]] = [:]
    public private(set) var outbox: [Mutation] = []
    private var counter: UInt64 = 0

    public init(node: NodeID, clock: HybridClock = HybridClock()) {
        self.node = node
        self.clock = clock
    }

    public func record(_ table: RecordKind, _ id: String) -> RecordState? { tables[table]?[id] }

    /// Records a local action. Returns the mutation, or nil if it changed nothing.
    @discardableResult
    public mutating func write(
        _ edits: [(table: RecordKind, record: String, fields: [(String, FieldValue)])],
        nowMilliseconds now: UInt64
    ) -> Mutation? {
        var ticked = clock
        let hlc = ticked.tick(nowMilliseconds: now)
        var changes: [FieldChange] = []
        for edit in edits {
            changes += LocalEdit.changes(
                table: edit.table, record: edit.record, current: record(edit.table, edit.record),
                fields: edit.fields, hlc: hlc, node: node)
        }
        guard !changes.isEmpty else { return nil }
        clock = ticked
        var ignored: [Overwrite] = []
        merge(changes, overwrites: &ignored)
        counter += 1
        let mutation = Mutation(origin: node, counter: counter, changes: changes)
        outbox.append(mutation)
        return mutation
    }

    /// Applies remote changes. Concurrent overwrites not yet known here become
    /// conflict records, written as a local mutation so they replicate.
    @discardableResult
    public mutating func apply(_ changes: [FieldChange], nowMilliseconds now: UInt64) -> [Overwrite] {
        var overwrites: [Overwrite] = []
        merge(changes, overwrites: &overwrites)
        if let newest = changes.map(\.hlc).max() { clock.observe(newest) }
        recordConflicts(overwrites, nowMilliseconds: now)
        return overwrites
    }

    private mutating func merge(_ changes: [FieldChange], overwrites: inout [Overwrite]) {
        let merged = MergedRecords.merging(changes[...], into: { record($0.table, $0.record) })
        for (key, state) in merged.records { tables[key.table, default: [:]][key.record] = state }
        overwrites += merged.overwrites
    }

    private mutating func recordConflicts(_ overwrites: [Overwrite], nowMilliseconds now: UInt64) {
        let plan = ConflictRecord.plan(for: overwrites, isStored: { record(.conflict, $0) != nil }, node: node, user: nil,
                                       clock: clock, counter: counter, now: now)
        for (key, state) in plan.records { tables[key.table, default: [:]][key.record] = state }
        outbox += plan.mutations
        (clock, counter) = (plan.clock, plan.counter)
    }
}
