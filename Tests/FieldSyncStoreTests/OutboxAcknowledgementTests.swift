import FieldSyncModel
import FieldSyncStore
import Foundation
import GRDB
import Testing

/// An answer's acknowledgements drop exactly the acknowledged mutations from
/// the outbox (taken in runs of consecutive counters), whatever their order,
/// repeats or gaps, and a counter no outbox can hold is ignored, not a trap.
@Suite struct OutboxAcknowledgementTests {
    /// A replica with `customers` customers written, one mutation each (at most 9: one-digit ids).
    static func replica(node: UInt64, customers: Int) throws -> Replica {
        let replica = try Replica.inMemory(wallClock: { 1_795_000_000_000 })
        try replica.initialize(ReplicaIdentity(node: NodeID(rawValue: node), branch: "Hangzhou", user: "Li Wei", createdAt: ""))
        for index in 1...customers {
            try replica.write([RecordEdit(.customer, "c0000000-0000-4000-8000-00000000000\(index)", [("name", .text("Customer \(index)")), ("level", .text("vip"))])])
        }
        return replica
    }

    @Test func exactlyTheAcknowledgedLeaveTheOutbox() throws {
        let replica = try Self.replica(node: 0xA2, customers: 9)
        let counters = try replica.outbox().map(\.counter)
        #expect(counters.count == 9)
        let acknowledged = [counters[4], counters[0], counters[1], counters[2], counters[1], counters[6], counters[7], UInt64.max]
        try replica.finishExchange(pulled: [], cursor: 0, acknowledged: acknowledged, rejected: [], syncedAt: "")
        #expect(try replica.outbox().map(\.counter) == [counters[3], counters[5], counters[8]])
    }

    /// A refused mutation stays in the outbox while the ones after it are acknowledged:
    /// the jump in counters after it is no lost entry. A jump after one not refused is.
    @Test func verifyAcceptsGapsAfterRefusedMutationsOnly() throws {
        let replica = try Self.replica(node: 0xA3, customers: 6)
        let counters = try replica.outbox().map(\.counter)
        try replica.finishExchange(pulled: [], cursor: 0, acknowledged: [counters[0], counters[2], counters[4], counters[5]],
                                   rejected: [RejectedMutation(counter: counters[1], reason: "outside your branch"),
                                              RejectedMutation(counter: counters[3], reason: "outside your branch")], syncedAt: "")
        #expect(try replica.outbox().map(\.counter) == [counters[1], counters[3]])
        let problems = try replica.verify()
        #expect(problems.isEmpty, "\(problems)")

        // An entry lost from the outbox (not refused, not acknowledged) is still found.
        try replica.writer.write { db in try db.execute(sql: "DELETE FROM rejections WHERE counter = ?", arguments: [Int64(counters[1])]) }
        #expect(try replica.verify().contains("outbox: counter \(counters[1] + 1) missing"))
        try replica.writer.write { db in try db.execute(sql: "DELETE FROM rejections") }
        #expect(try replica.verify().contains { $0.hasPrefix("outbox: last counter") })
    }

    /// A refusal of a counter no outbox can hold (a server's bug or a hostile answer) trapped the laptop.
    @Test func aRefusedCounterNoOutboxCanHoldIsPassedOver() throws {
        let replica = try Self.replica(node: 0xA4, customers: 2)
        let counters = try replica.outbox().map(\.counter)
        try replica.finishExchange(pulled: [], cursor: 0, acknowledged: [counters[0]],
                                   rejected: [RejectedMutation(counter: UInt64.max, reason: "no such mutation"),
                                              RejectedMutation(counter: counters[1], reason: "outside your branch")], syncedAt: "")
        #expect(try replica.rejections() == [RejectedMutation(counter: counters[1], reason: "outside your branch")])
        #expect(try replica.outbox().map(\.counter) == [counters[1]])
    }

