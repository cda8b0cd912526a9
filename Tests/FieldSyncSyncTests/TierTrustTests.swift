import FieldSyncClient
import FieldSyncModel
import FieldSyncProtocol
@testable import FieldSyncSQLiteServer
@testable import FieldSyncServer
@testable import FieldSyncServerCore
import FieldSyncStore
import FieldSyncTestSupport
import Crypto
import Foundation
import GRDB
import Testing

/// Issue 24, item 3 (the parts done so far): what a branch server's token may
/// do at the province for the nodes it relays.
@Suite struct TierTrustTests {
    /// A mutation of a laptop `node` below a branch server, creating `customer` in `branch`.
    static func relayed(_ node: NodeID, counter: UInt64, customer: String, branch: String) -> Mutation {
        let hlc = HLC(milliseconds: Replica.systemMilliseconds(), counter: UInt16(counter))
        return Mutation(origin: node, counter: counter, changes: [("name", FieldValue.text("Relayed \(counter)")), ("level", .text("vip")),
                                                                  ("branch", .text(branch)), ("manager", .text("Li"))].map {
            FieldChange(table: .customer, record: customer, field: $0.0, value: $0.1, hlc: hlc, node: node, base: .zero)
        })
    }

    /// A push from a branch device, as its relay would send it (the clock as the test's, when it has one).
    static func push(_ device: Laptop, _ mutations: [Mutation], below: FreshnessReport? = nil, signed: [SignedPage] = [],
                     clientTime: UInt64 = Replica.systemMilliseconds()) async throws -> SyncResponse {
        try await device.client.exchange(SyncRequest(cursor: 0, mutations: mutations, clientTime: clientTime, below: below, signed: signed),
                                         token: device.binding.token)
    }

    /// A branch token claimed ("squatted") another branch's laptop's node by
    /// sending a refused mutation under it: that branch's relay of the node was
    /// then refused for good.
    @Test(arguments: EngineKind.available)
    func aBranchTokenCannotSquatAnotherBranchsNode(engine: EngineKind) async throws {
        try await TestServer.run(on: engine) { province in
            let folder = try TemporaryFolder()
            let hangzhou = try await Laptop.enrol("Hangzhou server", server: province, folder: folder, role: .branch, branch: "Hangzhou")
            let ningbo = try await Laptop.enrol("Ningbo server", server: province, folder: folder, role: .branch, branch: "Ningbo")
            var generator = SplitMix64(seed: 243)
            let laptop = NodeID.random(using: &generator)
            let customer = RecordID.make(using: &generator)
            let squat = try await Self.push(hangzhou, [Self.relayed(laptop, counter: 1, customer: customer, branch: "Ningbo")])
            #expect(squat.accepted.isEmpty && squat.rejected.count == 1)
            let real = try await Self.push(ningbo, [Self.relayed(laptop, counter: 1, customer: customer, branch: "Ningbo")])
            #expect(real.rejected.isEmpty && real.accepted.count == 1, "\(real.rejected)")
            // Now the node is Ningbo's: Hangzhou's token is refused for it, whatever it sends.
            let after = try await Self.push(hangzhou, [Self.relayed(laptop, counter: 2, customer: RecordID.make(using: &generator), branch: "Hangzhou")])
            #expect(after.accepted.isEmpty && after.rejected.first?.reason.contains("a device pushes its own changes") == true, "\(after.rejected)")
            await hangzhou.close()
            await ningbo.close()
        }
    }

