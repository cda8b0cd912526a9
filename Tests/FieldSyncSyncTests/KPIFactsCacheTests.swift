import FieldSyncKPI
import FieldSyncModel
import FieldSyncProtocol
@testable import FieldSyncSQLiteServer
@testable import FieldSyncServer
@testable import FieldSyncServerCore
import FieldSyncStore
import FieldSyncTestSupport
import Foundation
import GRDB
import Testing

/// The server keeps the KPI facts between requests and reads them again
/// after, and only after, a commit that changed a record.
@Suite struct KPIFactsCacheTests {
    @Test func theFactsAreReadAgainOnlyAfterARecordChanged() async throws {
        let clock = TestClock()
        let server = try await TestServer.start(clock: clock.now)
        let store = server.store
                try store.addBranch("Hangzhou")
        let customer = "c0000000-0000-4000-8000-0000000000c1"
        try store.writeLocal([RecordEdit(.customer, customer, [("name", .text("Acme")), ("level", .text("vip")), ("branch", .text("Hangzhou"))])])
        let first = try store.kpiFacts(for: nil)
        #expect(first.customers[customer]?.name == "Acme")

        // People, codes and devices are not records: the cached facts stay.
        let before = store.replica.recordGeneration
        _ = try store.addUser(UserInfo(name: "Li Wei", role: .manager, branch: "Hangzhou"))
        #expect(store.replica.recordGeneration == before)
        var loads = 0
        _ = store.kpiCache.facts(generation: store.replica.recordGeneration) { loads += 1; return KPIFacts() }
        #expect(loads == 0, "served from the cache")

        // A record changes: the next request sees it.
        try store.writeLocal([RecordEdit(.customer, customer, [("name", .text("Acme Towers"))])])
        #expect(store.replica.recordGeneration == before + 1)
        #expect(try store.kpiFacts(for: nil).customers[customer]?.name == "Acme Towers")
        // A rolled-back write changes nothing.
        #expect(throws: (any Error).self) {
            try store.writeLocal([RecordEdit(.customer, customer, [("level", .text("gold"))])])
        }
        #expect(store.replica.recordGeneration == before + 1)
        // A file dropped from this server's scope (a handover, a branch move) leaves the facts too.
        try await store.writer.write { db in try Replica.delete([RecordKey(table: .customer, record: customer)], db) }
        #expect(store.replica.recordGeneration == before + 2)
        #expect(try store.kpiFacts(for: nil).customers[customer] == nil)
        await server.stop()
    }
}
