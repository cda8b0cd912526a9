/// A batch grouped by record, in first-appearance order, so each record is
/// read and written once per batch. Groups point into the batch by index
/// ranges (changes of one record usually arrive together) instead of copying it.
public struct ChangeGroups {
    public struct Group {
        public var table: RecordKind
        public var record: String
        /// Positions in the batch, in delivery order.
        public var ranges: [Range<Int>]
    }

    public let groups: [Group]

    /// Ranges are positions in `changes` (a slice keeps its base's indices).
    public init(_ changes: ArraySlice<FieldChange>) {
        var positions: [RecordKey: Int] = [:]
        var groups: [Group] = []
        for index in changes.indices {
            let change = changes[index]
            if let last = groups.indices.last, groups[last].record == change.record, groups[last].table == change.table {
                let run = groups[last].ranges.count - 1
                if groups[last].ranges[run].upperBound == index {
                    groups[last].ranges[run] = groups[last].ranges[run].lowerBound..<(index + 1)
                    continue
                }
            }
            let key = RecordKey(table: change.table, record: change.record)
            if let position = positions[key] {
                groups[position].ranges.append(index..<(index + 1))
            } else {
                positions[key] = groups.count
                groups.append(Group(table: change.table, record: change.record, ranges: [index..<(index + 1)]))
            }
        }
        self.groups = groups
    }
}

public struct RecordKey: Hashable, Sendable {
    public var table: RecordKind
    public var record: String

    public init(table: RecordKind, record: String) {
        self.table = table
        self.record = record
    }
}
