import FieldSyncClient
import FieldSyncModel
import FieldSyncProtocol
@testable import FieldSyncSQLiteServer
@testable import FieldSyncServer
import FieldSyncStore
import FieldSyncTestSupport
import Foundation
import Testing

/// Issue 24, item 4: hand-over is for supervisors, as SYNC.md says. Found in
/// review: a backup manager on a team took the file and dropped the primary
/// manager, a manager handed her file to a colleague, a manager took a
/// colleague off the team, and a manager charged KPI misses to a colleague by
/// naming them as a case's owner.
@Suite struct HandoverAuthorityTests {
    static let customer = "c2440000-0000-4000-8000-000000000001"

    static func file(_ server: TestServer, _ folder: TemporaryFolder) async throws -> (alice: Laptop, bob: Laptop, sue: Laptop) {
        let alice = try await Laptop.enrol("Alice", server: server, folder: folder)
        let bob = try await Laptop.enrol("Bob", server: server, folder: folder)
        let sue = try await Laptop.enrol("Sue", server: server, folder: folder, role: .supervisor)
        try alice.replica.write([RecordEdit(.customer, customer, [("name", .text("Acme")), ("level", .text("vip")), ("branch", .text("Hangzhou")),
                                                                  ("manager", .text("Alice")), ("team", .text("Bob, Carol"))])])
        #expect(try await alice.sync().rejected.isEmpty)
        try await bob.sync()
        try await sue.sync()
        return (alice, bob, sue)
    }

    static func scope(_ server: TestServer) async throws -> (manager: FieldValue, team: FieldValue) {
        let state = try #require(try await server.record(.customer, customer))
        let schema = RecordKind.customer.schema
        return (state.value("manager", in: schema), state.value("team", in: schema))
    }

