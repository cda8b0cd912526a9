import FieldSyncModel

/// A record's values and stamps as one blob, for engines that keep a record in
/// one column (PostgreSQL): the change log's encoding of one change per stamped field.
package enum RecordStateCodec {
    package static func encode(_ state: RecordState, table: RecordKind, record: String) throws -> [UInt8] {
        try ChangeLogCodec.encode(state.changes(table: table, record: record), schema: table.schema)
    }

    package static func decode(_ bytes: UnsafeRawBufferPointer, table: RecordKind, record: String) throws -> RecordState {
        var changes: [FieldChange] = []
        try ChangeLogCodec.decode(bytes, table: table, record: record, into: &changes)
        let schema = table.schema
        var state = RecordState(fieldCount: schema.fields.count)
        for change in changes {
            guard let index = schema.index(of: change.field) else { throw ChangeLogCodec.Malformed() }
            state.values[index] = change.value
            state.stamps[index] = change.stamp
        }
        return state
    }
}