    /// Revoking a stolen branch token stranded its laptops: the nodes it
    /// relayed stayed its own, so a replacement account could relay none of
    /// their work. A revoked branch device's nodes now pass to the next branch
    /// device of the same branch, and to no other branch.
    @Test(arguments: EngineKind.available)
    func aReplacementBranchAccountTakesOverARevokedOnesNodes(engine: EngineKind) async throws {
        try await TestServer.run(on: engine) { province in
            let folder = try TemporaryFolder()
            let stolen = try await Laptop.enrol("Hangzhou server", server: province, folder: folder, role: .branch, branch: "Hangzhou")
            var generator = SplitMix64(seed: 244)
            let laptop = NodeID.random(using: &generator)
            #expect(try await Self.push(stolen, [Self.relayed(laptop, counter: 1, customer: RecordID.make(using: &generator), branch: "Hangzhou")])
                .accepted.count == 1)
            _ = try await province.accounts.revokeDevice(stolen.binding.device)
            let ningbo = try await Laptop.enrol("Ningbo server", server: province, folder: folder, role: .branch, branch: "Ningbo")
            let other = try await Self.push(ningbo, [Self.relayed(laptop, counter: 2, customer: RecordID.make(using: &generator), branch: "Ningbo")])
            #expect(other.accepted.isEmpty, "another branch takes nothing over: \(other.rejected)")
            let replacement = try await Laptop.enrol("Hangzhou server 2", server: province, folder: folder, role: .branch, branch: "Hangzhou")
            // A takeover whose push is refused takes nothing over: the node waits for one that is accepted.
            let refused = try await Self.push(replacement, [Self.relayed(laptop, counter: 5, customer: RecordID.make(using: &generator), branch: "Ningbo")])
            #expect(refused.accepted.isEmpty && refused.rejected.count == 1)
            if engine == .sqlite {
                let holder = try await province.store.writer.read { db in
                    try String.fetchOne(db, sql: "SELECT device FROM relayed_nodes WHERE node = ?", arguments: [laptop.description])
                }
                #expect(holder == stolen.binding.device, "the refused takeover was undone")
            }
            let taken = try await Self.push(replacement, [
                Self.relayed(laptop, counter: 1, customer: RecordID.make(using: &generator), branch: "Hangzhou"),
                Self.relayed(laptop, counter: 2, customer: RecordID.make(using: &generator), branch: "Hangzhou"),
            ])
            #expect(taken.rejected.isEmpty && taken.accepted.count == 2, "\(taken.rejected)")
            for device in [stolen, ningbo, replacement] { await device.close() }
        }
    }

    /// A stolen branch token could stamp a relayed laptop's node back to any
    /// time after the branch device's enrolment, passing edits to a file that
    /// left the branch as the laptop's offline work. A relayed node's floor is
    /// now the newest stamp accepted from it, as a device's own is.
    @Test(arguments: EngineKind.available)
    func aRelayedNodeCannotBeStampedBelowItsAcceptedWork(engine: EngineKind) async throws {
        let clock = TestClock()
        try await TestServer.run(on: engine, clock: clock.now) { province in
            let folder = try TemporaryFolder()
            let branch = try await Laptop.enrol("Hangzhou server", server: province, folder: folder, role: .branch, branch: "Hangzhou", clock: clock.now)
            var generator = SplitMix64(seed: 245)
            let laptop = NodeID.random(using: &generator)
            let customer = RecordID.make(using: &generator)
            func notes(_ counter: UInt64, _ text: String, at milliseconds: UInt64) async throws -> SyncResponse {
                let change = FieldChange(table: .customer, record: customer, field: "notes", value: .text(text),
                                         hlc: HLC(milliseconds: milliseconds, counter: 0), node: laptop, base: .zero)
                return try await Self.push(branch, [Mutation(origin: laptop, counter: counter, changes: [change])], clientTime: clock.now())
            }
            clock.advance(60_000)
            let created = clock.now()
            #expect(try await Self.push(branch, [Mutation(origin: laptop, counter: 1, changes: [
                ("name", FieldValue.text("Acme")), ("level", .text("vip")), ("branch", .text("Hangzhou")), ("manager", .text("Li")),
            ].map { FieldChange(table: .customer, record: customer, field: $0.0, value: $0.1, hlc: HLC(milliseconds: created, counter: 0), node: laptop, base: .zero) })],
                clientTime: clock.now()).accepted.count == 1)
            clock.advance(60_000)
            let edited = clock.now()
            #expect(try await notes(2, "typed on the laptop", at: edited).accepted.count == 1)
            clock.advance(60_000)
            try await province.writeLocal([RecordEdit(.customer, customer, [("branch", .text("Ningbo"))])])
            clock.advance(60_000)
            // Stamped before the move but before the laptop's accepted edit too: a forgery, refused.
            let forged = try await notes(3, "forged", at: created + 30_000)
            #expect(forged.accepted.isEmpty && forged.rejected.first?.reason.contains("before what this server has already seen") == true, "\(forged.rejected)")
            // Stamped after it and before the move: the laptop's offline work, relayed late, still counts.
            let late = try await notes(4, "typed offline before the move", at: edited + 30_000)
            #expect(late.rejected.isEmpty && late.accepted.count == 1, "\(late.rejected)")
            #expect(try await province.record(.customer, customer)?.value("notes", in: RecordKind.customer.schema) == .text("typed offline before the move"))
            await branch.close()
        }
    }

    /// Issue 24, item 3: the province trusted a branch device for every counter
    /// of the nodes it relays, so junk pushed under a laptop's node with its
    /// upcoming counters was accepted and the laptop's real mutations were then
    /// dropped as retries. Laptops sign their pages; the province pins a node's
    /// key on first use and refuses what that key did not sign.
    @Test(arguments: EngineKind.available)
    func aBranchTokenCannotForgeALaptopsWork(engine: EngineKind) async throws {
        try await TestServer.run(on: engine) { province in
            let folder = try TemporaryFolder()
            let branch = try await Laptop.enrol("Hangzhou server", server: province, folder: folder, role: .branch, branch: "Hangzhou")
            var generator = SplitMix64(seed: 246)
            let laptop = NodeID.random(using: &generator), legacy = NodeID.random(using: &generator)
            let key = Curve25519.Signing.PrivateKey(), thief = Curve25519.Signing.PrivateKey()
            func send(_ mutations: [Mutation], signed: [SignedPage]) async throws -> SyncResponse {
                try await Self.push(branch, mutations, signed: signed)
            }
            let first = Self.relayed(laptop, counter: 1, customer: RecordID.make(using: &generator), branch: "Hangzhou")
            let pinned = try await send([first], signed: [try SignedPage.sign([first], node: laptop, key: key)])
            #expect(pinned.rejected.isEmpty && pinned.accepted.count == 1, "\(pinned.rejected)")

            // The thief's junk under the laptop's next counter: unsigned, or signed with another key, refused.
            let junk = Self.relayed(laptop, counter: 2, customer: RecordID.make(using: &generator), branch: "Hangzhou")
            let unsigned = try await send([junk], signed: [])
            #expect(unsigned.accepted.isEmpty && unsigned.rejected.first?.reason.contains("not signed by the key that node signs with") == true,
                    "\(unsigned.rejected)")
            let forged = try await send([junk], signed: [try SignedPage.sign([junk], node: laptop, key: thief)])
            #expect(forged.accepted.isEmpty, "\(forged.rejected)")
            // A page that names the counter but not this content vouches for nothing.
            let real = Self.relayed(laptop, counter: 2, customer: RecordID.make(using: &generator), branch: "Hangzhou")
            let swapped = try await send([junk], signed: [try SignedPage.sign([real], node: laptop, key: key)])
            #expect(swapped.accepted.isEmpty, "\(swapped.rejected)")
            // The laptop's own second mutation, signed, still arrives: nothing was taken for a retry.
            let genuine = try await send([real], signed: [try SignedPage.sign([real], node: laptop, key: key)])
            #expect(genuine.rejected.isEmpty && genuine.accepted.count == 1, "\(genuine.rejected)")
            // A laptop on an older version never signed: its node is taken as before.
            let old = try await send([Self.relayed(legacy, counter: 1, customer: RecordID.make(using: &generator), branch: "Hangzhou")], signed: [])
            #expect(old.rejected.isEmpty && old.accepted.count == 1, "\(old.rejected)")

            // The page itself: tampering with any byte breaks it.
            let page = try SignedPage.sign([real], node: laptop, key: key)
            #expect(page.isValid && page.covers(real) && !page.covers(junk))
            var tampered = page
            tampered.entries[tampered.entries.count - 1] ^= 1
            #expect(!tampered.isValid)
            #expect(SignedPage(stored: page.storedBytes) == page)
            // The digest does not depend on the order a server regroups the changes in.
            var reordered = real
            reordered.changes.reverse()
            #expect(MutationDigest.of(reordered) == MutationDigest.of(real))
            await branch.close()
        }
    }

    /// `below` reports were stored as sent, up to 2⁶⁴−1 devices; they are bounded now.
    @Test(arguments: EngineKind.available)
    func belowReportsAreBounded(engine: EngineKind) async throws {
        try await TestServer.run(on: engine) { province in
            let folder = try TemporaryFolder()
            let branch = try await Laptop.enrol("Hangzhou server", server: province, folder: folder, role: .branch, branch: "Hangzhou")
            let fine = FreshnessReport(completeUpTo: nil, devices: 200, pending: 5_000, notSeenForThreeDays: 3)
            _ = try await Self.push(branch, [], below: fine)
            for absurd in [FreshnessReport(completeUpTo: nil, devices: 2_000_000, pending: 0, notSeenForThreeDays: 0),
                           FreshnessReport(completeUpTo: nil, devices: 1, pending: 2_000_000_000_000, notSeenForThreeDays: 0)] {
                let error = await #expect(throws: SyncError.self) { _ = try await Self.push(branch, [], below: absurd) }
                #expect(error?.code == ErrorCode.badRequest && error?.message.contains("below:") == true, "\(String(describing: error))")
            }
            await branch.close()
        }
    }
}
