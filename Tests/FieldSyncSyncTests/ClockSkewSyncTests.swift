import FieldSyncClient
import FieldSyncModel
import FieldSyncProtocol
import FieldSyncStore
import FieldSyncTestSupport
import Foundation
import Testing

/// A laptop whose clock is far off has its push refused (`clock_skew`), learns
/// the server's time, re-stamps what it has not sent, and sends it again within
/// the same sync: across several outbox pages (a page read ahead with the old
/// stamps is read again), nothing is lost and nothing arrives twice.
@Suite struct ClockSkewSyncTests {
    @Test func aLaptopTenMinutesAheadRestampsAndPushesEverything() async throws {
        let server = TestClock()
        try await TestServer.run(on: .sqlite, clock: server.now) { testServer in
            let folder = try TemporaryFolder()
            let laptopClock = TestClock(server.now() + 10 * 60_000)
            let li = try await Laptop.enrol("Li Wei", server: testServer, folder: folder, clock: laptopClock.now)
            var generator = SplitMix64(seed: 0x5CE)
            let customer = RecordID.make(using: &generator)
            try li.replica.write([RecordEdit(.customer, customer, [("name", .text("Tower Co")), ("level", .text("vip")), ("branch", .text("Hangzhou")),
                                                                  ("manager", .text("Li Wei"))])])
            for number in 0..<25 {
                try li.replica.write([RecordEdit(.visit, RecordID.make(using: &generator), [("customer", .text(customer)),
                                                                                          ("at", .text("2026-11-20T09:00:00+08:00")),
                                                                                          ("kind", .text("routine")), ("summary", .text("visit \(number)"))])])
            }
            var synchronizer = Synchronizer()
            synchronizer.maxMutationsPerPage = 4
            // A failed expectation ends the test, not the process: the client is shut down either way.
            let summary: SyncSummary
            do { summary = try await synchronizer.sync(li.replica, binding: li.binding, client: li.client) } catch {
                await li.close()
                throw error
            }
            await li.close()
            #expect(summary.pushed == 26 && summary.rejected.isEmpty, "\(summary)")
            #expect(try li.replica.outboxCount() == 0 && li.replica.verify().isEmpty)

            let sam = try await Laptop.enrol("Sam", server: testServer, folder: folder, role: .supervisor, clock: server.now)
            do { try await sam.sync() } catch {
                await sam.close()
                throw error
            }
            await sam.close()
            #expect(try sam.replica.records(.visit).count == 25)
            #expect(try sam.replica.records(.visit) == li.replica.records(.visit), "the re-stamped writes, once each")
        }
    }

    /// Whatever time a server claims, the offset learnt from it is bounded and
    /// nothing traps: not learning it, not stamping with it, not re-stamping.
    @Test func anAbsurdServerTimeIsBoundedNotFatal() throws {
        #expect(Synchronizer.offset(serverTime: .max, at: 0) == Int64.max)
        #expect(Synchronizer.offset(serverTime: 0, at: .max) == -Int64.max)
        #expect(Synchronizer.offset(serverTime: 1_795_000_060_000, at: 1_795_000_000_000) == 60_000)
        var generator = SplitMix64(seed: 0xAB5)
        let replica = try Replica.inMemory(wallClock: { 1_795_000_000_000 })
        try replica.initialize(ReplicaIdentity(node: NodeID(rawValue: 0xC1), branch: "Hangzhou", user: "Li Wei", createdAt: ""))
        for claimed in [Int64.max, Int64.min, -Replica.maxClockOffset - 1] {
            try replica.setClockOffset(claimed)
            #expect(try abs(replica.clockOffset()) == Replica.maxClockOffset)
            try replica.write([RecordEdit(.customer, RecordID.make(using: &generator), [("name", .text("Tower Co")), ("level", .text("vip"))])])
            #expect(try replica.restampOutbox() > 0)
        }
        #expect(try replica.outboxCount() == 3 && replica.verify().isEmpty)
    }
}
