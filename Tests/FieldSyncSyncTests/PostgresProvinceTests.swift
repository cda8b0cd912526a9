import FieldSyncClient
import FieldSyncModel
import FieldSyncPostgres
import FieldSyncProtocol
import FieldSyncRelay
import FieldSyncSQLiteServer
import FieldSyncServer
import FieldSyncServerCore
import FieldSyncStore
import FieldSyncTestSupport
import Foundation
import Logging
import PostgresNIO
import Testing

/// The tier with the province on PostgreSQL: two branch servers on SQLite relay
/// their laptops' work up, the province's changes come down, nothing comes back
/// to where it came from, and the province reports its branches' freshness.
@Suite(.enabled(if: PostgresTestDatabase.enabled, "no PostgreSQL: set FIELDSYNC_TEST_DATABASE_URL (scripts/postgres start prints one)"))
struct PostgresProvinceTests {
    /// Enrols `branch` (a server) at `province` with a `branch` account.
    static func link(_ branch: TestServer, to province: TestServer, as name: String) async throws -> UpstreamSync {
        let code = try await province.enrolmentCode(for: "\(name) server", role: .branch, branch: name)
        let binding = try await UpstreamSync.enrol(branch.store, at: province.url, code: code, caPEM: province.caPEM, deviceName: name)
        var logger = Logger(label: "test-upstream")
        logger.logLevel = .critical
        return try UpstreamSync(store: branch.store, binding: binding, caPEM: province.caPEM, logger: logger)
    }

    @Test func branchServersRelayThroughAProvinceOnPostgreSQL() async throws {
        try await PostgresTestDatabase.with { client, _ in
            let clock = TestClock()
            let province = try await TestServer.start(postgres: client, clock: clock.now)
            let hangzhou = try await TestServer.start(clock: clock.now)
            let ningbo = try await TestServer.start(clock: clock.now)
            let up = [try await Self.link(hangzhou, to: province, as: "Hangzhou"), try await Self.link(ningbo, to: province, as: "Ningbo")]
            for link in up { try await link.syncOnce() }
            #expect(try hangzhou.store.branches() == ["Hangzhou", "Ningbo"], "the province's branch list reaches the branch servers")

            let folder = try TemporaryFolder()
            let alice = try await Laptop.enrol("Alice", server: hangzhou, folder: folder, clock: clock.now)
            let bob = try await Laptop.enrol("Bob", server: ningbo, folder: folder, branch: "Ningbo", clock: clock.now)
            let pat = try await Laptop.enrol("Pat", server: province, folder: folder, role: .province, branch: nil, clock: clock.now)
            let sue = try await Laptop.enrol("Sue", server: province, folder: folder, role: .supervisor, clock: clock.now)
            do {
                try await Self.scenario(alice: alice, bob: bob, pat: pat, sue: sue, up: up, hangzhou: hangzhou, province: province, clock: clock)
            } catch {
                Issue.record(error)
            }
            for laptop in [alice, bob, pat, sue] { await laptop.close() }
            for link in up { await link.shutdown() }
            for server in [ningbo, hangzhou, province] { await server.stop() }
        }
    }

