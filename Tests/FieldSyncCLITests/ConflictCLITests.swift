import FieldSyncModel
import FieldSyncStore
import FieldSyncTestSupport
import Foundation
import Testing

/// Two laptops edit one customer offline; their outboxes are exchanged
/// through the store (what sync will do over TLS), then the conflict is
/// listed, shown and resolved with the CLI, and the resolution reaches the
/// other laptop.
@Suite struct ConflictCLITests {
    @Test func concurrentRenameIsListedAndResolvedOnBothLaptops() throws {
        let folder = try TemporaryFolder()
        let env = ["FIELDSYNC_NOW": "2026-11-23T10:00:00+08:00"]
        let alice = try CommandRunner(product: "fieldsync", environment: env.merging(["FIELDSYNC_HOME": folder.path("alice")]) { $1 })
        let bob = try CommandRunner(product: "fieldsync", environment: env.merging(["FIELDSYNC_HOME": folder.path("bob")]) { $1 })
        func ok(_ runner: CommandRunner, _ arguments: String...) throws -> String {
            let result = try runner.run(arguments)
            #expect(result.status == 0, "\(arguments): \(result.stderr)")
            return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        func replica(_ name: String) throws -> Replica { try Replica.open(path: folder.path("\(name)/\(Replica.fileName)")) }
        /// Delivers every mutation in `from`'s outbox to `to`.
        func exchange(_ from: String, _ to: String) throws {
            try replica(to).apply(remote: try replica(from).outbox().flatMap(\.changes))
        }

        _ = try ok(alice, "init", "--user", "Alice")
        _ = try ok(bob, "init", "--user", "Bob")
        let customer = try ok(alice, "customer", "add", "--name", "Acme")
        try exchange("alice", "bob")
        _ = try ok(alice, "customer", "edit", customer, "--name", "Acme Ltd", "--note", "from Alice")
        _ = try ok(bob, "customer", "edit", customer, "--name", "Acme Group")
        try exchange("alice", "bob")
        try exchange("bob", "alice")
        try exchange("alice", "bob")

        for runner in [alice, bob] {
            let list = try JSONSerialization.jsonObject(with: Data(try ok(runner, "conflicts", "list", "--json").utf8)) as? [[String: Any]]
            #expect(list?.count == 1)
            #expect(list?.first?["field"] as? String == "name")
            let shown = try ok(runner, "customer", "show", customer, "--json")
            #expect(shown.contains("from Alice"), "the edit of another field is kept on both")
        }
        let conflict = try #require((try JSONSerialization.jsonObject(with: Data(try ok(bob, "conflicts", "list", "--json").utf8)) as? [[String: Any]])?.first)
        let id = try #require(conflict["id"] as? String)
        let kept = try #require(conflict["kept_value"] as? String)
        let lost = try #require(conflict["lost_value"] as? String)
        #expect(Set([kept, lost]) == ["Acme Ltd", "Acme Group"])
        #expect(try ok(bob, "conflicts", "show", String(id.prefix(8))).contains(lost))
        // A node the server has not named yet shows as a device; once named, as the person and laptop.
        let aliceNode = try #require(try replica("alice").identity()?.node)
        let writers = [conflict["lost_by"] as? String, conflict["kept_by"] as? String]
        #expect(writers.contains("this device") && writers.contains("device \(aliceNode)"), "\(writers)")
        try replica("bob").rememberNodeNames([aliceNode: NodeName(user: "Alice", device: "alice-thinkpad")])
        let listed = try ok(bob, "conflicts", "list")
        #expect(listed.contains("Alice (alice-thinkpad)") || listed.contains("this device"), "\(listed)")
        let shown = try ok(bob, "conflicts", "show", String(id.prefix(8)))
        #expect(shown.contains("written by Alice (alice-thinkpad) at 20") && shown.contains("written by this device at"), "\(shown)")
        #expect(!shown.contains("\(conflict["lost_hlc"] as? Int ?? -1)"), "no raw clock values: \(shown)")

        // Bob keeps his own value whichever side it ended on.
        _ = try ok(bob, "conflicts", "resolve", String(id.prefix(8)), "--keep", "mine")
        try exchange("bob", "alice")
        for runner in [alice, bob] {
            let shown = try JSONSerialization.jsonObject(with: Data(try ok(runner, "customer", "show", customer, "--json").utf8)) as? [String: Any]
            #expect(shown?["name"] as? String == "Acme Group")
            #expect(try ok(runner, "conflicts", "list") == "No unresolved conflicts.")
            #expect(try ok(runner, "verify") == "ok")
        }
        let refused = try bob.run(["conflicts", "resolve", String(id.prefix(8))])
        #expect(refused.status == 64 && refused.stderr.contains("--keep"))
    }
}
