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
            var log = ChangeLogWriter(db, io: io)
            try log.appendOwn(mutation)
            try Self.logMoves(from: ownersBefore, io: io, log: &log, db)
            return mutation
        }
    }

    /// The KPI inputs a user may see (`AccessPolicy.visible`); all of them for the server's own command line.
    public func kpiFacts(for user: UserInfo?) throws -> KPIFacts {
        let facts = try kpiCache.facts(generation: replica.recordGeneration) { try replica.kpiFacts() }
        return user.map { AccessPolicy($0).visible(facts) } ?? facts
    }
}
