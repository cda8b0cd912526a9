import FieldSyncClient
import FieldSyncModel
import FieldSyncProtocol
import FieldSyncServer
import FieldSyncServerCore
import FieldSyncStore
import FieldSyncTestSupport
import Foundation
import Testing

/// A supervisor's inbox over real TLS (issue 28, item 4): a conflict, a refused
/// change and a silent device appear for the supervisor of that branch only;
/// resolving the conflict takes it out; a manager is sent to their laptop.
@Suite struct InboxTests {
    @Test(arguments: EngineKind.available)
    func theSupervisorSeesTheirBranchOnlyAndActing(engine: EngineKind) async throws {
        let clock = TestClock()
        let day: UInt64 = 86_400_000
        try await TestServer.run(on: engine, clock: clock.now) { server in
            let folder = try TemporaryFolder()
            let alice = try await Laptop.enrol("Alice", server: server, folder: folder, clock: clock.now)
            let bob = try await Laptop.enrol("Bob", server: server, folder: folder, clock: clock.now)
            let sue = try await Laptop.enrol("Sue", server: server, folder: folder, role: .supervisor, clock: clock.now)
            let eve = try await Laptop.enrol("Eve", server: server, folder: folder, branch: "Ningbo", clock: clock.now)
            let nina = try await Laptop.enrol("Nina", server: server, folder: folder, role: .supervisor, branch: "Ningbo", clock: clock.now)
            let laptops = [alice, bob, sue, eve, nina]
            do {
                var generator = SplitMix64(seed: 44)
                let shop = RecordID.make(using: &generator), port = RecordID.make(using: &generator)
                try alice.replica.write([RecordEdit(.customer, shop, [("name", .text("Shop")), ("level", .text("standard")), ("branch", .text("Hangzhou")),
                                                                       ("manager", .text("Alice")), ("team", .text("Bob"))])])
                try eve.replica.write([RecordEdit(.customer, port, [("name", .text("Port")), ("level", .text("standard")), ("branch", .text("Ningbo")),
                                                                     ("manager", .text("Eve"))])])
                for laptop in laptops { try await laptop.sync() }
                // A conflict in each branch.
                try alice.replica.write([RecordEdit(.customer, shop, [("notes", .text("alice"))])])
                try bob.replica.write([RecordEdit(.customer, shop, [("notes", .text("bob"))])])
                try nina.replica.write([RecordEdit(.customer, port, [("notes", .text("nina"))])])
                try eve.replica.write([RecordEdit(.customer, port, [("notes", .text("eve"))])])
                for laptop in [alice, bob, nina, eve] { try await laptop.sync() }
                // Bob's change of the calendar is refused and waits on his laptop; then he is not seen for four days.
                let holiday = LocalDate(year: 2026, month: 12, day: 24)!
                try bob.replica.write([RecordEdit(.calendarDay, RecordID.calendarDay(holiday), [("date", .text(holiday.description)), ("kind", .text("holiday"))])])
                try await bob.sync()
                clock.advance(4 * day)
                try await alice.sync()
                try await sue.sync()

                let inbox = try JSONDecoder().decode(Inbox.self, from: Data(try await sue.client.get("/v1/inbox", token: sue.binding.token)))
                #expect(inbox.entries.map(\.kind) == [.conflict, .refused, .silent])
                #expect(inbox.entries.allSatisfy { $0.branch == "Hangzhou" }, "nothing of Ningbo")
                let conflict = try #require(inbox.entries.first)
                #expect(conflict.subject.hasPrefix("customer \(shop.prefix(8)), notes"))
                #expect(conflict.detail.contains("'bob' by Bob (Bob)") && conflict.detail.contains("'alice' by Alice (Alice)"))
                #expect(inbox.entries[1].person == "Bob" && inbox.entries[1].detail.contains("set by the province"))
                #expect(inbox.entries[2].person == "Bob" && inbox.entries[2].detail.contains("not seen for 4 days, 1 action waiting"))
                let ningbo = try JSONDecoder().decode(Inbox.self, from: Data(try await nina.client.get("/v1/inbox", token: nina.binding.token)))
                #expect(ningbo.entries.map(\.kind) == [.conflict] && ningbo.entries.first?.branch == "Ningbo")

                // Acting: Sue resolves the conflict on her laptop; after a sync it is off the inbox.
                let id = try #require(conflict.record)
                try sue.replica.write([RecordEdit(.conflict, id, [("resolved", .int(1)), ("resolution", .text("kept"))])])
                try await sue.sync()
                let after = try JSONDecoder().decode(Inbox.self, from: Data(try await sue.client.get("/v1/inbox", token: sue.binding.token)))
                #expect(after.entries.map(\.kind) == [.refused, .silent])

                // A manager is sent to their laptop.
                let refused = await #expect(throws: SyncError.self) { try await alice.client.get("/v1/inbox", token: alice.binding.token) }
                #expect(refused?.message.contains("'fieldsync inbox'") == true)
            } catch {
                for laptop in laptops { await laptop.close() }
                throw error
            }
            for laptop in laptops { await laptop.close() }
        }
    }
}
