import FieldSyncClient
import FieldSyncModel
import FieldSyncProtocol
import FieldSyncServer
import FieldSyncStore
import FieldSyncTestSupport
import Foundation
import Testing

/// A new device starts from a snapshot of its scope: the same records a paged
/// first sync gives, nothing of another branch, its own node, and the next
/// sync continues from the snapshot's position without a gap or a repeat.
@Suite struct SnapshotTests {
    @Test func aNewDeviceStartsFromASnapshotOfExactlyItsScope() async throws {
        let clock = TestClock()
        let server = try await TestServer.start(clock: clock.now)
        let folder = try TemporaryFolder()
        let li = try await Laptop.enrol("Li Wei", server: server, folder: folder, clock: clock.now)
        let bob = try await Laptop.enrol("Bob", server: server, folder: folder, branch: "Ningbo", clock: clock.now)
        var generator = SplitMix64(seed: 31)
        func id() -> String { RecordID.make(using: &generator) }
        let tower = id(), fault = id()
        try li.replica.write([RecordEdit(.customer, tower, [("name", .text("Tower Co")), ("level", .text("vip")), ("branch", .text("Hangzhou")),
                                                          ("manager", .text("Li Wei"))])])
        try li.replica.write([RecordEdit(.fault, fault, [("customer", .text(tower)), ("symptom", .text("alarm")),
                                                         ("reported_at", .text("2026-11-20T09:00:00+08:00")), ("status", .text("1:reported"))])])
        try li.replica.write([RecordEdit(.faultNote, id(), [("fault", .text(fault)), ("at", .text("2026-11-20T10:00:00+08:00")), ("text", .text("crew sent"))])])
        for number in 0..<30 {
            try li.replica.write([RecordEdit(.visit, id(), [("customer", .text(tower)), ("at", .text("2026-11-2\(number % 9)T09:00:00+08:00")),
                                                            ("kind", .text("routine")), ("summary", .text("visit \(number)"))])])
        }
        let port = id()
        try bob.replica.write([RecordEdit(.customer, port, [("name", .text("Harbour Secret")), ("level", .text("standard")), ("branch", .text("Ningbo")),
                                                           ("manager", .text("Bob"))])])
        try await li.sync()
        try await bob.sync()

        // Sue's new laptop: a snapshot. Sam's: page by page. Both supervise Hangzhou.
        let sueFirst = try await Laptop.enrol("Sue", server: server, folder: folder, role: .supervisor, clock: clock.now)
        let sueIdentity = try #require(try sueFirst.replica.identity())
        #expect(try sueFirst.replica.isEmptyForSnapshot())
        try sueFirst.replica.close()
        let info = try await SnapshotBootstrap.run(replicaPath: folder.path("Sue.sqlite"), identity: sueIdentity, token: sueFirst.binding.token,
                                                   client: sueFirst.client)
        #expect(info.records >= 33 && info.cursor > 0)
        let sue = Laptop(name: "Sue", replica: try Replica.open(path: folder.path("Sue.sqlite"), wallClock: clock.now), binding: sueFirst.binding,
                         client: sueFirst.client)
        let installed = try sue.replica.identity()
        let problems = try sue.replica.verify()
        #expect(installed == sueIdentity, "the device's own node, never the server's: \(String(describing: installed)) \(problems)")
        #expect(try sue.replica.syncCursor() == info.cursor)
        #expect(try sue.replica.record(.customer, port) == nil, "nothing of another branch")
        #expect(try sue.replica.verify().isEmpty)
        let sam = try await Laptop.enrol("Sam", server: server, folder: folder, role: .supervisor, clock: clock.now)
        try await sam.sync()
        #expect(try sue.dump() == sam.dump(), "the snapshot holds what a paged first sync gives")

        // Work after the snapshot arrives once, by the usual sync.
        let later = id()
        try li.replica.write([RecordEdit(.visit, later, [("customer", .text(tower)), ("at", .text("2026-11-30T09:00:00+08:00")),
                                                         ("kind", .text("routine")), ("summary", .text("after the snapshot"))])])
        try await li.sync()
        let summary = try await sue.sync()
        let arrived = try sue.replica.record(.visit, later)
        #expect(summary.pulled > 0 && arrived != nil)
        try await sam.sync()
        #expect(try sue.dump() == sam.dump())

        // A snapshot is installed only into a device's own new replica: a file that already has an identity is refused.
        let copy = folder.path("copy.sqlite")
        try sam.replica.closeIntoOneFile()
        try FileManager.default.copyItem(atPath: folder.path("Sam.sqlite"), toPath: copy)
        #expect(throws: StoreError.self) {
            try Replica.installSnapshot(at: copy, as: sueIdentity, cursor: 1, hlc: 1, replacing: folder.path("elsewhere.sqlite"))
        }
        // A refused download leaves the replica as it was.
        let refused = await #expect(throws: SyncError.self) {
            try await SnapshotBootstrap.run(replicaPath: folder.path("Sue.sqlite"), identity: sueIdentity, token: "not-a-token", client: sue.client)
        }
        #expect(refused?.message.contains("refused the snapshot (401)") == true, "\(refused?.message ?? "")")
        let kept = try sue.replica.record(.visit, later)
        #expect(try kept != nil && sue.replica.verify().isEmpty)
        for laptop in [li, bob, sue, sam] { await laptop.close() }
        await server.stop()
    }
}
