/// Every value each field of one record has had, as far as a replica can
/// tell: who wrote it (node, later named), when it was typed (its stamp),
/// when a server first received it, and what became of it. Pure: a server
/// builds it from its change log, a laptop from what it holds offline, with
/// the same rules, so both read alike.
public struct RecordHistory: Sendable, Equatable, Codable {
    public enum Outcome: String, Sendable, Codable {
        /// The value the record holds now.
        case current
        /// Replaced by a later write that had seen it.
        case replaced
        /// Lost a conflict: overwritten by a concurrent write, kept as a conflict record.
        case lostConflict = "lost-conflict"
        /// Typed on this laptop, not yet sent, and what the record holds now (an unsent write replaced
        /// since by another is `replaced`).
        case waiting
    }

    public struct Entry: Sendable, Equatable, Codable {
        public var field: String
        public var value: FieldValue
        /// The change's stamp: who wrote it and when it was typed (`hlc.milliseconds`).
        public var hlc: HLC
        public var node: NodeID
        /// When the server answering first received it (milliseconds); nil when not known (a laptop offline,
        /// a change logged before the server kept receipts).
        public var receivedAt: UInt64?
        public var outcome: Outcome
        /// The person and device behind `node`, where the answering replica knows them.
        public var person: String?
        public var device: String?

        public init(field: String, value: FieldValue, hlc: HLC, node: NodeID, receivedAt: UInt64? = nil, outcome: Outcome,
                    person: String? = nil, device: String? = nil) {
            self.field = field
            self.value = value
            self.hlc = hlc
            self.node = node
            self.receivedAt = receivedAt
            self.outcome = outcome
            self.person = person
            self.device = device
        }

        enum CodingKeys: String, CodingKey {
            case field, value, hlc, node, receivedAt = "received_at", outcome, person, device
        }
    }

    public var table: RecordKind
    public var record: String
    /// By field (in the schema's order), then oldest write first.
    public var entries: [Entry]
    /// True when older writes were left out (a server bounds what one answer reads).
    public var truncated: Bool?

    public init(table: RecordKind, record: String, entries: [Entry]) {
        self.table = table
        self.record = record
        self.entries = entries
    }

    /// One logged group of changes and when the server received it.
    public struct Logged: Sendable {
        public var changes: [FieldChange]
        public var receivedAt: UInt64?

        public init(changes: [FieldChange], receivedAt: UInt64?) {
            self.changes = changes
            self.receivedAt = receivedAt
        }
    }

    /// The history of `record` from what a replica holds: the changes logged for
    /// it in log order (each write counted once, at its first row's receipt: a file logged again
    /// when it moves, or relayed through a branch server, repeats its writes),
    /// the stored state (what is current; its values stand in for writes not
    /// logged), the ids of the conflict records that exist about it, and the
    /// changes still waiting to be sent. Other records' changes are ignored.
    public static func build(table: RecordKind, record: String, logged: [Logged], current: RecordState?,
                             conflictIDs: Set<String>, waiting: [FieldChange] = []) -> RecordHistory {
        let schema = table.schema
        struct Key: Hashable { var field: Int; var hlc: HLC; var node: NodeID }
        var found: [Key: Entry] = [:]
        func note(_ change: FieldChange, receivedAt: UInt64?, waiting: Bool) {
            guard change.table == table, change.record == record, let index = schema.index(of: change.field) else { return }
            let key = Key(field: index, hlc: change.hlc, node: change.node)
            // The first row carrying a write is when it arrived; later ones (a file logged again when it
            // moves) are repeats, whose receipts say nothing about the write.
            if found[key] != nil { return }
            found[key] = Entry(field: change.field, value: change.value, hlc: change.hlc, node: change.node, receivedAt: receivedAt,
                               outcome: waiting ? .waiting : .replaced)
        }
        for group in logged { for change in group.changes { note(change, receivedAt: group.receivedAt, waiting: false) } }
        for change in waiting { note(change, receivedAt: nil, waiting: true) }
        if let current {
            for (index, stamp) in current.stamps.enumerated() {
                guard let stamp, index < current.values.count, index < schema.fields.count else { continue }
                let key = Key(field: index, hlc: stamp.hlc, node: stamp.node)
                if found[key] == nil {
                    found[key] = Entry(field: schema.fields[index].name, value: current.values[index], hlc: stamp.hlc, node: stamp.node, outcome: .current)
                } else if found[key]?.outcome != .waiting {
                    found[key]?.outcome = .current
                }
            }
        }
        // An unsent write the record no longer holds was replaced before it left.
        let held = Set(current.map { state in state.stamps.enumerated().compactMap { index, stamp in stamp.map { Key(field: index, hlc: $0.hlc, node: $0.node) } } } ?? [])
        for (key, entry) in found where entry.outcome == .waiting && !held.contains(key) { found[key]?.outcome = .replaced }
        for (key, entry) in found where entry.outcome == .replaced {
            let conflict = RecordID.derived(from: "\(table.rawValue)|\(record)|\(entry.field)|\(key.hlc.rawValue)|\(key.node)")
            if conflictIDs.contains(conflict) { found[key]?.outcome = .lostConflict }
        }
        let entries = found.sorted { ($0.key.field, $0.key.hlc, $0.key.node) < ($1.key.field, $1.key.hlc, $1.key.node) }.map(\.value)
        return RecordHistory(table: table, record: record, entries: entries)
    }

    /// Only the entries of one field.
    public func only(field: String) -> RecordHistory {
        RecordHistory(table: table, record: record, entries: entries.filter { $0.field == field })
    }

    /// Names each entry's node from `names` (node → person, device).
    public mutating func name(_ names: [NodeID: (person: String, device: String)]) {
        for index in entries.indices {
            guard let name = names[entries[index].node] else { continue }
            entries[index].person = name.person
            entries[index].device = name.device
        }
    }
}
