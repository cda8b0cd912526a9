@testable import FieldSyncClient
import FieldSyncModel
import FieldSyncProtocol
import FieldSyncSQLiteServer
import FieldSyncServer
import FieldSyncStore
import FieldSyncTestSupport
import Foundation
import GRDB
import NIOCore
import NIOHTTP1
import NIOSSL
import Testing

/// Failures `fieldsync-battery` found, each pinned by a test named after it.
@Suite struct BatteryRegressionTests {
    /// A server killed mid-response resets the connection; the laptop said
    /// "read(descriptor:pointer:size:): Connection reset by peer) (errno: 104)".
    @Test func aConnectionResetOrCutMidAnswerOrHandshakeReadsAsALostConnection() async throws {
        let server = try await TestServer.start()
        let client = try SyncClient(url: "https://127.0.0.1:9", caPEM: server.caPEM)
        for errno in [ECONNRESET, EPIPE] {
            let message = client.describe(IOError(errnoCode: errno, reason: "read(descriptor:pointer:size:)")).message
            #expect(message == "cannot sync with https://127.0.0.1:9: the connection was lost mid-request; nothing is lost, run sync again")
        }
        // Cut by the faulty relay mid-answer, the laptop said "stream ended at an unexpected time".
        for cut in [HTTPParserError.invalidEOFState as any Error, NIOSSLError.uncleanShutdown] {
            #expect(client.describe(cut).message.hasSuffix("the connection was lost mid-request; nothing is lost, run sync again"), "\(cut)")
        }
        // Cut during the TLS handshake, it said "TLS failed (…); is this the server the CA file belongs to?".
        let handshake = client.describe(NIOSSLError.handshakeFailed(.sslError([]))).message
        #expect(handshake.contains("the secure connection broke off") && handshake.hasSuffix("nothing is lost, run sync again"), "\(handshake)")
        try await client.shutdown()
        await server.stop()
    }

    /// The server's disk filled up under a push: the laptop read "the server failed to handle the
    /// request"; now a 503 `storage_full` says what happened, the laptop keeps its outbox, and the
    /// push is taken whole once there is space again.
    @Test func aFullServerDiskRefusesThePushClearlyAndTakesItWholeOnceThereIsSpace() async throws {
        let clock = TestClock()
        let server = try await TestServer.start(clock: clock.now)
        let folder = try TemporaryFolder()
        let laptop = try await Laptop.enrol("Li Wei", server: server, folder: folder, branch: "Hangzhou", clock: clock.now)
        var generator = SplitMix64(seed: 12)
        let customer = RecordID.make(using: &generator)
        try laptop.replica.write([RecordEdit(.customer, customer, [("name", .text("Acme")), ("level", .text("vip")), ("branch", .text("Hangzhou")),
                                                                   ("manager", .text("Li Wei"))])])
        try await laptop.sync()
        // The disk is full: the database may not grow by a page.
        let pages = try await server.store.writer.read { db in try Int.fetchOne(db, sql: "PRAGMA page_count") ?? 0 }
        try await server.store.writer.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA max_page_count = \(pages)") }
        let note = String(repeating: "x", count: 4_000)
        for number in 0..<100 {
            try laptop.replica.write([RecordEdit(.visit, RecordID.make(using: &generator), [
                ("customer", .text(customer)), ("at", .text("2026-11-23T09:00:00+08:00")), ("kind", .text("routine")),
                ("summary", .text("visit \(number) \(note)")),
            ])])
        }
        let refused = await #expect(throws: SyncError.self) { try await laptop.sync() }
        #expect(refused?.code == ErrorCode.storageFull)
        #expect(refused?.message.contains("disk is full or read-only") == true && refused?.message.contains("nothing of this request was kept") == true)
        #expect(try laptop.replica.status().outboxMutations == 100, "the laptop keeps every change")
        #expect(try server.store.replica.records(.visit).isEmpty, "nothing of the push was kept")

        // Space again: the same push is taken, whole, once.
        try await server.store.writer.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA max_page_count = 1073741823") }
        try await laptop.sync()
        #expect(try laptop.replica.status().outboxMutations == 0)
        #expect(try server.store.replica.records(.visit).count == 100)
        #expect(try await server.store.writer.read { db in try String.fetchAll(db, sql: "PRAGMA integrity_check") } == ["ok"])
        await laptop.close()
        await server.stop()
    }

    /// The laptop's disk is full: the write is refused with what to do, nothing of it is kept, the replica stays sound.
    @Test func aFullLaptopDiskRefusesTheWriteClearlyAndKeepsTheReplicaSound() async throws {
        let replica = try Replica.inMemory()
        try replica.initialize(ReplicaIdentity(node: NodeID(rawValue: 0xD1), branch: "Hangzhou", user: "Li Wei", createdAt: ""))
        let customer = "d0000000-0000-4000-8000-000000000001"
        try replica.write([RecordEdit(.customer, customer, [("name", .text("Acme")), ("level", .text("vip"))])])
        let pages = try await replica.writer.read { db in try Int.fetchOne(db, sql: "PRAGMA page_count") ?? 0 }
        try await replica.writer.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA max_page_count = \(pages)") }
        var failure: (any Error)?
        do {
            try replica.write([RecordEdit(.customer, customer, [("notes", .text(String(repeating: "y", count: 8_000)))])])
        } catch {
            failure = error
        }
        let storage = try #require(failure.flatMap { StoreError.storage($0, folder: "/home/li/.fieldsync") })
        #expect(storage.exitCode == 74)
        #expect(storage.message.hasPrefix("the disk holding /home/li/.fieldsync is full: nothing of this was recorded"))
        #expect(try replica.record(.customer, customer)?["notes"] == .null)
        #expect(try replica.status().outboxMutations == 1)
        #expect(try replica.verify().isEmpty)
    }
}
