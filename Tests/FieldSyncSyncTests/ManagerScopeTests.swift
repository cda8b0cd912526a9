import FieldSyncClient
import FieldSyncKPI
import FieldSyncModel
import FieldSyncProtocol
@testable import FieldSyncSQLiteServer
@testable import FieldSyncServer
@testable import FieldSyncServerCore
import FieldSyncStore
import FieldSyncTestSupport
import Foundation
import Testing

/// A manager's reach is the customers they manage or whose team lists them
/// (issue 10, scopes per role), decided by what the server holds.
@Suite struct ManagerScopeTests {
    static let alicesCustomer = "a1000000-0000-4000-8000-0000000000a1"
    static let sharedCustomer = "a1000000-0000-4000-8000-0000000000a2"
    static let bobsCustomer = "a1000000-0000-4000-8000-0000000000b1"

    @Test(arguments: EngineKind.available)
    func managersReachTheirOwnAndTheirTeamsCustomersOnly(engine: EngineKind) async throws {
        try await TestServer.run(on: engine) { server in
            let folder = try TemporaryFolder()
            let alice = try await Laptop.enrol("Alice", server: server, folder: folder)
            let bob = try await Laptop.enrol("Bob", server: server, folder: folder)
            let sue = try await Laptop.enrol("Sue", server: server, folder: folder, role: .supervisor)
            func customer(_ id: String, _ name: String, manager: String, team: String? = nil) -> RecordEdit {
                RecordEdit(.customer, id, [("name", .text(name)), ("level", .text("standard")), ("branch", .text("Hangzhou")),
                                           ("manager", .text(manager)), ("team", team.map(FieldValue.text) ?? .null)])
            }
            try alice.replica.write([customer(Self.alicesCustomer, "Alice only", manager: "Alice")])
            try alice.replica.write([customer(Self.sharedCustomer, "Shared", manager: "Alice", team: "Carol, Bob")])
            try bob.replica.write([customer(Self.bobsCustomer, "Bob only", manager: "Bob")])
            #expect(try await alice.sync().rejected.isEmpty)
            #expect(try await bob.sync().rejected.isEmpty)
            try await alice.sync()
            try await sue.sync()

            #expect(try Set(alice.replica.records(.customer).map(\.id)) == [Self.alicesCustomer, Self.sharedCustomer])
            #expect(try Set(bob.replica.records(.customer).map(\.id)) == [Self.sharedCustomer, Self.bobsCustomer], "Bob is on the shared file's team")
            #expect(try sue.replica.records(.customer).count == 3, "the supervisor reaches the whole branch")
            let branchServer = try await Laptop.enrol("Hangzhou server", server: server, folder: folder, role: .branch)
            try await branchServer.sync()
            #expect(try branchServer.replica.records(.customer).count == 3, "a branch server enrolled at the province holds its branch")
            #expect(!AccessPolicy(branchServer.binding.user).mayOpenDashboard && !AccessPolicy(branchServer.binding.user).mayWriteProvinceRecords)
            await branchServer.close()

            // Bob cannot write Alice's own customer, nor give himself a file by naming himself manager.
            let node = try bob.replica.identity()!.node
            let now = HLC(milliseconds: Replica.systemMilliseconds(), counter: 0)
            let refused = try await bob.client.exchange(SyncRequest(cursor: 0, mutations: [
                Mutation(origin: node, counter: 900, changes: [FieldChange(table: .customer, record: Self.alicesCustomer, field: "notes",
                                                                           value: .text("Bob was here"), hlc: now, node: node, base: .zero)]),
                Mutation(origin: node, counter: 901, changes: [FieldChange(table: .customer, record: Self.alicesCustomer, field: "manager",
                                                                           value: .text("Bob"), hlc: now, node: node, base: .zero)]),
            ], clientTime: Replica.systemMilliseconds()), token: bob.binding.token)
            #expect(refused.accepted.isEmpty && refused.rejected.count == 2)
            #expect(refused.rejected.allSatisfy { $0.reason.contains("outside Bob's customers in branch Hangzhou") }, "\(refused.rejected)")

            // A manager may not hand a file over or leave its team: that is the supervisor's.
            try alice.replica.write([RecordEdit(.customer, Self.alicesCustomer, [("manager", .text("Bob"))])])
            let handover = try await alice.sync()
            #expect(handover.rejected.first?.reason.contains("would move out of Alice's customers") == true, "\(handover.rejected)")

            // KPIs: each manager's figures cover their reach, the supervisor's the branch.
            let facts = try await server.kpi.loadKPIFacts()
            #expect(Set(AccessPolicy(bob.binding.user).visible(facts).customers.keys) == [Self.sharedCustomer, Self.bobsCustomer])
            #expect(AccessPolicy(sue.binding.user).visible(facts).customers.count == 3)
            for laptop in [alice, bob, sue] { await laptop.close() }
        }
    }

