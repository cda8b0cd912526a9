import FieldSyncModel
import FieldSyncProtocol
@testable import FieldSyncServerCore
import Testing

/// The push's decisions without an engine (issue 26, step 2): what `PushDecider` asks to read,
/// driven against records in a dictionary, and `RelayClaims` over holders as stored.
@Suite struct PushDeciderTests {
    static let manager = DeviceContext(device: "dev-li", node: NodeID(rawValue: 0x11), user: UserInfo(name: "Li", role: .manager, branch: "north"))
    static let hlc = HLC(milliseconds: 1_800_000_000_000, counter: 0)

    static func changes(_ table: RecordKind, _ record: String, _ fields: [(String, FieldValue)], node: NodeID = manager.node) -> [FieldChange] {
        fields.map { FieldChange(table: table, record: record, field: $0.0, value: $0.1, hlc: hlc, node: node, base: .zero) }
    }

    static func state(_ table: RecordKind, _ fields: [(String, FieldValue)]) -> RecordState {
        var state = RecordState(fieldCount: table.schema.fields.count)
        var overwrites: [Overwrite] = []
        _ = RecordMerge.apply(changes(table, "x", fields, node: NodeID(rawValue: 0x99))[...], to: &state, schema: table.schema, overwrites: &overwrites)
        return state
    }

    /// The stored records: a customer of Li's, one of another manager's, a contact under Li's customer.
    static let stored: [RecordKey: RecordState] = [
        RecordKey(table: .customer, record: "c-li"): state(.customer, [("name", .text("Li's")), ("branch", .text("north")), ("manager", .text("Li"))]),
        RecordKey(table: .customer, record: "c-wu"): state(.customer, [("name", .text("Wu's")), ("branch", .text("north")), ("manager", .text("Wu"))]),
        RecordKey(table: .contact, record: "k-li"): state(.contact, [("customer", .text("c-li")), ("name", .text("Zhang"))]),
        RecordKey(table: .contact, record: "k-wu"): state(.contact, [("customer", .text("c-wu")), ("name", .text("Zhou"))]),
    ]

    /// Wu's customer was Li's until a second after `hlc`.
    static let histories: [String: [ScopeHistory.Entry]] = [
        "c-wu": [ScopeHistory.Entry(from: .zero, scope: CustomerScope(branch: "north", manager: "Li")),
                 ScopeHistory.Entry(from: HLC(milliseconds: hlc.milliseconds + 1_000, counter: 0), scope: CustomerScope(branch: "north", manager: "Wu"))],
    ]

    /// Drives the decider to its decisions, answering from `stored`; returns them with every batch of needs asked.
    static func run(_ request: SyncRequest, device: DeviceContext = manager, stored: [RecordKey: RecordState] = stored,
                    histories: [String: [ScopeHistory.Entry]] = histories, applied: Bool = false) throws -> (PushDecisions, [PushReadNeeds]) {
        var decider = PushDecider(request, from: device, relaying: [], contentRefusals: request.mutations.map { _ in nil }, isApplied: { _ in applied },
                                  floor: StampFloor(node: device.node, own: .zero, enrolled: .zero, now: hlc.milliseconds),
                                  signatures: RelaySignatures(request, device: device.node, pinned: [:]))
        var asked: [PushReadNeeds] = []
        while true {
            switch try decider.next() {
            case .read(let needs):
                asked.append(needs)
                var result = PushReadResult()
                for key in needs.records { result.records[key] = stored[key] }
                for customer in needs.histories { result.histories[customer] = histories[customer] }
                decider.receive(result)
            case .decided(let decisions, _):
                return (decisions, asked)
            }
        }
    }

    static func request(_ mutations: [[FieldChange]]) -> SyncRequest {
        SyncRequest(cursor: 0, mutations: mutations.enumerated().map { Mutation(origin: manager.node, counter: UInt64($0.offset + 1), changes: $0.element) },
                    clientTime: hlc.milliseconds)
    }

