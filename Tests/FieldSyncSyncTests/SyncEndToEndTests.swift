import AsyncHTTPClient
import FieldSyncClient
import FieldSyncModel
import FieldSyncProtocol
import FieldSyncSQLiteServer
import FieldSyncServer
import FieldSyncServerCore
import FieldSyncStore
import FieldSyncTestSupport
import Foundation
import GRDB
import NIOCore
import NIOHTTP1
import NIOSSL
import Testing

@Suite struct SyncEndToEndTests {
    static let customer = "c1000000-0000-4000-8000-000000000001"

    /// Two managers edit the same customer offline — the same field and
    /// different fields — and sync in either order: every replica ends
    /// identical, both different-field edits survive, the losing name is a conflict.
    @Test(arguments: EngineKind.available, [true, false])
    func twoManagersConvergeWhicheverSyncsFirst(engine: EngineKind, aliceFirst: Bool) async throws {
        try await TestServer.run(on: engine) { server in
            let folder = try TemporaryFolder()
            // Alice starts offline, before enrolment: her records are pushed at the first sync.
            let alice = try await Laptop.enrol("Alice", server: server, folder: folder, before: { replica in
                try replica.write([RecordEdit(.customer, Self.customer, [
                    ("name", .text("Acme")), ("level", .text("standard")), ("branch", .text("Hangzhou")), ("manager", .text("Alice")),
                    ("team", .text("Bob")),
                ])])
            })
            let bob = try await Laptop.enrol("Bob", server: server, folder: folder)
            try await alice.sync()
            try await bob.sync()
            #expect(try bob.replica.record(.customer, Self.customer)?["name"] == .text("Acme"))

            try alice.replica.write([RecordEdit(.customer, Self.customer, [("name", .text("Acme Ltd")), ("notes", .text("from Alice"))])])
            try bob.replica.write([RecordEdit(.customer, Self.customer, [("name", .text("Acme Group")), ("level", .text("vip"))])])
            let order = aliceFirst ? [alice, bob, alice, bob] : [bob, alice, bob, alice]
            for laptop in order { try await laptop.sync() }

            #expect(try alice.dump() == bob.dump())
            if server.embedded != nil { #expect(try alice.dump() == server.dump()) }
            let record = try #require(try alice.replica.record(.customer, Self.customer))
            #expect(record["notes"] == .text("from Alice"))
            #expect(record["level"] == .text("vip"))
            let conflicts = try alice.replica.records(.conflict)
            #expect(conflicts.count == 1)
            let conflict = try #require(conflicts.first)
            #expect(conflict["field"] == .text("name"))
            #expect(Set([conflict["lost_value"], record["name"]]) == [.text("Acme Ltd"), .text("Acme Group")])
            for laptop in [alice, bob] {
                #expect(try laptop.replica.verify() == [])
                #expect(try laptop.replica.outbox().isEmpty)
                await laptop.close()
            }
        }
    }

    /// A conflict resolved on one laptop reaches the other through the server.
    @Test(arguments: EngineKind.available)
    func resolutionReachesEveryone(engine: EngineKind) async throws {
        try await TestServer.run(on: engine) { server in
            let folder = try TemporaryFolder()
            let alice = try await Laptop.enrol("Alice", server: server, folder: folder)
            let bob = try await Laptop.enrol("Bob", server: server, folder: folder)
            try alice.replica.write([RecordEdit(.customer, Self.customer, [("name", .text("Acme")), ("level", .text("standard")), ("branch", .text("Hangzhou")),
                                                                         ("manager", .text("Alice")), ("team", .text("Bob"))])])
            try await alice.sync()
            try await bob.sync()
            try alice.replica.write([RecordEdit(.customer, Self.customer, [("name", .text("A"))])])
            try bob.replica.write([RecordEdit(.customer, Self.customer, [("name", .text("B"))])])
            try await alice.sync()
            try await bob.sync()
            try await alice.sync()
            let conflict = try #require(try bob.replica.records(.conflict).first)
            // Bob settles it with a new value, as `fieldsync conflicts resolve --value` does.
            try bob.replica.write([
                RecordEdit(.customer, Self.customer, [("name", .text("Acme Holdings"))]),
                RecordEdit(.conflict, conflict.id, [("resolved", .int(1)), ("resolution", .text("new value"))]),
            ])
            try await bob.sync()
            #expect(try await alice.sync().conflicts == 0, "a resolution is not a new conflict")
            // A supervisor's laptop receives the file with its resolved conflict: not news either.
            let sue = try await Laptop.enrol("Sue", server: server, folder: folder, role: .supervisor)
            let first = try await sue.sync()
            #expect(try sue.replica.records(.conflict).count == 1 && first.conflicts == 0, "\(first)")
            for laptop in [alice, bob, sue] {
                #expect(try laptop.replica.record(.customer, Self.customer)?["name"] == .text("Acme Holdings"))
                #expect(try laptop.replica.records(.conflict).allSatisfy { $0["resolved"].bool })
                await laptop.close()
            }
            #expect(try alice.dump() == bob.dump())
        }
    }

    /// A response lost after the server committed: the retry neither loses nor duplicates.
    @Test(arguments: EngineKind.available)
    func retryAfterALostResponseAppliesOnce(engine: EngineKind) async throws {
        try await TestServer.run(on: engine) { server in
            let folder = try TemporaryFolder()
            let alice = try await Laptop.enrol("Alice", server: server, folder: folder)
            try alice.replica.write([RecordEdit(.customer, Self.customer, [("name", .text("Acme")), ("level", .text("vip")), ("branch", .text("Hangzhou")),
                                                                         ("manager", .text("Alice")), ("team", .text("Bob"))])])
            let pending = try alice.replica.outbox()
            // The request reaches the server and commits; the client never sees the answer.
            // It carries the mutation twice: acknowledged twice, applied once.
            let lost = try await alice.client.exchange(
                SyncRequest(cursor: 0, mutations: pending + pending, clientTime: Replica.systemMilliseconds()), token: alice.binding.token)
            #expect(lost.accepted.count == 2 && lost.rejected.isEmpty)
            #expect(try alice.replica.outbox().count == 1, "nothing is dropped without an acknowledgement")
            let summary = try await alice.sync()
            #expect(summary.pushed == 1)
            #expect(try alice.replica.outbox().isEmpty)
            #expect(try await server.loggedRows() == 1, "the record's three field changes are logged once, in one row")
            await alice.close()
        }
    }

    @Test(arguments: EngineKind.available)
    func revokedDeviceIsRefusedAndKeepsItsOutbox(engine: EngineKind) async throws {
        try await TestServer.run(on: engine) { server in
            let folder = try TemporaryFolder()
            let alice = try await Laptop.enrol("Alice", server: server, folder: folder)
            try await alice.sync()
            _ = try await server.accounts.revokeDevice(alice.binding.device)
            try alice.replica.write([RecordEdit(.customer, Self.customer, [("name", .text("Acme")), ("level", .text("vip")), ("branch", .text("Hangzhou")),
                                                                         ("manager", .text("Alice")), ("team", .text("Bob"))])])
            let error = await #expect(throws: SyncError.self) { try await alice.sync() }
            #expect(error?.code == ErrorCode.deviceRevoked)
            #expect(error?.message.contains("revoked") == true)
            #expect(try alice.replica.outbox().count == 1)
            await alice.close()
        }
    }

    @Test(arguments: EngineKind.available)
    func enrolmentCodesAreOneTimeAndExpire(engine: EngineKind) async throws {
        let clock = TestClock()
        try await TestServer.run(on: engine, clock: clock.now) { server in
            let client = try SyncClient(url: server.url, caPEM: server.caPEM)
            let code = try await server.enrolmentCode(for: "Carol")
            _ = try await client.enroll(code: code, node: NodeID(rawValue: 1), deviceName: "one")
            let reused = await #expect(throws: SyncError.self) { try await client.enroll(code: code, node: NodeID(rawValue: 2), deviceName: "two") }
            #expect(reused?.code == ErrorCode.codeUsed)
            let late = try await server.accounts.issueCode(forUser: "Carol", codeLifetime: AccountRules.defaultCodeLifetime).code
            clock.advance(8 * 86_400_000)
            let expired = await #expect(throws: SyncError.self) { try await client.enroll(code: late, node: NodeID(rawValue: 3), deviceName: "three") }
            #expect(expired?.code == ErrorCode.codeExpired)
            let unknown = await #expect(throws: SyncError.self) { try await client.enroll(code: "AAAAA-BBBBB-CCCCC", node: NodeID(rawValue: 4), deviceName: "four") }
            #expect(unknown?.code == ErrorCode.codeInvalid)
            try await client.shutdown()
        }
    }

    @Test func clientRefusesAServerSignedByAnotherCA() async throws {
        let server = try await TestServer.start()
        let other = try CertificateAuthority.makeCA(name: "Someone else")
        let client = try SyncClient(url: server.url, caPEM: other.certificate)
        let error = await #expect(throws: SyncError.self) {
            _ = try await client.enroll(code: try server.code(for: "Mallory"), node: NodeID(rawValue: 9), deviceName: "x")
        }
        #expect(error?.message.contains(server.url) == true)
        // Issue 25, item 4: it said "cannot sync with …" and BoringSSL's text with a build path; at enrolment it now
        // says the enrolment failed, why, and which file to check.
        #expect(error?.message.hasPrefix("enrolment with \(server.url) failed: the server's certificate is not signed by the CA file given with --ca") == true,
                "\(error?.message ?? "")")
        #expect(error?.message.contains("ca.pem") == true && error?.message.contains("/") == true)
        #expect(error?.message.contains(".cc") == false && error?.message.contains("BoringSSL") == false, "\(error?.message ?? "")")
        try await client.shutdown()
        await server.stop()
    }

    @Test func serverRefusesTLS11() async throws {
        let server = try await TestServer.start()
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(Array(server.caPEM.utf8)))
        tls.minimumTLSVersion = .tlsv1
        tls.maximumTLSVersion = .tlsv11
        let client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: .init(tlsConfiguration: tls))
        // The same client allowed TLS 1.2 gets through: the refusal is about the version.
        var modernTLS = tls
        modernTLS.maximumTLSVersion = nil
        let modern = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: .init(tlsConfiguration: modernTLS))
        // Shut down on every path: a client dropped open ends the whole test process.
        var failure: (any Error)?
        do {
            await #expect(throws: (any Error).self) {
                _ = try await client.execute(HTTPClientRequest(url: server.url + "/v1/health"), timeout: .seconds(5))
            }
            // Generous: under a full parallel test run the handshake alone has taken seconds.
            let response = try await modern.execute(HTTPClientRequest(url: server.url + "/v1/health"), timeout: .seconds(30))
            #expect(response.status == .ok)
        } catch {
            failure = error
        }
        try? await client.shutdown()
        try? await modern.shutdown()
        await server.stop()
        if let failure { throw failure }
    }

    @Test func unreachableServerFailsFastAndLosesNothing() async throws {
        let folder = try TemporaryFolder()
        let ca = try CertificateAuthority.makeCA(name: "test")
        let replica = try Replica.open(path: folder.path("lonely.sqlite"))
        try replica.initialize(ReplicaIdentity(node: NodeID(rawValue: 7), branch: "Hangzhou", user: "Dan", createdAt: ""))
        try replica.write([RecordEdit(.customer, Self.customer, [("name", .text("Acme")), ("level", .text("vip"))])])
        // Port 1 on loopback: nothing listens there.
        let client = try SyncClient(url: "https://127.0.0.1:1", caPEM: ca.certificate)
        let binding = ServerBinding(url: "https://127.0.0.1:1", token: "t", device: "d", user: UserInfo(name: "Dan", role: .manager, branch: "Hangzhou"), serverNode: NodeID(rawValue: 1))
        // No wall-clock assertion here (CI machines are loaded): the client's 5 s
        // connect timeout bounds the wait; what matters is the message and the outbox.
        let error = await #expect(throws: SyncError.self) { try await Synchronizer().sync(replica, binding: binding, client: client) }
        #expect(error?.message.contains("https://127.0.0.1:1") == true)
        #expect(error?.message.contains("refused") == true || error?.message.contains("no answer") == true, "\(error?.message ?? "")")
        #expect(try replica.outbox().count == 1)
        try await client.shutdown()
    }

    /// A change outside the device's branch is refused with a reason, stays in
    /// the outbox, and is listed as rejected.
    @Test(arguments: EngineKind.available)
    func outOfScopeChangeIsRejectedAndKept(engine: EngineKind) async throws {
        try await TestServer.run(on: engine) { server in
            let folder = try TemporaryFolder()
            let eve = try await Laptop.enrol("Eve", server: server, folder: folder, branch: "Ningbo")
            try eve.replica.write([RecordEdit(.customer, Self.customer, [("name", .text("Acme")), ("level", .text("vip")), ("branch", .text("Hangzhou"))])])
            let summary = try await eve.sync()
            #expect(summary.rejected.count == 1)
            #expect(summary.rejected.first?.reason.contains("Hangzhou") == true)
            #expect(try eve.replica.outbox().count == 1)
            #expect(try eve.replica.rejections().count == 1)
            #expect(try await server.record(.customer, Self.customer) == nil)
            await eve.close()
        }
    }

    /// A laptop whose clock runs a day ahead does not win with its clock: its
    /// unsent changes are re-stamped with the server's time, a later edit
    /// elsewhere wins, and the server's clock is not dragged forward.
    @Test(arguments: EngineKind.available)
    func laptopADayAheadDoesNotWinByItsClock(engine: EngineKind) async throws {
        let clock = TestClock()
        try await TestServer.run(on: engine, clock: clock.now) { server in
            let folder = try TemporaryFolder()
            let ahead: @Sendable () -> UInt64 = { clock.now() + 86_400_000 }
            let fast = try await Laptop.enrol("Fast", server: server, folder: folder, clock: ahead)
            let honest = try await Laptop.enrol("Honest", server: server, folder: folder, clock: clock.now)
            try honest.replica.write([RecordEdit(.customer, Self.customer, [("name", .text("Acme")), ("level", .text("vip")), ("branch", .text("Hangzhou")),
                                                                          ("manager", .text("Honest")), ("team", .text("Fast"))])])
            try await honest.sync()
            try await fast.sync()
            // Fast edits first (by real time), Honest a minute later.
            try fast.replica.write([RecordEdit(.customer, Self.customer, [("name", .text("typed first"))])])
            clock.advance(60_000)
            try honest.replica.write([RecordEdit(.customer, Self.customer, [("name", .text("typed last"))])])
            try await fast.sync()
            try await honest.sync()
            try await fast.sync()
            for laptop in [fast, honest] {
                #expect(try laptop.replica.record(.customer, Self.customer)?["name"] == .text("typed last"))
            }
            #expect(try fast.replica.records(.conflict).count == 1, "the earlier edit is kept as a conflict")
            let serverClock = try await server.clock()
            #expect(serverClock.milliseconds <= clock.now() + 1_000)
            #expect(try fast.replica.clockOffset() < -86_000_000, "the laptop learnt its offset")
            for laptop in [fast, honest] { await laptop.close() }
        }
    }

    /// Bodies over 64 KiB travel gzip-compressed both ways, in several pages.
    @Test(arguments: EngineKind.available)
    func largeSyncIsCompressedAndPaged(engine: EngineKind) async throws {
        var limits = SyncLimits()
        limits.maxChanges = 2_000
        try await TestServer.run(on: engine, limits: limits) { server in
            let folder = try TemporaryFolder()
            let alice = try await Laptop.enrol("Alice", server: server, folder: folder)
            let bob = try await Laptop.enrol("Bob", server: server, folder: folder)
            try alice.replica.write([RecordEdit(.customer, Self.customer, [("name", .text("Acme")), ("level", .text("vip")), ("branch", .text("Hangzhou")),
                                                                         ("manager", .text("Alice")), ("team", .text("Bob"))])])
            var generator = SplitMix64(seed: 1)
            let visits = (0..<1_500).map { index in
                [RecordEdit(.visit, RecordID.make(using: &generator), [
                    ("customer", .text(Self.customer)), ("at", .text("2026-11-23T09:00:00+08:00")), ("kind", .text("routine")),
                    ("summary", .text("visit \(index): reviewed tower sites, power alarms and the renewal of the lease")),
                ])]
            }
            _ = try alice.replica.write(actions: visits)
            let pushed = try await alice.sync()
            #expect(pushed.pushed == 1_501)
            #expect(pushed.roundTrips >= 2, "1,000 mutations per page")
            let pulled = try await bob.sync()
            #expect(pulled.pulled == 2 + 1 * 5 + 1_500 * 4, "the registered branch, the customer, the visits")
            #expect(pulled.roundTrips >= 4, "2,000 changes per page")
            #expect(try alice.dump() == bob.dump())
            for laptop in [alice, bob] { await laptop.close() }
        }
    }
}
