import FieldSyncClient
import FieldSyncModel
import FieldSyncProtocol
import FieldSyncRelay
@testable import FieldSyncSQLiteServer
@testable import FieldSyncServer
@testable import FieldSyncServerCore
import FieldSyncStore
import FieldSyncTestSupport
import Foundation
import GRDB
import Logging
import Testing

/// A branch server under a provincial server (issue 10, part 4): what its
/// laptops push flows up with its origin, what the province changes in the
/// branch flows down to the laptops, nothing comes back to where it came from.
@Suite struct ProvinceTierTests {
    static let customer = "c1000000-0000-4000-8000-000000000001"

    /// Enrols `branch` (a server) at `province` with a `branch` account.
    static func link(_ branch: TestServer, to province: TestServer, as branchName: String) async throws -> UpstreamSync {
        if try !province.store.branches().contains(branchName) { try province.store.addBranch(branchName) }
        let code = try province.store.addUser(UserInfo(name: "\(branchName) server", role: .branch, branch: branchName)).code
        let binding = try await UpstreamSync.enrol(branch.store, at: province.url, code: code, caPEM: province.caPEM, deviceName: branchName)
        var logger = Logger(label: "test-upstream")
        logger.logLevel = .critical
        return try UpstreamSync(store: branch.store, binding: binding, caPEM: province.caPEM, logger: logger)
    }

    /// What the branch server writes itself (a handover by `fieldsync-server assign`) reaches the province
    /// like its laptops' work, and the laptops of the branch.
    @Test func theBranchServersOwnWritesReachTheProvince() async throws {
        let province = try await TestServer.start()
        let branch = try await TestServer.start()
        let upstream = try await Self.link(branch, to: province, as: "Hangzhou")
        try await upstream.syncOnce()
        let folder = try TemporaryFolder()
        let alice = try await Laptop.enrol("Alice", server: branch, folder: folder)
        _ = try branch.store.addUser(UserInfo(name: "Bob", role: .manager, branch: "Hangzhou"))
        _ = try province.store.addUser(UserInfo(name: "Bob", role: .manager, branch: "Hangzhou"))
        try alice.replica.write([RecordEdit(.customer, Self.customer, [("name", .text("Acme")), ("level", .text("vip")),
                                                                        ("branch", .text("Hangzhou")), ("manager", .text("Alice"))])])
        #expect(try await alice.sync().rejected.isEmpty)
        try await upstream.syncOnce()
        #expect(try province.store.replica.record(.customer, Self.customer)?["manager"] == .text("Alice"))

        _ = try branch.store.assign(Self.customer, manager: "Bob", team: nil)
        try await upstream.syncOnce()
        let refused = try await branch.store.writer.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM upstream_rejections") ?? -1 }
        let reasons = try await branch.store.writer.read { db in try String.fetchAll(db, sql: "SELECT origin || ' ' || counter || ': ' || reason FROM upstream_rejections") }
        #expect(refused == 0, "the province refused none of the branch server's own work: \(reasons)")
        #expect(try province.store.replica.record(.customer, Self.customer)?["manager"] == .text("Bob"))
        let handovers = try province.store.replica.records(.handover)
        #expect(handovers.count == 1, "the handover record the assignment wrote reached the province too")
        // A second round moves nothing and refuses nothing.
        let idle = try await upstream.syncOnce()
        #expect(idle.pushed == 0 && idle.pulled == 0)
        try await alice.sync()
        #expect(try alice.replica.record(.customer, Self.customer) == nil, "the file left Alice's laptop with the handover")
        await upstream.shutdown()
        await alice.close()
    }