    /// `SyncRequest.reapply`: a branch server's mutations the server marked applied are merged again (what
    /// passes the checks), one now refused is acknowledged as before; from any other device the flag is ignored.
    @Test func reapplyMergesAgainForABranchServerOnly() throws {
        let branch = DeviceContext(device: "dev-north", node: NodeID(rawValue: 0x22), user: UserInfo(name: "north server", role: .branch, branch: "north"))
        var stored = Self.stored
        stored[RecordKey(table: .customer, record: "c-south")] = Self.state(.customer, [("name", .text("South")), ("branch", .text("south")), ("manager", .text("Ma"))])
        // A contact the server holds as the branch's third mutation wrote it: offered again, it changes nothing.
        let held = Self.changes(.contact, "k-held", [("customer", .text("c-li")), ("name", .text("Qin"))], node: branch.node)
        var heldState = RecordState(fieldCount: RecordKind.contact.schema.fields.count)
        var overwrites: [Overwrite] = []
        _ = RecordMerge.apply(held, to: &heldState, schema: RecordKind.contact.schema, overwrites: &overwrites)
        stored[RecordKey(table: .contact, record: "k-held")] = heldState
        func request(from device: DeviceContext, reapply: Bool) -> SyncRequest {
            var request = SyncRequest(cursor: 0, mutations: [
                Mutation(origin: device.node, counter: 1, changes: Self.changes(.contact, "k-new", [("customer", .text("c-li")), ("name", .text("Sun"))], node: device.node)),
                Mutation(origin: device.node, counter: 2, changes: Self.changes(.contact, "k-far", [("customer", .text("c-south")), ("name", .text("Hu"))], node: device.node)),
                Mutation(origin: device.node, counter: 3, changes: held.map { change in
                    var change = change
                    change.node = device.node
                    return change
                }),
            ], clientTime: Self.hlc.milliseconds)
            request.reapply = reapply
            return request
        }
        let (plain, _) = try Self.run(request(from: branch, reapply: false), device: branch, stored: stored, applied: true)
        #expect(plain.toApply.isEmpty && plain.accepted.count == 3 && plain.rejected.isEmpty)
        let (again, _) = try Self.run(request(from: branch, reapply: true), device: branch, stored: stored, applied: true)
        #expect(again.toApply == [0] && again.accepted.map(\.counter) == [1, 2, 3] && again.rejected.isEmpty, "\(again.rejected)")
        let (fromLaptop, _) = try Self.run(request(from: Self.manager, reapply: true), stored: stored, applied: true)
        #expect(fromLaptop.toApply.isEmpty && fromLaptop.accepted.count == 3)
        // Not applied before: the refusal stands.
        let (fresh, _) = try Self.run(request(from: branch, reapply: true), device: branch, stored: stored)
        #expect(fresh.toApply == [0, 2] && fresh.rejected.map(\.counter) == [2])
    }

    @Test func aVisitToTheManagersOwnCustomerIsReadAheadInOneBatchAndAccepted() throws {
        let (decisions, asked) = try Self.run(Self.request([Self.changes(.visit, "v1", [("customer", .text("c-li")), ("kind", .text("onsite"))])]))
        #expect(decisions.toApply == [0] && decisions.rejected.isEmpty)
        // The visit and the customer it points at, asked together; nothing was missed afterwards.
        #expect(asked == [PushReadNeeds(records: [RecordKey(table: .visit, record: "v1"), RecordKey(table: .customer, record: "c-li")])])
    }

    @Test func aRecordUnderAnotherManagersCustomerIsRefusedAndTheOthersStillDecided() throws {
        let (decisions, _) = try Self.run(Self.request([
            Self.changes(.contact, "k-wu", [("customer", .text("c-wu")), ("name", .text("Qian"))]),
            Self.changes(.contact, "k-new", [("customer", .text("c-li")), ("name", .text("Sun"))]),
        ]))
        #expect(decisions.toApply == [1])
        #expect(decisions.rejected.map(\.counter) == [1])
        #expect(decisions.rejected.first?.reason.contains("outside") == true)
    }

