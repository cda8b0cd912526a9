import FieldSyncClient
import FieldSyncModel
import FieldSyncSQLiteServer
import FieldSyncServer
import FieldSyncServerCore
import FieldSyncStore
import FieldSyncTestSupport
import Foundation
import Testing

/// Pages that only pull are stored several to a transaction (`Synchronizer.changesPerCommit`).
/// Holding them must change nothing a person can see: every page arrives, a
/// page is counted as a round trip, and a sync cut short keeps every page
/// that arrived whole before the cut.
@Suite struct HeldPullTests {
    static let customers = 1_200

    @Test func pagesHeldAndStoredTogetherArriveWholeAndSurviveACut() async throws {
        var limits = SyncLimits()
        limits.maxChanges = 500
        let server = try await TestServer.start(limits: limits)
        let proxy = try await CuttingProxy(targetPort: server.port)
        let folder = try TemporaryFolder()
        let bob = try await Laptop.enrol("Bob", server: server, folder: folder)
        let alice = try await Laptop.enrol("Alice", server: server, folder: folder)
        let aliceThroughProxy = Laptop(name: alice.name, replica: alice.replica, binding: alice.binding,
                                       client: try SyncClient(url: proxy.url, caPEM: server.caPEM))
        do {
            try await exercise(proxy: proxy, alice: alice, aliceThroughProxy: aliceThroughProxy, bob: bob)
        } catch {
            Issue.record(error)
        }
        for laptop in [alice, bob, aliceThroughProxy] { await laptop.close() }
        try await proxy.stop()
        await server.stop()
    }

    private func exercise(proxy: CuttingProxy, alice: Laptop, aliceThroughProxy: Laptop, bob: Laptop) async throws {
        for index in 0..<Self.customers {
            try bob.replica.write([RecordEdit(.customer, ConnectionCutTests.id(index), [
                ("name", .text("Customer \(index)")), ("level", .text("standard")), ("branch", .text("Hangzhou")),
                ("manager", .text("Bob")), ("team", .text("Alice")), ("notes", .text("\(index) Wensan Road, Xihu District")),
            ])])
        }
        try await bob.sync()

        // Everything held to the end (a batch larger than the whole pull): a cut in the middle
        // must still store the pages that arrived before it.
        var holdAll = Synchronizer()
        holdAll.changesPerCommit = 1_000_000
        proxy.arm(.response, after: 60_000)
        await #expect(throws: SyncError.self) {
            try await holdAll.sync(aliceThroughProxy.replica, binding: aliceThroughProxy.binding, client: aliceThroughProxy.client)
        }
        #expect(proxy.cutCount == 1)
        let storedBeforeRetry = try alice.replica.records(.customer).count
        #expect(try alice.replica.syncCursor() > 0, "the pages that arrived before the cut were stored")
        #expect(storedBeforeRetry > 0 && storedBeforeRetry < Self.customers, "\(storedBeforeRetry) customers stored before the retry")
        #expect(try alice.replica.verify().isEmpty)

        // The retry, three pages to a transaction, pulls the rest and ends with the same records.
        var threePages = Synchronizer()
        threePages.changesPerCommit = 1_500
        let summary = try await threePages.sync(alice.replica, binding: alice.binding, client: alice.client)
        #expect(summary.roundTrips >= (Self.customers - storedBeforeRetry) * 6 / 500, "each page counted as a round trip")
        #expect(try alice.dump() == bob.dump())
        #expect(try alice.replica.verify().isEmpty)
    }
}
