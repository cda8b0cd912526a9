import FieldSyncClient
import FieldSyncKPI
import FieldSyncModel
import FieldSyncPostgres
import FieldSyncProtocol
@testable import FieldSyncSQLiteServer
@testable import FieldSyncServer
@testable import FieldSyncServerCore
import FieldSyncStore
import FieldSyncTestSupport
import Foundation
import GRDB
import PostgresNIO
import Testing

/// Branches are registered by the province (issue 10, part 2): users and
/// customers belong to a registered branch, the list reaches every device, a
/// rename moves a branch's customers and users.
@Suite struct BranchRegistryTests {
    static let customer = "b0000000-0000-4000-8000-000000000001"

    @Test func customersAndUsersBelongToARegisteredBranch() async throws {
        let server = try await TestServer.start()
        let folder = try TemporaryFolder()
        #expect(throws: ServerError.self) { _ = try server.store.addUser(UserInfo(name: "Typo", role: .manager, branch: "Hangzou")) }
        let alice = try await Laptop.enrol("Alice", server: server, folder: folder)
        let pat = try await Laptop.enrol("Pat", server: server, folder: folder, role: .province, branch: nil)
        try await alice.sync()
        #expect(try alice.replica.registeredBranches() == ["Hangzhou"], "the list reaches every device")

        // Even the province cannot file a customer under a branch nobody registered.
        try pat.replica.write([RecordEdit(.customer, Self.customer, [("name", .text("Acme")), ("level", .text("vip")),
                                                                      ("branch", .text("Hangzou")), ("manager", .text("Alice"))])])
        let refused = try await pat.sync()
        #expect(refused.rejected.first?.reason.contains("'Hangzou' is not a registered branch") == true, "\(refused.rejected)")
        #expect(try server.store.replica.record(.customer, Self.customer) == nil)

        // A laptop may not register branches either.
        let node = try alice.replica.identity()!.node
        let now = HLC(milliseconds: server.store.now, counter: 0)
        let planted = try await alice.client.exchange(SyncRequest(cursor: 0, mutations: [Mutation(origin: node, counter: 500, changes: [
            FieldChange(table: .branch, record: RecordID.branch("Wenzhou"), field: "name", value: .text("Wenzhou"), hlc: now, node: node, base: .zero),
        ])], clientTime: server.store.now), token: alice.binding.token)
        #expect(planted.rejected.first?.reason.contains("branches are registered by the province") == true)
        for laptop in [alice, pat] { await laptop.close() }
        await server.stop()
    }

    /// A mutation the branch check refuses after the scope check allowed it must leave no trace
    /// in the push: a later mutation of the same push saw the refused customer as stored, so a
    /// visit was accepted and stored under a customer the server never held (found in review).
    @Test(arguments: EngineKind.available)
    func refusedForItsBranchLeavesNothingForTheRestOfThePush(engine: EngineKind) async throws {
        try await TestServer.run(on: engine) { server in
            let folder = try TemporaryFolder()
            let alice = try await Laptop.enrol("Alice", server: server, folder: folder)
            // Alice's branch no longer registered here (a branch server whose list the province changed).
            if let store = server.embedded {
                try await store.writer.write { db in try db.execute(sql: "DELETE FROM branches") }
            } else if let postgres = server.postgres {
                try await postgres.client.query("DELETE FROM records WHERE kind = 'branches'")
            }
            let visit = "b0000000-0000-4000-8000-0000000000a1"
            try alice.replica.write([RecordEdit(.customer, Self.customer, [("name", .text("Acme")), ("level", .text("vip")),
                                                                            ("branch", .text("Hangzhou")), ("manager", .text("Alice"))])])
            try alice.replica.write([RecordEdit(.visit, visit, [("customer", .text(Self.customer)), ("at", .text("2026-11-22T10:00:00+08:00")),
                                                                ("kind", .text("routine")), ("summary", .text("first call"))])])
            let summary = try await alice.sync()
            #expect(summary.rejected.count == 2, "\(summary.rejected)")
            #expect(summary.rejected.first?.reason.contains("'Hangzhou' is not a registered branch") == true, "\(summary.rejected)")
            #expect(summary.rejected.last?.reason.contains("unknown to the server") == true, "\(summary.rejected)")
            for (kind, id) in [(RecordKind.customer, Self.customer), (.visit, visit)] {
                #expect(try await Self.holds(server, kind, id) == false, "the server holds \(kind) \(id)")
            }
            await alice.close()
        }
    }

    static func holds(_ server: TestServer, _ kind: RecordKind, _ id: String) async throws -> Bool {
        if let store = server.embedded { return try store.replica.record(kind, id) != nil }
        guard let postgres = server.postgres else { return false }
        for try await _ in try await postgres.client.query("SELECT 1 FROM records WHERE kind = \(kind.rawValue) AND id = \(id)") { return true }
        return false
    }

    @Test func renamedBranchTakesItsCustomersAndUsersAlong() async throws {
        let server = try await TestServer.start()
        let folder = try TemporaryFolder()
        let alice = try await Laptop.enrol("Alice", server: server, folder: folder)
        let sue = try await Laptop.enrol("Sue", server: server, folder: folder, role: .supervisor)
        try alice.replica.write([RecordEdit(.customer, Self.customer, [("name", .text("Acme")), ("level", .text("vip")),
                                                                        ("branch", .text("Hangzhou")), ("manager", .text("Alice"))])])
        try await alice.sync()
        try await sue.sync()

        let moved = try server.store.renameBranch("Hangzhou", to: "Hangzhou City")
        #expect(moved.customers == 1 && moved.users == 2)
        #expect(try server.store.branches() == ["Hangzhou City"])
        #expect(try server.store.users().allSatisfy { $0.info.branch != "Hangzhou" })
        try await alice.sync()
        try await sue.sync()
        #expect(try alice.replica.record(.customer, Self.customer)?["branch"] == .text("Hangzhou City"))
        #expect(try sue.replica.registeredBranches() == ["Hangzhou City"])
        // The manager keeps working on the file under its new name.
        try alice.replica.write([RecordEdit(.customer, Self.customer, [("notes", .text("after the rename"))])])
        #expect(try await alice.sync().rejected.isEmpty)
        try await sue.sync()
        #expect(try sue.replica.record(.customer, Self.customer)?["notes"] == .text("after the rename"))
        for laptop in [alice, sue] { await laptop.close() }
        await server.stop()
    }

    /// A server from before registration registers the branches its users and
    /// customers carry, once, when it is opened.
    @Test func branchesInUseAreRegisteredOnUpgrade() throws {
        let folder = try TemporaryFolder()
        let data = ServerFolder(path: folder.path("server"))
        _ = try data.initialize(hosts: [], branch: nil, certificate: nil)
        let store = try data.openStore()
        try store.writer.write { db in
            try db.execute(sql: "INSERT INTO users (id, name, role, branch, created_at) VALUES ('u1', 'Old', 'manager', 'Ningbo', 0)")
        }
        try store.close()
        let reopened = try data.openStore()
        #expect(try reopened.branches() == ["Ningbo"])
        try reopened.close()
    }
}
