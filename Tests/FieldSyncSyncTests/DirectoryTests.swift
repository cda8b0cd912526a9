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

/// `GET /v1/directory` (issue 25, item 4): who writes under each node, so a
/// conflict names a person and laptop. A device learns the names of its own
/// branch and of the province's people, never another branch's.
@Suite struct DirectoryTests {
    @Test(arguments: EngineKind.available)
    func aDeviceLearnsTheNamesOfItsBranchOnly(engine: EngineKind) async throws {
        try await TestServer.run(on: engine) { server in
            let folder = try TemporaryFolder()
            let alice = try await Laptop.enrol("Alice", server: server, folder: folder)
            let bob = try await Laptop.enrol("Bob", server: server, folder: folder)
            let province = try await Laptop.enrol("Zhou", server: server, folder: folder, role: .province, branch: nil)
            try await server.addBranch("Ningbo")
            let ningbo = try await Laptop.enrol("Nina", server: server, folder: folder, branch: "Ningbo")
            func node(_ laptop: Laptop) throws -> NodeID { try #require(try laptop.replica.identity()?.node) }

            let seen = try await alice.client.directory(token: alice.binding.token)
            let names = Dictionary(seen.nodes.map { ($0.node, $0.user) }) { first, _ in first }
            let (a, b, p, n) = (try node(alice), try node(bob), try node(province), try node(ningbo))
            #expect(names[a] == "Alice" && names[b] == "Bob" && names[p] == "Zhou", "\(seen)")
            #expect(names[n] == nil, "another branch's people are not Alice's to know: \(seen)")
            let all = try await province.client.directory(token: province.binding.token)
            #expect(Set(all.nodes.map(\.user)).isSuperset(of: ["Alice", "Bob", "Zhou", "Nina"]), "\(all)")

            // A revoked laptop's work stays in records: its name stays in the directory.
            _ = try await server.accounts.revokeDevice(bob.binding.device)
            let after = try await alice.client.directory(token: alice.binding.token)
            #expect(after.nodes.contains { $0.user == "Bob" })
            for laptop in [alice, bob, province, ningbo] { await laptop.close() }
        }
    }
}
