import FieldSyncClient
import FieldSyncModel
import FieldSyncProtocol
import FieldSyncSQLiteServer
import FieldSyncServer
import FieldSyncStore
import FieldSyncTestSupport
import Foundation
import Testing

/// The conflict records a server makes when one push overwrites many fields are
/// split into mutations of at most `ConflictRecord.perMutation` each, on both
/// engines (PostgreSQL made one mutation of them all: one a server above could
/// never accept whole). Seen as a device sees them: stamped once per mutation.
@Suite struct ConflictSplitTests {
    @Test(arguments: EngineKind.available)
    func aPushOverwritingMoreFieldsThanOneMutationHoldsGetsTheirConflictsInSeveralMutations(engine: EngineKind) async throws {
        let clock = TestClock()
        try await TestServer.run(on: engine, clock: clock.now) { server in
            let folder = try TemporaryFolder()
            let li = try await Laptop.enrol("Li", server: server, folder: folder, clock: clock.now)
            let ming = try await Laptop.enrol("Ming", server: server, folder: folder, clock: clock.now)
            let sue = try await Laptop.enrol("Sue", server: server, folder: folder, role: .supervisor, clock: clock.now)
            var random = SplitMix64(seed: 0x26_1000)
            let customer = RecordID.make(using: &random)
            try li.replica.write([RecordEdit(.customer, customer, [("name", .text("Tower Co")), ("level", .text("vip")), ("branch", .text("Hangzhou")),
                                                                    ("manager", .text("Li")), ("team", .text("Ming"))])])
            let visits = (0...ConflictRecord.perMutation).map { _ in RecordID.make(using: &random) }
            try li.replica.write(visits.map { RecordEdit(.visit, $0, [("customer", .text(customer)), ("at", .text("2026-11-20T09:00:00+08:00")),
                                                                      ("kind", .text("routine")), ("summary", .text("planned"))]) })
            try await li.sync()
            try await ming.sync()
            // Both change every summary while apart; Ming's, written later, win at the server.
            try li.replica.write(visits.map { RecordEdit(.visit, $0, [("summary", .text("Li's notes"))]) })
            try await li.sync()
            clock.advance(60_000)
            try ming.replica.write(visits.map { RecordEdit(.visit, $0, [("summary", .text("Ming's notes"))]) })
            try await ming.sync()

            // What a device pulls of the conflict records the server made (a laptop that merged the same
            // overwrites may have made some too, with the same ids): one stamp per mutation.
            var cursor: Int64 = 0
            var stamps: [HLC: Set<String>] = [:]
            while true {
                let page = try await sue.client.exchange(SyncRequest(cursor: cursor, mutations: [], clientTime: clock.now()),
                                                         token: sue.binding.token)
                for change in page.changes where change.table == .conflict && change.node == sue.binding.serverNode { stamps[change.hlc, default: []].insert(change.record) }
                cursor = page.cursor
                if !page.more { break }
            }
            #expect(stamps.values.reduce(0) { $0 + $1.count } == visits.count, "one conflict record per overwritten summary")
            #expect(stamps.count == 2)
            #expect(stamps.values.allSatisfy { $0.count <= ConflictRecord.perMutation })
            for laptop in [li, ming, sue] { await laptop.close() }
        }
    }
}