    /// Refusals are counted sync by sync; a discarded action leaves the outbox for the `discarded`
    /// table, empties the fields that still hold its values (a later write stays), removes a record
    /// it alone created, and leaves a gap in the counters that `verify` accepts.
    @Test func aDiscardedActionIsKeptAndItsValuesLeaveTheRecords() throws {
        let replica = try Self.replica(node: 0xA5, customers: 1)
        let customer = "c0000000-0000-4000-8000-000000000001", other = "c0000000-0000-4000-8000-000000000002"
        try replica.finishExchange(pulled: [], cursor: 0, acknowledged: try replica.outbox().map(\.counter), rejected: [], syncedAt: "")
        try replica.write([RecordEdit(.customer, customer, [("notes", .text("typed")), ("services", .text("MPLS"))])])
        try replica.write([RecordEdit(.customer, customer, [("services", .text("MPLS, IDC"))])])
        try replica.write([RecordEdit(.customer, other, [("name", .text("Only here")), ("level", .text("standard"))])])
        try replica.write([RecordEdit(.customer, customer, [("name", .text("Renamed"))])])
        let counters = try replica.outbox().map(\.counter)
        for (sync, time) in ["2026-12-01T09:00:00+08:00", "2026-12-02T09:00:00+08:00"].enumerated() {
            try replica.finishExchange(pulled: [], cursor: 0, acknowledged: [],
                                       rejected: [RejectedMutation(counter: counters[0], reason: "reason \(sync)")], syncedAt: time)
        }
        #expect(try replica.rejections() == [RejectedMutation(counter: counters[0], reason: "reason 1", times: 2, since: "2026-12-01T09:00:00+08:00")])

        let report = try replica.discard(counter: counters[0], at: "2026-12-03T09:00:00+08:00")
        #expect(report == DiscardReport(records: [RecordKey(table: .customer, record: customer)], fieldsEmptied: 1, recordsRemoved: 0))
        let record = try #require(try replica.record(.customer, customer))
        #expect(record["notes"] == .null && record["services"] == .text("MPLS, IDC") && record["name"] == .text("Renamed"))
        #expect(try replica.discarded().map(\.counter) == [counters[0]] && replica.discarded().first?.refusal == "reason 1")
        #expect(try replica.rejections().isEmpty && replica.outbox().map(\.counter) == [counters[1], counters[2], counters[3]])
        let problems = try replica.verify()
        #expect(problems.isEmpty, "a discarded action's number is no lost entry: \(problems)")

        #expect(try replica.discard(counter: counters[2], at: "2026-12-03T09:00:00+08:00").recordsRemoved == 1)
        #expect(try replica.record(.customer, other) == nil)
        #expect(try replica.verify().isEmpty)
        #expect(throws: StoreError.self) { try replica.discard(counter: counters[2], at: "") }
    }

    /// A later action discarded over an earlier one still waiting gives the field back the earlier
    /// value (not emptied: `verify` would find the earlier action missing from the record); an action
    /// that offered back work this replica holds (after a restore) only leaves the outbox.
    @Test func discardingGivesBackWhatEarlierWaitingWorkWroteAndKeepsOfferedWork() throws {
        let replica = try Self.replica(node: 0xA6, customers: 1)
        let customer = "c0000000-0000-4000-8000-000000000001"
        try replica.write([RecordEdit(.customer, customer, [("notes", .text("first"))])])
        try replica.write([RecordEdit(.customer, customer, [("notes", .text("second"))])])
        let counters = try replica.outbox().map(\.counter)
        let report = try replica.discard(counter: counters[2], at: "")
        #expect(report.fieldsRestored == 1 && report.fieldsEmptied == 0 && !report.wasOffer)
        #expect(try replica.record(.customer, customer)?["notes"] == .text("first"))
        #expect(try replica.verify().isEmpty)

        // Acknowledged, then the server is restored: the re-offer is an offer; discarding it keeps every value.
        try replica.finishExchange(pulled: [], cursor: 0, acknowledged: [counters[0], counters[1]], rejected: [], syncedAt: "")
        #expect(try replica.reofferAfterServerRestore(incarnation: "ab12") == 1)
        let offer = try #require(try replica.outbox().first?.counter)
        let kept = try replica.discard(counter: offer, at: "")
        #expect(kept.wasOffer && kept.fieldsEmptied == 0 && kept.records == [RecordKey(table: .customer, record: customer)])
        #expect(try replica.record(.customer, customer)?["notes"] == .text("first") && replica.record(.customer, customer)?["name"] == .text("Customer 1"))
        #expect(try replica.outbox().isEmpty && replica.verify().isEmpty)
    }

    @Test func runsAreConsecutiveAscendingAndUnique() {
        #expect(Replica.runs(of: []) == [])
        #expect(Replica.runs(of: [7, 3, 4, 4, 5, 9, Int64.max, Int64.max - 1]) == [3...5, 7...7, 9...9, (Int64.max - 1)...Int64.max])
    }
}
