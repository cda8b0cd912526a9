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
public struct Mutation: Hashable, Sendable, Codable {
    public var origin: NodeID
    public var counter: UInt64
    public var user: String?
    public var changes: [FieldChange]

    public init(origin: NodeID, counter: UInt64, user: String? = nil, changes: [FieldChange]) {
        self.origin = origin
        self.counter = counter
        self.user = user
        self.changes = changes
    }
}
