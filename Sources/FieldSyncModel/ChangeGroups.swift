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
    /// Each run of one record's changes is measured first and added whole (growing
    /// the last range change by change cost a sixth of a merge-apply).
    public init(_ changes: ArraySlice<FieldChange>) {
        var positions: [RecordKey: Int] = [:]
        var groups: [Group] = []
        var start = changes.startIndex
        while start < changes.endIndex {
            let first = changes[start]
            var end = start + 1
            while end < changes.endIndex, changes[end].record == first.record, changes[end].table == first.table { end += 1 }
            // Runs are maximal: the one before this was another record's.
            let key = RecordKey(table: first.table, record: first.record)
            if let position = positions[key] {
                groups[position].ranges.append(start..<end)
            } else {
                positions[key] = groups.count
                groups.append(Group(table: first.table, record: first.record, ranges: [start..<end]))
            }
            start = end
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
