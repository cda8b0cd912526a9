import FieldSyncModel
import FieldSyncStore
import Foundation
import GRDB

/// Appends to the change log, after the changes are applied: one row per
/// record per mutation, with the next sequence number and the scope (branch,
/// manager) of the customer the record belongs to, which pulls filter on.
struct ChangeLogWriter {
    private let db: Database
    private let io: RecordIO
    /// Reads the applied state, so a customer moved by this push is logged in its new scope.
    private var scope: ScopeResolver

    init(_ db: Database, io: RecordIO) {
        self.db = db
        self.io = io
        self.scope = ScopeResolver(io: io)
    }

    /// Logs one mutation's changes, grouped by record in order of first appearance.
    mutating func append(_ changes: [FieldChange], origin: NodeID) throws {
        for group in ChangeGroups(changes[...]).groups {
            let own = group.ranges.count == 1 ? changes[group.ranges[0]] : ArraySlice(group.ranges.flatMap { changes[$0] })
            try insert(group.table, group.record, own, origin: origin)
        }
    }

    /// Logs a mutation the server made itself (conflict records, `fieldsync-server calendar`):
    /// the log is how it travels, so it is marked applied and leaves the server's unused outbox.
    mutating func appendOwn(_ mutation: Mutation) throws {
        try append(mutation.changes, origin: mutation.origin)
        try db.execute(sql: "INSERT OR IGNORE INTO applied_mutations (origin, counter) VALUES (?, ?)",
                       arguments: [mutation.origin.description, Int64(mutation.counter)])
        try db.execute(sql: "DELETE FROM outbox WHERE counter = ?", arguments: [Int64(mutation.counter)])
    }

    /// Logs the current state of a customer's whole file (the customer, its
    /// contacts, agreements, visits, faults, complaints, their notes and the
    /// conflicts about any of them) again, with the stamps it has: a device that
    /// enters the customer's new scope receives all of it, and a device that had
    /// it applies nothing new, since merging the same write twice is a no-op.
    mutating func appendFile(ofCustomer customer: String, origin: NodeID) throws {
        var records: [(RecordKind, String, RecordState)] = []
        if let state = try io.load(.customer, customer) { records.append((.customer, customer, state)) }
        for kind in [RecordKind.contact, .agreement, .visit, .fault, .complaint] {
            for (id, state) in try io.scan(kind, where: "customer", equals: .text(customer)) {
                records.append((kind, id, state))
                let notes: RecordKind? = kind == .fault ? .faultNote : kind == .complaint ? .complaintNote : nil
                if let notes, let parentField = notes.schema.parentField?.name {
                    for (note, noteState) in try io.scan(notes, where: parentField, equals: .text(id)) {
                        records.append((notes, note, noteState))
                    }
                }
            }
        }
        let ids = Set(records.map(\.1))
        for (id, state) in try io.scan(.conflict) where state.value("record", in: RecordKind.conflict.schema).text.map(ids.contains) == true {
            records.append((.conflict, id, state))
        }
        for (kind, id, state) in records {
            let schema = kind.schema
            let changes = schema.fields.indices.compactMap { index -> FieldChange? in
                guard let stamp = state.stamps[index] else { return nil }
                return FieldChange(table: kind, record: id, field: schema.fields[index].name, value: state.values[index],
                                   hlc: stamp.hlc, node: stamp.node, base: stamp.base)
            }
            if !changes.isEmpty { try insert(kind, id, changes[...], origin: origin) }
        }
    }

    private mutating func insert(_ table: RecordKind, _ record: String, _ changes: ArraySlice<FieldChange>, origin: NodeID) throws {
        var customerScope: CustomerScope?
        if case .customer(let customer) = try scope.owner(of: table, record, pending: changes) {
            customerScope = try scope.customerScope(customer)
        }
        let statement = try db.cachedStatement(sql: """
            INSERT INTO change_log (tbl, record, origin, branch, manager, changes) VALUES (?, ?, ?, ?, ?, ?)
            """)
        statement.setUncheckedArguments([
            table.rawValue, record, origin.description, customerScope?.branch, customerScope?.manager,
            Data(ChangeLogCodec.encode(changes, schema: table.schema)),
        ])
        try statement.execute()
    }
}