    /// Once an hour the branch server compares its records with the province's copy by digests and
    /// repairs what differs; the province shows the branch as identical (or not) as of that comparison,
    /// in its freshness, its dashboard and `nodes`.
    @Test func theBranchIsComparedWithTheProvinceByDigestsEveryHour() async throws {
        let clock = TestClock()
        let province = try await TestServer.start(clock: clock.now)
        let branch = try await TestServer.start(clock: clock.now)
        let upstream = try await Self.link(branch, to: province, as: "Hangzhou")
        // The branch list comes from the province (a branch server's own entry for its branch would be a list
        // the province does not hold, reported as differing at every comparison).
        try await upstream.syncOnce()
        let folder = try TemporaryFolder()
        let alice = try await Laptop.enrol("Alice", server: branch, folder: folder, clock: clock.now)
        var generator = SplitMix64(seed: 27)
        let visit = RecordID.make(using: &generator)
        try alice.replica.write([RecordEdit(.customer, Self.customer, [("name", .text("Acme")), ("level", .text("vip")),
                                                                        ("branch", .text("Hangzhou")), ("manager", .text("Alice"))]),
                                 RecordEdit(.visit, visit, [("customer", .text(Self.customer)), ("at", .text("2026-11-20T09:00:00+08:00")),
                                                            ("kind", .text("routine")), ("summary", .text("tower check"))])])
        #expect(try await alice.sync().rejected.isEmpty)
        try await upstream.syncOnce()
        let province_ = UserInfo(name: "Pat", role: .province, branch: nil)
        func hangzhou() async throws -> BranchFreshness? { try await province.kpi.freshness(for: province_).first { $0.branch == "Hangzhou" } }
        #expect(try await hangzhou()?.identicalAt == nil, "not compared before the hour is up")

        clock.advance(UpstreamSync.comparisonEvery)
        try await upstream.syncOnce()
        #expect(try await hangzhou()?.identicalAt == clock.now())

        // A visit lost on the branch server (a hand edit) is found at the next comparison and taken back from the province.
        try await branch.store.writer.write { db in try db.execute(sql: "DELETE FROM visits WHERE id = ?", arguments: [visit]) }
        clock.advance(UpstreamSync.comparisonEvery - 1)
        try await upstream.syncOnce()
        #expect(try branch.store.replica.record(.visit, visit) == nil, "not yet due")
        clock.advance(1)
        try await upstream.syncOnce()
        let differed = try await hangzhou()
        #expect(differed?.identicalAt == nil && differed?.differedAt == clock.now())
        #expect(try branch.store.replica.record(.visit, visit)?["summary"] == .text("tower check"), "repaired from the province's copy")
        let checks = try await province.kpi.digestChecks()
        #expect(checks.values.map(\.differing) == [1], "one bucket of 256 differed: \(checks)")

        clock.advance(UpstreamSync.comparisonEvery)
        try await upstream.syncOnce()
        #expect(try await hangzhou()?.identicalAt == clock.now())
        // The province's dashboard says so beside the branch's freshness.
        let pat = try await Laptop.enrol("Pat", server: province, folder: folder, role: .province, branch: nil, clock: clock.now)
        let page = String(decoding: try await pat.client.get("/dashboard", query: [("lang", "en")], token: pat.binding.token), as: UTF8.self)
        #expect(page.contains("records identical to this server&#39;s as of") || page.contains("records identical to this server's as of"),
                "\(page.prefix(2_000))")
        await pat.close()
        await upstream.shutdown()
        await alice.close()
    }

    @Test func branchServerRelaysUpAndDownWithoutEcho() async throws {
        let province = try await TestServer.start()
        let branch = try await TestServer.start()
        let upstream = try await Self.link(branch, to: province, as: "Hangzhou")
        try await upstream.syncOnce()
        #expect(try branch.store.branches() == ["Hangzhou"], "the province's branch list reaches the branch server")

        let folder = try TemporaryFolder()
        let alice = try await Laptop.enrol("Alice", server: branch, folder: folder)
        let pat = try await Laptop.enrol("Pat", server: province, folder: folder, role: .province, branch: nil)
        try alice.replica.write([RecordEdit(.customer, Self.customer, [("name", .text("Acme")), ("level", .text("vip")),
                                                                        ("branch", .text("Hangzhou")), ("manager", .text("Alice"))])])
        var generator = SplitMix64(seed: 5)
        try alice.replica.write([RecordEdit(.visit, RecordID.make(using: &generator), [
            ("customer", .text(Self.customer)), ("at", .text("2026-11-20T09:00:00+08:00")), ("kind", .text("routine")), ("summary", .text("tower check")),
        ])])
        #expect(try await alice.sync().rejected.isEmpty)
        let up = try await upstream.syncOnce()
        #expect(up.pushed == 2, "both of Alice's actions are relayed, with her node and counters")
        #expect(try province.store.replica.record(.customer, Self.customer)?["name"] == .text("Acme"))
        let aliceNode = try #require(try alice.replica.identity()).node
        let provinceOrigins = try await province.store.writer.read { db in
            try String.fetchAll(db, sql: "SELECT DISTINCT origin FROM change_log WHERE tbl IN ('customers', 'visits')")
        }
        #expect(provinceOrigins == [aliceNode.description], "changes keep their origin across tiers")
        // Alice's laptop signed its page; the branch server passed it up and the province pinned her key;
        // the branch server marks the page relayed once the province took all it covered (kept a while, for a restored province).
        let pins = try await province.store.writer.read { db in try String.fetchAll(db, sql: "SELECT node FROM node_keys") }
        #expect(pins == [aliceNode.description])
        #expect(try await branch.store.writer.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM signed_pages WHERE relayed_at IS NULL") } == 0)

        // The province edits the file; it reaches the branch server and Alice.
        try await pat.sync()
        try pat.replica.write([RecordEdit(.customer, Self.customer, [("notes", .text("province audit"))])])
        try await pat.sync()
        try await upstream.syncOnce()
        try await alice.sync()
        #expect(try alice.replica.record(.customer, Self.customer)?["notes"] == .text("province audit"))

        // No echo: nothing Alice wrote came back down to the branch server, and a
        // second round moves nothing.
        let echoed = try await branch.store.writer.read { db in
            try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM change_log WHERE from_upstream = 1 AND origin = ?", arguments: [aliceNode.description]) ?? -1
        }
        #expect(echoed == 0)
        let idle = try await upstream.syncOnce()
        #expect(idle.pushed == 0 && idle.pulled == 0)
        #expect(try branch.store.upstreamState(upstream.key).unsent == 0 && branch.store.upstreamState(upstream.key).lastSuccess != nil)
        // KPI answers at the province say up to when Hangzhou's data is complete there.
        let freshness = try province.store.freshness(for: pat.binding.user)
        #expect(freshness.map(\.branch) == ["Hangzhou"])
        #expect(freshness.first?.completeUpTo != nil && freshness.first?.pending == 0)
        #expect(freshness.first?.devices == 2, "the branch server and, reported by it, Alice's laptop below it")
        let answer = try await pat.client.get("/v1/kpi", query: [("by", "branch")], token: pat.binding.token)
        let json = try JSONSerialization.jsonObject(with: Data(answer)) as? [String: Any]
        #expect((json?["freshness"] as? [[String: Any]])?.first?["branch"] as? String == "Hangzhou")
        // Freshness carried up: the province sees the branch server's last sync and what it still has to relay.
        let branchNode = try #require(try province.store.devices().first { $0.role == .branch })
        #expect(branchNode.lastSeen != nil && branchNode.pending == 0)
        let provinceFile = try province.store.replica.record(.customer, Self.customer)
        #expect(try branch.store.replica.record(.customer, Self.customer) == provinceFile, "both servers hold the same file")

        // The province's calendar reaches the branch's laptops.
        let holiday = LocalDate(year: 2026, month: 10, day: 1)!
        try province.store.writeLocal([RecordEdit(.calendarDay, RecordID.calendarDay(holiday), [
            ("date", .text("2026-10-01")), ("kind", .text("holiday")), ("name", .text("National Day")),
        ])])
        try await upstream.syncOnce()
        try await alice.sync()
        #expect(try alice.replica.record(.calendarDay, RecordID.calendarDay(holiday))?["name"] == .text("National Day"))

        // Concurrent edits on both sides of the tier: the lost value is one conflict record
        // everywhere, though the province and the branch server may each have found it.
        try await pat.sync()
        try alice.replica.write([RecordEdit(.customer, Self.customer, [("services", .text("towers"))])])
        try pat.replica.write([RecordEdit(.customer, Self.customer, [("services", .text("fibre"))])])
        try await pat.sync()
        try await alice.sync()
        try await upstream.syncOnce()
        try await alice.sync()
        try await upstream.syncOnce()
        try await pat.sync()
        let conflicts = try province.store.replica.records(.conflict).filter { $0["field"] == .text("services") }
        #expect(conflicts.count == 1, "one conflict record for one lost value")
        #expect(try alice.replica.records(.conflict).filter { $0["field"] == .text("services") }.map(\.id) == conflicts.map(\.id))
        #expect(try alice.replica.record(.customer, Self.customer)?["services"] == province.store.replica.record(.customer, Self.customer)?["services"])

        // The field's history reads the same at the branch server and at the province: the same writers
        // (original nodes, not the branch server's), the same values, the same outcome of the conflict.
        let admin = UserInfo(name: "admin", role: .admin, branch: nil)
        func plain(_ history: RecordHistory?) -> [String] {
            (history?.only(field: "services").entries ?? []).map { "\($0.value) \($0.node) \($0.hlc.rawValue) \($0.outcome.rawValue)" }
        }
        let key = RecordKey(table: .customer, record: Self.customer)
        let atBranch = try await branch.kpi.history(of: key, for: admin), atProvince = try await province.kpi.history(of: key, for: admin)
        #expect(plain(atBranch).count == 2 && plain(atBranch) == plain(atProvince))
        #expect(Set(atProvince?.only(field: "services").entries.map(\.outcome) ?? []) == [.current, .lostConflict])
        #expect(atProvince?.only(field: "services").entries.allSatisfy { $0.receivedAt != nil } == true, "each tier keeps its own receipts")
        // The branch server reported who writes under Alice's node: the province names her, as the branch server does.
        let named = try await pat.client.get("/v1/history", query: [("table", "customers"), ("id", Self.customer), ("field", "services")],
                                             token: pat.binding.token)
        let people = try JSONDecoder().decode(RecordHistory.self, from: Data(named)).entries.map { $0.person ?? "node \($0.node)" }
        #expect(Set(people) == ["Alice", "Pat"], "\(people)")
        // A name for a node the branch server does not relay is not kept.
        #expect(try province.store.noteRelayedNames([Directory.Entry(node: NodeID(rawValue: 42), user: "Mallory", device: "x")],
                                                    via: branchNode.id) == 0)

        // A node relayed by this branch server cannot be enrolled at the province by anyone else.
        let client = try SyncClient(url: province.url, caPEM: province.caPEM)
        let taken = await #expect(throws: SyncError.self) {
            _ = try await client.enroll(code: try province.code(for: "Mallory"), node: aliceNode, deviceName: "copy")
        }
        #expect(taken?.code == ErrorCode.nodeTaken)
        try await client.shutdown()
        await upstream.shutdown()
        for laptop in [alice, pat] { await laptop.close() }
        await branch.stop()
        await province.stop()
    }

    /// `upstream set` with a code made for a person: the province refuses it
    /// before storing anything, so the code stays usable by its owner and the
    /// branch server can still enrol with a proper branch code.
    @Test func aCodeOfAnotherRoleEnrolsNothing() async throws {
        let province = try await TestServer.start()
        let branch = try await TestServer.start()
        try province.store.addBranch("Hangzhou")
        let managerCode = try province.code(for: "Li Wei")
        let refused = await #expect(throws: SyncError.self) {
            _ = try await UpstreamSync.enrol(branch.store, at: province.url, code: managerCode, caPEM: province.caPEM, deviceName: "Hangzhou")
        }
        #expect(refused?.code == ErrorCode.badRequest)
        // The refusal names the role asked for, never the code's own (issue 24, item 5(d)).
        #expect(refused?.message.contains("does not enrol a branch device") == true && refused?.message.contains("manager") == false)
        #expect(try province.store.devices().isEmpty, "nothing stored for a refused code")

        let upstream = try await Self.link(branch, to: province, as: "Hangzhou")
        #expect(try province.store.devices().map(\.role) == [.branch])
        let client = try SyncClient(url: province.url, caPEM: province.caPEM)
        let laptop = try await client.enroll(code: managerCode, node: NodeID(rawValue: 0x51), deviceName: "li-wei-laptop")
        #expect(laptop.user.role == .manager, "the refused code still enrols its owner")
        try await client.shutdown()
        await upstream.shutdown()
        await branch.stop()
        await province.stop()
    }

    /// A branch server that worked alone before it was linked: its history
    /// (log rows written before counters were kept) reaches the province too,
    /// under each writer's node.
    @Test func historyFromBeforeTheLinkReachesTheProvince() async throws {
        let province = try await TestServer.start()
        let branch = try await TestServer.start()
        let folder = try TemporaryFolder()
        let alice = try await Laptop.enrol("Alice", server: branch, folder: folder)
        try alice.replica.write([RecordEdit(.customer, Self.customer, [("name", .text("Acme")), ("level", .text("vip")),
                                                                        ("branch", .text("Hangzhou")), ("manager", .text("Alice"))])])
        try await alice.sync()
        // As a server from before the tier wrote them: no mutation counters in its log.
        try await branch.store.writer.write { db in try db.execute(sql: "UPDATE change_log SET counter = NULL") }
        let upstream = try await Self.link(branch, to: province, as: "Hangzhou")
        let first = try await upstream.syncOnce()
        #expect(first.pushed >= 1)
        #expect(try province.store.replica.record(.customer, Self.customer) == branch.store.replica.record(.customer, Self.customer))
        await upstream.shutdown()
        await alice.close()
        await branch.stop()
        await province.stop()
    }

    /// A province with two branch servers and laptops under each: offline work
    /// everywhere, one branch cut off for a while, a handover and a branch move
    /// mid-run, a device revoked. Each laptop ends with exactly its scope, the
    /// province with the union, shared records equal everywhere, nothing typed lost.
    /// Issue 28, item 4, through the tier: work the province refused after the branch server took it
    /// comes back to its writer, is refused again at the branch server, and the branch's supervisor
    /// discards it from the inbox; the discard reaches the writer's laptop, recorded with who and why.
    @Test func workTheProvinceHandedBackIsDecidedByTheBranchSupervisor() async throws {
        let province = try await TestServer.start()
        let ningbo = try await TestServer.start()
        try province.store.addBranch("Hangzhou")
        let up = try await Self.link(ningbo, to: province, as: "Ningbo")
        try await up.syncOnce()
        let folder = try TemporaryFolder()
        let nina = try await Laptop.enrol("Nina", server: ningbo, folder: folder, branch: "Ningbo")
        let nora = try await Laptop.enrol("Nora", server: ningbo, folder: folder, role: .supervisor, branch: "Ningbo")
        let pat = try await Laptop.enrol("Pat", server: province, folder: folder, role: .province, branch: nil)
        let laptops = [nina, nora, pat]
        do {
            let harbour = "c1000000-0000-4000-8000-00000000000c"
            try nina.replica.write([RecordEdit(.customer, harbour, [("name", .text("Harbour")), ("level", .text("standard")),
                                                                    ("branch", .text("Ningbo")), ("manager", .text("Nina"))])])
            try await nina.sync()
            try await up.syncOnce()
            try await pat.sync()
            // The province moves Harbour to Hangzhou; Ningbo's server has not heard when Nina logs a visit.
            try pat.replica.write([RecordEdit(.customer, harbour, [("branch", .text("Hangzhou")), ("manager", .text("Ana"))])])
            try await pat.sync()
            var generator = SplitMix64(seed: 12)
            try nina.replica.write([RecordEdit(.visit, RecordID.make(using: &generator), [
                ("customer", .text(harbour)), ("at", .text("2026-11-20T09:00:00+08:00")), ("kind", .text("routine")), ("summary", .text("after the move")),
            ])])
            #expect(try await nina.sync().rejected.isEmpty, "Ningbo's server takes it: it has not heard of the move")
            try await up.syncOnce()
            // Handed back to Nina, refused again at Ningbo's server with the province's reason.
            try await nina.sync()
            try await nina.sync()
            let refused = try nina.replica.rejections()
            #expect(refused.count == 1, "\(refused)")
            let counter = try #require(refused.first?.counter)
            let node = try #require(try nina.replica.identity()?.node)
            let inbox = try JSONDecoder().decode(Inbox.self, from: Data(try await nora.client.get("/v1/inbox", token: nora.binding.token)))
            let entry = try #require(inbox.entries.first { $0.kind == .refused && $0.counter == counter }, "\(inbox.entries)")
            #expect(entry.node == node.description && entry.detail.contains("visit"))
            _ = try await nora.client.decideRefused(RefusedActionDecision(node: node, counter: counter, action: .discard,
                                                                          note: "Harbour is Hangzhou's now; Ana logs it there"),
                                                    token: nora.binding.token)
            let applied = try await nina.sync()
            #expect(applied.decisions.map(\.counter) == [counter])
            #expect(try nina.replica.discarded().first?.decided?.contains("Nora (supervisor)") == true)
            #expect(try nina.replica.outboxCount() == 0 && nina.replica.rejections().isEmpty)
            try await nina.sync()
            #expect(try nina.replica.record(.customer, harbour) == nil, "with nothing left to send, the file that left Ningbo is dropped")
        } catch {
            for laptop in laptops { await laptop.close() }
            await up.shutdown()
            throw error
        }
        for laptop in laptops { await laptop.close() }
        await up.shutdown()
        await ningbo.stop()
        await province.stop()
    }

    @Test func provinceWithTwoBranchesConverges() async throws {
        let province = try await TestServer.start()
        let hangzhou = try await TestServer.start()
        let ningbo = try await TestServer.start()
        let upHangzhou = try await Self.link(hangzhou, to: province, as: "Hangzhou")
        let upNingbo = try await Self.link(ningbo, to: province, as: "Ningbo")
        try await upHangzhou.syncOnce()
        try await upNingbo.syncOnce()
        let folder = try TemporaryFolder()
        let alice = try await Laptop.enrol("Alice", server: hangzhou, folder: folder)
        let ana = try await Laptop.enrol("Ana", server: hangzhou, folder: folder)
        let sue = try await Laptop.enrol("Sue", server: hangzhou, folder: folder, role: .supervisor)
        let nina = try await Laptop.enrol("Nina", server: ningbo, folder: folder, branch: "Ningbo")
        let pat = try await Laptop.enrol("Pat", server: province, folder: folder, role: .province, branch: nil)
        let laptops = [alice, ana, sue, nina, pat]
        let acme = "c1000000-0000-4000-8000-00000000000a", harbour = "c1000000-0000-4000-8000-00000000000b"
        var generator = SplitMix64(seed: 9)
        func visit(_ customer: String, _ summary: String) -> RecordEdit {
            RecordEdit(.visit, RecordID.make(using: &generator), [("customer", .text(customer)), ("at", .text("2026-11-20T09:00:00+08:00")),
                                                                  ("kind", .text("routine")), ("summary", .text(summary))])
        }
        // Offline work in both branches.
        try alice.replica.write([RecordEdit(.customer, acme, [("name", .text("Acme")), ("level", .text("vip")), ("branch", .text("Hangzhou")),
                                                              ("manager", .text("Alice"))])])
        try alice.replica.write([visit(acme, "Alice's visit")])
        try nina.replica.write([RecordEdit(.customer, harbour, [("name", .text("Harbour")), ("level", .text("standard")), ("branch", .text("Ningbo")),
                                                                ("manager", .text("Nina"))])])
        try nina.replica.write([visit(harbour, "Nina's visit")])
        try await nina.sync()
        try await alice.sync()
        try await upHangzhou.syncOnce()
        try await upNingbo.syncOnce()
        try await pat.sync()
        #expect(try Set(pat.replica.records(.customer).map(\.id)) == [acme, harbour], "the province holds both branches")

        // Ningbo is cut off from the province for a while; Nina keeps working.
        try nina.replica.write([visit(harbour, "Nina, while Ningbo is offline")])
        try await nina.sync()
        // Mid-run: Sue hands Acme to Ana; the province moves Harbour to Hangzhou, for Ana.
        try await sue.sync()
        try sue.replica.write([RecordEdit(.customer, acme, [("manager", .text("Ana"))])])
        try await sue.sync()
        try pat.replica.write([RecordEdit(.customer, harbour, [("branch", .text("Hangzhou")), ("manager", .text("Ana"))])])
        try await pat.sync()
        try await upHangzhou.syncOnce()
        // Ningbo comes back: its pending work goes up, the move comes down.
        try await upNingbo.syncOnce()
        try await upHangzhou.syncOnce()
        for laptop in [alice, ana, sue, nina, pat] { try await laptop.sync() }
        try await upHangzhou.syncOnce()
        try await upNingbo.syncOnce()
        try await pat.sync()
        for laptop in [ana, sue] { try await laptop.sync() }

        // Once Nina's laptop has read past the exit with nothing left to send, Ningbo's server drops the file too.
        try await nina.sync()
        #expect(try ningbo.store.replica.record(.customer, harbour) == nil && ningbo.store.replica.records(.visit).isEmpty,
                "each branch server holds exactly its branch")
        #expect(try hangzhou.store.replica.record(.customer, harbour) != nil)

        // A device is revoked at its branch server.
        _ = try hangzhou.store.revokeDevice(alice.binding.device)
        await #expect(throws: SyncError.self) { try await alice.sync() }

        // Each laptop holds exactly its scope (read from the replica file).
        #expect(try alice.replica.records(.customer).isEmpty, "Acme was handed over: Alice's laptop dropped it")
        #expect(try nina.replica.records(.customer).isEmpty && nina.replica.records(.visit).isEmpty, "Harbour moved away from Ningbo")
        #expect(try Set(ana.replica.records(.customer).map(\.id)) == [acme, harbour])
        #expect(try Set(sue.replica.records(.customer).map(\.id)) == [acme, harbour])
        // Nothing typed was lost: every visit reached the province and its new holders.
        let summaries: Set<String> = ["Alice's visit", "Nina's visit", "Nina, while Ningbo is offline"]
        #expect(try Set(pat.replica.records(.visit).compactMap { $0["summary"].text }) == summaries)
        #expect(try Set(ana.replica.records(.visit).compactMap { $0["summary"].text }) == summaries)
        // Shared records are equal everywhere they are held.
        for id in [acme, harbour] {
            let truth = try province.store.replica.record(.customer, id)
            #expect(try hangzhou.store.replica.record(.customer, id) == truth)
            #expect(try ana.replica.record(.customer, id) == truth)
            #expect(try pat.replica.record(.customer, id) == truth)
        }
        // No node was ever sent back a change it wrote.
        for server in [hangzhou, ningbo] {
            let echoes = try await server.store.writer.read { db in
                try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM change_log l WHERE l.from_upstream = 1 AND l.origin IN (SELECT node FROM devices)") ?? -1
            }
            #expect(echoes == 0)
        }
        for link in [upHangzhou, upNingbo] { await link.shutdown() }
        for laptop in laptops { await laptop.close() }
        for server in [hangzhou, ningbo, province] { await server.stop() }
    }
}
