import FieldSyncModel
import Foundation
import GRDB

/// What applying a batch of remote changes did.
public struct ApplyReport: Sendable, Equatable {
    public var changes = 0
    /// Records whose stored state changed.
    public var recordsChanged = 0
    /// Conflict records this replica created (concurrent overwrites it was first to see).
    public var conflictsCreated: [String] = []
    /// The local mutations that carry those conflict records, to replicate them
    /// (`Replica.conflictsPerMutation` each: every one must fit in one push).
    public var conflictMutations: [Mutation] = []
    /// Customers whose files this replica dropped after they were handed over.
    public var filesDropped: [String] = []
    /// Actions taken out of the outbox on a supervisor's decision (`OutboxDecision`).
    public var discarded: [UInt64] = []

    public init() {}
}

extension Replica {
    /// Merges a batch of remote field changes into the replica in one
    /// transaction. Order, duplicates and partial mutations do not matter.
    @discardableResult
    public func apply(remote changes: [FieldChange]) throws -> ApplyReport {
        try apply(remote: changes[...])
    }

    /// Merges a page of a larger batch without copying it.
    @discardableResult
    public func apply(remote changes: ArraySlice<FieldChange>) throws -> ApplyReport {
        let now = wallClock()
        return try writer.write { db in try Self.apply(changes, now: now, db) }
    }

    /// Merges changes inside a transaction the caller holds (the server logs them in the same one).
    /// `preloaded` are records the caller read in this transaction (nil: not stored), not read again.
    public static func apply(_ changes: ArraySlice<FieldChange>, now: UInt64, _ db: Database,
                             preloaded: [RecordKey: RecordState?] = [:]) throws -> ApplyReport {
        let io = RecordIO(db)
        var report = ApplyReport()
        report.changes = changes.count
        var overwrites: [Overwrite] = []
        var newest = HLC.zero
        // Insert-first while the records keep turning out new (a first sync): the insert
        // itself finds out whether the record is stored, so the lookup before it is saved.
        // A record found stored switches to lookup-first until one is missing again.
        var expectNew = true
        for group in ChangeGroups(changes).groups {
            let schema = group.table.schema
            func merge(into state: inout RecordState, _ found: inout [Overwrite]) -> Bool {
                var changed = false
                for range in group.ranges {
                    changed = RecordMerge.apply(changes[range], to: &state, schema: schema, overwrites: &found) || changed
                }
                return changed
            }
            for range in group.ranges {
                for position in range where changes[position].hlc > newest { newest = changes[position].hlc }
            }
            let known = preloaded.isEmpty ? nil : preloaded[RecordKey(table: group.table, record: group.record)]
            if known == nil, expectNew {
                var state = RecordState(fieldCount: schema.fields.count)
                var found: [Overwrite] = []
                // Nothing merges into an empty record: nothing would into a stored one either.
                guard merge(into: &state, &found) else { continue }
                if try io.saveIfNew(group.table, group.record, state) {
                    overwrites += found
                    report.recordsChanged += 1
                    continue
                }
                expectNew = false
            }
            let stored = try known ?? io.load(group.table, group.record)
            if stored == nil { expectNew = true }
            var state = stored ?? RecordState(fieldCount: schema.fields.count)
            if merge(into: &state, &overwrites) {
                try io.save(group.table, group.record, state)
                report.recordsChanged += 1
            }
        }
        try finish(newest: newest, overwrites: overwrites, now: now, io: io, db, into: &report)
        return report
    }

    /// Stores records the caller merged already, as `apply` would have stored them: the server's
    /// scope check merges each accepted mutation into the records to authorise it, and its
    /// results are what the merge would write (merging them again cost a tenth of a push's writer).
    public static func store(_ merged: MergedRecords, now: UInt64, _ db: Database) throws -> ApplyReport {
        let io = RecordIO(db)
        var report = ApplyReport()
        report.changes = merged.changes
        for record in merged.records {
            try io.save(record.key.table, record.key.record, record.state)
            report.recordsChanged += 1
        }
        try finish(newest: merged.newest, overwrites: merged.overwrites, now: now, io: io, db, into: &report)
        return report
    }

    /// What follows a merge: the clock learns the newest stamp, and the overwrites become conflict records.
    private static func finish(newest: HLC, overwrites: [Overwrite], now: UInt64, io: RecordIO, _ db: Database, into report: inout ApplyReport) throws {
        var clock = try clock(db)
        clock.observe(newest)
        try saveClock(clock, db)
        if newest > HLC(rawValue: UInt64(try meta(MetaKey.remoteHLC, db) ?? "0") ?? 0) {
            try setMeta(MetaKey.remoteHLC, String(newest.rawValue), db)
        }
        report.conflictMutations = try recordConflicts(overwrites, now: now, io: io, db)
        report.conflictsCreated = Set(report.conflictMutations.flatMap { $0.changes.map(\.record) }).sorted()
    }

    /// Most conflict records in one mutation (`ConflictRecord.perMutation`).
    public static let conflictsPerMutation = ConflictRecord.perMutation

    /// Writes a conflict record for each overwrite no replica has reported here yet,
    /// as local mutations (`conflictsPerMutation` each) so they replicate like any other change.
    private static func recordConflicts(_ overwrites: [Overwrite], now: UInt64, io: RecordIO, _ db: Database) throws -> [Mutation] {
        guard !overwrites.isEmpty else { return [] }
        let (clock, counter) = try clockAndCounter(db)
        // The offset learnt from the server corrects a laptop clock that is off.
        let plan = try ConflictRecord.plan(for: overwrites, isStored: { try io.load(.conflict, $0) != nil }, node: try requireNode(db),
                                           user: try meta(MetaKey.user, db), clock: HybridClock(last: clock), counter: counter,
                                           now: UInt64(max(0, Int64(clamping: now) &+ (try clockOffset(db)))))
        for (key, state) in plan.records { try io.save(key.table, key.record, state) }
        for mutation in plan.mutations {
            try db.cachedStatement(sql: "INSERT INTO outbox (counter, hlc, body) VALUES (?, ?, ?)")
                .execute(arguments: [Int64(clamping: mutation.counter), Int64(bitPattern: mutation.changes.first?.hlc.rawValue ?? 0),
                                     Data(mutation.jsonBytes())])
        }
        try setMeta(MetaKey.counter, String(plan.counter), db)
        try saveClock(plan.clock, db)
        return plan.mutations
    }
}
