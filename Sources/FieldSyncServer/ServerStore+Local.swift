import FieldSyncKPI
import FieldSyncModel
import FieldSyncProtocol
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
            let movable = Set(edits.filter { edit in edit.fields.contains { Self.moves(table: edit.table, field: $0.0) } }
                .map { RecordKey(table: $0.table, record: $0.record) })
            let ownersBefore = try Self.owners(of: movable, io: io)
            guard let mutation = try Replica.write(edits, validate: true, now: now, io: io, db) else { return nil }
            var log = ChangeLogWriter(db, io: io)
            try log.appendOwn(mutation)
            try Self.logMoves(from: ownersBefore, io: io, log: &log, db)
            return mutation
        }
    }

    /// The server's clock as a time in its own zone: the default `as_of` of KPI reports.
    public var localNow: Timestamp {
        Timestamp(epochSeconds: Int64(now / 1000), offsetMinutes: TimeZone.current.secondsFromGMT() / 60)
    }

    /// The KPI inputs a user may see (`AccessPolicy.visible`); all of them for the server's own command line.
    public func kpiFacts(for user: UserInfo?) throws -> KPIFacts {
        let facts = try kpiCache.facts(generation: replica.recordGeneration) { try replica.kpiFacts() }
        return user.map { AccessPolicy($0).visible(facts) } ?? facts
    }

    /// `compute` on the facts `user` may see, or its result kept from an
    /// earlier request with the same `key` while no record changed since.
    /// The key must name everything the result depends on besides the facts and the user.
    public func kpiResult<T: Sendable>(_ key: String, for user: UserInfo, compute: (KPIFacts) throws -> T) throws -> T {
        let generation = replica.recordGeneration
        let scope = "\(user.role.rawValue)\u{1F}\(user.name)\u{1F}\(user.branch ?? "")\u{1F}"
        return try kpiCache.result(scope + key, generation: generation) { try compute(try kpiFacts(for: user)) }
    }

    /// One customer's monthly service report, or nil when the customer is not in `user`'s scope.
    public func serviceReport(customer: String, period: ReportingPeriod, asOf: Timestamp, for user: UserInfo) throws -> ServiceReport? {
        let facts = try kpiFacts(for: user)
        guard facts.customers[customer] != nil else { return nil }
        return try replica.serviceReport(customer: customer, period: period, asOf: asOf, facts: facts)
    }
}
