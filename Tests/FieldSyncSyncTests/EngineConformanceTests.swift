import FieldSyncClient
import FieldSyncKPI
import FieldSyncModel
import FieldSyncProtocol
import FieldSyncSQLiteServer
import FieldSyncServer
import FieldSyncServerCore
import FieldSyncStore
import FieldSyncTestSupport
import Foundation
import Testing

/// Laptops syncing over HTTPS with a server on each engine, through the same
/// scenario: scopes, a conflict kept, a refused push, a file handed over, a
/// pull paged. Both engines must give the laptops the same outcome.
@Suite struct EngineConformanceTests {
    @Test func sqlite() async throws {
        let clock = TestClock()
        let server = try await TestServer.start(clock: clock.now)
        try await Self.scenario(server, clock: clock)
        await server.stop()
    }

    @Test(.enabled(if: PostgresTestDatabase.enabled, "no PostgreSQL: set FIELDSYNC_TEST_DATABASE_URL (scripts/postgres start prints one)"))
    func postgres() async throws {
        try await PostgresTestDatabase.with { client, _ in
            let clock = TestClock()
            let server = try await TestServer.start(postgres: client, clock: clock.now)
            try await Self.scenario(server, clock: clock)
            await server.stop()
        }
    }

    static func scenario(_ server: TestServer, clock: TestClock) async throws {
        let folder = try TemporaryFolder()
        let li = try await Laptop.enrol("Li Wei", server: server, folder: folder, clock: clock.now)
        let ming = try await Laptop.enrol("Ming", server: server, folder: folder, clock: clock.now)
        let bob = try await Laptop.enrol("Bob", server: server, folder: folder, branch: "Ningbo", clock: clock.now)
        let sue = try await Laptop.enrol("Sue", server: server, folder: folder, role: .supervisor, clock: clock.now)
        var generator = SplitMix64(seed: 99)
        func id() -> String { RecordID.make(using: &generator) }

        // Li's customer, with Ming on its team; Bob's customer in Ningbo.
        let tower = id(), fault = id(), port = id()
        try li.replica.write([RecordEdit(.customer, tower, [("name", .text("Tower Co")), ("level", .text("vip")), ("branch", .text("Hangzhou")),
                                                          ("manager", .text("Li Wei")), ("team", .text("Ming"))])])
        try li.replica.write([RecordEdit(.fault, fault, [("customer", .text(tower)), ("symptom", .text("alarm")),
                                                         ("reported_at", .text("2026-11-20T09:00:00+08:00")), ("status", .text("1:reported"))])])
        try li.replica.write([RecordEdit(.faultNote, id(), [("fault", .text(fault)), ("at", .text("2026-11-20T10:00:00+08:00")), ("text", .text("crew sent"))])])
        for number in 0..<25 {
            clock.advance(1_000)
            try li.replica.write([RecordEdit(.visit, id(), [("customer", .text(tower)), ("at", .text("2026-11-2\(number % 9)T09:00:00+08:00")),
                                                            ("kind", .text("routine")), ("summary", .text("visit \(number)"))])])
        }
        try bob.replica.write([RecordEdit(.customer, port, [("name", .text("Harbour Secret")), ("level", .text("standard")), ("branch", .text("Ningbo")),
                                                           ("manager", .text("Bob"))])])
        let pushed = try await li.sync()
        #expect(pushed.pushed == 28 && pushed.rejected.isEmpty)
        try await bob.sync()
        try await ming.sync()
        try await sue.sync()
        #expect(try ming.replica.record(.faultNote, li.replica.records(.faultNote)[0].id) != nil, "a teammate receives the file")
        #expect(try sue.replica.records(.visit).count == 25)
        #expect(try ming.replica.record(.customer, port) == nil && sue.replica.record(.customer, port) == nil, "nothing of another branch")
        #expect(try bob.replica.record(.customer, tower) == nil)
        #expect(try li.dump() == ming.dump() && ming.dump() == sue.dump())

        // A small page size: the same records arrive over several round trips.
        var paging = Synchronizer()
        paging.maxChangesPerPage = 7
        let paged = try await Laptop.enrol("Sam", server: server, folder: folder, role: .supervisor, clock: clock.now)
        let summary = try await paging.sync(paged.replica, binding: paged.binding, client: paged.client)
        #expect(summary.roundTrips > 5)
        #expect(try paged.dump() == sue.dump())

        // Li and Ming change the same note offline: the later write wins everywhere and the other is kept as a conflict.
        clock.advance(60_000)
        try li.replica.write([RecordEdit(.customer, tower, [("notes", .text("gate code 1234"))])])
        clock.advance(1_000)
        try ming.replica.write([RecordEdit(.customer, tower, [("notes", .text("gate code 9999"))])])
        try await li.sync()
        try await ming.sync()
        try await li.sync()
        try await sue.sync()
        #expect(try li.replica.record(.customer, tower)?["notes"] == .text("gate code 9999"))
        let conflicts = try sue.replica.records(.conflict)
        #expect(conflicts.count == 1 && conflicts.first?["lost_value"] == .text("gate code 1234"), "\(conflicts)")
        #expect(try li.dump() == ming.dump() && ming.dump() == sue.dump())

        // Bob may not write into another branch's file: refused, with the reason, and kept in his outbox.
        try bob.replica.write([RecordEdit(.customer, port, [("notes", .text("ok"))])])
        let forged = id()
        let bobVisit = try await Self.pushForeignVisit(bob, customer: tower, id: forged, clock: clock)
        #expect(bobVisit.rejected.count == 1 && bobVisit.rejected[0].reason.contains("outside"), "\(bobVisit.rejected)")
        #expect(try li.replica.record(.visit, forged) == nil)

        // Li may not give his file away; his supervisor hands it to Ming alone: Li's laptop drops it, Ming keeps it.
        try li.replica.write([RecordEdit(.customer, tower, [("manager", .text("Bob"))])])
        let refused = try await li.sync()
        #expect(refused.rejected.count == 1 && refused.rejected[0].reason.contains("may not move records out of their reach"), "\(refused.rejected)")
        // He discards it, as 'fieldsync status' tells him to: the handover record it wrote goes with it.
        _ = try li.replica.discard(counter: refused.rejected[0].counter, at: "2026-12-01T00:00:00+08:00")
        #expect(try li.replica.records(.handover).isEmpty)
        try sue.replica.write([RecordEdit(.customer, tower, [("manager", .text("Ming")), ("team", .null)])])
        try await sue.sync()
        let handed = try await li.sync()
        try await ming.sync()
        try await sue.sync()
        #expect(handed.filesDropped == [tower])
        #expect(try li.replica.record(.customer, tower) == nil && li.replica.records(.visit).isEmpty, "\(handed)")
        #expect(try ming.replica.record(.customer, tower)?["manager"] == .text("Ming"))
        #expect(try ming.dump() == sue.dump())

        // The server hands it back to Li (`fieldsync-server assign`): the whole file returns to his laptop, Ming's drops it.
        await #expect(throws: ServerError.self) { try await server.assign(String(tower.prefix(8)), to: "Bob") }
        try await server.assign(String(tower.prefix(8)), to: "Li Wei")
        let returned = try await li.sync()
        let dropped = try await ming.sync()
        try await sue.sync()
        #expect(dropped.filesDropped == [tower], "\(dropped)")
        let visitsBack = try li.replica.records(.visit).count
        let towerBack = try li.replica.record(.customer, tower)
        #expect(visitsBack == 25 && towerBack?["manager"] == .text("Li Wei"), "\(returned) \(visitsBack) \(String(describing: towerBack))")
        #expect(try li.dump() == sue.dump())
        // KPIs: the server's answer for the supervisor is the report her own replica (her branch's records) gives.
        let asOf = "2026-12-01T00:00:00+08:00"
        let answer = try await sue.client.get("/v1/kpi", query: [("period", "2026-11"), ("as_of", asOf)], token: sue.binding.token)
        var served = try #require(try JSONSerialization.jsonObject(with: Data(answer)) as? [String: Any])
        #expect(served.removeValue(forKey: "freshness") != nil)
        let local = KPIEngine.report(try sue.replica.kpiFacts(), period: try ReportingPeriod("2026-11"), grouping: .manager,
                                     asOf: try #require(Timestamp(iso: asOf))).jsonBytes()
        let expected = try #require(try JSONSerialization.jsonObject(with: Data(local)) as? [String: Any])
        #expect(NSDictionary(dictionary: served).isEqual(to: expected), "\(served) \n\(expected)")
        // A new device starts from a snapshot of exactly its scope, and continues from its position.
        let fresh = try await Laptop.enrol("Sun", server: server, folder: folder, role: .supervisor, clock: clock.now)
        let identity = try #require(try fresh.replica.identity())
        try fresh.replica.close()
        let info = try await SnapshotBootstrap.run(replicaPath: folder.path("Sun.sqlite"), identity: identity, token: fresh.binding.token, client: fresh.client)
        let sun = Laptop(name: "Sun", replica: try Replica.open(path: folder.path("Sun.sqlite"), wallClock: clock.now), binding: fresh.binding, client: fresh.client)
        #expect(try info.records > 25 && sun.replica.verify().isEmpty)
        #expect(try sun.replica.record(.customer, port) == nil, "nothing of another branch in the file")
        let after = try await sun.sync()
        #expect(after.pulled == 0, "the snapshot's position is where the log stood: \(after)")
        #expect(try sun.dump() == sue.dump())
        let dashboard = try await sue.client.dashboardLink(token: sue.binding.token)
        #expect(dashboard.path.hasPrefix("/dashboard/login?token="))
        for laptop in [li, ming, bob, sue, paged, sun] { await laptop.close() }
    }

    /// Bob's laptop pushes a visit into Tower Co's file through the normal path (his replica does not hold the customer).
    static func pushForeignVisit(_ bob: Laptop, customer: String, id: String, clock: TestClock) async throws -> SyncSummary {
        let node = try bob.replica.identity()!.node
        let hlc = HLC(milliseconds: clock.now(), counter: 7)
        let changes = [("customer", FieldValue.text(customer)), ("at", .text("2026-11-25T09:00:00+08:00")), ("kind", .text("routine")),
                       ("summary", .text("not mine"))].map { field, value in
            FieldChange(table: .visit, record: id, field: field, value: value, hlc: hlc, node: node, base: .zero)
        }
        let request = SyncRequest(cursor: try bob.replica.syncCursor(), mutations: [Mutation(origin: node, counter: 1_000, user: "Bob", changes: changes)],
                                  clientTime: clock.now())
        let response = try await bob.client.exchange(request, token: bob.binding.token)
        var summary = SyncSummary()
        summary.rejected = response.rejected.map { RejectedMutation(counter: $0.counter, reason: $0.reason) }
        return summary
    }
}
