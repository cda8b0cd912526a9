/// Who wrote a field's current value and when, and what they had seen.
public struct FieldStamp: Hashable, Sendable {
    public var hlc: HLC
    public var node: NodeID
    /// The HLC of the value the writer replaced (`.zero` if the field was empty).
    public var base: HLC

    public init(hlc: HLC, node: NodeID, base: HLC) {
        self.hlc = hlc
        self.node = node
        self.base = base
    }

    /// Last-writer-wins order: HLC, then node id.
    @inlinable
    public func isNewer(than other: FieldStamp) -> Bool {
        hlc != other.hlc ? hlc > other.hlc : node > other.node
    }

    @inlinable
    public func isSameWrite(as other: FieldStamp) -> Bool { hlc == other.hlc && node == other.node }
}

/// A field's value together with its stamp.
public struct FieldState: Hashable, Sendable {
    public var value: FieldValue
    public var stamp: FieldStamp

    public init(value: FieldValue, stamp: FieldStamp) {
        self.value = value
        self.stamp = stamp
    }
}

/// The unit of change: one field of one record set to one value.
public struct FieldChange: Hashable, Sendable, Codable {
    public var table: RecordKind
    public var record: String
    public var field: String
    public var value: FieldValue
    public var hlc: HLC
    public var node: NodeID
    public var base: HLC

    public init(table: RecordKind, record: String, field: String, value: FieldValue, hlc: HLC, node: NodeID, base: HLC) {
        self.table = table
        self.record = record
        self.field = field
        self.value = value
        self.hlc = hlc
        self.node = node
        self.base = base
    }

    public var stamp: FieldStamp { FieldStamp(hlc: hlc, node: node, base: base) }
    public var state: FieldState { FieldState(value: value, stamp: stamp) }
}

/// One user action: the field changes it made, identified by (origin, counter)
/// so a retried delivery is applied once.
///
/// In JSON the changes are `records` (`RecordChanges`); a body written before
/// that form, with one object per change under `changes`, still reads.
public struct Mutation: Hashable, Sendable, Codable {
    public var origin: NodeID
    public var counter: UInt64
    public var user: String?
    public var changes: [FieldChange]
    /// Record kinds the mutation's wire form named that this version does not know (a newer peer
    /// wrote them): their changes are not in `changes`. A server refuses such a mutation with the
    /// reason, and it waits on its device until the server is upgraded. Never encoded.
    public var unknownKinds: [String] = []

    public init(origin: NodeID, counter: UInt64, user: String? = nil, changes: [FieldChange]) {
        self.origin = origin
        self.counter = counter
        self.user = user
        self.changes = changes
    }

    enum CodingKeys: String, CodingKey {
        case origin, counter, user, records, changes
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        origin = try container.decode(NodeID.self, forKey: .origin)
        counter = try container.decode(UInt64.self, forKey: .counter)
        user = try container.decodeIfPresent(String.self, forKey: .user)
        if let records = try container.decodeIfPresent([RecordChanges].self, forKey: .records) {
            changes = RecordChanges.changes(records)
        } else {
            changes = try container.decode([FieldChange].self, forKey: .changes)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(origin, forKey: .origin)
        try container.encode(counter, forKey: .counter)
        try container.encodeIfPresent(user, forKey: .user)
        try container.encode(RecordChanges.grouping(changes), forKey: .records)
    }
}
