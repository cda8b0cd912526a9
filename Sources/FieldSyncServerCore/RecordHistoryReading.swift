import FieldSyncModel
import FieldSyncProtocol

/// What a record's history is built from on a server, as an engine reads it
/// (`KPIStorage.historyInputs`): the record, the customer whose file holds it,
/// and the log rows of the record and of the conflicts in that file.
public struct HistoryInputs: Sendable {
    public struct Row: Sendable {
        public var table: RecordKind
        public var record: String
        /// `ChangeLogCodec` bytes.
        public var changes: [UInt8]
        /// When this server received it (its log receipt), milliseconds; nil for rows logged before receipts were kept.
        public var receivedAt: UInt64?

        public init(table: RecordKind, record: String, changes: [UInt8], receivedAt: UInt64?) {
            self.table = table
            self.record = record
            self.changes = changes
            self.receivedAt = receivedAt
        }
    }

    public var state: RecordState
    /// The customer record whose file holds it; nil for the province's lists (calendar, branches).
    public var customer: RecordState?
    public var rows: [Row]

    public init(state: RecordState, customer: RecordState?, rows: [Row]) {
        self.state = state
        self.customer = customer
        self.rows = rows
    }

    /// Most log rows a history reads: a file's conflicts are read with it, and a request is bounded.
    public static let rowLimit = 20_000
}

/// When the server received each stretch of its change log: one receipt per
/// write transaction that appended rows (the first sequence number it could
/// have used, and the server's clock), not one per row. A row's receipt is the
/// latest at or before its number.
public enum LogReceipts {}

extension KPIStorage {
    /// The history of one record as this server holds it, or nil when it does not hold it or
    /// `user` may not read it (the same answer, so a caller learns nothing of other branches' ids).
    public func history(of key: RecordKey, for user: UserInfo) async throws -> RecordHistory? {
        guard let inputs = try await historyInputs(of: key) else { return nil }
        let policy = AccessPolicy(user)
        if let customer = inputs.customer {
            guard policy.allows(CustomerScope(customer)) else { return nil }
        } else if !key.table.isProvinceWide, !policy.isUnrestricted {
            return nil
        }
        var logged: [RecordHistory.Logged] = []
        var conflictIDs: Set<String> = []
        for row in inputs.rows {
            if row.table == .conflict { conflictIDs.insert(row.record) }
            guard row.table == key.table, row.record == key.record else { continue }
            var changes: [FieldChange] = []
            try row.changes.withUnsafeBytes { try ChangeLogCodec.decode($0, table: row.table, record: row.record, into: &changes) }
            logged.append(RecordHistory.Logged(changes: changes, receivedAt: row.receivedAt))
        }
        return RecordHistory.build(table: key.table, record: key.record, logged: logged, current: inputs.state, conflictIDs: conflictIDs)
    }
}

/// The query of `GET /v1/history`, checked: which record, and perhaps one field.
public struct HistoryQuery: Sendable {
    public var key: RecordKey
    public var field: String?

    public init(query: (String) -> String?) throws {
        guard let tableName = query("table"), let table = RecordKind(rawValue: tableName) else {
            throw ServerError.badRequest("table: give one of \(RecordKind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard let id = query("id"), RecordID.isValid(id) else {
            throw ServerError.badRequest("id: give the record's id (36 characters, lowercase hexadecimal in groups of 8-4-4-4-12)")
        }
        if let field = query("field"), table.schema.index(of: field) == nil {
            throw ServerError.badRequest("field: \(table.rawValue) has no field '\(Wording.printable(String(field.prefix(40))))'")
        }
        key = RecordKey(table: table, record: id)
        field = query("field")
    }
}
