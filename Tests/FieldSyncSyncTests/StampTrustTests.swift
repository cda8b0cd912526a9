import FieldSyncClient
import FieldSyncModel
import FieldSyncProtocol
@testable import FieldSyncSQLiteServer
@testable import FieldSyncServer
import FieldSyncStore
import FieldSyncTestSupport
import Foundation
import GRDB
import Testing

/// Issue 24, item 2: a stamp proves nothing, yet the scope check trusted it.
/// Work on a file the caller no longer holds passed as typed while it held it
/// because of its HLC alone. Each test is one finding of the review, made with
/// a hand-built push (a modified client), on both engines.
@Suite struct StampTrustTests {
    static let customer = "c2400000-0000-4000-8000-000000000001"
    static let oldComplaint = "c2400000-0000-4000-8000-000000000002"
    static let newComplaint = "c2400000-0000-4000-8000-000000000003"
    static let planted = "c2400000-0000-4000-8000-000000000004"

    /// A push from `laptop`'s own node, every change stamped `at`.
    static func forged(_ laptop: Laptop, counter: UInt64, at milliseconds: UInt64, clientTime: UInt64,
                       _ changes: [(RecordKind, String, String, FieldValue)]) async throws -> SyncResponse {
        let node = try #require(try laptop.replica.identity()?.node)
        let hlc = HLC(milliseconds: milliseconds, counter: 0)
        let mutation = Mutation(origin: node, counter: counter, changes: changes.map {
            FieldChange(table: $0.0, record: $0.1, field: $0.2, value: $0.3, hlc: hlc, node: node, base: .zero)
        })
        return try await laptop.client.exchange(SyncRequest(cursor: 0, mutations: [mutation], clientTime: clientTime), token: laptop.binding.token)
    }

    static func complaint(_ id: String, content: String) -> RecordEdit {
        RecordEdit(.complaint, id, [("customer", .text(customer)), ("channel", .text("phone")), ("content", .text(content)),
                                    ("received_at", .text("2026-11-02T09:00:00+08:00")), ("status", .text("1:received"))])
    }

    /// Alice's file, with one complaint, handed to Bob by their supervisor a minute after Alice's last sync.
    static func handedOver(_ server: TestServer, _ clock: TestClock, _ folder: TemporaryFolder)
        async throws -> (alice: Laptop, bob: Laptop, sue: Laptop, lastSync: UInt64, handover: UInt64) {
        let alice = try await Laptop.enrol("Alice", server: server, folder: folder, clock: clock.now)
        let bob = try await Laptop.enrol("Bob", server: server, folder: folder, clock: clock.now)
        let sue = try await Laptop.enrol("Sue", server: server, folder: folder, role: .supervisor, clock: clock.now)
        do {
            try alice.replica.write([RecordEdit(.customer, customer, [("name", .text("Acme")), ("level", .text("vip")),
                                                                      ("branch", .text("Hangzhou")), ("manager", .text("Alice"))])])
            try alice.replica.write([complaint(oldComplaint, content: "slow repair")])
            #expect(try await alice.sync().rejected.isEmpty)
            let lastSync = clock.now()
            clock.advance(60_000)
            try await sue.sync()
            try sue.replica.write([RecordEdit(.customer, customer, [("manager", .text("Bob"))])])
            #expect(try await sue.sync().rejected.isEmpty)
            let handover = clock.now()
            clock.advance(60_000)
            try await bob.sync()
            return (alice, bob, sue, lastSync, handover)
        } catch {
            // Closed before they go: a client dropped open stops the whole test process.
            for laptop in [alice, bob, sue] { await laptop.close() }
            throw error
        }
    }

