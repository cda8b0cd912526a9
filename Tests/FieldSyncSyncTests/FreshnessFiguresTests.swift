import FieldSyncClient
import FieldSyncModel
import FieldSyncProtocol
@testable import FieldSyncServer
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
            await raw.shutdown()
            await alice.close()
            await sue.close()
        }
    }
}
