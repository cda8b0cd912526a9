import FieldSyncClient
import FieldSyncModel
import FieldSyncProtocol
@testable import FieldSyncSQLiteServer
@testable import FieldSyncServer
@testable import FieldSyncServerCore
import FieldSyncStore
import FieldSyncTestSupport
import Foundation
import Testing

/// Issue 25, item 3: figures a supervisor reads are true.
@Suite struct FreshnessFiguresTests {
    /// After a sync that pushed everything, `fieldsync-server nodes` and the
    /// dashboard said "N actions waiting" until the laptop's next sync: the
    /// count it reported before its push was stored. What remains is stored now.
    @Test(arguments: EngineKind.available)
    func whatWaitsIsWhatRemainsAfterThePush(engine: EngineKind) async throws {
        try await TestServer.run(on: engine) { server in
            let folder = try TemporaryFolder()
            let alice = try await Laptop.enrol("Alice", server: server, folder: folder)
            let sue = try await Laptop.enrol("Sue", server: server, folder: folder, role: .supervisor)
            var generator = SplitMix64(seed: 25)
            let customer = RecordID.make(using: &generator)
            try alice.replica.write([RecordEdit(.customer, customer, [("name", .text("Acme")), ("level", .text("vip")),
                                                                      ("branch", .text("Hangzhou")), ("manager", .text("Alice"))])])
            for day in 1...3 {
                try alice.replica.write([RecordEdit(.visit, RecordID.make(using: &generator), [
                    ("customer", .text(customer)), ("at", .text("2026-11-0\(day)T09:00:00+08:00")), ("kind", .text("routine")),
                    ("summary", .text("visit \(day)")), ("manager", .text("Alice")),
                ])])
            }
            // One more the server refuses (another branch): it stays waiting, and counts.
            try alice.replica.write([RecordEdit(.customer, RecordID.make(using: &generator), [("name", .text("Elsewhere")), ("level", .text("vip")),
                                                                                           ("branch", .text("Ningbo")), ("manager", .text("Alice"))])])
            #expect(try alice.replica.outboxCount() == 5)
            let summary = try await alice.sync()
            #expect(summary.pushed >= 4 && summary.rejected.count == 1)
            let raw = try RawHTTPS(server)
            let nodes = try JSONDecoder().decode([NodeInfo].self, from: Data(try await raw.get("/v1/nodes", token: sue.binding.token).body))
            #expect(nodes.first { $0.user == "Alice" }?.pending == 1, "\(nodes)")
            // Her supervisor sees the refused action and why (issue 27, item 5); a pull alone changes nothing of it.
            let refused = try #require(nodes.first { $0.user == "Alice" })
            #expect(refused.refused == 1 && refused.refusedReason?.contains("Ningbo") == true && refused.refusedAt != nil, "\(refused)")
            #expect(nodes.first { $0.user == "Sue" }?.refused == nil)
            // Discarded on her laptop, it is no longer shown once she has synced.
            let number = try #require(try alice.replica.rejections().first?.counter)
            _ = try alice.replica.discard(counter: number, at: "2026-11-04T09:00:00+08:00")
            try await alice.sync()
            let after = try JSONDecoder().decode([NodeInfo].self, from: Data(try await raw.get("/v1/nodes", token: sue.binding.token).body))
            #expect(after.first { $0.user == "Alice" }?.refused == nil && after.first { $0.user == "Alice" }?.pending == 0, "\(after)")
            await raw.shutdown()
            await alice.close()
            await sue.close()
        }
    }

    /// A device enrolled two minutes ago that had not synced yet was shown as
    /// "1 devices not seen for 3 days" and marked its branch incomplete. A
    /// new device is its own category, and counts are grammatical.
    @Test func aNewDeviceIsNotMissingAndCountsReadAsWords() {
        let day: UInt64 = 86_400_000
        let now: UInt64 = 100 * day
        func device(_ id: String, enrolled: UInt64, seen: UInt64?) -> DeviceRecord {
            DeviceRecord(id: id, user: id, node: NodeID(rawValue: UInt64(id.count)), name: id, createdAt: enrolled, revokedAt: nil, lastSeen: seen,
                         pending: seen == nil ? nil : 0, role: .manager, branch: "Hangzhou")
        }
        let pat = UserInfo(name: "Pat", role: .province, branch: nil)
        let synced = device("a", enrolled: now - 10 * day, seen: now - day)
        let new = device("bb", enrolled: now - 120_000, seen: nil)
        let fresh = BranchFreshness.of(devices: [synced, new], below: [:], for: pat, now: now)
        #expect(fresh.first?.notSeenForThreeDays == 0 && fresh.first?.notSyncedYet == 1)
        #expect(fresh.first?.completeUpTo == now - day, "a new device does not hold the branch's data back")
        // Enrolled four days ago and never synced: missing, and the branch is incomplete.
        let lost = device("ccc", enrolled: now - 4 * day, seen: nil)
        let stale = BranchFreshness.of(devices: [synced, lost], below: [:], for: pat, now: now)
        #expect(stale.first?.notSeenForThreeDays == 1 && stale.first?.notSyncedYet == 0 && stale.first?.completeUpTo == nil)
        #expect(Wording.count(1, "device") == "1 device" && Wording.count(2, "device") == "2 devices"
                && Wording.count(0, "action") == "0 actions")
    }
}
