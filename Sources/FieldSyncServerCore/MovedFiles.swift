import FieldSyncModel

/// The records a write moved to another file or scope, decided from their owners
/// before and after it. Both engines log each one's file again, with its stamps, for
/// its new holders, and for a customer whose scope changed they record the change in
/// its scope history and log an exit row for the scope it left.
package struct MovedFile: Equatable, Sendable {
    package var key: RecordKey
    /// The scope of the file it was in.
    package var from: CustomerScope
    /// Its owner now.
    package var to: RecordOwner

    /// The customer the record's file belongs to now, if known.
    package var customer: String? { if case .customer(let id, _) = to { id } else { nil } }

    /// For a customer whose own scope changed: the scope it left and the one it entered.
    package var scopeChange: (old: CustomerScope, new: CustomerScope)? {
        guard key.table == .customer, case .customer(_, let new) = to else { return nil }
        return (from, new)
    }

    /// `before`: the owners of the records the write could move, read before it (a record
    /// new with the write had no file to leave and is not listed); `after` finds their owners
    /// as the write left them. In a fixed order (kind, then id), so every engine logs alike.
    package static func moved(before: [RecordKey: RecordOwner], after: (RecordKey) throws -> RecordOwner) rethrows -> [MovedFile] {
        var moved: [MovedFile] = []
        for key in before.keys.sorted(by: { ($0.table.rawValue, $0.record) < ($1.table.rawValue, $1.record) }) {
            guard case .customer(_, let old)? = before[key] else { continue }
            let now = try after(key)
            if now != before[key] { moved.append(MovedFile(key: key, from: old, to: now)) }
        }
        return moved
    }
}
