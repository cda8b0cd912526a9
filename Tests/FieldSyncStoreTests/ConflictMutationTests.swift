import FieldSyncModel
@testable import FieldSyncStore
import Foundation
import GRDB
import Testing

/// The conflict records a merge makes travel in mutations of bounded size.
@Suite struct ConflictMutationTests {
    /// 2,500 concurrent overwrites found in one merge made one mutation of some 25,000
    /// changes; a few more and it passed what a server takes in one push (100,000), so the
    /// outbox holding it could never be sent again.
    @Test func manyOverwritesMakeMutationsOfBoundedSize() throws {
        let a = try Replica.inMemory(wallClock: { 1_795_000_000_000 })
        let b = try Replica.inMemory(wallClock: { 1_795_000_000_000 })
        try a.initialize(ReplicaIdentity(node: NodeID(rawValue: 0xA), branch: "Hangzhou", user: "Li Wei", createdAt: ""))
        try b.initialize(ReplicaIdentity(node: NodeID(rawValue: 0xB), branch: "Hangzhou", user: "Ming", createdAt: ""))
        var rng = SplitMix64(seed: 3)
        let ids = (0..<2_500).map { _ in RecordID.make(using: &rng) }
        let created = try #require(try a.writer.write { db in
            try Replica.write(ids.map { RecordEdit(.customer, $0, [("name", .text("Customer")), ("level", .text("standard"))]) },
                              validate: false, now: 1_795_000_000_000, io: RecordIO(db), db)
        })
        try b.apply(remote: created.changes)
        // Both change every customer's notes, neither having seen the other's.
        let fromA = try #require(try a.writer.write { db in
            try Replica.write(ids.map { RecordEdit(.customer, $0, [("notes", .text("from A"))]) }, validate: false, now: 1_795_000_000_100, io: RecordIO(db), db)
        })
        _ = try b.writer.write { db in
            try Replica.write(ids.map { RecordEdit(.customer, $0, [("notes", .text("from B"))]) }, validate: false, now: 1_795_000_000_100, io: RecordIO(db), db)
        }

        let report = try b.apply(remote: fromA.changes)
        #expect(report.conflictsCreated.count == 2_500)
        #expect(report.conflictMutations.count == 3)
        for mutation in report.conflictMutations {
            #expect(Set(mutation.changes.map(\.record)).count <= Replica.conflictsPerMutation)
        }
        #expect(Set(report.conflictMutations.flatMap { $0.changes.map(\.record) }).count == 2_500, "each conflict record in one mutation")
        // They wait in the outbox, each its own counter, after B's own edit.
        let outbox = try b.outbox()
        #expect(outbox.count == 4, "B's notes and three of conflict records: \(outbox.count)")
        #expect(Set(outbox.map(\.counter)).count == outbox.count)
        #expect(try b.verify().isEmpty)
    }
}
