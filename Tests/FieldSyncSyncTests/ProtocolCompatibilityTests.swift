import FieldSyncClient
import FieldSyncModel
import FieldSyncProtocol
import FieldSyncSQLiteServer
import FieldSyncServerCore
import FieldSyncStore
import FieldSyncTestSupport
import Foundation
import GRDB
import NIOHTTP1
import Testing

/// Rolling upgrades (issue 27, item 4), replaying `Protocol/vectors/compat`: what a newer peer
/// writes that this version does not know never refuses a whole push nor fails a page. A
/// server refuses only the mutations naming it, with the reason (they wait on the device); a
/// laptop passes over what it does not know, notes it, and reads it again once upgraded.
@Suite struct ProtocolCompatibilityTests {
    static let folder = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Protocol/vectors/compat")

    static func vector(_ name: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: folder.appendingPathComponent(name + ".json"))) as? [String: Any])
    }

    /// The vector's body as JSON text, placeholders filled in.
    static func body(_ vector: [String: Any], node: NodeID, hlc: HLC, now: UInt64) throws -> [UInt8] {
        let text = String(decoding: try JSONSerialization.data(withJSONObject: try #require(vector["body"])), as: UTF8.self)
            .replacingOccurrences(of: "\"$NODE\"", with: "\"\(node)\"")
            .replacingOccurrences(of: "\"$HLC\"", with: String(hlc.rawValue))
            .replacingOccurrences(of: "\"$NOW\"", with: String(now))
        return Array(text.utf8)
    }

    @Test func aPushNamingUnknownKindsAndFieldsDecodesMutationByMutation() throws {
        let vector = try Self.vector("push-from-a-newer-laptop")
        let request = try WireJSON.decodeSyncRequest(try Self.body(vector, node: NodeID(rawValue: 0xA1), hlc: HLC(milliseconds: 1_795_000_000_000, counter: 0),
                                                                   now: 1_795_000_000_000))
        let expected = try #require(vector["decoded"] as? [[String: Any]])
        #expect(request.mutations.count == expected.count)
        for (mutation, expected) in zip(request.mutations, expected) {
            #expect(mutation.counter == UInt64(expected["counter"] as? Int ?? -1))
            #expect(mutation.unknownKinds == expected["unknown_kinds"] as? [String])
            #expect(mutation.changes.count == expected["changes"] as? Int)
        }
    }

    @Test func anAnswerCarryingDecisionsDiscardsOneRefusedActionAndNotesTheOther() throws {
        let vector = try Self.vector("answer-with-decisions")
        let folder = try TemporaryFolder()
        let replica = try Replica.open(path: folder.path("laptop.sqlite"))
        let node = NodeID(rawValue: 0xA1)
        try replica.initialize(ReplicaIdentity(node: node, branch: "Hangzhou", user: "Alice", createdAt: ""))
        for day in [24, 25, 26] {
            let date = try #require(LocalDate(year: 2026, month: 12, day: day))
            try replica.write([RecordEdit(.calendarDay, RecordID.calendarDay(date), [("date", .text(date.description)), ("kind", .text("holiday"))])])
        }
        let response = try WireJSON.decodeSyncResponse(try Self.body(vector, node: node, hlc: .zero, now: 0))
        #expect(response.instructions.map { Int($0.counter) } == vector["decoded_instructions"] as? [Int], "the unknown action passed over")
        #expect(try JSONDecoder().decode(SyncResponse.self, from: Data(try Self.body(vector, node: node, hlc: .zero, now: 0))).instructions
                == response.instructions, "Codable reads the same")
        #expect(try JSONDecoder().decode(SyncResponse.self, from: Data(try Self.body(vector, node: node, hlc: .zero, now: 0))).rejected
                == response.rejected, "Codable reads the reasons' keys the same")
        #expect(try WireJSON.decodeSyncResponse(WireJSON.encode(response)) == response, "encoded and read back, the same")
        // An earlier answer refused 1 and 2.
        let before = try #require(vector["refused_before"] as? [Int])
        try replica.finishExchange(pulled: [], cursor: 0, acknowledged: [],
                                   rejected: before.map { RejectedMutation(counter: UInt64($0), reason: "refused") }, syncedAt: "2026-12-08T09:00+08:00")
        #expect(response.rejected.map { $0.text?.key } == [nil, "refusal.outside-or-unknown", "refusal.province-calendar"])
        #expect(response.rejected[1].text?.values["reach-branch"] == "杭州" && response.rejected[1].text?.values.count == 5)
        let report = try replica.finishExchange(
            pulled: [], cursor: 0, acknowledged: [],
            rejected: response.rejected.map { RejectedMutation(counter: $0.counter, reason: $0.reason, textKey: $0.text?.key, textValues: $0.text?.values ?? [:]) },
            decisions: response.instructions.map { OutboxDecision($0, offsetMinutes: 480) }, syncedAt: "2026-12-08T10:00+08:00")
        #expect(report.discarded.map { Int($0) } == vector["discarded"] as? [Int])
        let discarded = try #require(try replica.discarded().first)
        #expect(discarded.decided == "Sue (supervisor) on 2026-11-30T08:53:20+08:00: holidays are set by the province")
        let refused = try replica.rejections()
        #expect(refused.map { Int($0.counter) } == (vector["handed_back"] as? [Int] ?? []) + [3], "3 stays refused, not discarded")
        #expect(refused.first?.note == "Sue (supervisor) on 2026-11-30T08:53:20+08:00: ask the provincial office to add it")
        #expect(refused.last?.note == nil)
        #expect(refused.map(\.textKey) == ["refusal.outside-or-unknown", "refusal.province-calendar"], "the reason's key is kept with it")
        #expect(refused.first?.textValues["reach-user"] == "Li Wei")
        // Applied again (the action sent again, the decision with it), nothing changes.
        try replica.finishExchange(pulled: [], cursor: 0, acknowledged: [],
                                   rejected: response.rejected.map { RejectedMutation(counter: $0.counter, reason: $0.reason) },
                                   decisions: response.instructions.map { OutboxDecision($0, offsetMinutes: 480) }, syncedAt: "")
        // 1 is gone, 2's note is the same; 3, refused now at two answers, is discarded as decided, kept in
        // 'discarded' with who decided (a server trusted to refuse is trusted this far; nothing is silent).
        #expect(try replica.discarded().map(\.counter) == [1, 3] && replica.discarded().last?.decided?.hasPrefix("Mallory on ") == true)
        let remaining = try replica.rejections()
        #expect(remaining.map(\.note) == [refused.first?.note], "\(remaining)")
        #expect(try replica.outboxCount() == 1)
    }

    @Test func aBranchReportCarriesTheNamesOfTheWritersBelowIt() throws {
        let vector = try Self.vector("branch-report-with-names")
        let body = try JSONSerialization.data(withJSONObject: try #require(vector["body"]))
        let request = try WireJSON.decodeSyncRequest(body)
        let expected = try #require(vector["names"] as? [[String]])
        #expect(request.below?.names.map { [$0.node.description, $0.user, $0.device] } == expected)
        #expect(try JSONDecoder().decode(SyncRequest.self, from: body).below == request.below, "Codable reads the same")
        let again = WireJSON.syncRequest(cursor: 0, clientTime: 0, maxChanges: nil, below: request.below, mutationBodies: [])
        #expect(try WireJSON.decodeSyncRequest(again).below == request.below, "written and read back, the same")
        // Names are cleaned before they are sent and kept: no control or format character (a line break,
        // a right-to-left override), trimmed, bounded; nothing left, no name; each node once, the last given.
        #expect(FreshnessReport.cleanName(" Li\u{202E}\nWei ") == "LiWei" && FreshnessReport.cleanName("\u{200B} \t") == nil)
        #expect(FreshnessReport.cleanName(String(repeating: "名", count: 300))?.unicodeScalars.count == FreshnessReport.maxNameLength)
        let node = NodeID(rawValue: 7)
        #expect(Directory.Entry.keptNames([Directory.Entry(node: node, user: "Old", device: "x"), Directory.Entry(node: node, user: "New", device: "y"),
                                           Directory.Entry(node: NodeID(rawValue: 8), user: "\u{0}", device: "z")])
                == [Directory.Entry(node: node, user: "New", device: "y")])
        // Out of bounds, the request is refused whole (a branch server's report is bounded like the rest).
        var long = try #require(request.below)
        long.names[0].user = String(repeating: "x", count: FreshnessReport.maxNameLength + 1)
        #expect(throws: WireJSON.DecodingError.self) {
            try WireJSON.decodeSyncRequest(WireJSON.syncRequest(cursor: 0, clientTime: 0, maxChanges: nil, below: long, mutationBodies: []))
        }
    }

    @Test func aPageNamingUnknownKindsAndFieldsIsReadAndNotedAndReadAgainAfterAnUpgrade() throws {
        let vector = try Self.vector("pull-from-a-newer-server")
        let response = try WireJSON.decodeSyncResponse(try JSONSerialization.data(withJSONObject: try #require(vector["body"])))
        #expect(response.changes.count == vector["decoded_changes"] as? Int)
        #expect(response.unknownKinds == vector["unknown_kinds"] as? [String])
        #expect(!response.changes.contains { $0.table.rawValue == "site_photos" })

        let replica = try Replica.inMemory()
        try replica.initialize(ReplicaIdentity(node: NodeID(rawValue: 0xB2), branch: "Hangzhou", user: "Li Wei", createdAt: ""))
        let unknown = response.unknownContent
        #expect(unknown == vector["noted"] as? [String])
        try replica.finishExchange(pulled: response.changes, cursor: 42, acknowledged: [], rejected: [], unknown: unknown, readFrom: 17, syncedAt: "")
        #expect(try replica.record(.visit, "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d")?["summary"] == .text("site survey"), "what is known is stored")
        #expect(try replica.unknownContent() == ["site_photos", "visits.weather"])
        #expect(try replica.readAgainWhatIsNowKnown().isEmpty && replica.syncCursor() == 42, "nothing known yet: nothing read again")

        // An upgrade that knows one of them (here: a field this build knows, noted as an older build would have).
        try replica.finishExchange(pulled: [], cursor: 50, acknowledged: [], rejected: [], unknown: ["visits.summary"], readFrom: 45, syncedAt: "")
        #expect(try replica.readAgainWhatIsNowKnown() == ["visits.summary"])
        #expect(try replica.syncCursor() == 17, "read again from the first request that brought something unknown")
        #expect(try replica.unknownContent() == ["site_photos", "visits.weather"], "what is still unknown stays noted")
        #expect(try replica.readAgainWhatIsNowKnown().isEmpty)
    }

    /// After an upgrade the log is read again from where an older version skipped, and what it
    /// skipped arrives: a laptop that passed over a kind (noted as an older build notes it, the
    /// record not stored) gets it at its next sync, on both engines.
    @Test(arguments: EngineKind.available)
    func whatAnOlderVersionSkippedArrivesAfterTheUpgrade(engine: EngineKind) async throws {
        let clock = TestClock()
        try await TestServer.run(on: engine, clock: clock.now) { server in
            let folder = try TemporaryFolder()
            let ann = try await Laptop.enrol("Ann", server: server, folder: folder, clock: clock.now)
            let ben = try await Laptop.enrol("Ben", server: server, folder: folder, clock: clock.now)
            do {
                var random = SplitMix64(seed: 2704)
                let customer = RecordID.make(using: &random), visit = RecordID.make(using: &random)
                try ann.replica.write([RecordEdit(.customer, customer, [("name", .text("Tower Co")), ("level", .text("vip")), ("branch", .text("Hangzhou")),
                                                                      ("manager", .text("Ann")), ("team", .text("Ben"))])])
                try ann.replica.write([RecordEdit(.visit, visit, [("customer", .text(customer)), ("manager", .text("Ann")), ("at", .text("2026-11-20T09:00:00+08:00")),
                                                                  ("kind", .text("routine")), ("summary", .text("site survey"))])])
                try await ann.sync()
                // Ben's older build passed over the visit (a kind it did not know) and noted it.
                let before = try ben.replica.syncCursor()
                try await ben.sync()
                try await ben.replica.writer.write { db in
                    try db.execute(sql: "DELETE FROM visits WHERE id = ?", arguments: [visit])
                    try Replica.noteUnknownContent(["visits"], readFrom: before, db)
                }
                #expect(try ben.replica.record(.visit, visit) == nil)
                // Upgraded (this build knows the kind): the next sync reads the log again from there.
                let summary = try await ben.sync()
                #expect(summary.readAgain == ["visits"], "\(summary)")
                #expect(try ben.replica.record(.visit, visit)?["summary"] == .text("site survey"))
                #expect(try ben.replica.unknownContent().isEmpty)
                #expect(try await ben.sync().readAgain.isEmpty)
            } catch {
                await ann.close()
                await ben.close()
                throw error
            }
            await ann.close()
            await ben.close()
        }
    }

    /// Junk names (a hostile peer's, or a much newer server's) cannot crowd out a real one: past the
    /// names kept, the replica marks the overflow, and the next version with other schemas reads the
    /// log again from the first skip whatever it knows.
    @Test func moreUnknownNamesThanAreKeptStillLeadToAReadAgainAfterAnUpgrade() throws {
        let replica = try Replica.inMemory()
        try replica.initialize(ReplicaIdentity(node: NodeID(rawValue: 0xB3), branch: "Hangzhou", user: "Li Wei", createdAt: ""))
        try replica.finishExchange(pulled: [], cursor: 90, acknowledged: [], rejected: [],
                                   unknown: (1...80).map { "junk\($0)" }, readFrom: 12, syncedAt: "")
        #expect(try replica.unknownContent().count == 64)
        #expect(try replica.readAgainWhatIsNowKnown().isEmpty && replica.syncCursor() == 90, "this version knows none of them")
        // Another version (other schemas) opens the replica: it reads again from the first skip.
        try replica.writer.write { db in try db.execute(sql: "UPDATE meta SET value = 'an older version' WHERE key = 'unknown_overflow'") }
        #expect(try replica.readAgainWhatIsNowKnown() == ["(names not kept)"])
        #expect(try replica.syncCursor() == 12)
        #expect(try replica.readAgainWhatIsNowKnown().isEmpty, "once")
    }

    /// Through the tier: a branch server of this version under a newer province passes over what it
    /// does not know in the province's pages, notes it with the cursor it asked from, and reads the
    /// province's log again from there once it knows it.
    @Test func aBranchServerUnderANewerProvinceNotesAndReadsAgain() async throws {
        let branch = try await TestServer.start()
        do {
            let key = "province|branch|Hangzhou"
            let page = try WireJSON.decodeSyncResponse(try JSONSerialization.data(withJSONObject: try #require(try Self.vector("pull-from-a-newer-server")["body"])))
            try branch.store.applyFromUpstream(page, sentThrough: 0, key: key, askedFrom: 7)
            #expect(try branch.store.upstreamState(key).cursor == 42)
            #expect(try branch.store.replica.record(.visit, "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d") != nil, "what it knows is stored and logged")
            #expect(try branch.store.readUpstreamAgainWhatIsNowKnown(key).isEmpty, "nothing known yet")
            #expect(try branch.store.replica.unknownContent() == ["site_photos", "visits.weather"])
            // Upgraded to know one of them (noted here as an older build would have noted a field this one knows).
            try await branch.store.writer.write { db in try Replica.noteUnknownContent(["visits.summary"], readFrom: 30, db) }
            #expect(try branch.store.readUpstreamAgainWhatIsNowKnown(key) == ["visits.summary"])
            #expect(try branch.store.upstreamState(key).cursor == 7, "the province's log is read again from the first page that brought something unknown")
        } catch {
            await branch.stop()
            throw error
        }
        await branch.stop()
    }

    /// Against a real server on both engines: the push is read whole, only the mutations naming
    /// what the server does not know are refused (with the vector's reasons), the rest applied.
    @Test(arguments: EngineKind.available)
    func aServerRefusesOnlyTheMutationsItCannotKeep(engine: EngineKind) async throws {
        let clock = TestClock()
        try await TestServer.run(on: engine, clock: clock.now) { server in
            let folder = try TemporaryFolder()
            let li = try await Laptop.enrol("Li Wei", server: server, folder: folder, clock: clock.now)
            let raw = try RawHTTPS(server)
            do {
                let vector = try Self.vector("push-from-a-newer-laptop")
                let node = try #require(try li.replica.identity()?.node)
                let body = try Self.body(vector, node: node, hlc: HLC(milliseconds: clock.now(), counter: 0), now: clock.now())
                let answer = try await raw.send(.POST, "/v1/sync", body: body, token: li.binding.token,
                                                headers: [(ProtocolVersion.header, String(ProtocolVersion.current))])
                #expect(answer.status == 200, "\(answer.text)")
                let response = try WireJSON.decodeSyncResponse(answer.body)
                #expect(response.accepted.map(\.counter) == (vector["accepted"] as? [Int])?.map(UInt64.init))
                let refused = try #require(vector["refused"] as? [String: String])
                #expect(response.rejected.count == refused.count)
                for rejection in response.rejected {
                    let expected = try #require(refused[String(rejection.counter)])
                    #expect(rejection.reason.hasPrefix(expected) && rejection.reason.contains("until the server is upgraded"), "\(rejection.reason)")
                }
                #expect(try await server.record(.customer, "c7a1e3f0-2b4d-4f6a-8c9e-0d1f2a3b4c5d") != nil)
                #expect(try await server.record(.visit, "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d") == nil)
            } catch {
                await raw.shutdown()
                await li.close()
                throw error
            }
            await raw.shutdown()
            await li.close()
        }
    }
}
