import FieldSyncClient
import FieldSyncModel
import FieldSyncProtocol
@testable import FieldSyncSQLiteServer
@testable import FieldSyncServer
@testable import FieldSyncServerCore
import FieldSyncStore
import FieldSyncTestSupport
import Foundation
import GRDB
import NIOCore
import NIOHTTP1
import Testing

/// One regression test per finding of the security review (issue 9), each
/// named after what it catches, against a real server over TLS.
@Suite struct TrustBoundaryTests {
    static let hangzhouCustomer = "a1000000-0000-4000-8000-000000000001"
    static let ningboCustomer = "b2000000-0000-4000-8000-000000000002"
    static let ningboContact = "b2c00000-0000-4000-8000-000000000003"
    static let ningboComplaint = "b2e00000-0000-4000-8000-000000000004"

    /// Alice manages in Hangzhou, Bob in Ningbo; each has one customer, Bob's
    /// with a contact and a complaint, all synced to the server.
    struct World {
        let server: TestServer
        let folder: TemporaryFolder
        let alice: Laptop
        let bob: Laptop
        let raw: RawHTTPS

        static func make(_ server: TestServer) async throws -> World {
            let folder = try TemporaryFolder()
            let alice = try await Laptop.enrol("Alice", server: server, folder: folder, branch: "Hangzhou")
            let bob = try await Laptop.enrol("Bob", server: server, folder: folder, branch: "Ningbo")
            try alice.replica.write([RecordEdit(.customer, hangzhouCustomer, [
                ("name", .text("Acme")), ("level", .text("vip")), ("branch", .text("Hangzhou")), ("manager", .text("Alice")),
            ])])
            try bob.replica.write([RecordEdit(.customer, ningboCustomer, [
                ("name", .text("Harbour Tower")), ("level", .text("standard")), ("branch", .text("Ningbo")), ("manager", .text("Bob")),
            ])])
            try bob.replica.write([RecordEdit(.contact, ningboContact, [
                ("customer", .text(ningboCustomer)), ("name", .text("Wang Fang")), ("phone", .text("+86 574 1234 5678")),
                ("email", .text("wang@harbour.example")),
            ])])
            try bob.replica.write([RecordEdit(.complaint, ningboComplaint, [
                ("customer", .text(ningboCustomer)), ("channel", .text("phone")), ("content", .text("slow repair")),
                ("received_at", .text("2026-11-20T09:00:00+08:00")), ("status", .text("1:received")),
            ])])
            try await alice.sync()
            try await bob.sync()
            return World(server: server, folder: folder, alice: alice, bob: bob, raw: try RawHTTPS(server))
        }

        /// Runs `body` on a fresh world on `engine` and closes it, also when `body` throws.
        static func with(on engine: EngineKind, _ body: (World) async throws -> Void) async throws {
            try await TestServer.run(on: engine) { server in
                let world = try await make(server)
                do {
                    try await body(world)
                } catch {
                    await world.close()
                    throw error
                }
                await world.close()
            }
        }

        func close() async {
            await raw.shutdown()
            await alice.close()
            await bob.close()
        }

        /// Pushes one hand-made mutation as `laptop`, stamped by its node.
        func push(as laptop: Laptop, counter: UInt64 = 1_000, origin: NodeID? = nil,
                  _ changes: [(RecordKind, String, String, FieldValue, HLC)]) async throws -> SyncResponse {
            let node = try laptop.replica.identity()!.node
            let mutation = Mutation(origin: origin ?? node, counter: counter, changes: changes.map {
                FieldChange(table: $0.0, record: $0.1, field: $0.2, value: $0.3, hlc: $0.4, node: origin ?? node, base: .zero)
            })
            return try await laptop.client.exchange(SyncRequest(cursor: 0, mutations: [mutation], clientTime: Replica.systemMilliseconds()),
                                                    token: laptop.binding.token)
        }

        var now: HLC { HLC(milliseconds: Replica.systemMilliseconds(), counter: 0) }
        func earlier(_ minutes: UInt64) -> HLC { HLC(milliseconds: Replica.systemMilliseconds() - minutes * 60_000, counter: 0) }
    }

    // MARK: 1. Critical — cross-branch read and write through child records

