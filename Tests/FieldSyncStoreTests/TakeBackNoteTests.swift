import FieldSyncModel
@testable import FieldSyncStore
import GRDB
import Testing

/// The records whose server copy a supervisor's discard left to take back are kept in the replica
/// until taken, whatever happens to the sync that applied the discard.
@Suite struct TakeBackNoteTests {
    @Test func notedRecordsStayUntilTakenBack() throws {
        let replica = try Replica.inMemory(wallClock: { 1_795_000_000_000 })
        try replica.initialize(ReplicaIdentity(node: NodeID(rawValue: 0xA), branch: "Hangzhou", user: "Sue", createdAt: ""))
        #expect(try replica.recordsToTakeBack().isEmpty)
        let customer = RecordKey(table: .customer, record: "c0000000-0000-4000-8000-000000000001")
        let handover = RecordKey(table: .handover, record: "h0000000-0000-4000-8000-000000000001/with/a slash")
        try replica.writer.write { db in try Replica.noteToTakeBack([customer, handover], db) }
        try replica.writer.write { db in try Replica.noteToTakeBack([customer], db) }
        #expect(try replica.recordsToTakeBack() == [customer, handover], "noted once each; an id holding a slash reads back whole")
        try replica.tookBack([customer])
        #expect(try replica.recordsToTakeBack() == [handover])
        try replica.tookBack([handover])
        #expect(try replica.recordsToTakeBack().isEmpty)
    }
}
