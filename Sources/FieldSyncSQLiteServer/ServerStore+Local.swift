import FieldSyncKPI
import FieldSyncModel
import FieldSyncProtocol
import FieldSyncServerCore
import FieldSyncStore
import Foundation
import GRDB

extension ServerStore {
    /// A change made on the server itself (`fieldsync-server calendar`): written,
    /// validated and logged for every device in its scope, in one transaction.
    @discardableResult
    public func writeLocal(_ edits: [RecordEdit]) throws -> Mutation? {
        let now = self.now
        return try writer.write { db in
            let io = RecordIO(db)
            let movable = Set(edits.filter { edit in edit.fields.contains { RecordOwner.moves(table: edit.table, field: $0.0) } }
                .map { RecordKey(table: $0.table, record: $0.record) })
            let ownersBefore = try Self.owners(of: movable, io: io)
            guard let mutation = try Replica.write(edits, validate: true, now: now, io: io, db) else { return nil }
            var log = ChangeLogWriter(db, io: io, receivedAt: now)
            try log.appendOwn(mutation)
            try Self.logMoves(from: ownersBefore, io: io, log: &log, db)
            return mutation
        }
    }

    /// Writes again what this server itself wrote after `after` (its administrator's assignments,
    /// branches, calendar days) as the server database at `path` holds it: a restore carries them
    /// from the database it replaced. Every field stamped by this server's node later than the
    /// backup's clock, with its original stamp, merged, and logged as the server's own (only the
    /// records it changes; files it moves logged again for their new owners). A record this
    /// database does not hold is passed over (but for the province's lists): a server-stamped
    /// field alone would make a stub of it; the device that created it offers it back. Records in
    /// batches of 500, a transaction each. Returns how many records changed.
    public func carryOwnWrites(from path: String, after: HLC) throws -> Int {
        guard let node = try replica.identity()?.node else { return 0 }
        var configuration = Configuration()
        configuration.readonly = true
        let old = try DatabaseQueue(path: path, configuration: configuration)
        defer { try? old.close() }
        var own: [[FieldChange]] = []
        for kind in RecordKind.allCases {
            // A kind the old file does not lay out as this version does is passed over.
            try? old.read { db in
                try RecordIO(db).scan(kind) { id, state in
                    let changes = state.changes(table: kind, record: id).filter { $0.node == node && $0.hlc > after }
                    if !changes.isEmpty { own.append(changes) }
                }
            }
        }
        var changed = 0
        let now = self.now
        for batch in stride(from: 0, to: own.count, by: 500).map({ Array(own[$0..<min($0 + 500, own.count)]) }) {
            changed += try writer.write { db in
                let io = RecordIO(db)
                // Only what changes a record this database holds is written and logged.
                var changes: [FieldChange] = []
                for record in batch {
                    guard let first = record.first else { continue }
                    let stored = try io.load(first.table, first.record)
                    // A handover this server wrote after the backup is new to it, but its file is held: it is
                    // carried with the change of manager it records (`HandoverRecords`).
                    let heldFile = first.table == .handover
                        ? try record.first { $0.field == "customer" }?.value.text.map { try io.load(.customer, $0) != nil } ?? false
                        : false
                    guard stored != nil || first.table.isProvinceWide || heldFile else { continue }
                    var state = stored ?? RecordState(fieldCount: first.table.schema.fields.count)
                    var ignored: [Overwrite] = []
                    if RecordMerge.apply(record, to: &state, schema: first.table.schema, overwrites: &ignored) { changes += record }
                }
                guard !changes.isEmpty else { return 0 }
                let movable = Set(changes.filter { RecordOwner.moves($0) }.map { RecordKey(table: $0.table, record: $0.record) })
                let ownersBefore = try Self.owners(of: movable, io: io)
                let report = try Replica.apply(changes[...], now: now, db)
                var log = ChangeLogWriter(db, io: io, receivedAt: now)
                try log.appendOwn(Mutation(origin: node, counter: try Replica.takeCounter(db), changes: changes))
                for conflicts in report.conflictMutations { try log.appendOwn(conflicts) }
                try Self.logMoves(from: ownersBefore, io: io, log: &log, db)
                return report.recordsChanged
            }
        }
        return changed
    }

    /// The KPI inputs a user may see (`AccessPolicy.visible`); all of them for the server's own command line.
    public func kpiFacts(for user: UserInfo?) throws -> KPIFacts {
        let facts = try kpiCache.facts(generation: replica.recordGeneration) { try replica.kpiFacts() }
        return user.map { AccessPolicy($0).visible(facts) } ?? facts
    }
}
