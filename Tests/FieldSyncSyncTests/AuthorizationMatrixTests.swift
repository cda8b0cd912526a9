import FieldSyncClient
import FieldSyncModel
import FieldSyncProtocol
@testable import FieldSyncSQLiteServer
@testable import FieldSyncServer
import FieldSyncStore
import FieldSyncTestSupport
import Foundation
import NIOCore
import NIOHTTP1
import Testing

/// Every endpoint × every branch-bound role (manager, supervisor, branch server) × an object of another branch:
/// refused or empty, and no other branch's id or value in any answer or error
/// body (beyond the ids the request itself named).
@Suite struct AuthorizationMatrixTests {
    /// Ningbo's file: one record of every kind, with the values that must never reach Hangzhou.
    struct NingboFile {
        static let customer = "b1000000-0000-4000-8000-000000000001"
        static let contact = "b1000000-0000-4000-8000-000000000002"
        static let agreement = "b1000000-0000-4000-8000-000000000003"
        static let visit = "b1000000-0000-4000-8000-000000000004"
        static let fault = "b1000000-0000-4000-8000-000000000005"
        static let faultNote = "b1000000-0000-4000-8000-000000000006"
        static let complaint = "b1000000-0000-4000-8000-000000000007"
        static let complaintNote = "b1000000-0000-4000-8000-000000000008"
        static let conflict = "b1000000-0000-4000-8000-000000000009"

        static let records: [(RecordKind, String)] = [
            (.customer, customer), (.contact, contact), (.agreement, agreement), (.visit, visit), (.fault, fault),
            (.faultNote, faultNote), (.complaint, complaint), (.complaintNote, complaintNote), (.conflict, conflict),
        ]
        static let secrets = ["Harbour Tower", "Wang Fang", "574 1234", "NB-2026-17", "cable cut", "splice done",
                              "late answer", "called back", "old phone", "Bob"]
        // Branch names are not secret: the registered list reaches every device.

        static func write(_ replica: Replica) throws {
            try replica.write([RecordEdit(.customer, customer, [("name", .text("Harbour Tower")), ("level", .text("vip")),
                                                                ("branch", .text("Ningbo")), ("manager", .text("Bob"))])])
            try replica.write([RecordEdit(.contact, contact, [("customer", .text(customer)), ("name", .text("Wang Fang")),
                                                              ("phone", .text("+86 574 1234 5678"))])])
            try replica.write([RecordEdit(.agreement, agreement, [("customer", .text(customer)), ("number", .text("NB-2026-17"))])])
            try replica.write([RecordEdit(.fault, fault, [("customer", .text(customer)), ("symptom", .text("cable cut")),
                                                          ("reported_at", .text("2026-11-20T09:00:00+08:00")), ("status", .text("1:reported"))])])
            try replica.write([RecordEdit(.faultNote, faultNote, [("fault", .text(fault)), ("at", .text("2026-11-20T11:00:00+08:00")),
                                                                  ("text", .text("splice done"))])])
            try replica.write([RecordEdit(.complaint, complaint, [("customer", .text(customer)), ("channel", .text("phone")),
                                                                  ("content", .text("late answer")), ("received_at", .text("2026-11-20T09:00:00+08:00")),
                                                                  ("status", .text("1:received"))])])
            try replica.write([RecordEdit(.complaintNote, complaintNote, [("complaint", .text(complaint)), ("at", .text("2026-11-20T10:00:00+08:00")),
                                                                          ("text", .text("called back"))])])
            try replica.write([RecordEdit(.visit, visit, [("customer", .text(customer)), ("at", .text("2026-11-22T10:00:00+08:00")),
                                                          ("kind", .text("complaint-follow-up")), ("summary", .text("apology")),
                                                          ("complaint", .text(complaint))])])
            try replica.write([RecordEdit(.conflict, conflict, [("table", .text("contacts")), ("record", .text(contact)), ("field", .text("phone")),
                                                                ("lost_value", .text("old phone")), ("lost_node", .text("00000000000000b0")),
                                                                ("lost_hlc", .int(1))])])
        }