    /// The former manager closed the new manager's complaint, opened after the
    /// handover, with changes stamped before it: the status and the earliest
    /// first-feedback merge whatever the stamp.
    @Test(arguments: EngineKind.available)
    func aFormerManagerCannotCloseTheNewManagersComplaint(engine: EngineKind) async throws {
        let clock = TestClock()
        try await TestServer.run(on: engine, clock: clock.now) { server in
            let folder = try TemporaryFolder()
            let (alice, bob, sue, lastSync, _) = try await Self.handedOver(server, clock, folder)
            try bob.replica.write([Self.complaint(Self.newComplaint, content: "no answer for a day")])
            #expect(try await bob.sync().rejected.isEmpty)

            let backdated = lastSync + 30_000
            let closing = try await Self.forged(alice, counter: 900, at: backdated, clientTime: clock.now(), [
                (.complaint, Self.newComplaint, "status", .text("1:closed")),
                (.complaint, Self.newComplaint, "closed_at", .text("2026-11-02T09:05:00+08:00")),
            ])
            #expect(closing.accepted.isEmpty && closing.rejected.first?.reason.contains("before the record existed") == true, "\(closing.rejected)")
            let feedback = try await Self.forged(alice, counter: 901, at: backdated, clientTime: clock.now(), [
                (.complaint, Self.newComplaint, "first_feedback_at", .text("2026-11-02T09:01:00+08:00")),
            ])
            #expect(feedback.accepted.isEmpty, "\(feedback.rejected)")
            // On the complaint she opened herself before the handover, the stamp-blind rules are still the holder's alone ...
            let closingOwn = try await Self.forged(alice, counter: 902, at: backdated, clientTime: clock.now(), [
                (.complaint, Self.oldComplaint, "status", .text("1:closed")),
            ])
            #expect(closingOwn.accepted.isEmpty && closingOwn.rejected.first?.reason.contains("may change its status") == true, "\(closingOwn.rejected)")
            // ... while her last-writer-wins work typed before the handover still counts.
            let typedBefore = try await Self.forged(alice, counter: 903, at: backdated, clientTime: clock.now(), [
                (.complaint, Self.oldComplaint, "result", .text("explained the outage")),
            ])
            #expect(typedBefore.rejected.isEmpty && typedBefore.accepted.count == 1, "\(typedBefore.rejected)")

            let stored = try #require(try await server.record(.complaint, Self.newComplaint))
            let schema = RecordKind.complaint.schema
            #expect(stored.value("status", in: schema) == .text("1:received") && stored.value("first_feedback_at", in: schema) == .null)
            #expect(try await server.record(.complaint, Self.oldComplaint)?.value("status", in: schema) == .text("1:received"))
            for laptop in [alice, bob, sue] { await laptop.close() }
        }
    }