    @Test(arguments: EngineKind.available)
    func aBackupManagerCannotTakeTheFileAndDropThePrimary(engine: EngineKind) async throws {
        try await TestServer.run(on: engine) { server in
            let folder = try TemporaryFolder()
            let (alice, bob, sue) = try await Self.file(server, folder)
            try bob.replica.write([RecordEdit(.customer, Self.customer, [("manager", .text("Bob")), ("team", .text("Carol"))])])
            let taken = try await bob.sync()
            #expect(taken.rejected.first?.reason.contains("only a supervisor of the branch hands a file to another manager") == true, "\(taken.rejected)")
            // Issue 29: the reason also arrives as a text key, kept with the refusal, for Bob's laptop to say in his language.
            let kept = try #require(try bob.replica.rejections().first)
            #expect(kept.textKey == "refusal.assign-is-supervisors" && kept.textValues["table"] == "customers"
                    && kept.textValues["id"] == String(Self.customer.prefix(8)) && kept.textValues["reach-key"] == "refusal.reach.own", "\(kept)")
            #expect(try await Self.scope(server) == (.text("Alice"), .text("Bob, Carol")))
            for laptop in [alice, bob, sue] { await laptop.close() }
        }
    }

    @Test(arguments: EngineKind.available)
    func aManagerCannotHandHerFileToAColleague(engine: EngineKind) async throws {
        try await TestServer.run(on: engine) { server in
            let folder = try TemporaryFolder()
            let (alice, bob, sue) = try await Self.file(server, folder)
            // Staying on the team keeps the file in her reach: the reach check alone let it through.
            try alice.replica.write([RecordEdit(.customer, Self.customer, [("manager", .text("Bob")), ("team", .text("Alice, Bob, Carol"))])])
            let handed = try await alice.sync()
            #expect(handed.rejected.first?.reason.contains("only a supervisor of the branch hands a file") == true, "\(handed.rejected)")
            #expect(try await Self.scope(server).manager == .text("Alice"))
            // The supervisor may.
            try sue.replica.write([RecordEdit(.customer, Self.customer, [("manager", .text("Bob")), ("team", .text("Carol"))])])
            #expect(try await sue.sync().rejected.isEmpty)
            #expect(try await Self.scope(server) == (.text("Bob"), .text("Carol")))
            // To a person this server knows in the branch: a mistyped name is refused (found by a newcomer's
            // run: the file left every laptop for a manager who does not exist).
            try sue.replica.write([RecordEdit(.customer, Self.customer, [("manager", .text("Nobody"))])])
            let mistyped = try await sue.sync()
            #expect(mistyped.rejected.first?.reason.contains("'Nobody' is not a registered person of this file's branch") == true, "\(mistyped.rejected)")
            #expect(try await Self.scope(server).manager == .text("Bob"))
            for laptop in [alice, bob, sue] { await laptop.close() }
        }
    }

    @Test(arguments: EngineKind.available)
    func aManagerCannotTakeAColleagueOffTheTeam(engine: EngineKind) async throws {
        try await TestServer.run(on: engine) { server in
            let folder = try TemporaryFolder()
            let (alice, bob, sue) = try await Self.file(server, folder)
            try alice.replica.write([RecordEdit(.customer, Self.customer, [("team", .text("Carol"))])])
            let dropped = try await alice.sync()
            #expect(dropped.rejected.first?.reason.contains("only a supervisor of the branch takes someone off a file's team (Bob)") == true,
                    "\(dropped.rejected)")
            // Adding a colleague to the team stays hers to do.
            try alice.replica.write([RecordEdit(.customer, Self.customer, [("team", .text("Bob, Carol, Dan"))])])
            #expect(try await alice.sync().rejected.count == 1, "only the earlier removal stays refused")
            #expect(try await Self.scope(server).team == .text("Bob, Carol, Dan"))
            for laptop in [alice, bob, sue] { await laptop.close() }
        }
    }

    @Test(arguments: EngineKind.available)
    func caseOwnersAreRegisteredPeopleAndOnlySupervisorsChangeThem(engine: EngineKind) async throws {
        try await TestServer.run(on: engine) { server in
            let folder = try TemporaryFolder()
            let (alice, bob, sue) = try await Self.file(server, folder)
            var generator = SplitMix64(seed: 24)
            func fault(owner: String) -> RecordEdit {
                RecordEdit(.fault, RecordID.make(using: &generator), [
                    ("customer", .text(Self.customer)), ("symptom", .text("alarm")), ("reported_at", .text("2026-11-17T09:00:00+08:00")),
                    ("owner", .text(owner)), ("status", .text("1:reported")), ("level", .text("vip")),
                ])
            }
            // Alice records faults as Bob's, so that their missed limits count against him.
            try alice.replica.write([fault(owner: "Bob")])
            let charged = try await alice.sync()
            #expect(charged.rejected.first?.reason.contains("Alice records their own faults") == true, "\(charged.rejected)")
            // Her own, then moved to Bob afterwards: also the supervisor's act.
            let own = fault(owner: "Alice")
            try alice.replica.write([own])
            #expect(try await alice.sync().rejected.count == 1)
            try alice.replica.write([RecordEdit(.fault, own.record, [("owner", .text("Bob"))])])
            let moved = try await alice.sync()
            #expect(moved.rejected.contains { $0.reason.contains("only a supervisor of the branch changes who answers for a fault") }, "\(moved.rejected)")
            // The supervisor gives it to Bob; a name nobody holds is refused, whoever types it.
            try await sue.sync()
            try sue.replica.write([RecordEdit(.fault, own.record, [("owner", .text("Bob"))])])
            #expect(try await sue.sync().rejected.isEmpty)
            try sue.replica.write([fault(owner: "Nobody")])
            let unknown = try await sue.sync()
            #expect(unknown.rejected.first?.reason.contains("'Nobody' is not a registered person of this file's branch") == true, "\(unknown.rejected)")
            // Nor a person of another branch.
            let nina = try await Laptop.enrol("Nina", server: server, folder: folder, branch: "Ningbo")
            try sue.replica.write([RecordEdit(.visit, RecordID.make(using: &generator), [
                ("customer", .text(Self.customer)), ("manager", .text("Nina")), ("at", .text("2026-11-18T10:00:00+08:00")),
                ("kind", .text("routine")), ("summary", .text("charged to Ningbo")),
            ])])
            #expect(try await sue.sync().rejected.contains { $0.reason.contains("'Nina' is not a registered person of this file's branch") })
            let schema = RecordKind.fault.schema
            #expect(try await server.record(.fault, own.record)?.value("owner", in: schema) == .text("Bob"))
            for laptop in [alice, bob, sue, nina] { await laptop.close() }
        }
    }
}
