import FieldSyncModel

/// The customer whose file holds a record, found by following the record's
/// parent fields (note → fault → customer; a conflict → the record it is about)
/// through states the caller supplies: stored ones, or ones after a merge.
package enum RecordOwner: Equatable {
    case customer(String, CustomerScope)
    /// The record, or a record on its way up, is not known.
    case unknown

    /// customer ← fault ← fault note, and a conflict about a note: four steps at most.
    package static let maxDepth = 4

    /// `scope` reads a customer's scope from its state (a caller may keep it per customer).
    package static func of(_ key: RecordKey, in state: (RecordKey) throws -> RecordState?,
                   scope: (String, RecordState) -> CustomerScope = { CustomerScope($1) }) rethrows -> RecordOwner {
        guard let (customer, current) = try file(of: key, in: state) else { return .unknown }
        return .customer(customer, scope(customer, current))
    }

    /// The customer whose file holds `key`, and that customer's state; nil when unknown.
    /// For callers that need only the id (the change log), without reading a scope.
    package static func file(of key: RecordKey, in state: (RecordKey) throws -> RecordState?) rethrows -> (customer: String, state: RecordState)? {
        var key = key
        for _ in 0..<maxDepth {
            guard let current = try state(key) else { return nil }
            if key.table == .customer { return (key.record, current) }
            guard let parent = parentKey(of: key.table, current) else { return nil }
            key = parent
        }
        return nil
    }

    /// The record `state` hangs from: its parent field, or a conflict's subject.
    package static func parentKey(of table: RecordKind, _ state: RecordState) -> RecordKey? {
        let schema = table.schema
        if table == .conflict {
            guard let target = state.value("table", in: schema).text.flatMap(RecordKind.init(rawValue:)),
                  let record = state.value("record", in: schema).text else { return nil }
            return RecordKey(table: target, record: record)
        }
        guard let parent = schema.parentField, case .reference(let kind) = parent.type,
              let id = state.value(parent.name, in: schema).text else { return nil }
        return RecordKey(table: kind, record: id)
    }

    /// The records a state points at besides its parent (a visit's complaint).
    package static func references(of table: RecordKind, _ state: RecordState) -> [RecordKey] {
        let schema = table.schema
        let parent = schema.parentField?.name
        return schema.fields.indices.compactMap { index in
            guard case .reference(let kind) = schema.fields[index].type, schema.fields[index].name != parent,
                  let id = state.values[index].text else { return nil }
            return RecordKey(table: kind, record: id)
        }
    }

    /// Whether a change can move its record to another file or scope.
    package static func moves(_ change: FieldChange) -> Bool { moves(table: change.table, field: change.field) }

    package static func moves(table: RecordKind, field: String) -> Bool {
        switch table {
        case .customer: field == "branch" || field == "manager" || field == "team"
        case .conflict: field == "table" || field == "record"
        default: table.schema.parentField?.name == field
        }
    }
}
