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
