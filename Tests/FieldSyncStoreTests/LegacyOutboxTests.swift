import FieldSyncModel
import FieldSyncStore
import Foundation
import GRDB
import Testing

/// Outboxes written before sync bodies grouped changes by record (`changes`,
/// one object per field change) still count, read and re-stamp.
@Suite struct LegacyOutboxTests {
    @Test func aMutationInTheOlderFormStillReadsCountsAndRestamps() throws {
        var now: UInt64 = 1_795_000_000_000
        let replica = try Replica.inMemory(wallClock: { 1_795_000_000_000 })
        try replica.initialize(ReplicaIdentity(node: NodeID(rawValue: 0xA1), branch: "Hangzhou", user: "Li Wei", createdAt: ""))
        let customer = "c0000000-0000-4000-8000-000000000001"
        try replica.write([RecordEdit(.customer, customer, [("name", .text("Acme")), ("level", .text("vip"))])])
        let current = try replica.outbox()
        #expect(current.count == 1 && current[0].changes.count == 2)

        // The same action as an older version stored it.
        now += 1_000
        let change = FieldChange(table: .customer, record: customer, field: "notes", value: .text("gate code 4711"),
                                 hlc: HLC(milliseconds: now, counter: 0), node: NodeID(rawValue: 0xA1), base: .zero)
        struct Legacy: Encodable { var origin: NodeID; var counter: UInt64; var user: String; var changes: [FieldChange] }
        let body = try JSONEncoder().encode(Legacy(origin: NodeID(rawValue: 0xA1), counter: 99, user: "Li Wei", changes: [change]))
        try replica.writer.write { db in
            try db.execute(sql: "INSERT INTO outbox (counter, hlc, body) VALUES (99, ?, ?)", arguments: [Int64(change.hlc.rawValue), body])
        }

        #expect(try replica.status().outboxChanges == 3)
        let outbox = try replica.outbox()
        #expect(outbox.map(\.counter) == [current[0].counter, 99])
        #expect(outbox[1].changes == [change])
        #expect(try replica.outboxBodies(after: 0, maxMutations: 10, maxBytes: .max).count == 2)

        // Re-stamping rewrites it in the current form.
        try replica.setClockOffset(60_000)
        #expect(try replica.restampOutbox() == 2)
        let rewritten = try replica.writer.read { db in try Data.fetchOne(db, sql: "SELECT body FROM outbox WHERE counter = 99")! }
        #expect(String(decoding: rewritten, as: UTF8.self).contains(#""records":"#))
        #expect(try replica.status().outboxChanges == 3)
        #expect(try replica.outbox()[1].changes.map(\.value) == [.text("gate code 4711")])
    }
}
