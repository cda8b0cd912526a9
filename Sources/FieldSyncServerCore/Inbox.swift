import FieldSyncModel
import FieldSyncProtocol

/// What an engine reads for the inbox (`KPIStorage.inboxInputs`), besides the devices.
public struct InboxInputs: Sendable {
    public struct Conflict: Sendable {
        public var id: String
        public var state: RecordState
        /// The customer whose file holds the conflicted record; nil if none (a province list, or unknown).
        public var customer: RecordState?

        public init(id: String, state: RecordState, customer: RecordState?) {
            self.id = id
            self.state = state
            self.customer = customer
        }
    }

    public struct HandedBack: Sendable {
        public var origin: NodeID
        public var counter: UInt64
        public var reason: String
        /// Already sent back to the writer's device.
        public var returned: Bool

        public init(origin: NodeID, counter: UInt64, reason: String, returned: Bool) {
            self.origin = origin
            self.counter = counter
            self.reason = reason
            self.returned = returned
        }
    }

    /// Conflict records not resolved.
    public var conflicts: [Conflict]
    /// What the upstream (province) refused of this branch server's relayed work.
    public var handedBack: [HandedBack]

    public init(conflicts: [Conflict], handedBack: [HandedBack]) {
        self.conflicts = conflicts
        self.handedBack = handedBack
    }
}

extension Inbox {
    /// Pure: the inbox of `user` from the devices and the inputs, at `now`.
    /// `branch` narrows to one branch before the entries are counted.
    public static func build(devices: [DeviceRecord], inputs: InboxInputs, refused: [RefusedAction] = [], for user: UserInfo, now: UInt64,
                             branch: String? = nil) -> Inbox {
        let policy = AccessPolicy(user)
        // Names as the directory gives them (`AccountStorage.directory`): the caller's branch and people of none.
        let named = devices.filter { policy.isUnrestricted || $0.branch == nil || $0.branch == user.branch }
        let byNode = Dictionary(named.map { ($0.node, $0) }, uniquingKeysWith: { first, _ in first })
        let mine = devices.filter { (policy.isUnrestricted || $0.branch == user.branch) && (branch == nil || $0.branch == branch) }
        var entries: [Entry] = []
        func add(_ kind: Kind, _ all: [Entry]) {
            let found = branch == nil ? all : all.filter { $0.branch == branch }
            entries += found.prefix(perKind)
            if found.count > perKind {
                var more = Entry(kind: kind, branch: nil, subject: "\(found.count - perKind) more", person: nil, device: nil,
                                 detail: "not listed here", since: nil, action: "narrow with --branch, or act on the ones above first")
                more.subjectText = ReasonText(key: "inbox.entry.more", values: ["n": String(found.count - perKind)])
                more.detailText = ReasonText(key: "inbox.entry.more-detail")
                more.actionText = ReasonText(key: "inbox.entry.more-action")
                entries.append(more)
            }
        }

        func name(_ node: NodeID) -> (person: String, device: String)? { byNode[node].map { ($0.user, $0.name) } }
        add(.conflict, inputs.conflicts.compactMap { conflict -> Entry? in
            guard let customer = conflict.customer, policy.allows(CustomerScope(customer)) else {
                return conflict.customer == nil && policy.isUnrestricted ? conflictEntry(conflict.id, conflict.state, branch: nil, name: name) : nil
            }
            return conflictEntry(conflict.id, conflict.state, branch: customer.value("branch", in: RecordKind.customer.schema).text, name: name)
        }.sorted { ($0.since ?? 0, $0.record ?? "") < ($1.since ?? 0, $1.record ?? "") })

        // One entry per refused action kept (`RefusedAction`), with the decision if there is one; a device
        // whose refusals were not kept one by one (before they were) has one entry for them all.
        let refusedByNode = Dictionary(grouping: refused, by: \.node)
        add(.refused, mine.flatMap { device -> [Entry] in
            guard let summary = device.refused, device.revokedAt == nil else { return [] }
            let actions = (refusedByNode[device.node] ?? []).sorted { $0.counter < $1.counter }
            guard !actions.isEmpty else {
                var entry = Entry(kind: .refused, branch: device.branch, subject: "device \(device.name)", person: device.user, device: device.name,
                                  detail: "\(Wording.count(summary.count, "action")) refused at its last sync: \(Wording.printable(summary.reason))",
                                  since: summary.at,
                                  action: "\(device.user) sees them with 'fieldsync status', then corrects them ('fieldsync outbox retry') or discards them with a reason ('fieldsync outbox discard N')")
                entry.subjectText = ReasonText(key: "inbox.entry.device", values: ["device": device.name])
                entry.detailText = ReasonText(key: summary.count == 1 ? "inbox.entry.refused-summary.one" : "inbox.entry.refused-summary.other",
                                              values: ["n": String(summary.count), "reason": summary.reason])
                entry.actionText = ReasonText(key: "inbox.entry.refused-summary-action", values: ["user": device.user])
                return [entry]
            }
            return actions.map { action in
                var detail = (action.about.isEmpty ? "" : "\(action.about): ") + Wording.printable(action.reason)
                var detailValues = ["about": action.about, "reason": action.reason]
                if let text = action.text {
                    // The reason as the refusal said it, read in the inbox reader's language (`Strings.message`).
                    detailValues["reason.key"] = text.key
                    for (name, value) in text.values { detailValues["reason.\(name)"] = value }
                }
                var detailKey = action.about.isEmpty ? "inbox.entry.refused-detail" : "inbox.entry.refused-detail-about"
                let instruction: String
                let actionText: ReasonText
                if let decision = action.decision {
                    detail += "; \(decision.by) \(decision.action == .discard ? "discarded it" : "handed it back"): \(Wording.printable(decision.note))"
                    detailKey += decision.action == .discard ? ".discarded" : ".handed-back"
                    detailValues["by"] = decision.by
                    detailValues["note"] = decision.note
                    instruction = decision.action == .discard
                        ? "discarded: taken out of \(device.user)'s outbox at its next sync"
                        : "handed back: \(device.user) sees the note at the next sync, then corrects it ('fieldsync outbox retry') or discards it"
                    actionText = ReasonText(key: decision.action == .discard ? "inbox.entry.discarded-action" : "inbox.entry.handed-back-action",
                                            values: ["user": device.user])
                } else {
                    instruction = "'fieldsync inbox discard \(device.node) \(action.counter) --note WHY', or 'fieldsync inbox hand-back \(device.node) \(action.counter) --note WHAT-TO-CORRECT'"
                    actionText = ReasonText(key: "inbox.entry.decide-action", values: ["node": device.node.description, "counter": String(action.counter)])
                }
                var entry = Entry(kind: .refused, branch: device.branch, subject: "action \(action.counter) of device \(device.name)", person: device.user,
                                  device: device.name, detail: detail, since: action.at, action: instruction,
                                  node: device.node.description, counter: action.counter)
                entry.subjectText = ReasonText(key: "inbox.entry.action-of-device", values: ["counter": String(action.counter), "device": device.name])
                entry.detailText = ReasonText(key: detailKey, values: detailValues)
                entry.actionText = actionText
                return entry
            }
        }.sorted { ($0.since ?? 0, $0.device ?? "", $0.counter ?? 0) < ($1.since ?? 0, $1.device ?? "", $1.counter ?? 0) })

        add(.handedBack, inputs.handedBack.compactMap { refused -> Entry? in
            let device = devices.first { $0.node == refused.origin }
            guard policy.isUnrestricted || device?.branch == user.branch else { return nil }
            var entry = Entry(kind: .handedBack, branch: device?.branch, subject: "action \(refused.counter) of \(device.map { "device \($0.name)" } ?? "node \(refused.origin)")",
                              person: device?.user, device: device?.name, detail: "refused by the province: \(Wording.printable(refused.reason))",
                              since: nil,
                              action: refused.returned
                                ? "back in \(device?.user ?? "the writer")'s outbox: they correct or discard it ('fieldsync outbox')"
                                : "goes back to \(device?.user ?? "the writer")'s outbox at their next sync")
            entry.subjectText = device.map { ReasonText(key: "inbox.entry.action-of-device", values: ["counter": String(refused.counter), "device": $0.name]) }
                ?? ReasonText(key: "inbox.entry.action-of-node", values: ["counter": String(refused.counter), "node": refused.origin.description])
            entry.detailText = ReasonText(key: "inbox.entry.province-refused", values: ["reason": refused.reason])
            entry.actionText = device.map { device in
                ReasonText(key: refused.returned ? "inbox.entry.back-in-outbox" : "inbox.entry.goes-back", values: ["user": device.user])
            }
            return entry
        })

        add(.silent, mine.compactMap { device -> Entry? in
            guard device.revokedAt == nil, let pending = device.pending, pending > 0 else { return nil }
            let seen = device.lastSeen ?? device.createdAt
            guard seen + silentAfter < now else { return nil }
            var entry = Entry(kind: .silent, branch: device.branch, subject: "device \(device.name)", person: device.user, device: device.name,
                              detail: "not seen for \((now - seen) / 86_400_000) days, \(Wording.count(pending, "action")) waiting on it",
                              since: seen, action: "ask \(device.user) to sync \(device.name) ('fieldsync sync')")
            entry.subjectText = ReasonText(key: "inbox.entry.device", values: ["device": device.name])
            entry.detailText = ReasonText(key: pending == 1 ? "inbox.entry.silent.one" : "inbox.entry.silent.other",
                                          values: ["days": String((now - seen) / 86_400_000), "n": String(pending)])
            entry.actionText = ReasonText(key: "inbox.entry.silent-action", values: ["user": device.user, "device": device.name])
            return entry
        }.sorted { ($0.since ?? 0) < ($1.since ?? 0) })
        return Inbox(entries: entries)
    }
}

