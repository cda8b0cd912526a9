import FieldSyncClient
import FieldSyncModel
import FieldSyncPostgres
import FieldSyncProtocol
import FieldSyncRelay
@testable import FieldSyncSQLiteServer
import FieldSyncServer
import FieldSyncServerCore
import FieldSyncStore
import FieldSyncTestSupport
import Foundation
import GRDB
import Logging
import Testing

/// A server put back from last night's backup loses nothing a laptop still holds (issue 27):
/// the laptops see at their next sync that the server's history is not the one they synced
/// with, offer back their own work with its original stamps, and read the log again from the
/// start. Real server over TLS, real SQLite files, the backup made while serving.
@Suite struct ServerRestoreTests {
    @Test func aServerRestoredFromABackupGetsBackWhatTheLaptopsHold() async throws {
        let clock = TestClock()
        let folder = try TemporaryFolder()
        var server = try await TestServer.start(clock: clock.now)
        let ann = try await Laptop.enrol("Ann", server: server, folder: folder, clock: clock.now)
        let ben = try await Laptop.enrol("Ben", server: server, folder: folder, clock: clock.now)
        let sue = try await Laptop.enrol("Sue", server: server, folder: folder, role: .supervisor, clock: clock.now)
        let eve = try await Laptop.enrol("Eve", server: server, folder: folder, clock: clock.now)
        var random = SplitMix64(seed: 27)
        let customer = RecordID.make(using: &random)
        try ann.replica.write([RecordEdit(.customer, customer, [("name", .text("Tower Co")), ("level", .text("vip")), ("branch", .text("Hangzhou")),
                                                              ("manager", .text("Ann")), ("team", .text("Ben"))])])
        func visits(_ laptop: Laptop, _ count: Int, _ label: String) throws {
            for number in 0..<count {
                clock.advance(1_000)
                try laptop.replica.write([RecordEdit(.visit, RecordID.make(using: &random), [
                    ("customer", .text(customer)), ("at", .text("2026-11-2\(number % 9)T09:00:00+08:00")), ("kind", .text("routine")),
                    ("summary", .text("\(label) \(number)"))])])
            }
        }
        try visits(ann, 5, "before the backup")
        try await ann.sync()
        try await ben.sync()
        // A code handed out before the backup and used after it must stay used once restored.
        let yansCode = try server.code(for: "Yan")
        let backup = folder.path("nightly.sqlite")
        let report = try server.store.backup(to: backup)
        #expect(report.logHead > 0)
        #expect(throws: (any Error).self, "a backup never overwrites") { try server.store.backup(to: backup) }

        let yansClient = try SyncClient(url: server.url, caPEM: server.caPEM)
        var generator = SystemRandomNumberGenerator()
        _ = try await yansClient.enroll(code: yansCode, node: NodeID.random(using: &generator), deviceName: "Yan's laptop")
        // After the backup Eve's laptop is stolen and revoked: a restore must not bring it back.
        _ = try await SQLiteAccountStorage(server.store).revokeDevice(eve.binding.device)
        // After the backup Zoe joins, enrols, takes on a customer and logs a visit: acknowledged.
        let zoe = try await Laptop.enrol("Zoe", server: server, folder: folder, clock: clock.now)
        let zoesCustomer = RecordID.make(using: &random), zoesVisit = RecordID.make(using: &random)
        try zoe.replica.write([RecordEdit(.customer, zoesCustomer, [("name", .text("Lake Co")), ("level", .text("standard")),
                                                                  ("branch", .text("Hangzhou")), ("manager", .text("Zoe")), ("team", .text("Ann,Ben"))])])
        try zoe.replica.write([RecordEdit(.visit, zoesVisit, [("customer", .text(zoesCustomer)), ("manager", .text("Zoe")),
                                                             ("at", .text("2026-11-27T09:00:00+08:00")), ("kind", .text("routine")), ("summary", .text("Zoe's first"))])])
        try await zoe.sync()
        // And the administrator adds Zoe to the team of Ann's customer (the server's own write).
        _ = try server.store.assign(String(customer.prefix(8)), manager: "Ann", team: ["Ben", "Zoe"])
        let team = try #require(try await server.record(.customer, customer)?.value("team", in: RecordKind.customer.schema))
        // After the backup: Ann logs 7 more and Ben changes the customer's notes; both are acknowledged.
        try visits(ann, 7, "after the backup")
        // A customer taken on after the backup, and a visit to it typed offline (not sent before the restore).
        let newCustomer = RecordID.make(using: &random), offlineVisit = RecordID.make(using: &random)
        try ann.replica.write([RecordEdit(.customer, newCustomer, [("name", .text("Harbour Co")), ("level", .text("standard")),
                                                                 ("branch", .text("Hangzhou")), ("manager", .text("Ann")), ("team", .text("Ben"))])])
        try await ann.sync()
        try ann.replica.write([RecordEdit(.visit, offlineVisit, [("customer", .text(newCustomer)), ("at", .text("2026-11-28T09:00:00+08:00")),
                                                                 ("kind", .text("routine")), ("summary", .text("typed offline"))])])
        clock.advance(1_000)
        try ben.replica.write([RecordEdit(.customer, customer, [("notes", .text("gate code 1234"))])])
        try await ben.sync()
        try await sue.sync()
        #expect(try sue.replica.records(.visit).count == 13)

        // The server's disk is replaced by the backup.
        await server.stop()
        try server.store.close()
        let (restored, kept) = try ServerStore.restore(from: backup, into: server.folder.path("server"))
        #expect(kept != nil && restored.incarnation != report.incarnation, "a restore gives a new incarnation")
        #expect(restored.revocationsKept == 1, "the revocation made after the backup is kept")
        #expect(restored.usersKept == 1 && restored.devicesKept == 2, "Zoe and her laptop, and Yan's, added after the backup, are kept: \(restored)")
        #expect(restored.replacedWasRead && restored.ownWritesKept == 1, "the assignment made after the backup is written again: \(restored)")
        server = try await TestServer.restart(server, clock: clock.now)

        // Ann logs 2 more and syncs: told, she offers back her own work; nothing she holds is lost.
        try visits(ann, 2, "after the restore")
        let annSync = try await ann.sync()
        #expect(annSync.serverRestored && annSync.reoffered >= 14, "\(annSync)")
        #expect(annSync.rejected.isEmpty, "the visit typed offline goes after the customer it needs: \(annSync.rejected)")
        #expect(try await server.record(.visit, offlineVisit) != nil)
        let benSync = try await ben.sync()
        #expect(benSync.serverRestored && benSync.reoffered == 1, "Ben offers back the customer's notes: \(benSync)")
        #expect(try await server.record(.customer, customer)?.value("team", in: RecordKind.customer.schema) == team)
        await #expect(throws: SyncError.self, "a code used after the backup stays used") {
            _ = try await yansClient.enroll(code: yansCode, node: NodeID.random(using: &generator), deviceName: "someone else")
        }
        try? await yansClient.shutdown()
        // Zoe's laptop is let in, and offers back her work.
        let zoeSync = try await zoe.sync()
        #expect(zoeSync.serverRestored && zoeSync.reoffered == 2, "\(zoeSync)")
        #expect(try await server.record(.visit, zoesVisit) != nil)
        await zoe.close()
        let sueSync = try await sue.sync()
        #expect(sueSync.serverRestored && sueSync.reoffered == 0, "\(sueSync)")
        try await ann.sync()
        try await ben.sync()
        try await sue.sync()

