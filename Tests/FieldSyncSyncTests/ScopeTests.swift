import FieldSyncClient
import FieldSyncModel
import FieldSyncProtocol
@testable import FieldSyncSQLiteServer
@testable import FieldSyncServer
@testable import FieldSyncServerCore
import FieldSyncStore
import FieldSyncTestSupport
import Foundation
import GRDB
import Testing

/// What each device sees, and what happens when a customer changes hands.
@Suite struct ScopeTests {
    static let customer = "c3000000-0000-4000-8000-000000000001"
    static let fault = "f3000000-0000-4000-8000-000000000001"

    /// A customer moved to another branch reaches that branch whole (its
    /// visits, faults and notes written before the move included), and the old
    /// branch can no longer change it.
    @Test(arguments: EngineKind.available)
    func customerMovedToAnotherBranchArrivesWhole(engine: EngineKind) async throws {
        // One injected clock for server and laptops: on the wall clock, a loaded machine's slow
        // round trip could teach a laptop an offset that stamped its edit before the move.
        let clock = TestClock()
        try await TestServer.run(on: engine, clock: clock.now) { server in
            let folder = try TemporaryFolder()
            let alice = try await Laptop.enrol("Alice", server: server, folder: folder, branch: "Hangzhou", clock: clock.now)
            let carol = try await Laptop.enrol("Carol", server: server, folder: folder, branch: "Ningbo", clock: clock.now)
            let pat = try await Laptop.enrol("Pat", server: server, folder: folder, role: .province, branch: nil, clock: clock.now)

            try alice.replica.write([RecordEdit(.customer, Self.customer, [
                ("name", .text("Acme")), ("level", .text("vip")), ("branch", .text("Hangzhou")), ("manager", .text("Alice")),
            ])])
            var generator = SplitMix64(seed: 7)
            for index in 0..<3 {
                try alice.replica.write([RecordEdit(.visit, RecordID.make(using: &generator), [
                    ("customer", .text(Self.customer)), ("at", .text("2026-11-2\(index)T09:00:00+08:00")),
                    ("kind", .text("routine")), ("summary", .text("visit \(index)")),
                ])])
            }
            try alice.replica.write([RecordEdit(.fault, Self.fault, [
                ("customer", .text(Self.customer)), ("symptom", .text("link down")),
                ("reported_at", .text("2026-11-20T10:00:00+08:00")), ("status", .text("1:reported")),
            ])])
            try alice.replica.write([RecordEdit(.faultNote, RecordID.make(using: &generator), [
                ("fault", .text(Self.fault)), ("at", .text("2026-11-20T10:20:00+08:00")), ("text", .text("engineer dispatched")),
            ])])
            try await alice.sync()
            try await carol.sync()
            #expect(try carol.replica.records(.customer).isEmpty, "Ningbo does not see Hangzhou's customers")

            try await pat.sync()
            clock.advance(60_000)
            try pat.replica.write([RecordEdit(.customer, Self.customer, [("branch", .text("Ningbo")), ("manager", .text("Carol"))])])
            try await pat.sync()

            try await carol.sync()
            #expect(try carol.replica.record(.customer, Self.customer)?["branch"] == .text("Ningbo"))
            #expect(try carol.replica.records(.visit).count == 3)
            #expect(try carol.replica.records(.fault).count == 1)
            #expect(try carol.replica.records(.faultNote).count == 1)
            if server.embedded != nil { #expect(try carol.dump() == server.dump(), "Carol holds the customer's whole file, stamps included") }
            #expect(try await carol.replica.record(.customer, Self.customer)?.state == server.record(.customer, Self.customer), "stamps included")

            clock.advance(60_000)
            try alice.replica.write([RecordEdit(.customer, Self.customer, [("notes", .text("still mine?"))])])
            let refused = try await alice.sync()
            #expect(refused.rejected.count == 1)
            #expect(refused.rejected.first?.reason.contains("outside Alice's customers in branch Hangzhou") == true)
            #expect(try alice.replica.outbox().count == 1, "the refused edit stays in Alice's outbox")

            // Pulling the file again changes nothing for those who had it.
            try await pat.sync()
            if server.embedded != nil { #expect(try pat.dump() == server.dump()) }
            #expect(try await pat.replica.record(.customer, Self.customer)?.state == server.record(.customer, Self.customer))
            for laptop in [alice, carol, pat] { await laptop.close() }
        }
    }

    /// A child moved to another customer (here by the province, across
    /// branches) reaches the new customer's branch whole, and its old branch
    /// no longer receives its changes.
    @Test(arguments: EngineKind.available)
    func childMovedToAnotherCustomerFollowsItsNewFile(engine: EngineKind) async throws {
        try await TestServer.run(on: engine) { server in
            let folder = try TemporaryFolder()
            let alice = try await Laptop.enrol("Alice", server: server, folder: folder, branch: "Hangzhou")
            let carol = try await Laptop.enrol("Carol", server: server, folder: folder, branch: "Ningbo")
            let pat = try await Laptop.enrol("Pat", server: server, folder: folder, role: .province, branch: nil)
            let ningboCustomer = "c3000000-0000-4000-8000-000000000002"
            let contact = "c3000000-0000-4000-8000-0000000000c1"
            try alice.replica.write([RecordEdit(.customer, Self.customer, [("name", .text("Acme")), ("level", .text("vip")), ("branch", .text("Hangzhou")),
                                                                         ("manager", .text("Alice"))])])
            try alice.replica.write([RecordEdit(.contact, contact, [("customer", .text(Self.customer)), ("name", .text("Wang Fang")), ("phone", .text("138"))])])
            try await alice.sync()
            try carol.replica.write([RecordEdit(.customer, ningboCustomer, [("name", .text("Harbour")), ("level", .text("standard")), ("branch", .text("Ningbo")),
                                                                         ("manager", .text("Carol"))])])
            try await carol.sync()
            try await pat.sync()
            try pat.replica.write([RecordEdit(.contact, contact, [("customer", .text(ningboCustomer))])])
            try await pat.sync()

            try await carol.sync()
            #expect(try carol.replica.record(.contact, contact)?["name"] == .text("Wang Fang"), "the contact arrives whole, its older fields too")
            try pat.replica.write([RecordEdit(.contact, contact, [("phone", .text("139"))])])
            try await pat.sync()
            try await alice.sync()
            try await carol.sync()
            #expect(try carol.replica.record(.contact, contact)?["phone"] == .text("139"))
            #expect(try alice.replica.record(.contact, contact)?["phone"] == .text("138"), "Hangzhou no longer receives it")
            for laptop in [alice, carol, pat] { await laptop.close() }
        }
    }

    /// A supervisor cannot move a customer out of their branch; the refused move
    /// does not count for the mutations after it in the same push.
    @Test(arguments: EngineKind.available)
    func refusedMoveLeavesTheCustomerWhereItWas(engine: EngineKind) async throws {
        try await TestServer.run(on: engine) { server in
            let folder = try TemporaryFolder()
            let supervisor = try await Laptop.enrol("Sue", server: server, folder: folder, role: .supervisor, branch: "Hangzhou")
            try supervisor.replica.write([RecordEdit(.customer, Self.customer, [
                ("name", .text("Acme")), ("level", .text("standard")), ("branch", .text("Hangzhou")),
            ])])
            try supervisor.replica.write([RecordEdit(.customer, Self.customer, [("branch", .text("Ningbo"))])])
            try supervisor.replica.write([RecordEdit(.customer, Self.customer, [("notes", .text("after the move"))])])
            let summary = try await supervisor.sync()
            #expect(summary.rejected.count == 1)
            #expect(summary.rejected.first?.reason.contains("would move out of branch Hangzhou (to branch Ningbo)") == true)
            let stored = try await server.record(.customer, Self.customer)
            let schema = RecordKind.customer.schema
            #expect(stored?.value("branch", in: schema) == .text("Hangzhou"))
            #expect(stored?.value("notes", in: schema) == .text("after the move"), "the next edit is checked against Hangzhou, and accepted")
            await supervisor.close()
        }
    }

    /// A server whose log was written one row per field (before the compact
    /// log) keeps its sequence numbers and serves the same changes.
    @Test func fieldLogFromAnEarlierVersionIsMigrated() async throws {
        let folder = try TemporaryFolder()
        let path = folder.path("server.sqlite")
        let replica = try Replica.open(path: path)
        try replica.initialize(ReplicaIdentity(node: NodeID(rawValue: 0x5e), branch: nil, user: nil, createdAt: ""))
        try ServerStore.migrator.migrate(replica.writer, upTo: "server-v1")
        let node = NodeID(rawValue: 0xa1)
        try await replica.writer.write { db in
            for (seq, field, value) in [(7, "name", "Acme"), (9, "level", "vip"), (12, "branch", "Hangzhou")] {
                try db.execute(sql: """
                    INSERT INTO change_log (seq, tbl, record, field, value, hlc, node, base, branch) VALUES (?, 'customers', ?, ?, ?, ?, ?, 0, 'Hangzhou')
                    """, arguments: [seq, Self.customer, field, value, Int64(seq) << 16, node.description])
            }
        }
        try replica.writer.close()

        let store = try ServerStore.open(folder: folder.url.path)
        let device = DeviceContext(device: "d", node: NodeID(rawValue: 0xb2), user: UserInfo(name: "Pat", role: .province, branch: nil))
        let page = try store.sync(SyncRequest(cursor: 8, mutations: [], clientTime: store.now), from: device).response
        #expect(page.changes.map(\.field) == ["level", "branch"], "sequence numbers carried over: cursor 8 skips the first")
        #expect(page.changes.first?.hlc == HLC(rawValue: 9 << 16))
        #expect(page.cursor == 12)
        try store.close()
    }
}
