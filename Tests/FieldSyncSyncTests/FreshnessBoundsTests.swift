import FieldSyncClient
import FieldSyncModel
import FieldSyncProtocol
import FieldSyncSQLiteServer
import FieldSyncServer
import FieldSyncServerCore
import FieldSyncStore
import FieldSyncTestSupport
import Foundation
import Testing

/// What devices report about themselves is summed per branch; no report can make a sum trap.
@Suite struct FreshnessBoundsTests {
    /// Two laptops of a branch each reported the largest `pending` the wire allows: the
    /// branch's sum overflowed and trapped, and the server went down at the next KPI
    /// answer, dashboard or freshness report (found in review).
    @Test func hugeReportsSaturateInsteadOfTrapping() async throws {
        let server = try await TestServer.start()
        let folder = try TemporaryFolder()
        let alice = try await Laptop.enrol("Alice", server: server, folder: folder)
        let bob = try await Laptop.enrol("Bob", server: server, folder: folder)
        for laptop in [alice, bob] {
            _ = try await laptop.client.exchange(SyncRequest(cursor: 0, mutations: [], clientTime: server.store.now, pending: Int(Int64.max)),
                                                 token: laptop.binding.token)
        }
        let branches = try server.store.freshness(for: UserInfo(name: "Pat", role: .province, branch: nil))
        #expect(branches.first { $0.branch == "Hangzhou" }?.pending == Int.max)
        #expect(try server.store.freshnessReport().pending == Int.max)

        // A branch server's report of the devices below it, at the largest counts, on top of them.
        let devices = try server.store.devices()
        let below = Dictionary(uniqueKeysWithValues: devices.map { ($0.id, FreshnessReport(completeUpTo: nil, devices: .max, pending: .max, notSeenForThreeDays: .max)) })
        let summed = BranchFreshness.of(devices: devices, below: below, for: UserInfo(name: "Pat", role: .province, branch: nil), now: server.store.now)
        #expect(summed.first?.devices == .max && summed.first?.pending == .max && summed.first?.notSeenForThreeDays == .max)
        for laptop in [alice, bob] { await laptop.close() }
        await server.stop()
    }
}
