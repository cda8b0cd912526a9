import FieldSyncClient
import FieldSyncModel
import FieldSyncProtocol
import FieldSyncSQLiteServer
import FieldSyncServer
import FieldSyncServerCore
import FieldSyncStore
import FieldSyncTestSupport
import Foundation
import Synchronization
import Testing

/// A new device starts from a snapshot of its scope: the same records a paged
/// first sync gives, nothing of another branch, its own node, and the next
/// sync continues from the snapshot's position without a gap or a repeat.
@Suite struct SnapshotTests {
    @Test(arguments: EngineKind.available)
    func aNewDeviceStartsFromASnapshotOfExactlyItsScope(engine: EngineKind) async throws {
        let clock = TestClock()
        try await TestServer.run(on: engine, clock: clock.now) { server in
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
            #expect(info.checkedByServer, "the server ran the quick check on the bytes it hashed")
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
        }
    }
    /// The server quick-checks the file it hashes, so a damaged one is never offered;
    /// a device given a file nobody checked runs the check itself before installing it.
    @Test func aDamagedSnapshotIsNeitherOfferedNorInstalled() throws {
        let folder = try TemporaryFolder()
        let source = try Replica.open(path: folder.path("source.sqlite"))
        try source.initialize(ReplicaIdentity(node: NodeID(rawValue: 0x5E), branch: nil, user: nil, createdAt: ""))
        var generator = SplitMix64(seed: 5)
        try source.apply(remote: (0..<400).flatMap { number in
            let customer = RecordID.make(using: &generator)
            return [("name", FieldValue.text("Customer \(number)")), ("branch", .text("Hangzhou"))].map { field, value in
                FieldChange(table: .customer, record: customer, field: field, value: value,
                            hlc: HLC(milliseconds: 1_795_000_000_000 + UInt64(number), counter: 0), node: NodeID(rawValue: 0xB0B), base: .zero)
            }
        })
        try source.close()
        let path = folder.path("snapshot.sqlite")
        let copied = try Replica.writeSnapshot(from: folder.path("source.sqlite"), to: path) { _ in (7, { _, _, _, _ in true }) }
        #expect(copied.records == 400)
        let sound = try Snapshot.finished(at: path, cursor: 1, hlc: 1, records: 400, check: { try Replica.quickCheckSnapshot(at: $0) })
        #expect(sound.bytes > 8192)

        // Scribble over the second page, a b-tree root of the schema.
        let handle = try #require(FileHandle(forUpdatingAtPath: path))
        try handle.seek(toOffset: 4096)
        try handle.write(contentsOf: Data(repeating: 0x5A, count: 4096))
        try handle.close()
        #expect(throws: (any Error).self) { try Snapshot.finished(at: path, cursor: 1, hlc: 1, records: 400, check: { try Replica.quickCheckSnapshot(at: $0) }) }
        let identity = ReplicaIdentity(node: NodeID(rawValue: 0xD0), branch: "Hangzhou", user: "Sue", createdAt: "")
        #expect(throws: (any Error).self) {
            try Replica.installSnapshot(at: path, as: identity, cursor: 1, hlc: 1, replacing: folder.path("replica.sqlite"))
        }
        #expect(!FileManager.default.fileExists(atPath: folder.path("replica.sqlite")), "nothing moved into place")
    }

    @Test func theGateAllowsOneSnapshotPerDeviceAndAFewInAll() {
        let start = ContinuousClock.now
        let elapsed = Mutex(Duration.zero)
        let gate = SnapshotGate(capacity: 2, lapse: .seconds(60), now: { start + elapsed.withLock { $0 } })
        guard case .success(let first) = gate.enter(device: "a") else { Issue.record("a first slot"); return }
        #expect(gate.enter(device: "a") == .failure(.deviceBusy))
        guard case .success = gate.enter(device: "b") else { Issue.record("a second device's slot"); return }
        #expect(gate.enter(device: "c") == .failure(.full))
        gate.leave(first)
        guard case .success = gate.enter(device: "c") else { Issue.record("a slot freed by leave"); return }
        #expect(gate.held == 2)
        // A slot whose release never came lapses.
        elapsed.withLock { $0 = .seconds(61) }
        guard case .success = gate.enter(device: "d") else { Issue.record("lapsed slots are free"); return }
        #expect(gate.held == 1)
    }

    /// Each snapshot reads a whole scope and holds a file of it: a server builds a few
    /// at once, one per device, answers the rest 429 `busy`, and the device pages instead.
    @Test func snapshotsAreBoundedAndARefusedDeviceIsLeftAsItWas() async throws {
        let clock = TestClock()
        let server = try await TestServer.start(clock: clock.now) { $0.maxSnapshots = 1 }
        let folder = try TemporaryFolder()
        let li = try await Laptop.enrol("Li Wei", server: server, folder: folder, clock: clock.now)
        var generator = SplitMix64(seed: 7)
        let tower = RecordID.make(using: &generator)
        try li.replica.write([RecordEdit(.customer, tower, [("name", .text("Tower Co")), ("level", .text("vip")), ("branch", .text("Hangzhou")),
                                                          ("manager", .text("Li Wei"))])])
        try await li.sync()
        let sueFirst = try await Laptop.enrol("Sue", server: server, folder: folder, role: .supervisor, clock: clock.now)
        let identity = try #require(try sueFirst.replica.identity())
        try sueFirst.replica.close()
        func bootstrap() async throws -> SnapshotInfo {
            try await SnapshotBootstrap.run(replicaPath: folder.path("Sue.sqlite"), identity: identity, token: sueFirst.binding.token,
                                            client: sueFirst.client)
        }
        let gate = server.http.snapshots

        // Another device's snapshot holds the only slot.
        guard case .success(let other) = gate.enter(device: "another-device") else { Issue.record("a slot"); return }
        let full = await #expect(throws: SyncError.self) { try await bootstrap() }
        #expect(full?.message.contains("(429)") == true && full?.message.contains("busy") == true, "\(full?.message ?? "")")
        gate.leave(other)

        // This device's own snapshot on its way already.
        guard case .success(let own) = gate.enter(device: sueFirst.binding.device) else { Issue.record("a slot"); return }
        let busy = await #expect(throws: SyncError.self) { try await bootstrap() }
        #expect(busy?.message.contains("being made already") == true, "\(busy?.message ?? "")")
        gate.leave(own)

        // Refused twice, the replica is still new and whole; with the slot free the snapshot arrives and frees it.
        let untouched = try Replica.open(path: folder.path("Sue.sqlite"), wallClock: clock.now)
        #expect(try untouched.isEmptyForSnapshot() && untouched.verify().isEmpty)
        try untouched.close()
        let info = try await bootstrap()
        #expect(info.records >= 1)
        var waited = 0
        while gate.held > 0, waited < 500 {
            try await Task.sleep(for: .milliseconds(10))
            waited += 1
        }
        #expect(gate.held == 0, "the slot is given back once the body is sent")
        await sueFirst.close()
        await li.close()
        await server.stop()
    }
}