    /// A supervisor reassigns a file (客户交接): the new manager's next sync
    /// brings all of it, history included; work the old manager did while it
    /// was theirs and pushes afterwards is accepted, later work is refused and
    /// stays in their outbox; their replica drops the file once nothing they
    /// typed on it waits to be sent.
    @Test(arguments: EngineKind.available)
    func handedOverFileMovesWholeAndLeavesTheOldManager(engine: EngineKind) async throws {
        let clock = TestClock()
        try await TestServer.run(on: engine, clock: clock.now) { server in
            let folder = try TemporaryFolder()
            let alice = try await Laptop.enrol("Alice", server: server, folder: folder, clock: clock.now)
            let bob = try await Laptop.enrol("Bob", server: server, folder: folder, clock: clock.now)
            let sue = try await Laptop.enrol("Sue", server: server, folder: folder, role: .supervisor, clock: clock.now)
            try alice.replica.write([RecordEdit(.customer, Self.alicesCustomer, [("name", .text("Acme")), ("level", .text("vip")),
                                                                                  ("branch", .text("Hangzhou")), ("manager", .text("Alice"))])])
            var generator = SplitMix64(seed: 3)
            func visit(_ summary: String) -> RecordEdit {
                RecordEdit(.visit, RecordID.make(using: &generator), [
                    ("customer", .text(Self.alicesCustomer)), ("at", .text("2026-11-02T09:00:00+08:00")),
                    ("kind", .text("routine")), ("summary", .text(summary)),
                ])
            }
            for day in 1...2 { try alice.replica.write([visit("visit \(day)")]) }
            try await alice.sync()
            // Offline, Alice logs one more visit while the file is still hers.
            clock.advance(60_000)
            try alice.replica.write([visit("typed before the handover")])

            clock.advance(60_000)
            try await sue.sync()
            try sue.replica.write([RecordEdit(.customer, Self.alicesCustomer, [("manager", .text("Bob"))])])
            #expect(try await sue.sync().rejected.isEmpty)
            try await bob.sync()
            #expect(try bob.replica.record(.customer, Self.alicesCustomer)?["manager"] == .text("Bob"))
            #expect(try bob.replica.records(.visit).count == 2, "the file's history, older than Bob's cursor, arrives")

            // Later still, before her next sync, Alice edits the file again.
            clock.advance(60_000)
            try alice.replica.write([RecordEdit(.customer, Self.alicesCustomer, [("services", .text("typed after the handover"))])])
            let summary = try await alice.sync()
            #expect(summary.rejected.count == 1, "only the edit stamped after the handover is refused: \(summary.rejected)")
            #expect(summary.rejected.first?.reason.contains("outside Alice's customers") == true)
            #expect(summary.filesDropped == [Self.alicesCustomer], "her replica no longer holds the file")
            #expect(try alice.replica.record(.customer, Self.alicesCustomer) == nil)
            #expect(try alice.replica.records(.visit).isEmpty)
            #expect(try alice.replica.outbox().count == 1 && alice.replica.rejections().count == 1, "the refused edit stays visible")
            #expect(try alice.replica.handedOver().isEmpty)

            try await bob.sync()
            #expect(try Set(bob.replica.records(.visit).compactMap { $0["summary"].text }) == ["visit 1", "visit 2", "typed before the handover"],
                    "work done while the file was Alice's reaches its new manager")
            #expect(try bob.replica.record(.customer, Self.alicesCustomer)?["services"] ?? .null == .null)
            for laptop in [alice, bob, sue] { await laptop.close() }
        }
    }

    /// `fieldsync-server assign`: the administrator hands a file to a manager of its branch.
    @Test(arguments: EngineKind.available)
    func serverAssignHandsTheFileOver(engine: EngineKind) async throws {
        try await TestServer.run(on: engine) { server in
            let folder = try TemporaryFolder()
            let alice = try await Laptop.enrol("Alice", server: server, folder: folder)
            let bob = try await Laptop.enrol("Bob", server: server, folder: folder)
            let nina = try await Laptop.enrol("Nina", server: server, folder: folder, branch: "Ningbo")
            try alice.replica.write([RecordEdit(.customer, Self.alicesCustomer, [("name", .text("Acme")), ("level", .text("vip")),
                                                                                  ("branch", .text("Hangzhou")), ("manager", .text("Alice"))])])
            try await alice.sync()
            await #expect(throws: ServerError.self, "a manager of another branch") { try await server.assign("a1000000", to: "Nina") }
            try await server.assign("a1000000", to: "Bob", team: ["Alice"])
            try await bob.sync()
            #expect(try bob.replica.record(.customer, Self.alicesCustomer)?["manager"] == .text("Bob"))
            let kept = try await alice.sync()
            let stillHeld = try alice.replica.record(.customer, Self.alicesCustomer) != nil
            #expect(kept.filesDropped.isEmpty && stillHeld, "Alice stays on the team")
            try await server.assign("a1000000", to: "Bob", team: [])
            let dropped = try await alice.sync()
            #expect(dropped.filesDropped == [Self.alicesCustomer])
            for laptop in [alice, bob, nina] { await laptop.close() }
        }
    }

    /// Freshness: each device reports what waits in its outbox; a supervisor
    /// lists the devices of their branch, a manager may not.
    @Test(arguments: EngineKind.available)
    func supervisorsSeeHowFreshTheirBranchsDevicesAre(engine: EngineKind) async throws {
        try await TestServer.run(on: engine) { server in
            let folder = try TemporaryFolder()
            let alice = try await Laptop.enrol("Alice", server: server, folder: folder)
            let nina = try await Laptop.enrol("Nina", server: server, folder: folder, branch: "Ningbo")
            let sue = try await Laptop.enrol("Sue", server: server, folder: folder, role: .supervisor)
            // An edit of another branch's customer is refused and stays in Alice's outbox: one action waiting.
            try alice.replica.write([RecordEdit(.customer, Self.alicesCustomer, [("name", .text("Acme")), ("level", .text("vip")),
                                                                                  ("branch", .text("Ningbo")), ("manager", .text("Alice"))])])
            try await alice.sync()
            try await alice.sync()
            try await nina.sync()
            let raw = try RawHTTPS(server)
            let answer = try await raw.get("/v1/nodes", token: sue.binding.token)
            #expect(answer.status == 200)
            let nodes = try JSONDecoder().decode([NodeInfo].self, from: Data(answer.body))
            #expect(Set(nodes.map(\.user)) == ["Alice", "Sue"], "the supervisor's branch only")
            #expect(nodes.first { $0.user == "Alice" }?.pending == 1)
            #expect(nodes.first { $0.user == "Alice" }?.lastSeen != nil)
            #expect(try await raw.get("/v1/nodes", token: alice.binding.token).status == 403)
            await raw.shutdown()
            for laptop in [alice, nina, sue] { await laptop.close() }
        }
    }
}
