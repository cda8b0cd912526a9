/// Some fields of one record, as one part of a user action.
public struct RecordEdit: Sendable {
    public var table: RecordKind
    public var record: String
    public var fields: [(String, FieldValue)]

    public init(_ table: RecordKind, _ record: String, _ fields: [(String, FieldValue)]) {
        self.table = table
        self.record = record
        self.fields = fields
    }
}

/// Records merged already, with what the merge found: the changed ones in the order
/// they were first written, each as it ends up, the concurrent overwrites, the newest stamp.
public struct MergedRecords: Sendable {
    public var records: [(key: RecordKey, state: RecordState)] = []
    public var overwrites: [Overwrite] = []
    public var newest = HLC.zero
    /// Field changes merged (the report counts them).
    public var changes = 0

    public init() {}
}

extension MergedRecords {
    /// Merges `changes` (in any order, with repeats) into the records as `stored` gives them
    /// (nil: not stored): the rules every replica and server merge by, without storage.
    public static func merging(_ changes: ArraySlice<FieldChange>, into stored: (RecordKey) throws -> RecordState?) rethrows -> MergedRecords {
        var merged = MergedRecords()
        merged.changes = changes.count
        for group in ChangeGroups(changes).groups {
            let key = RecordKey(table: group.table, record: group.record)
            let schema = group.table.schema
            var state = try stored(key) ?? RecordState(fieldCount: schema.fields.count)
            var changed = false
            for range in group.ranges {
                for position in range where changes[position].hlc > merged.newest { merged.newest = changes[position].hlc }
                changed = RecordMerge.apply(changes[range], to: &state, schema: schema, overwrites: &merged.overwrites) || changed
            }
            if changed { merged.records.append((key, state)) }
        }
        return merged
    }
}
