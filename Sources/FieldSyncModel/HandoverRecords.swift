/// The handover records (`RecordKind.handover`) a change of manager makes:
/// every writer (a laptop, the server's own administration writes, either
/// engine) adds them the same way, in the same action as the change itself, so
/// every replica holding the file knows who held it from when.
public enum HandoverRecords {
    /// `edits`, each change of a stored customer's manager followed by its handover record
    /// (at `milliseconds`, the writer's clock); a new customer has no handover. After the change, so a
    /// refusal of the change names it, not the record that follows from it.
    public static func adding(to edits: [RecordEdit], at milliseconds: UInt64,
                              stored: (String) throws -> RecordState?) rethrows -> [RecordEdit] {
        guard edits.contains(where: { $0.table == .customer && $0.fields.contains { $0.0 == "manager" } }) else { return edits }
        let schema = RecordKind.customer.schema
        var out: [RecordEdit] = []
        for edit in edits {
            out.append(edit)
            if edit.table == .customer, let manager = edit.fields.last(where: { $0.0 == "manager" })?.1, let current = try stored(edit.record) {
                let previous = current.value("manager", in: schema)
                if previous != manager {
                    out.append(RecordEdit(.handover, id(customer: edit.record, at: milliseconds, to: manager), [
                        ("customer", .text(edit.record)),
                        ("at", .text(Timestamp(epochSeconds: Int64(clamping: milliseconds / 1_000), offsetMinutes: 0).description)),
                        ("previous", previous), ("manager", manager),
                    ]))
                }
            }
        }
        return out
    }

    public static func id(customer: String, at milliseconds: UInt64, to manager: FieldValue) -> String {
        RecordID.derived(from: "handover|\(customer)|\(milliseconds)|\(manager.text ?? "")")
    }
}
