import FieldSyncClient
import FieldSyncModel
import FieldSyncPostgres
import FieldSyncProtocol
import FieldSyncSQLiteServer
import FieldSyncServerCore
@testable import FieldSyncServer
import FieldSyncStore
import FieldSyncTestSupport
import Foundation
import GRDB
import PostgresNIO
import Testing

/// `fieldsync verify --server` (issue 27, item 3): drift between a laptop and its server is
/// found by comparing record states, not by trusting the log, and exactly what differs is
/// repaired. Real server over TLS on both engines, real SQLite replica files altered by hand.
@Suite struct ServerVerifyTests {
    /// `digests`: compared by digests (`POST /v1/digest`, only differing buckets travel), or with the whole snapshot.
    @Test(arguments: EngineKind.available, [true, false])
    func recordsAlteredOrLostOnEitherSideAreFoundAndRepaired(engine: EngineKind, digests: Bool) async throws {
        let clock = TestClock()
        try await TestServer.run(on: engine, clock: clock.now) { server in
            let folder = try TemporaryFolder()
            let ann = try await Laptop.enrol("Ann", server: server, folder: folder, clock: clock.now)
            let ben = try await Laptop.enrol("Ben", server: server, folder: folder, clock: clock.now)
            do {
                var random = SplitMix64(seed: 2703)
                let customer = RecordID.make(using: &random)
                try ann.replica.write([RecordEdit(.customer, customer, [("name", .text("Tower Co")), ("level", .text("vip")), ("branch", .text("Hangzhou")),
                                                                      ("manager", .text("Ann")), ("team", .text("Ben"))])])
                func visit(_ laptop: Laptop, _ summary: String) throws -> String {
                    clock.advance(1_000)
                    let id = RecordID.make(using: &random)
                    try laptop.replica.write([RecordEdit(.visit, id, [("customer", .text(customer)), ("at", .text("2026-11-20T09:00:00+08:00")),
                                                                      ("kind", .text("routine")), ("summary", .text(summary)),
                                                                      ("manager", .text(laptop.name))])])
                    return id
                }
                let lostHere = try visit(ann, "deleted from the laptop")
                let lostOnServer = try visit(ann, "deleted from the server")
                _ = try visit(ann, "untouched")
                try await ann.sync()
                try await ben.sync()
                let bens = try visit(ben, "Ben's, deleted from the server")
                try await ben.sync()
                try await ann.sync()

                let first = try await ServerVerifier.run(ann.replica, replicaPath: folder.path("Ann.sqlite"), binding: ann.binding, client: ann.client, repair: true, useDigests: digests)
                #expect(first.drift.isIdentical && first.repair == nil, "\(first.drift.records)")
                #expect(first.drift.compared == 6, "a customer, four visits and the branch")

                // Work typed since the last sync is sent first (by the verification's own sync), not taken for drift.
                let unsent = try visit(ann, "typed, not sent")
                // Altered behind FieldSync's back: on the laptop a visit deleted and the customer's name
                // changed in place (same stamp); on the server two visits deleted, one of them Ben's.
                try await ann.replica.writer.write { db in
                    try db.execute(sql: "DELETE FROM visits WHERE id = ?", arguments: [lostHere])
                    try db.execute(sql: "UPDATE customers SET name = 'Tampered' WHERE id = ?", arguments: [customer])
                }
                if let postgres = server.postgres {
                    for id in [lostOnServer, bens] { try await postgres.client.query("DELETE FROM records WHERE kind = 'visits' AND id = \(id)") }
                } else {
                    try await server.store.writer.write { db in
                        try db.execute(sql: "DELETE FROM visits WHERE id IN (?, ?)", arguments: [lostOnServer, bens])
                    }
                }

                let found = try await ServerVerifier.run(ann.replica, replicaPath: folder.path("Ann.sqlite"), binding: ann.binding, client: ann.client, repair: false, useDigests: digests)
                #expect(found.before.pushed == 1, "the unsent visit goes first, as in any sync")
                #expect(found.repair == nil)
                let differing = Dictionary(uniqueKeysWithValues: found.drift.records.map { ($0.key.record, $0) })
                #expect(Set(differing.keys) == [lostHere, customer, lostOnServer, bens], "exactly what was altered, not \(unsent)")
                #expect(differing[lostHere]?.here == nil && differing[lostHere]?.fields.allSatisfy { $0.drift == .replicaLacks } == true)
                #expect(differing[customer]?.fields.map(\.drift) == [.sameWriteDiffers])
                #expect(differing[lostOnServer]?.server == nil && differing[bens]?.server == nil)
                #expect(found.drift.takenFromServer == 2 && found.drift.offeredToServer == 2)
                #expect((found.drift.digest != nil) == digests)
                if let digest = found.drift.digest {
                    #expect(digest.differing >= 1 && digest.differing <= 4, "four records differ: at most four buckets")
                    #expect(digest.recordsRead <= 4, "the server sends the records of the differing buckets only: \(digest.recordsRead)")
                }

                // Ann sends back her own visit; Ben's is his to send (the server would refuse it from her).
                let repaired = try await ServerVerifier.run(ann.replica, replicaPath: folder.path("Ann.sqlite"), binding: ann.binding, client: ann.client, repair: true, useDigests: digests)
                #expect(repaired.repair == DriftRepair(taken: 2, offered: 1, notOffered: 1, conflicts: 0), "\(String(describing: repaired.repair))")
                #expect(repaired.after?.pushed == 1 && repaired.after?.rejected.isEmpty == true, "\(String(describing: repaired.after))")
                #expect(try ann.replica.record(.customer, customer)?["name"] == .text("Tower Co"))
                #expect(try ann.replica.record(.visit, lostHere)?["summary"] == .text("deleted from the laptop"))
                #expect(try await server.record(.visit, lostOnServer) != nil)
                #expect(try await server.record(.visit, bens) == nil)

                // Ben's own check sends his visit back.
                let bensRepair = try await ServerVerifier.run(ben.replica, replicaPath: folder.path("Ben.sqlite"), binding: ben.binding, client: ben.client, repair: true, useDigests: digests)
                #expect(bensRepair.repair == DriftRepair(taken: 0, offered: 1, notOffered: 0, conflicts: 0), "\(String(describing: bensRepair.repair))")
                #expect(try await server.record(.visit, bens)?.value("summary", in: RecordKind.visit.schema) == .text("Ben's, deleted from the server"))

                let again = try await ServerVerifier.run(ann.replica, replicaPath: folder.path("Ann.sqlite"), binding: ann.binding, client: ann.client, repair: true, useDigests: digests)
                #expect(again.drift.isIdentical, "\(again.drift.records)")
                let bensCheck = try await ServerVerifier.run(ben.replica, replicaPath: folder.path("Ben.sqlite"), binding: ben.binding, client: ben.client, repair: false, useDigests: digests)
                #expect(bensCheck.drift.isIdentical, "\(bensCheck.drift.records)")
                #expect(try ann.dump() == ben.dump())
                #expect(try ann.replica.verify().isEmpty && ann.replica.outbox().isEmpty)
                #expect(try ann.replica.records(.conflict).isEmpty, "a repair makes up no conflict")
            } catch {
                await ann.close()
                await ben.close()
                throw error
            }
            await ann.close()
            await ben.close()
        }
    }
    /// With 500 records in the scope and one lost on the server, the comparison reads the records
    /// of one bucket of 256, not the scope, and the repair sends back exactly the lost one.
    @Test(arguments: EngineKind.available)
    func aDigestSendsOnlyTheBucketsThatDiffer(engine: EngineKind) async throws {
        let clock = TestClock()
        try await TestServer.run(on: engine, clock: clock.now) { server in
            let folder = try TemporaryFolder()
            let ann = try await Laptop.enrol("Ann", server: server, folder: folder, clock: clock.now)
            do {
                var random = SplitMix64(seed: 27_03)
                let customer = RecordID.make(using: &random)
                var edits = [RecordEdit(.customer, customer, [("name", .text("Tower Co")), ("level", .text("vip")), ("branch", .text("Hangzhou")),
                                                             ("manager", .text("Ann"))])]
                let visits = (0..<500).map { _ in RecordID.make(using: &random) }
                for (number, id) in visits.enumerated() {
                    edits.append(RecordEdit(.visit, id, [("customer", .text(customer)), ("at", .text("2026-11-20T09:00:00+08:00")),
                                                         ("kind", .text("routine")), ("summary", .text("visit \(number)")), ("manager", .text("Ann"))]))
                }
                try ann.replica.write(edits)
                try await ann.sync()

                let agreed = try await ServerVerifier.run(ann.replica, replicaPath: folder.path("Ann.sqlite"), binding: ann.binding, client: ann.client, repair: true)
                #expect(agreed.drift.isIdentical && agreed.drift.digest == DigestSummary(differing: 0, recordsRead: 0))
                #expect(agreed.drift.compared == 502, "a customer, 500 visits and the branch")
                // A peer holding nothing is answered the whole scope (over 64 KiB: sent gzipped, read as any answer).
                let nothing = try #require(ScopeDigest(buckets: Array(repeating: Array(repeating: 0, count: 32), count: 256), records: 0))
                let whole = try await ann.client.compareDigest(nothing, token: ann.binding.token)
                #expect(whole.complete && Set(whole.changes.map(\.record)).count == 502)

                let lost = visits[123]
                if let postgres = server.postgres {
                    try await postgres.client.query("DELETE FROM records WHERE kind = 'visits' AND id = \(lost)")
                } else {
                    try await server.store.writer.write { db in try db.execute(sql: "DELETE FROM visits WHERE id = ?", arguments: [lost]) }
                }
                let repaired = try await ServerVerifier.run(ann.replica, replicaPath: folder.path("Ann.sqlite"), binding: ann.binding, client: ann.client, repair: true)
                #expect(repaired.drift.records.map(\.key.record) == [lost])
                let digest = try #require(repaired.drift.digest)
                #expect(digest.differing == 1)
                #expect(digest.recordsRead < 15, "one bucket's records (about 2 of 502), not the scope: \(digest.recordsRead)")
                #expect(repaired.repair == DriftRepair(taken: 0, offered: 1, notOffered: 0, conflicts: 0))
                #expect(try await server.record(.visit, lost)?.value("summary", in: RecordKind.visit.schema) == .text("visit 123"))
                let again = try await ServerVerifier.run(ann.replica, replicaPath: folder.path("Ann.sqlite"), binding: ann.binding, client: ann.client, repair: false)
                #expect(again.drift.isIdentical && again.drift.digest?.differing == 0)
            } catch {
                await ann.close()
                throw error
            }
            await ann.close()
        }
    }
    /// Peers of different schemas compare nothing by digests (a field one does not know would make every
    /// record differ): the server says so, lists every bucket, sends no records, and the laptop falls back
    /// to the snapshot. A large answer is cut the same way.
    @Test func digestsOfAnotherSchemaCompareNothing() throws {
        let folder = try TemporaryFolder()
        let replica = try Replica.open(path: folder.path("scope.sqlite"))
        try replica.initialize(ReplicaIdentity(node: NodeID(rawValue: 0xA), branch: "Hangzhou", user: "Ann", createdAt: "2026-12-08T00:00:00Z"))
        var random = SplitMix64(seed: 8)
        let customer = RecordID.make(using: &random)
        try replica.write([RecordEdit(.customer, customer, [("name", .text("Tower Co")), ("level", .text("vip")), ("branch", .text("Hangzhou")),
                                                            ("manager", .text("Ann"))])])
        let digest = try replica.scopeDigest()
        let same = try ScopeDigestAnswer.answer(DigestRequest(digest: digest), scopeAt: folder.path("scope.sqlite"), cursor: 5)
        #expect(same.isIdentical && same.complete && same.schema == ScopeDigest.schema && same.records == digest.records)

        let other = try ScopeDigestAnswer.answer(DigestRequest(digest: digest, schema: String(repeating: "0", count: 64)),
                                                 scopeAt: folder.path("scope.sqlite"), cursor: 5)
        #expect(!other.complete && other.differing.count == ScopeDigest.bucketCount && other.changes.isEmpty)

        let empty = try #require(ScopeDigest(buckets: Array(repeating: Array(repeating: 0, count: 32), count: 256), records: 0))
        let all = try ScopeDigestAnswer.answer(DigestRequest(digest: empty), scopeAt: folder.path("scope.sqlite"), cursor: 5)
        #expect(all.complete && all.differing.count == 1 && Set(all.changes.map(\.record)) == [customer])
        try replica.close()
    }
    /// Once a day a sync that leaves the outbox empty also compares the laptop with the server by
    /// digests and repairs what differs; the server keeps each device's latest comparison, and the
    /// branch's freshness says up to when every device found its records identical.
    @Test(arguments: EngineKind.available)
    func aLaptopComparesItselfWithTheServerOnceADay(engine: EngineKind) async throws {
        let clock = TestClock()
        try await TestServer.run(on: engine, clock: clock.now) { server in
            let folder = try TemporaryFolder()
            let ann = try await Laptop.enrol("Ann", server: server, folder: folder, clock: clock.now)
            do {
                var random = SplitMix64(seed: 2709)
                let customer = RecordID.make(using: &random), visit = RecordID.make(using: &random)
                try ann.replica.write([RecordEdit(.customer, customer, [("name", .text("Tower Co")), ("level", .text("vip")), ("branch", .text("Hangzhou")),
                                                                      ("manager", .text("Ann"))]),
                                       RecordEdit(.visit, visit, [("customer", .text(customer)), ("at", .text("2026-11-20T09:00:00+08:00")),
                                                                  ("kind", .text("routine")), ("summary", .text("lost on the server")), ("manager", .text("Ann"))])])
                #expect(try await ann.sync().comparison == nil, "the first sync starts the count")
                if let postgres = server.postgres {
                    try await postgres.client.query("DELETE FROM records WHERE kind = 'visits' AND id = \(visit)")
                } else {
                    try await server.store.writer.write { db in try db.execute(sql: "DELETE FROM visits WHERE id = ?", arguments: [visit]) }
                }
                clock.advance(86_400_000 - 1)
                #expect(try await ann.sync().comparison == nil, "not yet a day")
                clock.advance(1)
                let repaired = try await ann.sync()
                #expect(repaired.comparison == .repaired(taken: 0, offered: 1), "\(repaired)")
                #expect(try await server.record(.visit, visit)?.value("summary", in: RecordKind.visit.schema) == .text("lost on the server"))
                let checks = try await server.kpi.digestChecks()
                #expect(checks[ann.binding.device]?.matched == true, "compared again after the repair: \(checks)")
                let sue = UserInfo(name: "Sue", role: .supervisor, branch: "Hangzhou")
                #expect(try await server.kpi.freshness(for: sue).first?.identicalAt == clock.now())

                clock.advance(86_400_000)
                #expect(try await ann.sync().comparison == .identical)
            } catch {
                await ann.close()
                throw error
            }
            await ann.close()
        }
    }
}
