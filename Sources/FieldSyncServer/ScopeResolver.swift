import FieldSyncModel
import FieldSyncStore

/// Where a customer's file is visible: its branch and its assigned manager.
struct CustomerScope: Equatable {
    var branch: String?
    var manager: String?

    init(branch: String? = nil, manager: String? = nil) {
        self.branch = branch
        self.manager = manager
    }

    init(_ customer: RecordState) {
        let schema = RecordKind.customer.schema
        self.init(branch: customer.value("branch", in: schema).text, manager: customer.value("manager", in: schema).text)
    }

    /// `base` with the branch and manager that `changes` give `customer`.
    init(_ base: CustomerScope, applying changes: [FieldChange], to customer: String) {
        self = base
        for change in changes where change.table == .customer && change.record == customer {
            if change.field == "branch" { branch = change.value.text }
            if change.field == "manager" { manager = change.value.text }
        }
    }
}

/// Finds the customer a record belongs to (through its parents) and that
/// customer's scope, as stored or as set by mutations accepted earlier in the
/// same push.
struct ScopeResolver {
    enum Owner: Equatable {
        case customer(String)
        /// The record, or the customer or parent it names, is unknown to the server.
        case unknown(RecordKind, String)
    }

    let io: RecordIO
    /// Customers' scopes: stored ones as read, overlaid with accepted mutations not applied yet.
    private var scopes: [String: CustomerScope] = [:]
    /// Records' parents, from accepted mutations and from stored records already looked up.
    private var parents: [RecordKey: RecordKey] = [:]

    init(io: RecordIO) { self.io = io }

    /// Takes in a mutation accepted in this push (before it is applied).
    mutating func remember(_ changes: [FieldChange]) throws {
        for change in changes {
            if change.table == .customer, scopes[change.record] == nil {
                scopes[change.record] = try customerScope(change.record) ?? CustomerScope()
            }
            if change.table == .customer, change.field == "branch" { scopes[change.record]?.branch = change.value.text }
            if change.table == .customer, change.field == "manager" { scopes[change.record]?.manager = change.value.text }
            if let parent = Self.parentKey(of: change) {
                parents[RecordKey(table: change.table, record: change.record)] = parent
            }
        }
    }

    /// The customer's scope, or nil when the server has never heard of it.
    mutating func customerScope(_ customer: String) throws -> CustomerScope? {
        if let known = scopes[customer] { return known }
        guard let stored = try io.load(.customer, customer) else { return nil }
        let scope = CustomerScope(stored)
        scopes[customer] = scope
        return scope
    }

    /// The customer whose file holds the record; `pending` are the changes
    /// travelling with it (which may name its parent).
    mutating func owner(of table: RecordKind, _ record: String, pending: ArraySlice<FieldChange>) throws -> Owner {
        var key = RecordKey(table: table, record: record)
        // customer ← fault ← fault note, and a conflict points at any of them.
        for _ in 0..<4 {
            if key.table == .customer {
                if try customerScope(key.record) != nil
                    || pending.contains(where: { $0.table == .customer && $0.record == key.record }) {
                    return .customer(key.record)
                }
                return .unknown(.customer, key.record)
            }
            guard let parent = try parent(of: key, pending: pending) else { return .unknown(key.table, key.record) }
            key = parent
        }
        return .unknown(table, record)
    }

    private mutating func parent(of key: RecordKey, pending: ArraySlice<FieldChange>) throws -> RecordKey? {
        let own = pending.filter { $0.table == key.table && $0.record == key.record }
        if let parent = own.lazy.compactMap(Self.parentKey).first { return parent }
        if key.table == .conflict,
           let target = own.first(where: { $0.field == "table" })?.value.text.flatMap(RecordKind.init(rawValue:)),
           let record = own.first(where: { $0.field == "record" })?.value.text {
            return RecordKey(table: target, record: record)
        }
        if let known = parents[key] { return known }
        guard let stored = try io.load(key.table, key.record), let parent = Self.parentKey(of: key.table, stored) else { return nil }
        parents[key] = parent
        return parent
    }

    /// The record a change's record hangs from, when the change names it.
    static func parentKey(of change: FieldChange) -> RecordKey? {
        switch (change.table, change.field) {
        case (.contact, "customer"), (.agreement, "customer"), (.visit, "customer"), (.fault, "customer"), (.complaint, "customer"):
            return change.value.text.map { RecordKey(table: .customer, record: $0) }
        case (.faultNote, "fault"): return change.value.text.map { RecordKey(table: .fault, record: $0) }
        case (.complaintNote, "complaint"): return change.value.text.map { RecordKey(table: .complaint, record: $0) }
        default: return nil
        }
    }

    static func parentKey(of table: RecordKind, _ state: RecordState) -> RecordKey? {
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
}
