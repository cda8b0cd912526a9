import FieldSyncKPI
import FieldSyncModel
import GRDB

extension Replica {
    /// The records the KPIs need, read in one snapshot, with their index built.
    public func kpiFacts() throws -> KPIFacts {
        try writer.read { db in
            let facts = try Self.kpiFacts(db)
            // The whole replica went through this connection's page cache: give it back.
            db.releaseMemory()
            return facts
        }.indexed()
    }

    static func kpiFacts(_ db: Database) throws -> KPIFacts {
        try KPIFactsReader(db).read()
    }
}

extension Replica {
    /// One customer's monthly service report; nil when the replica does not hold the customer.
    /// `facts` are the replica's KPI facts when the caller holds them already (a server's cache).
    public func serviceReport(customer id: String, period: ReportingPeriod, asOf: Timestamp, facts known: KPIFacts? = nil) throws -> ServiceReport? {
        let facts = try known ?? kpiFacts()
        return ServiceReport(customer: id, facts: facts, records: try serviceRecords(customer: id), period: period, asOf: asOf)
    }

    /// What a document about one of a customer's records reads (`CaseDocuments.documentKinds`):
    /// its visits, faults, complaints and agreements, and the notes of its faults and complaints.
    public func documentRecords(customer id: String) throws -> [RecordKind: [(id: String, fields: ServiceReport.Fields)]] {
        try writer.read { db in
            let io = RecordIO(db)
            var records: [RecordKind: [(id: String, fields: ServiceReport.Fields)]] = [:]
            for kind in [RecordKind.visit, .fault, .complaint, .agreement] {
                let schema = kind.schema
                try io.scan(kind, where: "customer", equals: .text(id)) { recordID, state in
                    records[kind, default: []].append((recordID, state.dictionary(in: schema)))
                }
            }
            for (noteKind, parentKind, field) in [(RecordKind.faultNote, RecordKind.fault, "fault"), (.complaintNote, .complaint, "complaint")] {
                let schema = noteKind.schema
                for parent in records[parentKind] ?? [] {
                    try io.scan(noteKind, where: field, equals: .text(parent.id)) { recordID, state in
                        records[noteKind, default: []].append((recordID, state.dictionary(in: schema)))
                    }
                }
            }
            return records
        }
    }

    /// A customer's visits, faults and complaints, by kind, for its service report.
    public func serviceRecords(customer id: String) throws -> [RecordKind: [(id: String, fields: ServiceReport.Fields)]] {
        try writer.read { db in
            let io = RecordIO(db)
            var records: [RecordKind: [(id: String, fields: ServiceReport.Fields)]] = [:]
            for kind in [RecordKind.visit, .fault, .complaint] {
                let schema = kind.schema
                try io.scan(kind, where: "customer", equals: .text(id)) { recordID, state in
                    records[kind, default: []].append((recordID, state.dictionary(in: schema)))
                }
            }
            return records
        }
    }
}