    static func scenario(alice: Laptop, bob: Laptop, pat: Laptop, sue: Laptop, up: [UpstreamSync], hangzhou: TestServer, province: TestServer,
                         clock: TestClock) async throws {
        var generator = SplitMix64(seed: 8)
        let acme = RecordID.make(using: &generator), harbour = RecordID.make(using: &generator)
        try alice.replica.write([RecordEdit(.customer, acme, [("name", .text("Acme")), ("level", .text("vip")), ("branch", .text("Hangzhou")),
                                                            ("manager", .text("Alice"))])])
        try alice.replica.write([RecordEdit(.visit, RecordID.make(using: &generator), [
            ("customer", .text(acme)), ("at", .text("2026-11-20T09:00:00+08:00")), ("kind", .text("routine")), ("summary", .text("tower check"))])])
        try bob.replica.write([RecordEdit(.customer, harbour, [("name", .text("Harbour")), ("level", .text("standard")), ("branch", .text("Ningbo")),
                                                               ("manager", .text("Bob"))])])
        #expect(try await alice.sync().rejected.isEmpty)
        #expect(try await bob.sync().rejected.isEmpty)
        let relayed = try await up[0].syncOnce()
        #expect(relayed.pushed == 2, "both of Alice's actions are relayed, with her node and counters")
        try await up[1].syncOnce()

        try await pat.sync()
        try await sue.sync()
        #expect(try pat.replica.record(.customer, acme)?["name"] == .text("Acme") && pat.replica.record(.customer, harbour) != nil)
        #expect(try sue.replica.record(.customer, acme) != nil && sue.replica.record(.customer, harbour) == nil, "a supervisor sees her branch")
        let aliceNode = try #require(try alice.replica.identity()).node
        #expect(try pat.replica.record(.customer, acme)?.stamp("name")?.node == aliceNode, "changes keep their origin across tiers")

        // The province edits the file; it reaches Alice through her branch server, and nothing of hers comes back.
        clock.advance(60_000)
        try pat.replica.write([RecordEdit(.customer, acme, [("notes", .text("province audit"))])])
        try await pat.sync()
        try await up[0].syncOnce()
        let down = try await alice.sync()
        #expect(down.pulled == 1, "only the province's note: \(down)")
        #expect(try alice.replica.record(.customer, acme)?["notes"] == .text("province audit"))
        #expect(try await up[0].syncOnce().pushed == 0, "the note does not go back up")

        // Work from both sides of the tier converges.
        try alice.replica.write([RecordEdit(.customer, acme, [("services", .text("5G private network"))])])
        try await alice.sync()
        for link in up { try await link.syncOnce() }
        try await pat.sync()
        try await sue.sync()
        #expect(try pat.replica.record(.customer, acme) == alice.replica.record(.customer, acme))
        #expect(try sue.replica.record(.customer, acme) == alice.replica.record(.customer, acme))

        // The province knows how fresh each branch is, from what the branch servers report below them.
        let answer = try await pat.client.get("/v1/kpi", token: pat.binding.token)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(answer)) as? [String: Any])
        let freshness = try #require(json["freshness"] as? [[String: Any]])
        #expect(Set(freshness.compactMap { $0["branch"] as? String }) == ["Hangzhou", "Ningbo"], "\(freshness)")
        #expect(freshness.allSatisfy { $0["identical_at"] == nil }, "no branch compared by digests yet")
        // An hour on, Hangzhou's regular comparison by digests finds its records identical to the province's copy.
        clock.advance(UpstreamSync.comparisonEvery)
        try await up[0].syncOnce()
        let checks = try await province.kpi.digestChecks()
        #expect(checks.values.map { $0.matched } == [true] && checks.values.first?.checkedAt == clock.now(), "\(checks)")
        let pat_ = UserInfo(name: "Pat", role: .province, branch: nil)
        var verified = try await province.kpi.freshness(for: pat_)
        #expect(verified.first { $0.branch == "Hangzhou" }?.identicalAt == nil, "Sue, who syncs with the province itself, has not compared yet")
        #expect(verified.first { $0.branch == "Hangzhou" }?.notCompared == 1)
        // Her laptop's comparison completes the branch: every device of it found its records identical.
        #expect(try await sue.client.driftByDigest(of: sue.replica, token: sue.binding.token)?.isIdentical == true)
        verified = try await province.kpi.freshness(for: pat_)
        #expect(verified.first { $0.branch == "Hangzhou" }?.identicalAt == clock.now() && verified.first { $0.branch == "Hangzhou" }?.notCompared == 0)
        #expect(verified.first { $0.branch == "Ningbo" }?.identicalAt == nil)
        // A visit deleted by hand at the province (its marks kept) is found by the next comparison and merged
        // there again from the branch server's log.
        let visit = try #require(try alice.replica.records(.visit).first?.id)
        try await province.postgres?.client.query("DELETE FROM records WHERE kind = 'visits' AND id = \(visit)")
        clock.advance(UpstreamSync.comparisonEvery)
        try await up[0].syncOnce()
        #expect(try await province.record(.visit, visit)?.value("summary", in: RecordKind.visit.schema) == .text("tower check"))
        let hangzhouServer = up[0].binding.device
        #expect(try await province.kpi.digestChecks()[hangzhouServer]?.matched == false, "the comparison that found it differed")
        clock.advance(UpstreamSync.comparisonEvery)
        try await up[0].syncOnce()
        #expect(try await province.kpi.digestChecks()[hangzhouServer]?.matched == true, "and the next one matched")

        // The province names the writers of relayed work as their branch servers reported them: the history
        // of Acme's services names Alice and her laptop; a Hangzhou supervisor's directory holds Alice, not Bob.
        let history = try JSONDecoder().decode(RecordHistory.self, from: Data(try await pat.client.get(
            "/v1/history", query: [("table", "customers"), ("id", acme), ("field", "services")], token: pat.binding.token)))
        #expect(history.entries.map(\.person) == ["Alice"] && history.entries.map(\.device) == ["Alice, via Hangzhou"], "\(history.entries)")
        let directory = try await sue.client.directory(token: sue.binding.token)
        let bobNode = try #require(try bob.replica.identity()?.node)
        #expect(directory.nodes.first { $0.node == aliceNode }?.user == "Alice")
        #expect(!directory.nodes.contains { $0.node == bobNode }, "Ningbo's writers are not Hangzhou's to see")
    }
}
