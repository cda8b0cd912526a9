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

    /// Issue 29: every entry the server builds carries its subject, detail and action as text keys
    /// whose English is the server's own sentence (so nothing is said differently in English), and
    /// which read in Chinese.
    @Test func everyEntryReadsTheSameInEnglishAndInChinese() {
        let bob = DeviceRecord(id: "d1", user: "Bob", node: NodeID(rawValue: 1), name: "bob-laptop", createdAt: 0, revokedAt: nil, lastSeen: 10,
                               pending: 2, branch: "Hangzhou", refused: RefusedWork(count: 3, reason: "outside", at: 5))
        let ann = DeviceRecord(id: "d3", user: "Ann", node: NodeID(rawValue: 3), name: "ann-laptop", createdAt: 0, revokedAt: nil, lastSeen: 10,
                               pending: 1, branch: "Hangzhou", refused: RefusedWork(count: 1, reason: "no such customer", at: 5))
        let silent = (0...Inbox.perKind).map { index in
            DeviceRecord(id: "s\(index)", user: "U\(index)", node: NodeID(rawValue: UInt64(100 + index)), name: "laptop-\(index)", createdAt: 0,
                         revokedAt: nil, lastSeen: 1, pending: index % 2 + 1, branch: "Hangzhou")
        }
        let refused = [
            RefusedAction(node: bob.node, counter: 1, reason: "outside", about: "", at: 5),
            RefusedAction(node: bob.node, counter: 2, reason: "outside", about: "visit 1a2b3c4d (summary)", at: 5,
                          decision: SyncResponse.Instruction(counter: 2, action: .discard, note: "duplicate", by: "Sue (supervisor)", at: 6)),
            RefusedAction(node: bob.node, counter: 3, reason: "outside", about: "", at: 5,
                          decision: SyncResponse.Instruction(counter: 3, action: .note, note: "fix the date", by: "Sue (supervisor)", at: 6)),
            // The refusal's own key, kept with it: the inbox says the reason in its reader's language too.
            RefusedAction(node: bob.node, counter: 4, reason: "visit 1a2b3c4d is outside branch Hangzhou or unknown to the server", about: "", at: 5,
                          text: ReasonText(key: "refusal.outside-or-unknown", values: ["table": "visits", "id": "1a2b3c4d", "reach-key": "refusal.reach.branch",
                                                                                       "reach-branch": "Hangzhou", "reach-user": "Bob"])),
        ]
        let inputs = InboxInputs(conflicts: [], handedBack: [
            InboxInputs.HandedBack(origin: bob.node, counter: 7, reason: "no such customer", returned: false),
            InboxInputs.HandedBack(origin: bob.node, counter: 8, reason: "no such customer", returned: true),
            InboxInputs.HandedBack(origin: NodeID(rawValue: 99), counter: 9, reason: "outside", returned: true),
        ])
        let pat = UserInfo(name: "Pat", role: .province, branch: nil)
        var entries = Inbox.build(devices: [bob, ann] + silent, inputs: inputs, refused: refused, for: pat, now: 5 * 86_400_000).entries
        var conflict = RecordState(fieldCount: RecordKind.conflict.schema.fields.count)
        for (field, value) in [("table", "visits"), ("record", "1a2b3c4d-0000-4000-8000-000000000000"), ("field", "summary"),
                               ("kept_value", "Li's"), ("lost_value", "Wang's"), ("kept_node", "0000000000000001"), ("lost_node", "0000000000000002")] {
            if let index = RecordKind.conflict.schema.index(of: field) { conflict.values[index] = .text(value) }
        }
        entries.append(Inbox.conflictEntry("c0ffee00-0000-4000-8000-000000000000", conflict, branch: "Hangzhou") { node in
            node == NodeID(rawValue: 1) ? ("Li Wei", "li-laptop") : nil
        })
        #expect(Set(entries.map(\.kind)) == Set(Inbox.Kind.allCases))
        #expect(entries.contains { $0.subject == "3 more" } && entries.contains { $0.detail.hasPrefix("1 action refused") })
        let english = Strings.load(.english), chinese = Strings.own(.chinese)
        for entry in entries {
            #expect(entry.subjectText != nil && entry.detailText != nil, "\(entry)")
            if entry.actionText == nil { #expect(entry.kind == .handedBack && entry.device == nil, "\(entry)") }
            let said = entry.said(english)
            if entry.counter == 2 {
                // What the action wrote, in the glossary's terms.
                #expect(said.detail == "visit record 1a2b3c4d (summary): outside; Sue (supervisor) discarded it: duplicate", "\(said.detail)")
            } else if entry.counter == 4 {
                #expect(said.detail == "visit record 1a2b3c4d is outside branch Hangzhou or unknown to the server; sync the change that created it first",
                        "\(said.detail)")
            } else if entry.kind == .conflict {
                // The record named in the glossary's terms ("visit record", "summary"), the rest as sent.
                #expect(said.subject == "visit record 1a2b3c4d, summary" && said.detail == entry.detail && said.action == entry.action, "\(said)")
            } else {
                #expect(said.subject == entry.subject && said.detail == entry.detail && said.action == entry.action, "\(entry) read \(said)")
            }
            for part in [entry.subjectText, entry.detailText, entry.actionText].compactMap({ $0 }) {
                #expect(chinese.has(part.key), "\(part.key) has no Chinese")
            }
        }
        let text = Inbox(entries: entries).text(offsetMinutes: 480, chinese)
        for words in ["设备 bob-laptop 的操作 2", "客户拜访纪要 1a2b3c4d（拜访内容）：outside；", "Sue (supervisor)已放弃：duplicate", "被省级服务器拒绝：no such customer", "保留了Li Wei (li-laptop)的'Li's'，而非node 0000000000000002的'Wang's'",
                      "上次同步时有1项操作被拒绝", "天未同步，有2项操作等待发送", "另有3项",
                      "客户拜访纪要 1a2b3c4d不在Hangzhou分公司范围内，或服务器尚未收到"] {
            #expect(text.contains(words), "\(words) in \(text.prefix(2_000))")
        }
    }
}
