import FieldSyncKPI
import FieldSyncModel
import FieldSyncStore
import FieldSyncTestSupport
import Foundation
import GRDB
import Testing

/// A replica written before the handbook fields (migration `v7-handbook`)
/// keeps every record, gains the new fields empty, and passes `verify`.
@Suite struct HandbookMigrationTests {
    @Test func aReplicaFromBeforeTheHandbookFieldsKeepsItsRecords() throws {
        let folder = try TemporaryFolder()
        let path = folder.path("replica.sqlite")
        let customer = "c0000000-0000-4000-8000-000000000001", agreement = "c0000000-0000-4000-8000-000000000002"
        let fault = "c0000000-0000-4000-8000-000000000003"
        do {
            let replica = try Replica.open(path: path)
            try replica.initialize(ReplicaIdentity(node: NodeID(rawValue: 0xB7), branch: "Hangzhou", user: "Li Wei", createdAt: ""))
            try replica.write([RecordEdit(.customer, customer, [("name", .text("Acme")), ("level", .text("vip")), ("manager", .text("Li Wei"))])])
            try replica.write([RecordEdit(.agreement, agreement, [("customer", .text(customer)), ("number", .text("A-1")), ("ends", .text("2027-05-31"))])])
            try replica.write([RecordEdit(.fault, fault, [("customer", .text(customer)), ("symptom", .text("alarm")),
                                                          ("reported_at", .text("2026-11-17T09:00:00+08:00")), ("status", .text("1:reported"))])])
            try replica.close()
        }
        // Back to the schema of the version before: the handbook columns and the migration's record gone.
        let queue = try DatabaseQueue(path: path)
        try queue.write { db in
            for (table, column) in [("customers", "since"), ("agreements", "restore_hours"), ("agreements", "renewal_notice_at"),
                                    ("agreements", "renewed_at"), ("agreements", "termination_notice_at"),
                                    ("faults", "ticket"), ("faults", "dispatched_to"), ("faults", "site")] {
                try db.execute(sql: "ALTER TABLE \(table) DROP COLUMN \(column)")
            }
            try db.execute(sql: "DELETE FROM grdb_migrations WHERE identifier = 'v7-handbook'")
        }
        try queue.close()

        let replica = try Replica.open(path: path)
        #expect(try replica.verify().isEmpty)
        #expect(try replica.record(.customer, customer)?["name"] == .text("Acme"))
        #expect(try replica.record(.agreement, agreement)?["ends"] == .text("2027-05-31"))
        #expect(try replica.record(.fault, fault)?["symptom"] == .text("alarm"))
        #expect(try replica.record(.fault, fault)?["ticket"] == .null)
        // The new fields take values, and the KPIs read them.
        try replica.write([RecordEdit(.agreement, agreement, [("restore_hours", .int(2))]),
                           RecordEdit(.fault, fault, [("ticket", .text("CRM-9"))])])
        #expect(try replica.record(.fault, fault)?["ticket"] == .text("CRM-9"))
        let facts = try replica.kpiFacts()
        #expect(facts.agreements.first?.restoreHours == 2 && facts.faults.count == 1)
        #expect(try replica.verify().isEmpty)
        try replica.close()
    }
}