        /// What `text` reveals of the file, ids the request named aside.
        static func leaks(in text: String, named: Set<String> = []) -> [String] {
            let ids = records.map(\.1).filter { !named.contains($0) }
            return (secrets + ids + ids.map { String($0.prefix(8)) }).filter { secret in
                // An id the request named shares its 8-digit prefix with the others of this file: compare whole ids only then.
                !(secret.count == 8 && named.contains { $0.hasPrefix(secret) }) && text.contains(secret)
            }
        }
    }

    @Test(arguments: [Role.manager, Role.supervisor, Role.branch])
    func anotherBranchsFileIsOutOfReach(role: Role) async throws {
        let clock = TestClock()
        try await Self.matrix(try await TestServer.start(clock: clock.now), role: role, clock: clock)
    }

    @Test(.enabled(if: PostgresTestDatabase.enabled, "no PostgreSQL: set FIELDSYNC_TEST_DATABASE_URL (scripts/postgres start prints one)"),
          arguments: [Role.manager, Role.supervisor, Role.branch])
    func anotherBranchsFileIsOutOfReachOnPostgreSQL(role: Role) async throws {
        try await PostgresTestDatabase.with { client, _ in
            let clock = TestClock()
            try await Self.matrix(try await TestServer.start(postgres: client, clock: clock.now), role: role, clock: clock)
        }
    }

    static func matrix(_ server: TestServer, role: Role, clock: TestClock) async throws {
        let folder = try TemporaryFolder()
        let bob = try await Laptop.enrol("Bob", server: server, folder: folder, branch: "Ningbo", clock: clock.now)
        try NingboFile.write(bob.replica)
        #expect(try await bob.sync().rejected.isEmpty)
        let caller = try await Laptop.enrol("Hana", server: server, folder: folder, role: role, branch: "Hangzhou", clock: clock.now)
        let raw = try RawHTTPS(server)
        let token = caller.binding.token
        let node = try caller.replica.identity()!.node
        let hlc = HLC(milliseconds: clock.now(), counter: 0)
        let before = try await server.records()

        // Pull: nothing of Ningbo's file.
        try await caller.sync()
        let pulled = try caller.dump()
        #expect(NingboFile.leaks(in: pulled).isEmpty, "\(NingboFile.leaks(in: pulled))")

        // Push: an edit of each record, and a new child under each parent, refused.
        var counter: UInt64 = 100
        for (kind, id) in NingboFile.records {
            let field = kind.schema.fields.first { !$0.required && $0.type == .text }?.name ?? "resolution"
            let edits: [[FieldChange]] = [
                [FieldChange(table: kind, record: id, field: field, value: .text("overwritten"), hlc: hlc, node: node, base: .zero)],
            ] + Self.childOf(kind, id, hlc: hlc, node: node)
            for changes in edits {
                counter += 1
                let request = SyncRequest(cursor: 0, mutations: [Mutation(origin: node, counter: counter, changes: changes)], clientTime: clock.now())
                let body = WireJSON.syncRequest(cursor: 0, clientTime: request.clientTime, maxChanges: nil, mutationBodies: request.mutations.map { $0.jsonBytes() })
                let answer = try await raw.send(.POST, "/v1/sync", body: body, token: token)
                #expect(answer.status == 200)
                let decoded = try WireJSON.decodeSyncResponse(answer.body)
                #expect(decoded.accepted.isEmpty && decoded.rejected.count == 1, "\(kind) \(changes.map(\.field))")
                let named = Set(changes.map(\.record) + changes.compactMap(\.value.text))
                #expect(NingboFile.leaks(in: answer.text, named: named).isEmpty, "\(kind): \(answer.text)")
            }
        }
        // The calendar is the province's.
        let day = RecordID.calendarDay(LocalDate(year: 2026, month: 12, day: 24)!)
        counter += 1
        let calendar = try await caller.client.exchange(SyncRequest(cursor: 0, mutations: [Mutation(origin: node, counter: counter, changes: [
            FieldChange(table: .calendarDay, record: day, field: "date", value: .text("2026-12-24"), hlc: hlc, node: node, base: .zero),
            FieldChange(table: .calendarDay, record: day, field: "kind", value: .text("holiday"), hlc: hlc, node: node, base: .zero),
        ])], clientTime: clock.now()), token: token)
        #expect(calendar.accepted.isEmpty)
        #expect(try await server.records() == before, "nothing of Ningbo's changed, nothing was added")

        // KPIs, with parameters naming the other branch and its manager.
        for path in ["/v1/kpi?branch=Ningbo", "/v1/kpi?manager=Bob&by=manager", "/v1/kpi?by=branch&period=2026-11",
                     "/v1/kpi/misses?branch=Ningbo&period=2026-11", "/v1/kpi/todo?branch=Ningbo", "/v1/kpi/todo"] {
            let answer = try await raw.get(path, token: token)
            #expect(answer.status == 200, "\(path)")
            #expect(NingboFile.leaks(in: answer.text, named: ["Bob"]).isEmpty, "\(path): \(answer.text)")
        }
        // A snapshot holds the caller's scope only: not one of Ningbo's values is in the file's bytes.
        let snapshot = try await raw.get("/v1/snapshot", token: token)
        #expect(snapshot.status == 200)
        #expect(NingboFile.leaks(in: snapshot.text).isEmpty, "\(NingboFile.leaks(in: snapshot.text))")
        // The dashboard: managers are refused; a supervisor sees their own branch only.
        let link = try await raw.send(.POST, "/v1/dashboard/link", token: token)
        let report = try await raw.get("/dashboard/report?customer=\(NingboFile.customer)&period=2026-11", token: token)
        #expect(NingboFile.leaks(in: report.text).isEmpty, "\(report.text)")
        if role != .supervisor {
            #expect(link.status == 403)
            #expect(try await raw.get("/dashboard?branch=Ningbo", token: token).status == 403)
            #expect(report.status == 403)
        } else {
            #expect(report.status == 404, "another branch's customer is not found, as if it did not exist")
            #expect(link.status == 200)
            let page = try await raw.get("/dashboard?branch=Ningbo&by=manager&period=2026-11", token: token)
            #expect(page.status == 200)
            // The inbox lists this device's own refused pushes above, by what they wrote: the ids it sent itself
            // (evidence of a device probing another branch), never a value of Ningbo's.
            let sent = Set(NingboFile.records.map(\.1))
            #expect(NingboFile.leaks(in: page.text, named: sent).isEmpty, "\(NingboFile.leaks(in: page.text, named: sent))")
        }
        await raw.shutdown()
        await caller.close()
        await bob.close()
        await server.stop()
    }