    /// Planted complaints with backdated stamps were accepted on a file the
    /// device no longer held. Once the server has seen the device sync after
    /// the handover with nothing left to send, nothing it sends can be stamped
    /// before that.
    @Test(arguments: EngineKind.available)
    func aDeviceCannotStampBeforeWhatTheServerHasSeenOfIt(engine: EngineKind) async throws {
        let clock = TestClock()
        try await TestServer.run(on: engine, clock: clock.now) { server in
            let folder = try TemporaryFolder()
            let (alice, bob, sue, lastSync, _) = try await Self.handedOver(server, clock, folder)
            // Alice's laptop syncs twenty minutes later with nothing waiting: the server now knows
            // that everything it typed before then has been sent.
            clock.advance(20 * 60_000)
            let later = try await alice.sync()
            #expect(later.filesDropped == [Self.customer])

            let plant = try await Self.forged(alice, counter: 900, at: lastSync + 30_000, clientTime: clock.now(), [
                (.complaint, Self.planted, "customer", .text(Self.customer)), (.complaint, Self.planted, "channel", .text("phone")),
                (.complaint, Self.planted, "content", .text("planted")), (.complaint, Self.planted, "received_at", .text("2026-11-02T09:00:00+08:00")),
                (.complaint, Self.planted, "status", .text("1:received")),
            ])
            #expect(plant.accepted.isEmpty && plant.rejected.first?.reason.contains("before what this server has already seen of this device") == true,
                    "\(plant.rejected)")
            #expect(try await server.record(.complaint, Self.planted) == nil)
            for laptop in [alice, bob, sue] { await laptop.close() }
        }
    }

    /// A supervisor enrolled in the old branch after a file moved away wrote
    /// into it with stamps from before the move: a device cannot claim a scope
    /// from before it existed.
    @Test(arguments: EngineKind.available)
    func aDeviceEnrolledAfterAMoveCannotWriteTheMovedFile(engine: EngineKind) async throws {
        let clock = TestClock()
        try await TestServer.run(on: engine, clock: clock.now) { server in
            let folder = try TemporaryFolder()
            let sue = try await Laptop.enrol("Sue", server: server, folder: folder, role: .supervisor, clock: clock.now)
            let nina = try await Laptop.enrol("Nina", server: server, folder: folder, branch: "Ningbo", clock: clock.now)
            try sue.replica.write([RecordEdit(.customer, Self.customer, [("name", .text("Acme")), ("level", .text("vip")),
                                                                         ("branch", .text("Hangzhou")), ("manager", .text("Sue"))])])
            #expect(try await sue.sync().rejected.isEmpty)
            let beforeMove = clock.now()
            clock.advance(60_000)
            try await server.writeLocal([RecordEdit(.customer, Self.customer, [("branch", .text("Ningbo")), ("manager", .text("Nina"))])])
            clock.advance(60_000)
            let hal = try await Laptop.enrol("Hal", server: server, folder: folder, role: .supervisor, clock: clock.now)
            let write = try await Self.forged(hal, counter: 1, at: beforeMove + 10_000, clientTime: clock.now(), [
                (.customer, Self.customer, "notes", .text("Hal was here")),
            ])
            #expect(write.accepted.isEmpty && write.rejected.first?.reason.contains("before what this server has already seen of this device") == true,
                    "\(write.rejected)")
            #expect(try await server.record(.customer, Self.customer)?.value("notes", in: RecordKind.customer.schema) == .null)
            for laptop in [sue, nina, hal] { await laptop.close() }
        }
    }

    /// After `branch rename Alpha Gamma` and `branch add Alpha`, the new
    /// Alpha's supervisor (who sees no customers) wrote into Gamma's files: the
    /// old name's history now follows the files to their new name.
    @Test(arguments: EngineKind.available)
    func aRetiredBranchNameInheritsNothing(engine: EngineKind) async throws {
        let clock = TestClock()
        try await TestServer.run(on: engine, clock: clock.now) { server in
            let folder = try TemporaryFolder()
            let old = try await Laptop.enrol("Olga", server: server, folder: folder, role: .supervisor, branch: "Alpha", clock: clock.now)
            try old.replica.write([RecordEdit(.customer, Self.customer, [("name", .text("Acme")), ("level", .text("vip")),
                                                                         ("branch", .text("Alpha")), ("manager", .text("Olga"))])])
            #expect(try await old.sync().rejected.isEmpty)
            // Moved once inside Alpha, so the file has a scope history naming Alpha.
            clock.advance(60_000)
            try await server.writeLocal([RecordEdit(.customer, Self.customer, [("manager", .text("Pat"))])])
            clock.advance(60_000)
            try await server.renameBranch("Alpha", to: "Gamma")
            clock.advance(60_000)
            let newcomer = try await Laptop.enrol("Ann", server: server, folder: folder, role: .supervisor, branch: "Alpha", clock: clock.now)
            try await newcomer.sync()
            #expect(try newcomer.replica.records(.customer).isEmpty)
            // Stamped after Ann's enrolment is impossible to pass as history; stamped before it, her floor refuses.
            for (counter, at) in [(UInt64(1), clock.now() - 150_000), (2, clock.now())] {
                let write = try await Self.forged(newcomer, counter: counter, at: at, clientTime: clock.now(), [
                    (.customer, Self.customer, "notes", .text("Ann was here")),
                ])
                #expect(write.accepted.isEmpty, "\(write.rejected)")
            }
            if engine == .sqlite {
                let named = try await server.store.writer.read { db in
                    try String.fetchAll(db, sql: "SELECT DISTINCT branch FROM scope_history WHERE customer = ?", arguments: [Self.customer])
                }
                #expect(named == ["Gamma"], "no history names the retired branch: \(named)")
            }
            #expect(try await server.record(.customer, Self.customer)?.value("notes", in: RecordKind.customer.schema) == .null)
            for laptop in [old, newcomer] { await laptop.close() }
        }
    }

    /// `9223372036854775807:resolved` was a status: every laptop holding the
    /// case died on `reopen` (arithmetic overflow) and the case was locked
    /// closed. A round is now 1 to 1,000, checked where typed and pushed.
    @Test(arguments: EngineKind.available)
    func aStatusRoundIsBoundedAndNeverTraps(engine: EngineKind) async throws {
        try await TestServer.run(on: engine) { server in
            let folder = try TemporaryFolder()
            let alice = try await Laptop.enrol("Alice", server: server, folder: folder)
            try alice.replica.write([RecordEdit(.customer, Self.customer, [("name", .text("Acme")), ("level", .text("vip")),
                                                                           ("branch", .text("Hangzhou")), ("manager", .text("Alice"))])])
            try alice.replica.write([Self.complaint(Self.oldComplaint, content: "slow repair")])
            try await alice.sync()
            let now = Replica.systemMilliseconds()
            let huge = try await Self.forged(alice, counter: 900, at: now, clientTime: now, [
                (.complaint, Self.oldComplaint, "status", .text("9223372036854775807:resolved")),
            ])
            #expect(huge.accepted.isEmpty && huge.rejected.first?.reason.contains("is not a status") == true, "\(huge.rejected)")
            #expect(WorkflowStatus("1001:closed", kind: .complaint) == nil && WorkflowStatus("1000:closed", kind: .complaint) != nil)
            #expect(WorkflowStatus("00000000000000000001:closed", kind: .complaint) == nil)
            let last = try CaseWorkflow.fields(for: .reopen, on: .complaint, current: ["status": .text("999:closed")])
            #expect(last.contains { $0.0 == "status" && $0.1 == .text("1000:received") })
            #expect(throws: RecordValidationError.self) {
                try CaseWorkflow.fields(for: .reopen, on: .complaint, current: ["status": .text("1000:closed")])
            }
            // A status no replica can read never wins a merge against one it can.
            #expect(FieldMerge.keeps(FieldState(value: .text("1:received"), stamp: FieldStamp(hlc: HLC(rawValue: 1), node: NodeID(rawValue: 1), base: .zero)),
                                     over: FieldState(value: .text("9223372036854775807:closed"), stamp: FieldStamp(hlc: HLC(rawValue: 2), node: NodeID(rawValue: 1), base: .zero)),
                                     rule: .forwardStatus))
            await alice.close()
        }
    }
}
