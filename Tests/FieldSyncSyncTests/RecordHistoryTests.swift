import FieldSyncClient
import FieldSyncKPI
import FieldSyncLocalization
import FieldSyncModel
import FieldSyncProtocol
import FieldSyncServer
import FieldSyncStore
import FieldSyncTestSupport
import Foundation
import Testing

/// "Who changed this field, and when?" (issue 28): a customer edited on three
/// laptops with a conflict, then asked of the server over HTTPS on both engines
/// and of a laptop offline.
@Suite struct RecordHistoryTests {
    @Test(arguments: EngineKind.available)
    func historyNamesEveryWriterWithTypedAndReceivedTimesAndTheConflict(engine: EngineKind) async throws {
        let clock = TestClock(1_794_967_200_000)
        let minute: UInt64 = 60_000
        try await TestServer.run(on: engine, clock: clock.now) { server in
            let folder = try TemporaryFolder()
            let alice = try await Laptop.enrol("Alice", server: server, folder: folder, clock: clock.now)
            let bob = try await Laptop.enrol("Bob", server: server, folder: folder, clock: clock.now)
            let sue = try await Laptop.enrol("Sue", server: server, folder: folder, role: .supervisor, clock: clock.now)
            let eve = try await Laptop.enrol("Eve", server: server, folder: folder, branch: "Ningbo", clock: clock.now)
            let laptops = [alice, bob, sue, eve]
            do {
                var generator = SplitMix64(seed: 28)
                let shop = RecordID.make(using: &generator)
                let start = clock.now()
                try alice.replica.write([RecordEdit(.customer, shop, [("name", .text("Shop")), ("level", .text("standard")), ("branch", .text("Hangzhou")), ("manager", .text("Alice")),
                                                                       ("team", .text("Bob")), ("notes", .text("a"))])])
                clock.advance(minute)
                try await alice.sync()
                try await bob.sync()
                try await sue.sync()
                // Bob and Sue change the notes without seeing each other's: Sue's, typed later, wins; Bob's is kept as a conflict.
                clock.advance(minute)
                try bob.replica.write([RecordEdit(.customer, shop, [("notes", .text("b"))])])
                clock.advance(minute)
                try sue.replica.write([RecordEdit(.customer, shop, [("notes", .text("c"))])])
                clock.advance(minute)
                try await bob.sync()
                clock.advance(minute)
                try await sue.sync()
                try await alice.sync()
                try await bob.sync()

                let bytes = try await alice.client.get("/v1/history", query: [("table", "customers"), ("id", shop), ("field", "notes")], token: alice.binding.token)
                let history = try JSONDecoder().decode(RecordHistory.self, from: Data(bytes))
                #expect(history.entries.map(\.value) == [.text("a"), .text("b"), .text("c")])
                #expect(history.entries.map(\.outcome) == [.replaced, .lostConflict, .current])
                #expect(history.entries.map(\.person) == ["Alice", "Bob", "Sue"])
                #expect(history.entries.map(\.device) == ["Alice", "Bob", "Sue"])
                #expect(history.entries.map { $0.hlc.milliseconds } == [start, start + 2 * minute, start + 3 * minute], "typed: each change's stamp")
                #expect(history.entries.map(\.receivedAt) == [start + minute, start + 4 * minute, start + 5 * minute], "received: the server's clock at each push")
                // The whole record: every field Alice typed, once each, though the file was logged more than once.
                let whole = try JSONDecoder().decode(RecordHistory.self, from: Data(
                    try await sue.client.get("/v1/history", query: [("table", "customers"), ("id", shop)], token: sue.binding.token)))
                #expect(whole.entries.filter { $0.field == "name" }.count == 1)
                #expect(Set(whole.entries.map(\.field)) == ["name", "level", "branch", "manager", "team", "notes"])
                #expect(whole.only(field: "notes") == history, "the supervisor reads what the manager reads")

                #expect(history.truncated == nil)
                // A province list reads its history by its own index, for anyone.
                let christmas = LocalDate(year: 2026, month: 12, day: 25)!
                try await server.writeLocal([RecordEdit(.calendarDay, RecordID.calendarDay(christmas), [("date", .text(christmas.description)), ("kind", .text("holiday"))])])
                let day = try JSONDecoder().decode(RecordHistory.self, from: Data(try await eve.client.get(
                    "/v1/history", query: [("table", "calendar_days"), ("id", RecordID.calendarDay(christmas))], token: eve.binding.token)))
                #expect(day.entries.map(\.field) == ["date", "kind"] && day.entries.allSatisfy { $0.outcome == .current && $0.receivedAt != nil })

                // Another branch's manager learns nothing, not even that the id exists; a bad query is a readable 400.
                let refused = await #expect(throws: SyncError.self) {
                    try await eve.client.get("/v1/history", query: [("table", "customers"), ("id", shop)], token: eve.binding.token)
                }
                #expect(refused?.code == ErrorCode.notFound)
                let bad = await #expect(throws: SyncError.self) {
                    try await alice.client.get("/v1/history", query: [("table", "customers"), ("id", shop), ("field", "colour")], token: alice.binding.token)
                }
                #expect(bad?.message.contains("no field 'colour'") == true)

                // Offline, Alice's laptop holds both sides of the conflict (its conflict record) and its unsent write, now current.
                // As 'fieldsync sync' does when it meets conflicts: learn who writes under their nodes.
                let directory = try await alice.client.directory(token: alice.binding.token)
                try alice.replica.rememberNodeNames(Dictionary(directory.nodes.map { ($0.node, NodeName(user: $0.user, device: $0.device)) }) { first, _ in first })
                clock.advance(minute)
                try alice.replica.write([RecordEdit(.customer, shop, [("notes", .text("d"))])])
                let offline = try #require(try alice.replica.history(of: .customer, shop, me: (person: "Alice", device: "Alice"))).only(field: "notes")
                #expect(offline.entries.map(\.value) == [.text("b"), .text("c"), .text("d")], "both sides of the conflict it holds, and its own")
                #expect(offline.entries.map(\.outcome) == [.lostConflict, .replaced, .waiting])
                #expect(offline.entries.map(\.person) == ["Bob", "Sue", "Alice"])
                #expect(offline.text(offsetMinutes: 480, Strings.load(.english)).contains("lost a conflict"))
            } catch {
                for laptop in laptops { await laptop.close() }
                throw error
            }
            for laptop in laptops { await laptop.close() }
        }
    }
}