    @Test(arguments: EngineKind.available)
    func childReparentedIntoOwnBranchDoesNotReachAnotherBranchsRecord(engine: EngineKind) async throws {
        try await World.with(on: engine) { world in
            let before = try await world.server.records()
            let answer = try await world.push(as: world.alice, [
                (.contact, Self.ningboContact, "customer", .text(Self.hangzhouCustomer), world.now),
                (.contact, Self.ningboContact, "name", .text("stolen"), world.now),
            ])
            #expect(answer.accepted.isEmpty)
            #expect(answer.rejected.first?.reason.contains("outside Alice's customers in branch Hangzhou") == true, "\(answer.rejected)")
            #expect(try await world.server.records() == before, "nothing written, no conflict record made")
            let text = String(decoding: WireJSON.encode(answer), as: UTF8.self)
            for secret in ["Wang Fang", "1234 5678", "harbour.example", Self.ningboContact] {
                #expect(!text.contains(secret), "the answer carries nothing of Ningbo's contact: \(text)")
            }
        }
    }

    @Test(arguments: EngineKind.available)
    func parentChangeThatLosesTheMergeDoesNotOverwriteAnotherBranchsField(engine: EngineKind) async throws {
        try await World.with(on: engine) { world in
            let answer = try await world.push(as: world.alice, [
                (.contact, Self.ningboContact, "customer", .text(Self.hangzhouCustomer), world.earlier(600)),
                (.contact, Self.ningboContact, "phone", .text("000"), world.now),
            ])
            #expect(answer.accepted.isEmpty && answer.rejected.count == 1)
            #expect(try await world.server.record(.contact, Self.ningboContact)?.value("phone", in: RecordKind.contact.schema) == .text("+86 574 1234 5678"))
            try await world.bob.sync()
            #expect(try world.bob.replica.record(.contact, Self.ningboContact)?["phone"] == .text("+86 574 1234 5678"))
        }
    }

    // MARK: 2. High — a manager moves a customer out of their branch

    @Test(arguments: EngineKind.available)
    func changeOrderCannotMoveACustomerOutOfTheBranch(engine: EngineKind) async throws {
        try await World.with(on: engine) { world in
            let attempts: [[(RecordKind, String, String, FieldValue, HLC)]] = [
                [(.customer, Self.hangzhouCustomer, "branch", .text("Ningbo"), world.now),
                 (.customer, Self.hangzhouCustomer, "branch", .text("Hangzhou"), world.earlier(10))],
                [(.customer, Self.hangzhouCustomer, "branch", .null, world.now)],
                [(.customer, Self.hangzhouCustomer, "branch", .text("Atlantis"), world.now)],
            ]
            for (index, changes) in attempts.enumerated() {
                let answer = try await world.push(as: world.alice, counter: 1_000 + UInt64(index), changes)
                #expect(answer.accepted.isEmpty, "attempt \(index)")
                #expect(answer.rejected.first?.reason.contains("would move out of Alice's customers in branch Hangzhou") == true, "\(answer.rejected)")
            }
            #expect(try await world.server.record(.customer, Self.hangzhouCustomer)?.value("branch", in: RecordKind.customer.schema) == .text("Hangzhou"))
        }
    }

    // MARK: 3. High — node spoofing suppresses other devices' writes

    @Test(arguments: EngineKind.available)
    func enrolmentRefusesANodeAlreadyHeldAndSpoofedPushesDoNotSuppressTheVictim(engine: EngineKind) async throws {
        try await World.with(on: engine) { world in
            let victim = try world.alice.replica.identity()!.node
            let client = try SyncClient(url: world.server.url, caPEM: world.server.caPEM)
            let taken = await #expect(throws: SyncError.self) {
                _ = try await client.enroll(code: try await world.server.enrolmentCode(for: "Mallory"), node: victim, deviceName: "copy")
            }
            #expect(taken?.code == ErrorCode.nodeTaken)
            let serverNode = try await world.server.http.syncStorage.serverNode
            let impersonatesServer = await #expect(throws: SyncError.self) {
                _ = try await client.enroll(code: try await world.server.accounts.issueCode(forUser: "Mallory", codeLifetime: AccountRules.defaultCodeLifetime).code, node: serverNode, deviceName: "x")
            }
            #expect(impersonatesServer?.code == ErrorCode.nodeTaken)