        // Every replica holds the 14 visits and Ben's notes, identically; nothing waits, nothing is unsound.
        for laptop in [ann, ben, sue] {
            #expect(try laptop.replica.records(.visit).count == 16, "\(laptop.name)")
            #expect(try laptop.replica.record(.customer, customer)?["notes"] == .text("gate code 1234"), "\(laptop.name)")
            #expect(try laptop.replica.outbox().isEmpty, "\(laptop.name)")
            #expect(try laptop.replica.verify().isEmpty, "\(laptop.name)")
        }
        #expect(try ann.dump() == ben.dump() && ben.dump() == sue.dump())
        #expect(try server.dump() == ann.dump(), "the server holds what the laptops hold")
        #expect(try ann.replica.records(.conflict).isEmpty, "offered back with the original stamps: no conflict made up")

        await #expect(throws: SyncError.self, "a device revoked after the backup stays revoked") { try await eve.sync() }
        await eve.close()
        // A laptop enrolled after the restore receives everything.
        let sam = try await Laptop.enrol("Sam", server: server, folder: folder, role: .supervisor, clock: clock.now)
        let samSync = try await sam.sync()
        #expect(!samSync.serverRestored)
        #expect(try sam.dump() == sue.dump())

        // A second sync of Ann's says nothing more about a restore.
        #expect(try await !ann.sync().serverRestored)
        for laptop in [ann, ben, sue, sam] { await laptop.close() }
        await server.stop()
    }

    /// A copy of the live file put back by hand (no backup, no `restore`: the incarnation is the one
    /// the laptop knows) is caught by the log: a device whose cursor is past it is refused the same way.
    @Test func aCopyPutBackByHandIsCaughtByTheLog() async throws {
        let clock = TestClock()
        let folder = try TemporaryFolder()
        var server = try await TestServer.start(clock: clock.now)
        let ann = try await Laptop.enrol("Ann", server: server, folder: folder, clock: clock.now)
        do {
        var random = SplitMix64(seed: 28)
        let customer = RecordID.make(using: &random)
        try ann.replica.write([RecordEdit(.customer, customer, [("name", .text("Tower Co")), ("level", .text("vip")), ("branch", .text("Hangzhou")),
                                                              ("manager", .text("Ann"))])])
        try await ann.sync()
        let live = server.folder.path("server/\(ServerStore.fileName)"), copy = folder.path("copy.sqlite")
        await server.stop()
        try server.store.close()
        for suffix in ["", "-wal"] where FileManager.default.fileExists(atPath: live + suffix) {
            try FileManager.default.copyItem(atPath: live + suffix, toPath: copy + suffix)
        }
        server = try await TestServer.restart(server, clock: clock.now)
        try ann.replica.write([RecordEdit(.customer, customer, [("notes", .text("after the copy"))])])
        try await ann.sync()
        await server.stop()
        try server.store.close()
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: live + suffix) }
        for suffix in ["", "-wal"] where FileManager.default.fileExists(atPath: copy + suffix) {
            try FileManager.default.copyItem(atPath: copy + suffix, toPath: live + suffix)
        }
        server = try await TestServer.restart(server, clock: clock.now)
        let summary = try await ann.sync()
        #expect(summary.serverRestored && summary.reoffered == 1, "\(summary)")
        #expect(try await server.record(.customer, customer)?.value("notes", in: RecordKind.customer.schema) == .text("after the copy"))
        } catch {
            await ann.close()
            await server.stop()
            throw error
        }
        await ann.close()
        await server.stop()
    }

    /// A province put back from a backup gets back what its branch servers relayed since: the branch
    /// server is told, relays its whole log again with the original origins and counters, and reads
    /// the province's log from the start.
    @Test func aRestoredProvinceHealsFromItsBranchServer() async throws {
        let clock = TestClock()
        var province = try await TestServer.start(clock: clock.now)
        let branch = try await TestServer.start(clock: clock.now)
        let upstream = try await ProvinceTierTests.link(branch, to: province, as: "Hangzhou")
        try await upstream.syncOnce()
        // A second branch: once the first has relayed everything again, the province's log is longer than
        // this one's cursor; only the incarnation it sends tells it the province was restored.
        let ningbo = try await TestServer.start(clock: clock.now)
        let ningboUp = try await ProvinceTierTests.link(ningbo, to: province, as: "Ningbo")
        try await ningboUp.syncOnce()
        let folder = try TemporaryFolder()
        let alice = try await Laptop.enrol("Alice", server: branch, folder: folder, clock: clock.now)
        let bob = try await Laptop.enrol("Bob", server: ningbo, folder: folder, branch: "Ningbo", clock: clock.now)
        do {
            let backup = folder.path("province.sqlite")
            _ = try province.store.backup(to: backup)
            let customer = ProvinceTierTests.customer
            try alice.replica.write([RecordEdit(.customer, customer, [("name", .text("Acme")), ("level", .text("vip")),
                                                                       ("branch", .text("Hangzhou")), ("manager", .text("Alice"))])])
            try await alice.sync()
            try await upstream.syncOnce()
            #expect(try province.store.replica.record(.customer, customer) != nil)
            let port = "c2000000-0000-4000-8000-000000000002"
            try bob.replica.write([RecordEdit(.customer, port, [("name", .text("Harbour")), ("level", .text("standard")),
                                                                 ("branch", .text("Ningbo")), ("manager", .text("Bob"))])])
            for number in 0..<3 {
                try bob.replica.write([RecordEdit(.customer, port, [("notes", .text("note \(number)"))])])
            }
            try await bob.sync()
            try await ningboUp.syncOnce()

            await province.stop()
            try province.store.close()
            _ = try ServerStore.restore(from: backup, into: province.folder.path("server"))
            province = try await TestServer.restart(province, clock: clock.now)
            #expect(try province.store.replica.record(.customer, customer) == nil, "the backup predates Alice's customer")

            try await upstream.syncOnce()
            #expect(try province.store.replica.record(.customer, customer)?["name"] == .text("Acme"), "relayed again after the restore")
            try await ningboUp.syncOnce()
            #expect(try province.store.replica.record(.customer, port)?["notes"] == .text("note 2"), "the second branch is told too")
            #expect(try branch.store.upstreamState(upstream.key).lastError == nil)
            let idle = try await upstream.syncOnce()
            #expect(idle.pushed == 0 && idle.pulled == 0, "once healed, nothing more moves")
        } catch {
            for laptop in [alice, bob] { await laptop.close() }
            for relay in [upstream, ningboUp] { await relay.shutdown() }
            for server in [province, branch, ningbo] { await server.stop() }
            throw error
        }
        for laptop in [alice, bob] { await laptop.close() }
        for relay in [upstream, ningboUp] { await relay.shutdown() }
        for server in [province, branch, ningbo] { await server.stop() }
    }

    /// What a restore keeps comes only from the same server's database: one a fresh `init` made on
    /// a new disk is another server and gives nothing. Restoring an older backup over a restored
    /// database moves the counters past the higher of the two, so no number is handed out twice.
    @Test func aRestoreKeepsOnlyWhatTheSameServerHeldAndNeverReusesANumber() async throws {
        let clock = TestClock()
        var server = try await TestServer.start(clock: clock.now)
        let other = try await TestServer.start(clock: clock.now)
        let folder = try TemporaryFolder()
        let ann = try await Laptop.enrol("Ann", server: server, folder: folder, clock: clock.now)
        do {
            let older = folder.path("older.sqlite"), newer = folder.path("newer.sqlite")
            _ = try server.store.backup(to: older)
            _ = try server.code(for: "Bea")
            _ = try server.store.writeLocal([RecordEdit(.calendarDay, "d0000000-0000-4000-8000-000000000001", [("date", .text("2026-12-25")),
                                                                                                            ("kind", .text("holiday")), ("name", .text("A"))])])
            _ = try server.store.backup(to: newer)
            await server.stop()
            try server.store.close()
            // The newer backup over the live database, then the older one over that: counters past both.
            _ = try ServerStore.restore(from: newer, into: server.folder.path("server"))
            server = try await TestServer.restart(server, clock: clock.now)
            _ = try server.store.writeLocal([RecordEdit(.calendarDay, "d0000000-0000-4000-8000-000000000002", [("date", .text("2026-12-26")),
                                                                                                            ("kind", .text("holiday")), ("name", .text("B"))])])
            let (counterBefore, headBefore) = try await server.store.writer.read { db in
                (try Replica.clockAndCounter(db).counter, try Int64.fetchOne(db, sql: "SELECT MAX(seq) FROM change_log") ?? 0)
            }
            await server.stop()
            try server.store.close()
            let (report, _) = try ServerStore.restore(from: older, into: server.folder.path("server"))
            #expect(report.replacedWasRead && report.usersKept == 1 && report.ownWritesKept == 2, "\(report)")
            server = try await TestServer.restart(server, clock: clock.now)
            let (counterAfter, headAfter) = try await server.store.writer.read { db in
                (try Replica.clockAndCounter(db).counter, try Int64.fetchOne(db, sql: "SELECT MAX(seq) FROM change_log") ?? 0)
            }
            #expect(counterAfter > counterBefore && headAfter > headBefore, "\(counterBefore) → \(counterAfter), \(headBefore) → \(headAfter)")

            // Another server's database (a fresh init on a new disk) in the way: nothing of it is kept.
            await other.stop()
            try other.store.close()
            let (fresh, _) = try ServerStore.restore(from: older, into: other.folder.path("server"))
            #expect(!fresh.replacedWasRead && fresh.usersKept == 0 && fresh.devicesKept == 0 && fresh.ownWritesKept == 0, "\(fresh)")
        } catch {
            await ann.close()
            await server.stop()
            await other.stop()
            throw error
        }
        await ann.close()
        await server.stop()
    }

    /// A branch renamed after the backup renamed its files' past scopes: the restored server keeps no
    /// history under the retired name (a branch registered later under it must inherit nothing).
    @Test func aRenameAfterTheBackupRenamesTheRestoredHistory() async throws {
        let clock = TestClock()
        var server = try await TestServer.start(clock: clock.now)
        do {
            let customer = "c2700000-0000-4000-8000-000000000001"
            for person in ["Ann", "Ben"] { _ = try server.code(for: person) }
            try await server.writeLocal([RecordEdit(.customer, customer, [("name", .text("Shop")), ("level", .text("standard")),
                                                                           ("branch", .text("Hangzhou")), ("manager", .text("Ann"))])])
            clock.advance(1_000)
            _ = try server.store.assign(String(customer.prefix(8)), manager: "Ben", team: nil)
            let folder = try TemporaryFolder()
            let backup = folder.path("backup.sqlite")
            _ = try server.store.backup(to: backup)
            clock.advance(60_000)
            _ = try server.store.renameBranch("Hangzhou", to: "Hangzhou East")
            func branches(_ store: ServerStore) async throws -> [String?] {
                try await store.writer.read { db in try String?.fetchAll(db, sql: "SELECT branch FROM scope_history ORDER BY from_hlc") }
            }
            let renamed = try await branches(server.store)
            #expect(!renamed.isEmpty && !renamed.contains("Hangzhou"), "\(renamed)")
            await server.stop()
            try server.store.close()
            _ = try ServerStore.restore(from: backup, into: server.folder.path("server"))
            server = try await TestServer.restart(server, clock: clock.now)
            #expect(try await branches(server.store) == renamed, "the restored history is the renamed one")
            #expect(try server.store.branches() == ["Hangzhou East"])

            // A backup taken after the rename, restored over a database older than it (the one before the rename,
            // put back without the file it replaced): the older database's names are not carried into it.
            let afterRename = folder.path("after-rename.sqlite")
            _ = try server.store.backup(to: afterRename)
            await server.stop()
            try server.store.close()
            let live = server.folder.path("server/server.sqlite")
            for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: live + suffix) }
            _ = try ServerStore.restore(from: backup, into: server.folder.path("server"))
            _ = try ServerStore.restore(from: afterRename, into: server.folder.path("server"))
            server = try await TestServer.restart(server, clock: clock.now)
            #expect(try await branches(server.store) == renamed, "the older database's names are not carried into a later backup")
            #expect(try server.store.users().allSatisfy { $0.info.branch != "Hangzhou" })
        } catch {
            await server.stop()
            throw error
        }
        await server.stop()
    }

    /// A backup made before incarnations existed (server-v16) is brought to this version's schema at
    /// restore: it gets a new incarnation and a branch server's comparison with its province, like any
    /// other. One made by a newer build is refused by name, and nothing is put in place.
    @Test func backupsOfOtherVersions() throws {
        let folder = try TemporaryFolder()
        let old = folder.path("before-v16.sqlite")
        let replica = try Replica.open(path: old)
        try replica.initialize(ReplicaIdentity(node: NodeID(rawValue: 0x5e), branch: nil, user: nil, createdAt: ""))
        try ServerStore.migrator.migrate(replica.writer, upTo: "server-v15-pull-by-branch")
        try replica.closeIntoOneFile()
        let target = folder.path("server")
        try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
        let (report, _) = try ServerStore.restore(from: old, into: target)
        #expect(Incarnation.isValid(report.incarnation), "\(report)")
        let store = try ServerStore.open(folder: target)
        #expect(try store.hasUpstreamCheckRequest(), "a branch server put back compares itself with its province")
        try store.close()

        let newer = folder.path("newer.sqlite")
        let future = try Replica.open(path: newer)
        try future.initialize(ReplicaIdentity(node: NodeID(rawValue: 0x5e), branch: nil, user: nil, createdAt: ""))
        try ServerStore.migrator.migrate(future.writer)
        try future.writer.write { db in try db.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES ('server-v99-from-the-future')") }
        try future.closeIntoOneFile()
        let before = try Data(contentsOf: URL(fileURLWithPath: folder.path("server/server.sqlite")))
        #expect { _ = try ServerStore.restore(from: newer, into: target) } throws: { error in
            "\(error)".contains("made by a newer FieldSync") && "\(error)".contains("server-v99-from-the-future")
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: folder.path("server/server.sqlite"))) == before, "the server's database is untouched")
    }

    /// A supervisor's handover made after the backup is offered back by their laptop and taken, with its
    /// handover record; the laptops of the managers involved see it.
    @Test func aSupervisorsHandoverAfterTheBackupIsOfferedBackAndTaken() async throws {
        let clock = TestClock()
        let folder = try TemporaryFolder()
        var server = try await TestServer.start(clock: clock.now)
        let ann = try await Laptop.enrol("Ann", server: server, folder: folder, clock: clock.now)
        let ben = try await Laptop.enrol("Ben", server: server, folder: folder, clock: clock.now)
        let sue = try await Laptop.enrol("Sue", server: server, folder: folder, role: .supervisor, clock: clock.now)
        let customer = "c2900000-0000-4000-8000-000000000001"
        try ann.replica.write([RecordEdit(.customer, customer, [("name", .text("Shop")), ("level", .text("standard")),
                                                              ("branch", .text("Hangzhou")), ("manager", .text("Ann"))])])
        try await ann.sync()
        try await sue.sync()
        let backup = folder.path("backup.sqlite")
        _ = try server.store.backup(to: backup)
        clock.advance(60_000)
        try sue.replica.write([RecordEdit(.customer, customer, [("manager", .text("Ben"))])])
        #expect(try await sue.sync().rejected.isEmpty)
        await server.stop()
        try server.store.close()
        _ = try ServerStore.restore(from: backup, into: server.folder.path("server"))
        server = try await TestServer.restart(server, clock: clock.now)

        let offered = try await sue.sync()
        #expect(offered.serverRestored && offered.rejected.isEmpty, "\(offered)")
        #expect(try await server.record(.customer, customer)?.value("manager", in: RecordKind.customer.schema) == .text("Ben"))
        let handovers = try server.store.replica.records(.handover)
        #expect(handovers.map { $0["previous"] } == [.text("Ann")] && handovers.map { $0["manager"] } == [.text("Ben")])
        try await ben.sync()
        #expect(try ben.replica.record(.customer, customer)?["manager"] == .text("Ben"))
        try await ann.sync()
        #expect(try ann.replica.record(.customer, customer) == nil, "the file left Ann's laptop")
        #expect(try sue.replica.outbox().isEmpty)
        for laptop in [ann, ben, sue] { await laptop.close() }
        await server.stop()
    }

    /// A file the server handed over after the backup keeps its handover through a restore: carried
    /// with the change of manager it records, though the backup never held the record itself.
    @Test func aRestoreKeepsTheHandoversTheServerWroteAfterTheBackup() async throws {
        let clock = TestClock()
        var server = try await TestServer.start(clock: clock.now)
        do {
            let customer = "c2800000-0000-4000-8000-000000000001"
            for person in ["Ann", "Ben"] { _ = try server.code(for: person) }
            try await server.writeLocal([RecordEdit(.customer, customer, [("name", .text("Shop")), ("level", .text("standard")),
                                                                           ("branch", .text("Hangzhou")), ("manager", .text("Ann"))])])
            let folder = try TemporaryFolder()
            let backup = folder.path("backup.sqlite")
            _ = try server.store.backup(to: backup)
            clock.advance(60_000)
            _ = try server.store.assign(String(customer.prefix(8)), manager: "Ben", team: nil)
            await server.stop()
            try server.store.close()
            let (report, _) = try ServerStore.restore(from: backup, into: server.folder.path("server"))
            #expect(report.ownWritesKept == 2, "the change of manager and its handover: \(report)")
            server = try await TestServer.restart(server, clock: clock.now)
            let handovers = try server.store.replica.records(.handover)
            #expect(handovers.map { $0["previous"] } == [.text("Ann")] && handovers.map { $0["manager"] } == [.text("Ben")])
        } catch {
            await server.stop()
            throw error
        }
        await server.stop()
    }

    /// What a branch server offers again is exactly the relayed mutations that wrote the records named,
    /// whole, page after page, and nothing not relayed yet.
    @Test func anOfferAgainHoldsTheMutationsThatWroteTheRecordsAndNothingElse() async throws {
        let clock = TestClock()
        let province = try await TestServer.start(clock: clock.now)
        let branch = try await TestServer.start(clock: clock.now)
        let upstream = try await ProvinceTierTests.link(branch, to: province, as: "Hangzhou")
        try await upstream.syncOnce()
        let folder = try TemporaryFolder()
        let alice = try await Laptop.enrol("Alice", server: branch, folder: folder, clock: clock.now)
        do {
            var random = SplitMix64(seed: 2711)
            let customer = ProvinceTierTests.customer
            try alice.replica.write([RecordEdit(.customer, customer, [("name", .text("Acme")), ("level", .text("vip")),
                                                                       ("branch", .text("Hangzhou")), ("manager", .text("Alice"))])])
            var visits: [String] = []
            for number in 0..<3 {
                let visit = RecordID.make(using: &random)
                visits.append(visit)
                try alice.replica.write([RecordEdit(.visit, visit, [("customer", .text(customer)), ("manager", .text("Alice")),
                    ("at", .text("2026-11-20T09:00:00+08:00")), ("kind", .text("routine")), ("summary", .text("visit \(number)"))])])
            }
            try await alice.sync()
            try await upstream.syncOnce()
            // A fourth, not relayed yet: never offered again.
            let unsent = RecordID.make(using: &random)
            try alice.replica.write([RecordEdit(.visit, unsent, [("customer", .text(customer)), ("manager", .text("Alice")),
                ("at", .text("2026-11-21T09:00:00+08:00")), ("kind", .text("routine")), ("summary", .text("not relayed"))])])
            try await alice.sync()
            let keys: Set<RecordKey> = [RecordKey(table: .visit, record: visits[0]), RecordKey(table: .visit, record: visits[2]),
                                        RecordKey(table: .visit, record: unsent)]
            let selection = try branch.store.upstreamSelection(writing: keys, key: upstream.key)
            var pages: [[Mutation]] = []
            var after: Int64 = 0
            while true {
                let page = try branch.store.upstreamPage(after: after, maxMutations: 1, only: selection)
                guard !page.mutations.isEmpty else { break }
                pages.append(page.mutations)
                after = page.through
            }
            #expect(pages.count == 2 && pages.allSatisfy { $0.count == 1 }, "one mutation a page: \(pages)")
            #expect(Set(pages.flatMap { $0 }.flatMap(\.changes).map(\.record)) == [visits[0], visits[2]])
            let written = try alice.replica.outbox().isEmpty
            #expect(written, "everything of Alice's reached the branch server")
        } catch {
            await alice.close()
            await upstream.shutdown()
            throw error
        }
        await alice.close()
        await upstream.shutdown()
    }

    /// A province that lost part of a branch with its marks of what it applied (as a province put
    /// back by hand does) gets it back when the branch server compares itself with it: the branch
    /// offers again the mutations that wrote what it lacks, and the province merges them again even
    /// where it kept its marks of having applied them (a record deleted there by hand).
    @Test func aProvinceLackingPartOfABranchGetsItOfferedAgain() async throws {
        let clock = TestClock()
        let province = try await TestServer.start(clock: clock.now)
        let branch = try await TestServer.start(clock: clock.now)
        let upstream = try await ProvinceTierTests.link(branch, to: province, as: "Hangzhou")
        try await upstream.syncOnce()
        let folder = try TemporaryFolder()
        let alice = try await Laptop.enrol("Alice", server: branch, folder: folder, clock: clock.now)
        do {
            var random = SplitMix64(seed: 2707)
            let customer = ProvinceTierTests.customer, visit = RecordID.make(using: &random)
            try alice.replica.write([RecordEdit(.customer, customer, [("name", .text("Acme")), ("level", .text("vip")),
                                                                       ("branch", .text("Hangzhou")), ("manager", .text("Alice"))])])
            try alice.replica.write([RecordEdit(.visit, visit, [("customer", .text(customer)), ("manager", .text("Alice")),
                ("at", .text("2026-11-20T09:00:00+08:00")), ("kind", .text("routine")), ("summary", .text("lost at the province"))])])
            try await alice.sync()
            try await upstream.syncOnce()
            let node = try #require(try alice.replica.identity()?.node)
            try await province.store.writer.write { db in try db.execute(sql: "DELETE FROM visits WHERE id = ?", arguments: [visit]) }
            let found = try await upstream.verifyAgainstUpstream(repair: false)
            #expect(found.provinceLacks == 1 && found.drift.records.map(\.key.record) == [visit], "\(found.drift.records)")
            #expect(found.drift.digest?.differing == 1, "found by digests: one bucket of 256 differed")
            // With its marks, the province merges the visit's mutation again (offered with `reapply`).
            let logRows = { try await province.store.writer.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM change_log") ?? 0 } }
            let rowsBefore = try await logRows()
            try branch.store.requestUpstreamCheck()
            try await upstream.syncOnce()
            #expect(try province.store.replica.record(.visit, visit)?["summary"] == .text("lost at the province"))
            #expect(try await logRows() - rowsBefore <= 2, "only the visit's mutation went again, not the whole log")
            #expect(try branch.store.upstreamRejections().isEmpty)
            // Without them (lost as a restore loses them), it takes it too.
            try await province.store.writer.write { db in
                try db.execute(sql: "DELETE FROM visits WHERE id = ?", arguments: [visit])
                try db.execute(sql: "DELETE FROM applied_ranges WHERE origin = ?", arguments: [node.description])
            }
            try branch.store.requestUpstreamCheck()
            try await upstream.syncOnce()
            #expect(try province.store.replica.record(.visit, visit)?["summary"] == .text("lost at the province"))
            #expect(try !branch.store.hasUpstreamCheckRequest())
            let agreed = try await upstream.verifyAgainstUpstream(repair: false)
            #expect(agreed.drift.isIdentical && agreed.drift.digest == DigestSummary(differing: 0, recordsRead: 0))
        } catch {
            await alice.close()
            await upstream.shutdown()
            for server in [province, branch] { await server.stop() }
            throw error
        }
        await alice.close()
        await upstream.shutdown()
        for server in [province, branch] { await server.stop() }
    }

    /// A province put back from a backup made after it pinned a laptop's key still takes that
    /// laptop's work relayed again: the branch server keeps the laptop's signed pages for a while
    /// after the province took them (`ServerStore.signedPageRetention`), so they travel again.
    @Test func aProvinceRestoredAfterPinningAKeyTakesTheRelayedWorkAgain() async throws {
        let clock = TestClock()
        var province = try await TestServer.start(clock: clock.now)
        let branch = try await TestServer.start(clock: clock.now)
        let upstream = try await ProvinceTierTests.link(branch, to: province, as: "Hangzhou")
        try await upstream.syncOnce()
        let folder = try TemporaryFolder()
        let alice = try await Laptop.enrol("Alice", server: branch, folder: folder, clock: clock.now)
        do {
            var random = SplitMix64(seed: 2706)
            let customer = ProvinceTierTests.customer
            try alice.replica.write([RecordEdit(.customer, customer, [("name", .text("Acme")), ("level", .text("vip")),
                                                                       ("branch", .text("Hangzhou")), ("manager", .text("Alice"))])])
            try await alice.sync()
            try await upstream.syncOnce()
            #expect(try await province.store.writer.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM node_keys") } == 1, "Alice's key pinned")
            let backup = folder.path("province.sqlite")
            _ = try province.store.backup(to: backup)
            var visits: [String] = []
            for number in 1...2 {
                clock.advance(1_000)
                let id = RecordID.make(using: &random)
                visits.append(id)
                try alice.replica.write([RecordEdit(.visit, id, [("customer", .text(customer)), ("manager", .text("Alice")),
                    ("at", .text("2026-11-20T09:00:00+08:00")), ("kind", .text("routine")), ("summary", .text("after the backup \(number)"))])])
                try await alice.sync()
                try await upstream.syncOnce()
            }
            #expect(try province.store.replica.records(.visit).count == 2)

            await province.stop()
            try province.store.close()
            _ = try ServerStore.restore(from: backup, into: province.folder.path("server"))
            province = try await TestServer.restart(province, clock: clock.now)
            try await upstream.syncOnce()
            #expect(try province.store.replica.records(.visit).count == 2, "the visits are relayed again, with Alice's signed pages")
            let refused = try branch.store.upstreamRejections().map(\.reason)
            #expect(refused.isEmpty, "\(refused)")
            // Past the retention, the next exchange lets the pages go.
            func pages() async throws -> Int { try await branch.store.writer.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM signed_pages") ?? -1 } }
            #expect(try await pages() > 0)
            clock.advance(UInt64(ServerStore.signedPageRetention) + 86_400_000)
            try await upstream.syncOnce()
            #expect(try await pages() == 0)
        } catch {
            await alice.close()
            await upstream.shutdown()
            for server in [province, branch] { await server.stop() }
            throw error
        }
        await alice.close()
        await upstream.shutdown()
        for server in [province, branch] { await server.stop() }
    }

    /// A branch server put back from its backup gets back from the province what its own laptops
    /// wrote after the backup (the province's log never sends a branch its own relayed work): the
    /// restore asks for a comparison with the province's copy of the branch, which the serving
    /// server makes at its next exchange. Here the laptop that wrote it is gone for good.
    @Test func aRestoredBranchServerTakesBackFromTheProvinceWhatItsLaptopsWrote() async throws {
        let clock = TestClock()
        let province = try await TestServer.start(clock: clock.now)
        var branch = try await TestServer.start(clock: clock.now)
        var upstream = try await ProvinceTierTests.link(branch, to: province, as: "Hangzhou")
        try await upstream.syncOnce()
        let folder = try TemporaryFolder()
        let alice = try await Laptop.enrol("Alice", server: branch, folder: folder, clock: clock.now)
        var sue: Laptop?
        do {
            var random = SplitMix64(seed: 2705)
            let customer = ProvinceTierTests.customer
            try alice.replica.write([RecordEdit(.customer, customer, [("name", .text("Acme")), ("level", .text("vip")),
                                                                       ("branch", .text("Hangzhou")), ("manager", .text("Alice"))])])
            func visit(_ summary: String) throws {
                clock.advance(1_000)
                try alice.replica.write([RecordEdit(.visit, RecordID.make(using: &random), [("customer", .text(customer)), ("manager", .text("Alice")),
                    ("at", .text("2026-11-20T09:00:00+08:00")), ("kind", .text("routine")), ("summary", .text(summary))])])
            }
            try visit("before the backup")
            try await alice.sync()
            try await upstream.syncOnce()
            let backup = folder.path("branch.sqlite")
            _ = try branch.store.backup(to: backup)
            for number in 1...3 { try visit("after the backup \(number)") }
            try await alice.sync()
            try await upstream.syncOnce()
            #expect(try province.store.replica.records(.visit).count == 4)
            // Alice's laptop is lost; the branch server's disk is replaced by its backup.
            await alice.close()
            await upstream.shutdown()
            await branch.stop()
            try branch.store.close()
            _ = try ServerStore.restore(from: backup, into: branch.folder.path("server"))
            branch = try await TestServer.restart(branch, clock: clock.now)
            #expect(try branch.store.replica.records(.visit).count == 1)
            var logger = Logger(label: "test-upstream")
            logger.logLevel = .critical
            upstream = try UpstreamSync(store: branch.store, binding: upstream.binding, caPEM: province.caPEM, logger: logger)

            // The first exchange after the restore compares the branch with the province and takes what it lacks.
            try await upstream.syncOnce()
            #expect(try branch.store.replica.records(.visit).count == 4, "the three visits come back from the province")
            #expect(try !branch.store.takeUpstreamCheckRequest(), "the request was taken")
            let check = try await upstream.verifyAgainstUpstream(repair: false)
            #expect(check.drift.isIdentical, "\(check.drift.records)")
            // A supervisor's new laptop on the branch receives them.
            sue = try await Laptop.enrol("Sue", server: branch, folder: folder, role: .supervisor, clock: clock.now)
            try await sue?.sync()
            #expect(try sue?.replica.records(.visit).count == 4)
        } catch {
            await alice.close()
            await sue?.close()
            await upstream.shutdown()
            for server in [province, branch] { await server.stop() }
            throw error
        }
        await sue?.close()
        await upstream.shutdown()
        for server in [province, branch] { await server.stop() }
    }

    /// On PostgreSQL the data comes back with pg_restore; `restore --mark-restored` gives the database a
    /// new incarnation, and laptops go through the same steps against it.
    @Test(.enabled(if: PostgresTestDatabase.enabled, "no PostgreSQL: set FIELDSYNC_TEST_DATABASE_URL (scripts/postgres start prints one)"))
    func aPostgreSQLServerMarkedRestoredIsToldToTheLaptops() async throws {
        try await PostgresTestDatabase.with { client, _ in
            let clock = TestClock()
            let server = try await TestServer.start(postgres: client, clock: clock.now)
            let folder = try TemporaryFolder()
            let ann = try await Laptop.enrol("Ann", server: server, folder: folder, clock: clock.now)
            let sue = try await Laptop.enrol("Sue", server: server, folder: folder, role: .supervisor, clock: clock.now)
            var random = SplitMix64(seed: 29)
            let customer = RecordID.make(using: &random)
            try ann.replica.write([RecordEdit(.customer, customer, [("name", .text("Tower Co")), ("level", .text("vip")),
                                                                  ("branch", .text("Hangzhou")), ("manager", .text("Ann"))])])
            try ann.replica.write([RecordEdit(.customer, customer, [("notes", .text("gate code 1234"))])])
            try await ann.sync()
            try await sue.sync()
            let storage = try #require(server.postgres)
            _ = try await storage.renewIncarnation()
            let annSync = try await ann.sync()
            let sueSync = try await sue.sync()
            #expect(annSync.serverRestored && annSync.reoffered == 1 && annSync.rejected.isEmpty, "\(annSync)")
            #expect(sueSync.serverRestored && sueSync.reoffered == 0, "\(sueSync)")
            #expect(try ann.dump() == sue.dump())
            #expect(try ann.replica.outbox().isEmpty && ann.replica.verify().isEmpty)
            #expect(try await !ann.sync().serverRestored)
            await ann.close()
            await sue.close()
            await server.stop()
        }
    }
}
