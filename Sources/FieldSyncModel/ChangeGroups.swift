/// A batch grouped by record, in first-appearance order, so each record is
/// read and written once per batch. Groups point into the batch by index
/// ranges (changes of one record usually arrive together) instead of copying it.
public struct ChangeGroups {
    public struct Group {
        public var table: RecordKind
        public var record: String
        /// Positions in the batch, in delivery order.
        public var ranges: Runs
    }

    /// A group's ranges. Nearly every group has one, kept inline: an array
    /// per record cost an allocation per record of a merge-apply.
    public struct Runs: RandomAccessCollection, Equatable, CustomStringConvertible {
        public private(set) var first: Range<Int>
        private var more: [Range<Int>] = []

        init(_ first: Range<Int>) { self.first = first }

        mutating func append(_ range: Range<Int>) { more.append(range) }

        public var startIndex: Int { 0 }
        public var endIndex: Int { 1 + more.count }
        public subscript(position: Int) -> Range<Int> { position == 0 ? first : more[position - 1] }
        public var description: String { Array(self).description }
    }

    public let groups: [Group]

    /// Ranges are positions in `changes` (a slice keeps its base's indices).
    /// Each run of one record's changes is measured first and added whole (growing
    /// the last range change by change cost a sixth of a merge-apply).
    public init(_ changes: ArraySlice<FieldChange>) {
        var runs: [Range<Int>] = []
        var start = changes.startIndex
        while start < changes.endIndex {
            var end = start + 1
            while end < changes.endIndex, changes[end].record == changes[start].record, changes[end].table == changes[start].table { end += 1 }
            runs.append(start..<end)
            start = end
        }
        var positions: [RecordKey: Int] = [:]
        positions.reserveCapacity(runs.count)
        var groups: [Group] = []
        groups.reserveCapacity(runs.count)
        // Runs are maximal: the one before each was another record's.
        for run in runs {
            let key = RecordKey(table: changes[run.lowerBound].table, record: changes[run.lowerBound].record)
            // One hash for a record seen first (nearly all of them); a second to put back a repeat's position.
            if let position = positions.updateValue(groups.count, forKey: key) {
                positions[key] = position
                groups[position].ranges.append(run)
            } else {
                groups.append(Group(table: key.table, record: key.record, ranges: Runs(run)))
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