            // Bob pushes counters 2…29 claiming Alice's node: refused, and not remembered as applied.
            for counter in UInt64(2)...29 {
                let answer = try await world.push(as: world.bob, counter: counter, origin: victim, [
                    (.customer, Self.ningboCustomer, "notes", .text("spoof \(counter)"), world.now),
                ])
                #expect(answer.accepted.isEmpty && answer.rejected.count == 1)
            }
            try world.alice.replica.write([RecordEdit(.customer, Self.hangzhouCustomer, [("notes", .text("Alice's real edit"))])])
            let summary = try await world.alice.sync()
            #expect(summary.rejected.isEmpty)
            #expect(try await world.server.record(.customer, Self.hangzhouCustomer)?.value("notes", in: RecordKind.customer.schema) == .text("Alice's real edit"))
            try await client.shutdown()
        }
    }

    // MARK: 4 and 6. High — one GET crashes the server; unbounded KPI work

    @Test(arguments: EngineKind.available)
    func kpiQueriesOutsideTheSupportedYearsOrOverAYearAreRefusedAndTheServerStaysUp(engine: EngineKind) async throws {
        try await World.with(on: engine) { world in
            let supervisor = try await supervisorToken(world)
            let queries = [
                "/v1/kpi?as_of=0999-06-01", "/v1/kpi?period=9999-12", "/v1/kpi?period=1000-01", "/v1/kpi/misses?period=0000-Q1",
                "/v1/kpi/todo?as_of=9999-12-31", "/v1/kpi?period=0000-01-01..9999-12-31&as_of=9999-12-31",
                "/v1/kpi?period=2025-01-01..2026-06-30", "/v1/kpi?period=2026-W99", "/v1/kpi?start=2026-01-01&days=367",
                "/v1/kpi?start=1969-12-31&days=1", "/v1/kpi?branch=", "/v1/kpi?period=2026-+1",
            ]
            for query in queries {
                let answer = try await world.raw.get(query, token: world.alice.binding.token)
                #expect(answer.status == 400, "\(query): \(answer.status) \(answer.text)")
                #expect(answer.json?["error"] as? String == ErrorCode.badRequest, "\(query): \(answer.text)")
            }
            for query in ["/dashboard?period=9999-12", "/dashboard?period=1000-01", "/dashboard?as_of=0999-06-01"] {
                let answer = try await world.raw.get(query, token: supervisor)
                #expect(answer.status == 400, "\(query): \(answer.status)")
            }
            #expect(try await world.raw.get("/v1/health").status == 200)
            #expect(try await world.raw.get("/v1/kpi?start=2026-01-01&days=366", token: world.alice.binding.token).status == 200)
        }
    }

    private func supervisorToken(_ world: World) async throws -> String {
        let sue = try await Laptop.enrol("Sue-\(UUID().uuidString.prefix(4))", server: world.server, folder: world.folder, role: .supervisor, branch: "Hangzhou")
        await sue.close()
        return sue.binding.token
    }

    // MARK: 5. High — one push crashes the server

    @Test(arguments: EngineKind.available)
    func recordWithMoreChangesThanTheLogRowHoldsIsRefusedNotFatal(engine: EngineKind) async throws {
        try await World.with(on: engine) { world in
            let changes = (0..<70_000).map { index in
                (RecordKind.customer, Self.hangzhouCustomer, "notes", FieldValue.text("n\(index)"), HLC(milliseconds: Replica.systemMilliseconds(), counter: UInt16(index % 60_000)))
            }
            let refused = await #expect(throws: SyncError.self) { _ = try await world.push(as: world.alice, changes) }
            #expect(refused?.code == ErrorCode.tooLarge)
            #expect(refused?.message.contains("more than \(RecordLimits.maxChangesPerRecord) times") == true)
            // The server's own check (for pushes that reach it without the wire reader) refuses it too.
            let node = try world.alice.replica.identity()!.node
            let device = DeviceContext(device: world.alice.binding.device, node: node, user: world.alice.binding.user)
            let direct = try await world.server.http.syncStorage.sync(SyncRequest(cursor: 0, mutations: [Mutation(origin: node, counter: 2_000, changes: changes.map {
                FieldChange(table: $0.0, record: $0.1, field: $0.2, value: $0.3, hlc: $0.4, node: node, base: .zero)
            })], clientTime: Replica.systemMilliseconds()), from: device, limits: SyncLimits()).response
            #expect(direct.rejected.first?.reason.contains("more than \(RecordLimits.maxChangesPerRecord) changes") == true)
            #expect(try await world.raw.get("/v1/health").status == 200)
            // The codec refuses what it cannot hold instead of trapping.
            let many = (0..<70_000).map { FieldChange(table: .customer, record: Self.hangzhouCustomer, field: "notes", value: .null,
                                                      hlc: HLC(rawValue: UInt64($0)), node: NodeID(rawValue: 1), base: .zero) }
            #expect(throws: ChangeLogCodec.Malformed.self) { try ChangeLogCodec.encode(many, schema: RecordKind.customer.schema) }
        }
    }

    // MARK: 7. Medium — memory from one push

    @Test(arguments: EngineKind.available)
    func oversizedPushesAreRefusedWithAReadableError(engine: EngineKind) async throws {
        try await World.with(on: engine) { world in
            // 64 MiB of spaces, gzip-compressed to a few dozen KiB: refused once it passes 32 MiB.
            let bomb = try BodyCompression.gzip(Array(repeating: UInt8(ascii: " "), count: 64 << 20))
            let inflated = try await world.raw.send(.POST, "/v1/sync", body: Array(bomb.readableBytesView), token: world.alice.binding.token,
                                                    headers: [("Content-Encoding", "gzip")])
            #expect(inflated.status == 413, "\(inflated.status) \(inflated.text)")
            #expect(inflated.json?["error"] as? String == ErrorCode.tooLarge)

            let node = try world.alice.replica.identity()!.node
            let tooMany = (1...1_001).map { Mutation(origin: node, counter: UInt64(5_000 + $0), changes: [
                FieldChange(table: .customer, record: Self.hangzhouCustomer, field: "notes", value: .text("x"), hlc: world.now, node: node, base: .zero),
            ]) }
            let body = WireJSON.syncRequest(cursor: 0, clientTime: Replica.systemMilliseconds(), maxChanges: nil, mutationBodies: tooMany.map { $0.jsonBytes() })
            let answer = try await world.raw.send(.POST, "/v1/sync", body: body, token: world.alice.binding.token)
            #expect(answer.status == 400)
            #expect(answer.json?["error"] as? String == ErrorCode.tooLarge)
            #expect((answer.json?["message"] as? String)?.contains("at most 1000 mutations") == true, "\(answer.text)")

            // A value over the record limit is refused with its mutation (an older laptop's
            // outbox does not block the push); a string past the reader's limit refuses the push.
            let long = String(repeating: "x", count: RecordLimits.maxTextLength + 1)
            let tooLong = try await world.push(as: world.alice, [(.customer, Self.hangzhouCustomer, "notes", .text(long), world.now)])
            #expect(tooLong.accepted.isEmpty && tooLong.rejected.first?.reason.contains("at most \(RecordLimits.maxTextLength)") == true)
            let huge = String(repeating: "x", count: SyncRequestLimits().maxStringLength + 1)
            let refused = await #expect(throws: SyncError.self) {
                _ = try await world.push(as: world.alice, counter: 1_001, [(.customer, Self.hangzhouCustomer, "notes", .text(huge), world.now)])
            }
            #expect(refused?.code == ErrorCode.tooLarge)
            #expect(throws: StoreError.self) {
                try world.alice.replica.write([RecordEdit(.customer, Self.hangzhouCustomer, [("notes", .text(long))])])
            }
            #expect(try await world.raw.get("/v1/health").status == 200)
        }
    }

    // MARK: 9. Medium — pulls filter on the branch recorded when each row was written

    @Test(arguments: EngineKind.available)
    func pullsFollowTheCustomersCurrentBranch(engine: EngineKind) async throws {
        try await World.with(on: engine) { world in
            let pat = try await Laptop.enrol("Pat", server: world.server, folder: world.folder, role: .province, branch: nil)
            try await pat.sync()
            try pat.replica.write([RecordEdit(.customer, Self.hangzhouCustomer, [("branch", .text("Ningbo")), ("manager", .text("Bob"))])])
            try await pat.sync()
            let sue = try await Laptop.enrol("Sue", server: world.server, folder: world.folder, role: .supervisor, branch: "Hangzhou")
            try await sue.sync()
            #expect(try sue.replica.records(.customer).isEmpty, "a Hangzhou device enrolled after the move does not receive the moved file")
            try await world.bob.sync()
            #expect(try world.bob.replica.record(.customer, Self.hangzhouCustomer)?["branch"] == .text("Ningbo"))
            for laptop in [pat, sue] { await laptop.close() }
        }
    }

    // MARK: 10. Medium — visits.complaint is not scope-checked

    @Test(arguments: EngineKind.available)
    func followUpVisitCannotPointAtAnotherBranchsComplaint(engine: EngineKind) async throws {
        try await World.with(on: engine) { world in
            let visit = "a1d00000-0000-4000-8000-000000000009"
            let answer = try await world.push(as: world.alice, [
                (.visit, visit, "customer", .text(Self.hangzhouCustomer), world.now),
                (.visit, visit, "at", .text("2026-11-21T10:00:00+08:00"), world.now),
                (.visit, visit, "kind", .text("complaint-follow-up"), world.now),
                (.visit, visit, "summary", .text("follow-up"), world.now),
                (.visit, visit, "complaint", .text(Self.ningboComplaint), world.now),
            ])
            #expect(answer.accepted.isEmpty)
            #expect(answer.rejected.first?.reason.contains("points at complaint") == true, "\(answer.rejected)")
            #expect(try await world.server.record(.visit, visit) == nil)
        }
    }

    // MARK: 11. Low — record ids are not validated; invalid UTF-8 rewritten

    @Test(arguments: EngineKind.available)
    func recordIdsMustBeInTheDocumentedFormAndTextIsNeverRepaired(engine: EngineKind) async throws {
        try await World.with(on: engine) { world in
            let node = try world.alice.replica.identity()!.node
            func body(record: String, value: String) -> [UInt8] {
                Array(#"{"cursor":0,"client_time":\#(Replica.systemMilliseconds()),"mutations":[{"origin":"\#(node)","counter":7000,"records":[{"table":"customers","record":"\#(record)","node":"\#(node)","hlc":\#(world.now.rawValue),"fields":[["notes",\#(value),0]]}]}]}"#.utf8)
            }
            let nul = try await world.raw.send(.POST, "/v1/sync", body: body(record: #"Y\u0000alias"#, value: #""x""#), token: world.alice.binding.token)
            #expect(nul.status == 400, "\(nul.text)")
            #expect((nul.json?["message"] as? String)?.contains("NUL") == true, "\(nul.text)")
            let nulValue = try await world.raw.send(.POST, "/v1/sync", body: body(record: Self.hangzhouCustomer, value: #""a\u0000b""#), token: world.alice.binding.token)
            #expect(nulValue.status == 400, "\(nulValue.text)")
            #expect((nulValue.json?["message"] as? String)?.contains("NUL") == true, "\(nulValue.text)")
            var invalid = body(record: Self.hangzhouCustomer, value: #""ab""#)
            invalid.insert(0xFF, at: invalid.count - 12)  // a byte that is never UTF-8, inside the value
            let repaired = try await world.raw.send(.POST, "/v1/sync", body: invalid, token: world.alice.binding.token)
            #expect(repaired.status == 400, "\(repaired.text)")
            #expect(repaired.json?["message"] as? String != nil)
            let upper = await #expect(throws: SyncError.self) {
                _ = try await world.push(as: world.alice, [(.customer, Self.hangzhouCustomer.uppercased(), "notes", .text("x"), world.now)])
            }
            #expect(upper?.message.contains("is not a record id") == true)
            #expect(try await world.server.record(.customer, Self.hangzhouCustomer)?.value("notes", in: RecordKind.customer.schema) ?? .null == .null)
        }
    }
}