    @Test func aStoredChildIsFollowedToItsCustomerLevelByLevel() throws {
        // The contact is touched by name only: its customer is learnt from the stored contact, read next.
        let (decisions, asked) = try Self.run(Self.request([Self.changes(.contact, "k-li", [("phone", .text("123"))])]))
        #expect(decisions.toApply == [0])
        #expect(asked == [PushReadNeeds(records: [RecordKey(table: .contact, record: "k-li")]),
                          PushReadNeeds(records: [RecordKey(table: .customer, record: "c-li")])])
    }

    @Test func workTypedBeforeAHandoverMissesTheHistoryOnceThenPasses() throws {
        // Li typed a phone number on a contact of the file while it was theirs; it is Wu's now.
        let (decisions, asked) = try Self.run(Self.request([Self.changes(.contact, "k-wu", [("phone", .text("456"))])]))
        #expect(decisions.toApply == [0], "\(decisions.rejected)")
        #expect(asked == [PushReadNeeds(records: [RecordKey(table: .contact, record: "k-wu")]),
                          PushReadNeeds(records: [RecordKey(table: .customer, record: "c-wu")]),
                          PushReadNeeds(histories: ["c-wu"])])
    }

    @Test func conflictRecordsAboutStoredRecordsAreReadAheadNotMissedOneByOne() throws {
        // A laptop's mutation of conflict records it made while merging (up to 1,000 in one): each names
        // its subject by two text fields, read ahead with the rest rather than one pass per record.
        let visits = (0..<40).map { "v\($0)" }
        var stored = Self.stored
        for visit in visits {
            stored[RecordKey(table: .visit, record: visit)] = Self.state(.visit, [("customer", .text("c-li")), ("kind", .text("onsite"))])
        }
        let conflicts = visits.flatMap { visit in
            Self.changes(.conflict, "k-\(visit)", [("table", .text("visits")), ("record", .text(visit)), ("field", .text("summary")),
                                                   ("lost_value", .text("old")), ("lost_hlc", .int(1)), ("lost_node", .text("00000000000000aa")),
                                                   ("kept_value", .text("new")), ("kept_hlc", .int(2)), ("kept_node", .text("00000000000000bb"))])
        }
        let (decisions, asked) = try Self.run(Self.request([conflicts]), stored: stored)
        #expect(decisions.rejected.isEmpty, "\(decisions.rejected.first?.reason ?? "")")
        #expect(decisions.toApply == [0])
        #expect(asked.count <= 2, "read ahead: the conflicts and their subjects, then the subjects' customer")
    }

    @Test func everyMissOfAPassIsReadTogether() throws {
        // Forty mutations each typed before a handover, on forty files that changed hands: their histories
        // are missed in one pass and read in one batch, not one pass per file (with a cap of 16 passes).
        var stored = Self.stored, histories = Self.histories
        var mutations: [[FieldChange]] = []
        for file in 0..<40 {
            stored[RecordKey(table: .customer, record: "c-\(file)")] = Self.state(.customer, [("name", .text("File \(file)")), ("branch", .text("north")),
                                                                                            ("manager", .text("Wu"))])
            stored[RecordKey(table: .contact, record: "k-\(file)")] = Self.state(.contact, [("customer", .text("c-\(file)")), ("name", .text("Zhou"))])
            histories["c-\(file)"] = histories["c-wu"]
            mutations.append(Self.changes(.contact, "k-\(file)", [("phone", .text("456"))]))
        }
        let (decisions, asked) = try Self.run(Self.request(mutations), stored: stored, histories: histories)
        #expect(decisions.toApply.count == 40, "\(decisions.rejected.first?.reason ?? "")")
        #expect(asked.count == 3 && asked.last?.histories.count == 40)
    }

    @Test func theProvinceIsCheckedAgainstNothingStoredSoNothingIsRead() throws {
        let province = DeviceContext(device: "dev-p", node: NodeID(rawValue: 0x22), user: UserInfo(name: "P", role: .province, branch: nil))
        let request = SyncRequest(cursor: 0, mutations: [Mutation(origin: province.node, counter: 1, changes: Self.changes(.contact, "k-li", [("phone", .text("9"))], node: province.node))],
                                  clientTime: Self.hlc.milliseconds)
        let (decisions, asked) = try Self.run(request, device: province)
        #expect(decisions.toApply == [0] && asked.isEmpty)
    }

    @Test func aCustomerNamingABranchAsksForTheRegisteredBranches() throws {
        let (decisions, asked) = try Self.run(Self.request([Self.changes(.customer, "c-new", [("name", .text("New")), ("branch", .text("north")), ("manager", .text("Li"))])]))
        #expect(asked.first?.branches == true)
        // None are registered in this dictionary: refused with the province's remedy.
        #expect(decisions.toApply.isEmpty && decisions.rejected.first?.reason.contains("not a registered branch") == true)
    }

    // MARK: Relay claims

    static let branchServer = DeviceContext(device: "dev-b2", node: NodeID(rawValue: 0xB2), user: UserInfo(name: "north-server-2", role: .branch, branch: "north"))
    static let laptops = (held: NodeID(rawValue: 1), others: NodeID(rawValue: 2), revokedHere: NodeID(rawValue: 3),
                          revokedElsewhere: NodeID(rawValue: 4), enrolled: NodeID(rawValue: 5), new: NodeID(rawValue: 6))

    static let claims = RelayClaims(
        origins: [laptops.held, laptops.others, laptops.revokedHere, laptops.revokedElsewhere, laptops.enrolled, laptops.new],
        holders: [laptops.held: .init(device: "dev-b2", revoked: false, role: "branch", branch: "north"),
                  laptops.others: .init(device: "dev-b9", revoked: false, role: "branch", branch: "north"),
                  laptops.revokedHere: .init(device: "dev-b1", revoked: true, role: "branch", branch: "north"),
                  laptops.revokedElsewhere: .init(device: "dev-s1", revoked: true, role: "branch", branch: "south")],
        enrolled: [laptops.enrolled], for: branchServer)

    @Test func aBranchServerRelaysItsOwnNodesNewOnesAndThoseOfItsBranchsRevokedServer() {
        let l = Self.laptops
        #expect(Self.claims.allowed == [l.held, l.revokedHere, l.new])
        #expect(Self.claims.claimed == [l.new])
        #expect(Self.claims.takenOver == [l.revokedHere: "dev-b1"])
    }

    @Test func claimsAndTakeoversStandOnlyWithAnAcceptedMutation() {
        let l = Self.laptops
        #expect(Self.claims.confirmed(by: []) == ([], []))
        let confirmed = Self.claims.confirmed(by: [MutationID(origin: l.new, counter: 1), MutationID(origin: l.held, counter: 4)])
        #expect(confirmed.claims == [l.new] && confirmed.takeovers.isEmpty)
        #expect(Self.claims.confirmed(by: [MutationID(origin: l.revokedHere, counter: 9)]).takeovers == [l.revokedHere])
    }

    @Test func onlyABranchServerRelays() {
        let request = SyncRequest(cursor: 0, mutations: [Mutation(origin: NodeID(rawValue: 7), counter: 1, changes: [])], clientTime: 0)
        #expect(RelayClaims.origins(of: request, for: Self.manager, server: nil).isEmpty)
        #expect(RelayClaims.origins(of: request, for: Self.branchServer, server: NodeID(rawValue: 7)).isEmpty)
        #expect(RelayClaims.origins(of: request, for: Self.branchServer, server: nil) == [NodeID(rawValue: 7)])
    }
}
