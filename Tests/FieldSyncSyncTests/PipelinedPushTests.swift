import FieldSyncClient
import FieldSyncModel
import FieldSyncProtocol
import FieldSyncSQLiteServer
import FieldSyncServer
import FieldSyncStore
import FieldSyncTestSupport
import Foundation
import Testing

/// A push of many pages goes two requests deep (`follows`, `max_changes` 0): the
/// server decodes a page while it applies the one before, and applies them in
/// the order sent, so a visit never arrives before the customer it names. When
/// the server will not keep a page waiting, the laptop sends one at a time.
@Suite struct PipelinedPushTests {
    /// A customer, then `visits` visits of it, each its own mutation: with pages of 4, every page after the first needs the first.
    static func write(visits: Int, on replica: Replica, seed: UInt64) throws {
        var generator = SplitMix64(seed: seed)
        let customer = RecordID.make(using: &generator)
        try replica.write([RecordEdit(.customer, customer, [("name", .text("Tower Co")), ("level", .text("vip")), ("branch", .text("Hangzhou")),
                                                           ("manager", .text("Li Wei"))])])
        for number in 0..<visits {
            try replica.write([RecordEdit(.visit, RecordID.make(using: &generator), [("customer", .text(customer)),
                                                                                  ("at", .text("2026-11-20T09:00:00+08:00")),
                                                                                  ("kind", .text("routine")), ("summary", .text("visit \(number)"))])])
        }
    }

    static func metric(_ name: String, _ server: TestServer) -> Int {
        server.http.metrics.text().split(separator: "\n").first { $0.hasPrefix("fieldsync_\(name)_total ") }
            .flatMap { Int($0.split(separator: " ").last ?? "") } ?? 0
    }

    /// Syncs with pages of 4, shutting the client down whatever happens (a throw with it open ends the process).
    static func sync(_ laptop: Laptop, pageSize: Int = 4) async throws -> SyncSummary {
        var synchronizer = Synchronizer()
        synchronizer.maxMutationsPerPage = pageSize
        do {
            let summary = try await synchronizer.sync(laptop.replica, binding: laptop.binding, client: laptop.client)
            await laptop.close()
            return summary
        } catch {
            await laptop.close()
            throw error
        }
    }

    static func pullEverything(_ server: TestServer, _ folder: TemporaryFolder) async throws -> Laptop {
        let sam = try await Laptop.enrol("Sam", server: server, folder: folder, role: .supervisor)
        do { try await sam.sync() } catch {
            await sam.close()
            throw error
        }
        await sam.close()
        return sam
    }

    /// Every page depends on the one before: a note on the complaint the page before created. A page
    /// applied before its predecessor would be refused ("unknown to the server"); without the order
    /// kept on the server this fails in almost every run.
    @Test(arguments: EngineKind.available)
    func aPushOfManyPagesGoesTwoDeepAndArrivesInOrder(engine: EngineKind) async throws {
        try await TestServer.run(on: engine) { server in
            let folder = try TemporaryFolder()
            let li = try await Laptop.enrol("Li Wei", server: server, folder: folder)
            var generator = SplitMix64(seed: 0x919E)
            let customer = RecordID.make(using: &generator)
            try li.replica.write([RecordEdit(.customer, customer, [("name", .text("Tower Co")), ("level", .text("vip")),
                                                                   ("branch", .text("Hangzhou")), ("manager", .text("Li Wei"))])])
            var previous: String?
            for number in 0..<30 {
                let complaint = RecordID.make(using: &generator)
                var edits = [RecordEdit(.complaint, complaint, [("customer", .text(customer)), ("channel", .text("phone")),
                                                                ("content", .text("complaint \(number)")),
                                                                ("received_at", .text("2026-11-20T09:00:00+08:00")), ("status", .text("1:received"))])]
                if let previous {
                    edits.append(RecordEdit(.complaintNote, RecordID.make(using: &generator), [("complaint", .text(previous)),
                                                                                            ("at", .text("2026-11-20T10:00:00+08:00")),
                                                                                            ("text", .text("note \(number)"))]))
                }
                try li.replica.write(edits)
                previous = complaint
            }
            let summary = try await Self.sync(li, pageSize: 1)
            #expect(summary.pushed == 31 && summary.rejected.isEmpty, "\(summary)")
            #expect(try li.replica.outboxCount() == 0 && li.replica.verify().isEmpty)
            #expect(Self.metric("pushes_ahead", server) >= 29, "pages after the first were sent ahead")
            #expect(Self.metric("pushes_out_of_order", server) == 0)
            // The SQLite engine's one writer reports the time it spent (what bounds a push, when it is busy all along).
            let writerBusy = server.http.metrics.text().split(separator: "\n").first { $0.hasPrefix("fieldsync_writer_busy_seconds_total ") }
                .flatMap { Double($0.split(separator: " ").last ?? "") } ?? -1
            #expect(engine == .sqlite ? writerBusy > 0 : writerBusy == 0, "writer busy \(writerBusy) s")
            let sam = try await Self.pullEverything(server, folder)
            #expect(try sam.replica.records(.complaintNote).count == 29)
            #expect(try sam.dump() == li.dump())
        }
    }

    @Test func aServerThatKeepsNoPushWaitingGetsEveryPageOneAtATime() async throws {
        let server = try await TestServer.start(configure: { $0.pushesWaitingPerDevice = 0 })
        do {
            let folder = try TemporaryFolder()
            let li = try await Laptop.enrol("Li Wei", server: server, folder: folder)
            try Self.write(visits: 40, on: li.replica, seed: 0x0DE7)
            let summary = try await Self.sync(li)
            #expect(summary.pushed == 41 && summary.rejected.isEmpty, "\(summary)")
            #expect(try li.replica.outboxCount() == 0)
            #expect(Self.metric("pushes_out_of_order", server) >= 1, "the page sent ahead was refused, then sent again")
            let sam = try await Self.pullEverything(server, folder)
            #expect(try sam.replica.records(.visit) == li.replica.records(.visit))
        } catch {
            await server.stop()
            throw error
        }
        await server.stop()
    }

    /// A push that follows one the server never saw (sent to a process since restarted) is refused and stores nothing.
    @Test func aPushFollowingOneNeverSeenIsRefusedAndStoresNothing() async throws {
        let server = try await TestServer.start()
        do {
            let folder = try TemporaryFolder()
            let li = try await Laptop.enrol("Li Wei", server: server, folder: folder)
            try Self.write(visits: 3, on: li.replica, seed: 0xAF7E)
            let bodies = try li.replica.outboxBodies(after: 1, maxMutations: 10, maxBytes: 1 << 20)
            let ahead = WireJSON.syncRequest(cursor: 0, clientTime: Replica.systemMilliseconds(), maxChanges: 0, follows: 1,
                                             mutationBodies: bodies.map(\.body))
            do {
                _ = try await li.client.exchange(body: ahead, token: li.binding.token)
                Issue.record("a push following one never sent was taken")
            } catch let error as SyncError {
                #expect(error.code == ErrorCode.outOfOrder, "\(error)")
            }
            #expect(try server.store.replica.records(.visit).isEmpty, "nothing of the refused push was stored")
            let summary = try await Self.sync(li)
            #expect(summary.pushed == 4 && summary.rejected.isEmpty, "\(summary)")
            #expect(try server.store.replica.records(.visit).count == 3)
        } catch {
            await server.stop()
            throw error
        }
        await server.stop()
    }
}
