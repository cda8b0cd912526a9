/// How an overwrite becomes a `conflicts` record.
///
/// The id is derived from the record, the field and the losing write, so every
/// replica that detects the same lost value creates the same record, and the
/// copies merge into one. The record is written without a `resolved` field:
/// a replica detecting it late must not undo a resolution made elsewhere.
public enum ConflictRecord {
    /// Most conflict records in one mutation. A mutation travels whole in one request, bounded
    /// by the receiving server (100,000 changes); a merge of a large batch can find tens of
    /// thousands of overwrites, and one mutation of them all could never be sent.
    public static let perMutation = 1_000

    public static func id(for overwrite: Overwrite) -> String {
        RecordID.derived(from: "\(overwrite.table.rawValue)|\(overwrite.record)|\(overwrite.field)|\(overwrite.lost.stamp.hlc.rawValue)|\(overwrite.lost.stamp.node)")
    }

    public static func fields(for overwrite: Overwrite) -> [(String, FieldValue)] {
        [
            ("table", .text(overwrite.table.rawValue)),
            ("record", .text(overwrite.record)),
            ("field", .text(overwrite.field)),
            ("lost_value", overwrite.lost.value),
            ("lost_node", .text(overwrite.lost.stamp.node.description)),
            ("lost_hlc", .int(Int64(bitPattern: overwrite.lost.stamp.hlc.rawValue))),
            ("kept_value", overwrite.kept.value),
            ("kept_node", .text(overwrite.kept.stamp.node.description)),
            ("kept_hlc", .int(Int64(bitPattern: overwrite.kept.stamp.hlc.rawValue))),
        ]
    }
}

public enum LocalEdit {
    /// The field changes that set `fields` on a record, stamped `hlc` by
    /// `node`, each based on the value it replaces. Values the record already
    /// has are skipped, so an edit that changes nothing writes nothing.
    public static func changes(
        table: RecordKind, record: String, current: RecordState?,
        fields: [(String, FieldValue)], hlc: HLC, node: NodeID
    ) -> [FieldChange] {
        let schema = table.schema
        var result: [FieldChange] = []
        for (name, value) in fields {
            guard let index = schema.index(of: name) else { continue }
            let existing = current?[state: index]
            if let existing, existing.value == value { continue }
            if existing == nil, value == .null { continue }
            result.append(FieldChange(
                table: table, record: record, field: name, value: value,
                hlc: hlc, node: node, base: existing?.stamp.hlc ?? .zero))
        }
        return result
    }
}