    /// A new record hanging from `id` (a contact under a customer, a note under a fault, …), if the kind has children.
    static func childOf(_ kind: RecordKind, _ id: String, hlc: HLC, node: NodeID) -> [[FieldChange]] {
        let child = "a1000000-0000-4000-8000-0000000000f\(kind.schema.fields.count % 10)"
        func change(_ table: RecordKind, _ field: String, _ value: FieldValue) -> FieldChange {
            FieldChange(table: table, record: child, field: field, value: value, hlc: hlc, node: node, base: .zero)
        }
        switch kind {
        case .customer:
            return [[change(.contact, "customer", .text(id)), change(.contact, "name", .text("planted"))]]
        case .fault:
            return [[change(.faultNote, "fault", .text(id)), change(.faultNote, "at", .text("2026-11-21T09:00:00+08:00")), change(.faultNote, "text", .text("planted"))]]
        case .complaint:
            return [[change(.complaintNote, "complaint", .text(id)), change(.complaintNote, "at", .text("2026-11-21T09:00:00+08:00")), change(.complaintNote, "text", .text("planted"))]]
        case .contact:
            // A conflict record about another branch's contact.
            return [[change(.conflict, "table", .text("contacts")), change(.conflict, "record", .text(id)), change(.conflict, "field", .text("phone")),
                     change(.conflict, "lost_node", .text("00000000000000a0")), change(.conflict, "lost_hlc", .int(1))]]
        default:
            return []
        }
    }
}

/// The matrix of moves and of who answers for a file (issue 24, item 4): each
/// role of the file's own branch × each act on one of its files, allowed or
/// refused as SYNC.md says, on both engines.
@Suite struct HandoverMatrixTests {
    static let customer = "d2400000-0000-4000-8000-000000000001"

