import FieldSyncClient
import FieldSyncModel
import FieldSyncSQLiteServer
import FieldSyncServer
import FieldSyncStore
import FieldSyncTestSupport
import Foundation
import GRDB
import Testing

/// A network that drops in the middle of a sync: a TCP relay between laptop
/// and server cuts the live TLS connection mid-request or mid-response, and
/// the retry must neither lose nor duplicate anything.
@Suite struct ConnectionCutTests {
    /// Pages of 500 mutations of about 700 bytes each: a cut at these budgets
    /// lands inside a request or response body, well past the TLS handshake.
    static let customers = 1_200

    enum Cut: CaseIterable, CustomTestStringConvertible {
        case midRequest, midResponseAfterCommit

        var testDescription: String { self == .midRequest ? "mid-request" : "mid-response, after the server committed" }
    }

    @Test(arguments: Cut.allCases)
    func cutConnectionThenRetryLosesAndDuplicatesNothing(_ cut: Cut) async throws {
        let server = try await TestServer.start()
        let proxy = try await CuttingProxy(targetPort: server.port)
        let folder = try TemporaryFolder()
        let direct = try await Laptop.enrol("Bob", server: server, folder: folder)
        let bob = Laptop(name: direct.name, replica: direct.replica, binding: direct.binding,
                         client: try SyncClient(url: proxy.url, caPEM: server.caPEM))
        await direct.close()
        let alice = try await Laptop.enrol("Alice", server: server, folder: folder)
        let aliceThroughProxy = Laptop(name: alice.name, replica: alice.replica, binding: alice.binding,
                                       client: try SyncClient(url: proxy.url, caPEM: server.caPEM))
        do {
            try await exercise(cut, proxy: proxy, server: server, alice: alice, aliceThroughProxy: aliceThroughProxy, bob: bob)
        } catch {
            Issue.record(error)
        }
        for laptop in [alice, bob, aliceThroughProxy] { await laptop.close() }
        try await proxy.stop()
        await server.stop()
    }

    private func exercise(_ cut: Cut, proxy: CuttingProxy, server: TestServer, alice: Laptop, aliceThroughProxy: Laptop, bob: Laptop) async throws {
        for index in 0..<Self.customers {
            try bob.replica.write([RecordEdit(.customer, Self.id(index), [
                ("name", .text("Customer \(index)")), ("level", .text(index % 7 == 0 ? "vip" : "standard")),
                ("branch", .text("Hangzhou")), ("manager", .text("Bob")), ("team", .text("Alice")),
                ("notes", .text("\(index) Wensan Road, Xihu District; visit before 10:00")),
            ])])
        }
        let outbox = try bob.replica.outbox().count
        #expect(outbox == Self.customers)

        switch cut {
        case .midRequest: proxy.arm(.request, after: 12_000)
        case .midResponseAfterCommit: proxy.arm(.response, after: 9_000)
        }
        let failure = await #expect(throws: SyncError.self) { try await bob.sync() }
        #expect(proxy.cutCount == 1, "the relay cut one live connection")
        #expect(failure?.message.isEmpty == false)
        let remaining = try bob.replica.outbox().count
        #expect(remaining > 0, "unacknowledged mutations stay in the outbox")
        #expect(try bob.replica.verify().isEmpty)
        let appliedBeforeRetry = try await server.store.writer.read { db in try Int.fetchOne(db, sql: "SELECT COALESCE(SUM(high - low + 1), 0) FROM applied_ranges WHERE origin != (SELECT value FROM meta WHERE key = 'node')")! }
        // The push goes two requests deep (pages of 1,000 and 200), each on its own connection; the
        // relay's budget counts both, so the cut lands in the first page's request or answer, or
        // (mid-request) in the second's.
        let page = Synchronizer().maxMutationsPerPage
        switch cut {
        case .midRequest:
            // The cut request commits nothing; the page sent ahead never commits before the one it follows.
            #expect(appliedBeforeRetry == 0 || (appliedBeforeRetry == page && remaining == Self.customers - page),
                    "a half-received request commits nothing (\(appliedBeforeRetry) applied, \(remaining) left)")
        case .midResponseAfterCommit:
            #expect(appliedBeforeRetry == page || appliedBeforeRetry == Self.customers,
                    "the server committed the first page (and maybe the one sent ahead); the answer was lost (\(appliedBeforeRetry))")
            #expect(remaining == Self.customers, "so the laptop still holds every mutation")
        }

        let summary = try await bob.sync()
        #expect(try bob.replica.outbox().isEmpty)
        #expect(summary.pushed == remaining, "the retry pushes what was not acknowledged; the server acknowledges what it already had")

        let (applied, logged, distinct) = try await server.store.writer.read { db in
            (try Int.fetchOne(db, sql: "SELECT COALESCE(SUM(high - low + 1), 0) FROM applied_ranges WHERE origin != (SELECT value FROM meta WHERE key = 'node')")!,
             try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM change_log WHERE tbl != 'branches'")!,
             try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM (SELECT DISTINCT tbl, record, changes FROM change_log WHERE tbl != 'branches')")!)
        }
        #expect(applied == Self.customers, "every mutation applied exactly once")
        #expect(logged == distinct, "no change logged twice")
        #expect(logged == Self.customers, "one log row per record per mutation")
        #expect(try server.store.replica.records(.customer).count == Self.customers)

        // Alice's first pull is cut mid-response too: nothing half-applied, and the retry completes.
        proxy.arm(.response, after: 20_000)
        await #expect(throws: SyncError.self) { try await aliceThroughProxy.sync() }
        // All 4,800 changes fit one page, so a cut page leaves nothing behind.
        #expect(try alice.replica.records(.customer).isEmpty, "a page is applied whole or not at all")
        #expect(try alice.replica.syncCursor() == 0)
        try await aliceThroughProxy.sync()
        #expect(try alice.dump() == bob.dump())
        #expect(try bob.dump() == server.dump())
    }

    static func id(_ index: Int) -> String {
        let hex = String(index, radix: 16)
        return "c2000000-0000-4000-8000-" + String(repeating: "0", count: 12 - hex.count) + hex
    }
}
