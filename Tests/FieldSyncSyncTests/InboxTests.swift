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

    /// Acting on refused work from the inbox: a supervisor discards one refused action and hands
    /// another back with a note; both reach the writer's laptop at its next sync, the discard kept
    /// with who decided and why; a supervisor of another branch, a manager and bad notes are refused.
    @Test(arguments: EngineKind.available)
    func decisionsAboutRefusedWorkReachTheWritersLaptop(engine: EngineKind) async throws {
        let clock = TestClock()
        try await TestServer.run(on: engine, clock: clock.now) { server in
            let folder = try TemporaryFolder()
            let alice = try await Laptop.enrol("Alice", server: server, folder: folder, clock: clock.now)
            let sue = try await Laptop.enrol("Sue", server: server, folder: folder, role: .supervisor, clock: clock.now)
            let nina = try await Laptop.enrol("Nina", server: server, folder: folder, role: .supervisor, branch: "Ningbo", clock: clock.now)
            let laptops = [alice, sue, nina]
            do {
                // Two changes of the calendar (the province's to set): both refused, both wait on Alice's laptop.
                let christmas = LocalDate(year: 2026, month: 12, day: 24)!, boxing = LocalDate(year: 2026, month: 12, day: 26)!
                try alice.replica.write([RecordEdit(.calendarDay, RecordID.calendarDay(christmas), [("date", .text(christmas.description)), ("kind", .text("holiday"))])])
                try alice.replica.write([RecordEdit(.calendarDay, RecordID.calendarDay(boxing), [("date", .text(boxing.description)), ("kind", .text("holiday"))])])
                let first = try await alice.sync()
                #expect(first.rejected.count == 2)
                let (discarded, handedBack) = (first.rejected[0].counter, first.rejected[1].counter)
                let node = try #require(try alice.replica.identity()?.node)

                func inbox(_ laptop: Laptop) async throws -> Inbox {
                    try JSONDecoder().decode(Inbox.self, from: Data(try await laptop.client.get("/v1/inbox", token: laptop.binding.token)))
                }
                let listed = try await inbox(sue).entries.filter { $0.kind == .refused }
                #expect(listed.map(\.counter) == [discarded, handedBack] && listed.allSatisfy { $0.node == node.description })
                #expect(listed[0].subject == "action \(discarded) of device Alice" && listed[0].detail.contains("calendar day"))
                #expect(listed[0].detail.contains("set by the province") && listed[0].action.contains("fieldsync inbox discard \(node)"))
                // Issue 29: the refusal's key was kept with it, for the inbox to say the reason in its reader's language.
                #expect(listed[0].detailText?.values["reason.key"] == "refusal.province-calendar", "\(String(describing: listed[0].detailText))")
                #expect(listed[0].subjectText?.key == "inbox.entry.action-of-device" && listed[0].actionText?.key == "inbox.entry.decide-action")

                // Who may not decide, and what may not be decided.
                func decide(_ laptop: Laptop, _ counter: UInt64, _ action: SyncResponse.Instruction.Action, _ note: String) async throws -> RefusedActionAnswer {
                    try await laptop.client.decideRefused(RefusedActionDecision(node: node, counter: counter, action: action, note: note),
                                                          token: laptop.binding.token)
                }
                let otherBranch = await #expect(throws: SyncError.self) { try await decide(nina, discarded, .discard, "not mine") }
                #expect(otherBranch?.code == "not_found")
                let manager = await #expect(throws: SyncError.self) { try await decide(alice, discarded, .discard, "my own") }
                #expect(manager?.code == "forbidden")
                let empty = await #expect(throws: SyncError.self) { try await decide(sue, discarded, .discard, "   ") }
                #expect(empty?.message.contains("the note is empty") == true)
                let unknown = await #expect(throws: SyncError.self) { try await decide(sue, handedBack + 100, .note, "which?") }
                #expect(unknown?.message.contains("has no refused action #\(handedBack + 100)") == true)

                // Sue decides; her inbox shows it.
                let answer = try await decide(sue, discarded, .discard, "holidays are set by the province")
                #expect(answer.decision.by == "Sue (supervisor)" && answer.about.contains("calendar day"))
                _ = try await decide(sue, handedBack, .note, "ask the provincial office to add it")
                let decided = try await inbox(sue).entries.filter { $0.kind == .refused }
                #expect(decided[0].detail.contains("Sue (supervisor) discarded it: holidays are set by the province"))
                #expect(decided[1].detail.contains("handed it back: ask the provincial office"))

                // Alice's next sync applies both: one discarded with who and why, the other with the note beside it.
                let second = try await alice.sync()
                #expect(second.decisions.map(\.counter).sorted() == [discarded, handedBack].sorted())
                let gone = try #require(try alice.replica.discarded().first)
                #expect(gone.counter == discarded && gone.decided?.contains("Sue (supervisor)") == true
                        && gone.decided?.contains("holidays are set by the province") == true)
                let waiting = try alice.replica.rejections()
                #expect(waiting.map(\.counter) == [handedBack])
                #expect(waiting.first?.note?.contains("Sue (supervisor)") == true && waiting.first?.note?.contains("ask the provincial office") == true)
                #expect(try alice.replica.outboxCount() == 1)
                #expect(try await server.record(.calendarDay, RecordID.calendarDay(christmas)) == nil, "nothing of the discarded action reached the server")

                // The next push holds Alice's whole outbox: the discarded action is off Sue's inbox.
                try await alice.sync()
                #expect(try await inbox(sue).entries.filter { $0.kind == .refused }.map(\.counter) == [handedBack])
            } catch {
                for laptop in laptops { await laptop.close() }
                throw error
            }
            for laptop in laptops { await laptop.close() }
        }
    }

    /// A refused change discarded by a supervisor's decision leaves the records it wrote as the server
    /// holds them, not emptied: the laptop takes the server's copy of exactly those records back, so a
    /// supervisor's refused handover (a name nobody is registered under) can be made again at once.
    @Test(arguments: EngineKind.available)
    func aDiscardedHandoverLeavesTheFileAsTheServerHoldsIt(engine: EngineKind) async throws {
        let clock = TestClock()
        try await TestServer.run(on: engine, clock: clock.now) { server in
            let folder = try TemporaryFolder()
            let alice = try await Laptop.enrol("Alice", server: server, folder: folder, clock: clock.now)
            let bob = try await Laptop.enrol("Bob", server: server, folder: folder, clock: clock.now)
            let sue = try await Laptop.enrol("Sue", server: server, folder: folder, role: .supervisor, clock: clock.now)
            do {
                let customer = "c3000000-0000-4000-8000-000000000001"
                try alice.replica.write([RecordEdit(.customer, customer, [("name", .text("Shop")), ("level", .text("standard")),
                                                                          ("branch", .text("Hangzhou")), ("manager", .text("Alice"))])])
                try await alice.sync()
                try await sue.sync()
                clock.advance(1_000)
                try sue.replica.write([RecordEdit(.customer, customer, [("manager", .text("Bobb"))])])
                let refused = try await sue.sync()
                let counter = try #require(refused.rejected.first?.counter)
                let node = try #require(try sue.replica.identity()?.node)
                _ = try await sue.client.decideRefused(RefusedActionDecision(node: node, counter: counter, action: .discard, note: "typo"),
                                                       token: sue.binding.token)
                let decided = try await sue.sync()
                #expect(decided.decisions.map(\.counter) == [counter])
                #expect(decided.takenBack == 1 && !decided.serverCopyPending, "\(decided)")
                #expect(try sue.replica.recordsToTakeBack().isEmpty, "taken back: nothing left noted for the next sync")
                #expect(try sue.replica.record(.customer, customer)?["manager"] == .text("Alice"), "the server's manager, not an empty one")
                #expect(try sue.replica.records(.handover).isEmpty)
                #expect(try sue.replica.verify().isEmpty)
                clock.advance(1_000)
                try sue.replica.write([RecordEdit(.customer, customer, [("manager", .text("Bob"))])])
                #expect(try await sue.sync().rejected.isEmpty, "the handover made again names the manager the server holds")
                #expect(try await server.record(.customer, customer)?.value("manager", in: RecordKind.customer.schema) == .text("Bob"))
            } catch {
                for laptop in [alice, bob, sue] { await laptop.close() }
                throw error
            }
            for laptop in [alice, bob, sue] { await laptop.close() }
        }
    }
}
