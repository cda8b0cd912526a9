import FieldSyncKPI
import FieldSyncModel
import GRDB

extension Replica {
    /// The records the KPIs need, read in one snapshot.
    public func kpiFacts() throws -> KPIFacts {
        try writer.read { db in try Self.kpiFacts(db) }
    }

    static func kpiFacts(_ db: Database) throws -> KPIFacts {
        try KPIFactsReader(db).read()
    }
}

extension Replica {
    /// One customer's monthly service report, read in one snapshot; nil when the replica does not hold the customer.
    public func serviceReport(customer id: String, period: ReportingPeriod, asOf: Timestamp) throws -> ServiceReport? {
        try writer.read { db in
            let facts = try Self.kpiFacts(db)
            let io = RecordIO(db)
            var records: [RecordKind: [(id: String, fields: ServiceReport.Fields)]] = [:]
            for kind in [RecordKind.visit, .fault, .complaint] {
                let schema = kind.schema
                try io.scan(kind) { recordID, state in
                    guard state.value("customer", in: schema) == .text(id) else { return }
                    records[kind, default: []].append((recordID, state.dictionary(in: schema)))
                }
            }
            return ServiceReport(customer: id, facts: facts, records: records, period: period, asOf: asOf)
        }
    }
}
