import FieldSyncCommandLine
import FieldSyncLocalization
import FieldSyncModel
import FieldSyncProtocol
import FieldSyncServerCore
import Testing

/// `Inbox.build`, pure: work the province handed back is listed for the
/// writer's branch only, with whether it is back on the writer's laptop yet.
@Suite struct InboxBuildTests {
    @Test func handedBackWorkIsListedForTheWritersBranchOnly() {
        let bob = DeviceRecord(id: "d1", user: "Bob", node: NodeID(rawValue: 1), name: "bob-laptop", createdAt: 0, revokedAt: nil, lastSeen: 10,
                               pending: 0, branch: "Hangzhou")
        let eve = DeviceRecord(id: "d2", user: "Eve", node: NodeID(rawValue: 2), name: "eve-laptop", createdAt: 0, revokedAt: nil, lastSeen: 10,
                               pending: 0, branch: "Ningbo")
        let inputs = InboxInputs(conflicts: [], handedBack: [
            InboxInputs.HandedBack(origin: bob.node, counter: 7, reason: "no such customer", returned: false),
            InboxInputs.HandedBack(origin: eve.node, counter: 3, reason: "outside", returned: true),
        ])
        let sue = UserInfo(name: "Sue", role: .supervisor, branch: "Hangzhou")
        let inbox = Inbox.build(devices: [bob, eve], inputs: inputs, for: sue, now: 20)
        #expect(inbox.entries.map(\.kind) == [.handedBack])
        #expect(inbox.entries.first?.subject == "action 7 of device bob-laptop")
        #expect(inbox.entries.first?.detail == "refused by the province: no such customer")
        #expect(inbox.entries.first?.action == "goes back to Bob's outbox at their next sync")
        let province = Inbox.build(devices: [bob, eve], inputs: inputs, for: UserInfo(name: "Pat", role: .province, branch: nil), now: 20)
        #expect(province.entries.count == 2 && province.entries.last?.action.hasPrefix("back in Eve's outbox") == true)
        #expect(Inbox.build(devices: [bob], inputs: InboxInputs(conflicts: [], handedBack: []), for: sue, now: 20).text(offsetMinutes: 0, Strings.load(.english))
            .hasPrefix("Nothing needs you"))
    }
}
