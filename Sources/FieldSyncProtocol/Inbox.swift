import FieldSyncModel

/// A supervisor's one list of what needs a person (issue 28): open conflicts
/// of their branch's records, work the server refused from their branch's
/// devices, work the province handed back, and devices silent for days with
/// work waiting. Each entry says how to act on it. Built from what the server
/// stores, scoped as the dashboard is (a supervisor their branch; the province
/// and administrators every branch).
public struct Inbox: Sendable, Equatable, Codable {
    public enum Kind: String, Sendable, Codable, CaseIterable {
        case conflict
        case refused
        case handedBack = "handed-back"
        case silent
    }

    public struct Entry: Sendable, Equatable, Codable {
        public var kind: Kind
        public var branch: String?
        /// What it is about: a record ("customer 1a2b3c4d, notes") or a device.
        public var subject: String
        /// The record or conflict id, for acting on it.
        public var record: String?
        public var person: String?
        public var device: String?
        public var detail: String
        /// Since when, milliseconds: the server's clock, or for a conflict the lost write's stamp.
        public var since: UInt64?
        /// How to act on it.
        public var action: String
        /// A refused action's device node and counter, for deciding about it (`RefusedActionDecision`).
        public var node: String?
        public var counter: UInt64?
        /// The subject, detail and action as text keys with values (`subject_text` …, as `Rejection.text`),
        /// for a reader of another language; each absent where there is no key (the English stands).
        public var subjectText: ReasonText?
        public var detailText: ReasonText?
        public var actionText: ReasonText?

        enum CodingKeys: String, CodingKey {
            case kind, branch, subject, record, person, device, detail, since, action, node, counter
            case subjectText = "subject_text", detailText = "detail_text", actionText = "action_text"
        }

        public init(kind: Kind, branch: String?, subject: String, record: String? = nil, person: String?, device: String?,
                    detail: String, since: UInt64?, action: String, node: String? = nil, counter: UInt64? = nil) {
            self.node = node
            self.counter = counter
            self.kind = kind
            self.branch = branch
            self.subject = subject
            self.record = record
            self.person = person
            self.device = device
            self.detail = detail
            self.since = since
            self.action = action
        }
    }

    public var entries: [Entry]

    public init(entries: [Entry]) { self.entries = entries }

    /// Devices not seen for this long with work waiting are listed.
    public static let silentAfter: UInt64 = 3 * 86_400_000
    /// Most entries of one kind in an answer; the rest are counted in a last entry.
    public static let perKind = 500
}


extension Inbox {
    /// The entry of an unresolved conflict record: the field, what was kept over what and by whom
    /// (`name` gives a node's person and device where known); shared by the server and a laptop offline.
    public static func conflictEntry(_ id: String, _ conflict: RecordState, branch: String?,
                                     name: (NodeID) -> (person: String, device: String)?) -> Entry {
        let schema = RecordKind.conflict.schema
        func text(_ field: String) -> String { conflict.value(field, in: schema).text ?? "" }
        func shown(_ field: String) -> String { Wording.shown(conflict.value(field, in: schema)) }
        func who(_ field: String) -> String {
            guard let node = NodeID(text(field)), let known = name(node) else { return "node \(text(field))" }
            return "\(known.person) (\(known.device))"
        }
        let table = RecordKind(rawValue: text("table"))
        let lostAt = conflict.value("lost_hlc", in: schema).int.map { HLC(rawValue: UInt64(bitPattern: $0)).milliseconds }
        var entry = Entry(kind: .conflict, branch: branch, subject: "\(table?.noun ?? text("table")) \(text("record").prefix(8)), \(text("field"))",
                          record: id, person: nil, device: nil,
                          detail: "kept \(shown("kept_value")) by \(who("kept_node")) over \(shown("lost_value")) by \(who("lost_node"))",
                          since: lostAt, action: "fieldsync conflicts resolve \(id.prefix(8)) --keep lost|kept")
        entry.subjectText = ReasonText(key: "inbox.entry.conflict", values: ["table": text("table"), "id": String(text("record").prefix(8)), "field": text("field")])
        entry.detailText = ReasonText(key: "inbox.entry.conflict-detail", values: ["kept": shown("kept_value"), "kept-by": who("kept_node"),
                                                                                   "lost": shown("lost_value"), "lost-by": who("lost_node")])
        entry.actionText = ReasonText(key: "inbox.entry.conflict-action", values: ["id": String(id.prefix(8))])
        return entry
    }
}