extension KPIStorage {
    /// `user`'s inbox: for supervisors, the province and administrators (as the dashboard);
    /// `refused` is `AccountStorage.refusedActions(of:limit:)`.
    public func inbox(for user: UserInfo, branch: String? = nil,
                      refused: (_ nodes: [NodeID], _ limit: Int) async throws -> [RefusedAction] = { _, _ in [] }) async throws -> Inbox {
        let policy = AccessPolicy(user)
        guard policy.mayOpenDashboard else { throw ServerError.forbiddenInbox }
        let (devices, _) = try await freshnessInputs()
        // Only the refused actions of the devices listed, read bounded (they change without the records).
        let listed = devices.filter { device in
            device.refused != nil && device.revokedAt == nil && (policy.isUnrestricted || device.branch == user.branch) && (branch == nil || device.branch == branch)
        }
        let actions = listed.isEmpty ? [] : try await refused(listed.map(\.node), RefusedAction.maxRead)
        // The conflicts change only with the records: read once per generation, whoever asks (devices change
        // without it, so they are read each time).
        let generation = try await recordGeneration()
        let inputs = try await kpiCache.result("inbox-inputs", generation: generation) { try await inboxInputs() }
        return Inbox.build(devices: devices, inputs: inputs, refused: actions, for: user, now: now, branch: branch)
    }
}
