import FieldSyncClient
import FieldSyncModel
import FieldSyncProtocol
import FieldSyncSQLiteServer
import FieldSyncServer
import FieldSyncStore
import FieldSyncTestSupport
import Foundation
import Testing

/// Random work on three laptops sharing files, synced in random order, with the server backed
/// up at a random moment and put back from that backup at a random later one: afterwards every
/// replica converges on a state holding every visit anyone typed, acknowledged or not, and the
/// server holds the same (issue 27). `FIELDSYNC_RESTORE_CASES` sets how many schedules run (4).
@Suite struct RestorePropertyTests {
    static let cases = Environment.value("FIELDSYNC_RESTORE_CASES").flatMap(Int.init) ?? 4

    @Test func everyTypedChangeSurvivesARestore() async throws {
        for seed in 1...UInt64(Self.cases) {
            try await Self.schedule(seed: seed &* 104_729)
        }
    }

    static func schedule(seed: UInt64) async throws {
        var random = SplitMix64(seed: seed)
        let clock = TestClock()
        let folder = try TemporaryFolder()
        var server = try await TestServer.start(clock: clock.now)
        let names = ["Ann", "Ben", "Cai"]
        var laptops: [Laptop] = []
        for name in names { laptops.append(try await Laptop.enrol(name, server: server, folder: folder, clock: clock.now)) }
        let context = "seed \(seed)"
        do {
            let customers = try EnginePropertyTests.sharedCustomers(of: laptops, random: &random)
            for laptop in laptops + laptops { _ = try await laptop.sync() }

            let steps = 40
            let backupAt = Int(random.next() % UInt64(steps / 2))
            let restoreAt = backupAt + 1 + Int(random.next() % UInt64(steps - backupAt - 1))
            let backup = folder.path("backup.sqlite")
            var typed = 0
            var restores = 0
            for step in 0..<steps {
                clock.advance(1 + random.next() % 5_000)
                if step == backupAt { _ = try server.store.backup(to: backup) }
                if step == restoreAt {
                    await server.stop()
                    try server.store.close()
                    _ = try ServerStore.restore(from: backup, into: server.folder.path("server"))
                    server = try await TestServer.restart(server, clock: clock.now)
                }
                let laptop = laptops[Int(random.next() % UInt64(laptops.count))]
                let customer = customers[Int(random.next() % UInt64(customers.count))]
                switch random.next() % 3 {
                case 0:
                    try laptop.replica.write([RecordEdit(.customer, customer, [("notes", .text("\(laptop.name) step \(step)"))])])
                case 1:
                    try laptop.replica.write([RecordEdit(.visit, RecordID.make(using: &random), [
                        ("customer", .text(customer)), ("at", .text("2026-11-2\(step % 9)T09:00:00+08:00")), ("kind", .text("routine")),
                        ("summary", .text("\(laptop.name) step \(step)"))])])
                    typed += 1
                default:
                    let summary = try await laptop.sync()
                    #expect(summary.rejected.isEmpty, "\(context): \(summary.rejected)")
                    if summary.serverRestored { restores += 1 }
                }
            }
            for _ in 0..<3 {
                for laptop in laptops {
                    let summary = try await laptop.sync()
                    #expect(summary.rejected.isEmpty, "\(context)")
                    if summary.serverRestored { restores += 1 }
                }
            }
            // Each laptop that had synced with the server before the restore was told once.
            #expect(restores == laptops.count, "\(context): \(restores) restores seen")
            let dumps = try laptops.map { try $0.dump() }
            let serverDump = try server.dump()
            if !dumps.allSatisfy({ $0 == dumps[0] }) || serverDump != dumps[0] {
                let lines = try [server.dump()] + dumps
                let sets = lines.map { Set($0.split(separator: "\n")) }
                for (index, set) in sets.enumerated() { print("\(context) [\(index)] only here: \(set.subtracting(sets[(index + 1) % sets.count]).sorted().prefix(6))") }
            }
            #expect(dumps.allSatisfy { $0 == dumps[0] }, "\(context): the replicas differ")
            #expect(try server.dump() == dumps[0], "\(context): the server lacks what the laptops hold")
            #expect(try laptops[0].replica.records(.visit).count == typed, "\(context): every visit typed is there")
            for laptop in laptops {
                #expect(try laptop.replica.outbox().isEmpty && laptop.replica.verify().isEmpty, "\(context): \(laptop.name)")
            }
        } catch {
            for laptop in laptops { await laptop.close() }
            await server.stop()
            throw error
        }
        for laptop in laptops { await laptop.close() }
        await server.stop()
    }
}
