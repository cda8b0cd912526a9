/// Field changes as they travel in sync bodies: a run of consecutive changes
/// to one record with one stamp (node and HLC) is one object, its fields a list
/// of `[field, value, base]`.
///
/// A user action, or a page of the server's log, changes most fields of a
/// record under one stamp, so this carries the table, record id, node and HLC
/// once instead of once per field: about a third of the bytes of one object per
/// change, to write, gzip, send and read.
public struct RecordChanges: Hashable, Sendable, Codable {
    public var table: RecordKind
    public var record: String
    public var node: NodeID
    public var hlc: HLC
    public var fields: [Entry]

    /// One field: encoded as the array `[field, value, base]`.
    public struct Entry: Hashable, Sendable, Codable {
        public var field: String
        public var value: FieldValue
        public var base: HLC

        public init(field: String, value: FieldValue, base: HLC) {
            self.field = field
            self.value = value
            self.base = base
        }

        public init(from decoder: any Decoder) throws {
            var container = try decoder.unkeyedContainer()
            field = try container.decode(String.self)
            value = try container.decode(FieldValue.self)
            base = try container.decode(HLC.self)
            guard container.isAtEnd else {
                throw DecodingError.dataCorruptedError(in: container, debugDescription: "a field entry is [field, value, base]")
            }
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.unkeyedContainer()
            try container.encode(field)
            try container.encode(value)
            try container.encode(base)
        }
    }

    public init(table: RecordKind, record: String, node: NodeID, hlc: HLC, fields: [Entry]) {
        self.table = table
        self.record = record
        self.node = node
        self.hlc = hlc
        self.fields = fields
    }

    /// Whether `change` continues the run `previous` belongs to: same table, record, node and HLC.
    static func sameRun(_ previous: FieldChange, _ change: FieldChange) -> Bool {
        previous.hlc == change.hlc && previous.node == change.node && previous.table == change.table && previous.record == change.record
    }

    /// Runs of consecutive changes with the same table, record, node and HLC, in order.
    public static func grouping<C: Collection<FieldChange>>(_ changes: C) -> [RecordChanges] {
        var groups: [RecordChanges] = []
        var previous: FieldChange?
        for change in changes {
            defer { previous = change }
            let entry = Entry(field: change.field, value: change.value, base: change.base)
            if let previous, sameRun(previous, change) {
                groups[groups.count - 1].fields.append(entry)
            } else {
                groups.append(RecordChanges(table: change.table, record: change.record, node: change.node, hlc: change.hlc, fields: [entry]))
            }
        }
        return groups
    }

    /// Appends the field changes, in order.
    public func appendChanges(to changes: inout [FieldChange]) {
        for entry in fields {
            changes.append(FieldChange(table: table, record: record, field: entry.field, value: entry.value, hlc: hlc, node: node, base: entry.base))
        }
    }

    /// Field changes from groups, in order.
    public static func changes(_ groups: [RecordChanges]) -> [FieldChange] {
        var changes: [FieldChange] = []
        changes.reserveCapacity(groups.reduce(0) { $0 + $1.fields.count })
        for group in groups { group.appendChanges(to: &changes) }
        return changes
    }

    /// Appends `changes` as a JSON array of record groups (the sync bodies' hand-written encoder).
    public static func appendJSON<C: Collection<FieldChange>>(_ changes: C, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "["))
        var previous: FieldChange?
        for change in changes {
            defer { previous = change }
            if let previous, sameRun(previous, change) {
                out.append(UInt8(ascii: ","))
            } else {
                if previous != nil { out.append(contentsOf: "]},".utf8) }
                out.append(contentsOf: #"{"table":""#.utf8)
                out.append(contentsOf: change.table.rawValue.utf8)
                out.append(contentsOf: #"","record":"#.utf8)
                JSONText.appendString(change.record, to: &out)
                out.append(contentsOf: #","node":""#.utf8)
                out.append(contentsOf: change.node.description.utf8)
                out.append(contentsOf: #"","hlc":"#.utf8)
                out.append(contentsOf: String(change.hlc.rawValue).utf8)
                out.append(contentsOf: #","fields":["#.utf8)
            }
            out.append(UInt8(ascii: "["))
            JSONText.appendString(change.field, to: &out)
            out.append(UInt8(ascii: ","))
            switch change.value {
            case .null: out.append(contentsOf: "null".utf8)
            case .int(let number): out.append(contentsOf: String(number).utf8)
            case .text(let text): JSONText.appendString(text, to: &out)
            }
            out.append(UInt8(ascii: ","))
            out.append(contentsOf: String(change.base.rawValue).utf8)
            out.append(UInt8(ascii: "]"))
        }
        if !changes.isEmpty { out.append(contentsOf: "]}".utf8) }
        out.append(UInt8(ascii: "]"))
    }
}