    enum Act: String, CaseIterable {
        case handOver, dropFromTeam, addToTeam, moveBranch, ownCase, colleaguesCase, strangersCase, unregisteredCase
    }

    /// Whether `role` may do `act` (the caller is on the file's team when a manager).
    static func allowed(_ act: Act, by role: Role) -> Bool {
        switch act {
        case .addToTeam, .ownCase: true
        case .moveBranch, .unregisteredCase, .strangersCase: false
        case .handOver, .dropFromTeam, .colleaguesCase: role != .manager
        }
    }

    static func changes(_ act: Act, node: NodeID, hlc: HLC, caller: String, generator: inout SplitMix64) -> [FieldChange] {
        func change(_ table: RecordKind, _ record: String, _ field: String, _ value: FieldValue) -> FieldChange {
            FieldChange(table: table, record: record, field: field, value: value, hlc: hlc, node: node, base: .zero)
        }
        func fault(owner: String) -> [FieldChange] {
            let id = RecordID.make(using: &generator)
            return [change(.fault, id, "customer", .text(customer)), change(.fault, id, "symptom", .text("alarm")),
                    change(.fault, id, "reported_at", .text("2026-11-20T09:00:00+08:00")), change(.fault, id, "status", .text("1:reported")),
                    change(.fault, id, "owner", .text(owner))]
        }
        switch act {
        case .handOver: return [change(.customer, customer, "manager", .text("Carol"))]
        case .dropFromTeam: return [change(.customer, customer, "team", .text(caller))]
        case .addToTeam: return [change(.customer, customer, "team", .text("\(caller), Carol, Dan"))]
        case .moveBranch: return [change(.customer, customer, "branch", .text("Ningbo"))]
        case .ownCase: return fault(owner: caller)
        case .colleaguesCase: return fault(owner: "Carol")
        case .strangersCase: return fault(owner: "Nina")
        case .unregisteredCase: return fault(owner: "Nobody")
        }
    }

    @Test(arguments: EngineKind.available, [Role.manager, Role.supervisor, Role.branch])
    func eachRoleMayDoWhatSyncMdSays(engine: EngineKind, role: Role) async throws {
        let clock = TestClock()
        try await TestServer.run(on: engine, clock: clock.now) { server in
            let folder = try TemporaryFolder()
            let sue = try await Laptop.enrol("Sue", server: server, folder: folder, role: .supervisor, clock: clock.now)
            for (name, branch) in [("Carol", "Hangzhou"), ("Dan", "Hangzhou"), ("Li", "Hangzhou"), ("Nina", "Ningbo")] {
                _ = try await server.enrolmentCode(for: name, branch: branch)
            }
            let caller = try await Laptop.enrol("Hana", server: server, folder: folder, role: role, clock: clock.now)
            var generator = SplitMix64(seed: 2_404)
            var counter: UInt64 = 0
            for act in Act.allCases {
                // A fresh file for each act: Li's, with the caller and Carol on its team.
                try sue.replica.write([RecordEdit(.customer, Self.customer, [("name", .text("Acme")), ("level", .text("vip")), ("branch", .text("Hangzhou")),
                                                                             ("manager", .text("Li")), ("team", .text("Hana, Carol"))])])
                #expect(try await sue.sync().rejected.isEmpty)
                clock.advance(1_000)
                let node = try #require(try caller.replica.identity()?.node)
                counter += 1
                let mutation = Mutation(origin: node, counter: counter,
                                        changes: Self.changes(act, node: node, hlc: HLC(milliseconds: clock.now(), counter: 0), caller: "Hana", generator: &generator))
                let answer = try await caller.client.exchange(SyncRequest(cursor: 0, mutations: [mutation], clientTime: clock.now()), token: caller.binding.token)
                let expected = Self.allowed(act, by: role)
                #expect(answer.accepted.count == (expected ? 1 : 0), "\(engine) \(role) \(act): \(answer.rejected.map(\.reason))")
                clock.advance(1_000)
            }
            await sue.close()
            await caller.close()
        }
    }
}
