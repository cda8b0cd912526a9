import FieldSyncKPI
import FieldSyncModel
import FieldSyncProtocol

/// A record as a history needs it first: enough to check the reader's scope
/// before any log row is read (`KPIStorage.historyRecord`).
public struct HistoryRecord: Sendable {
    public var state: RecordState
    /// The id and state of the customer whose file holds it; nil for the province's lists and records in no file.
    public var customerID: String?
    public var customer: RecordState?
    /// The file has left this branch server's branch (served to no one of it any more, as the pull does).
    public var departed: Bool

    public init(state: RecordState, customerID: String?, customer: RecordState?, departed: Bool = false) {
        self.state = state
        self.customerID = customerID
        self.customer = customer
        self.departed = departed
    }
}

/// A record's own log rows (newest first read, returned in log order) and the conflicts about it
/// (`KPIStorage.historyRows`).
public struct HistoryRows: Sendable {
    public struct Row: Sendable {
        /// `ChangeLogCodec` bytes.
        public var changes: [UInt8]
        /// When this server received it (its log receipt), milliseconds; nil for rows logged before receipts were kept.
        public var receivedAt: UInt64?

        public init(changes: [UInt8], receivedAt: UInt64?) {
            self.changes = changes
            self.receivedAt = receivedAt
        }
    }

    public var rows: [Row]
    /// Ids of the conflict records about this record.
    public var conflictIDs: Set<String>
    /// Older rows were left out (`rowLimit`, `byteLimit`).
    public var truncated: Bool

    public init(rows: [Row], conflictIDs: Set<String>, truncated: Bool) {
        self.rows = rows
        self.conflictIDs = conflictIDs
        self.truncated = truncated
    }

    /// Most log rows, and bytes of them, one history reads: the newest are kept.
    public static let rowLimit = 5_000
    public static let byteLimit = 8 << 20
}

/// When the server received each stretch of its change log: one receipt per
/// write transaction that appended rows (the first sequence number it could
/// have used, and the server's clock), not one per row. A row's receipt is the
/// latest at or before its number.
public enum LogReceipts {}

extension RecordKind {
    /// The province's lists as an SQL list of literals (`'calendar_days', …`), as both engines' pulls and the
    /// partial index `change_log_province_wide` name them; derived from `isProvinceWide`, so a new
    /// province-wide kind changes the pulls, and `ServerMigrationTests` asks for the index to be made again.
    package static let provinceWideSQLList = allCases.filter(\.isProvinceWide).map { "'\($0.rawValue)'" }.joined(separator: ", ")
}

extension KPIStorage {
    /// The history of one record as this server holds it, or nil when it does not hold it or
    /// `user` may not read it (the same answer, so a caller learns nothing of other branches' ids).
    /// The scope is checked on the record before any log row is read; a record in no
    /// customer's file (nor a province list) is the province's and administrators' only, and its
    /// log is not searched (it would need a scan of the whole log).
    public func history(of key: RecordKey, for user: UserInfo) async throws -> RecordHistory? {
        guard let record = try await historyRecord(of: key) else { return nil }
        let policy = AccessPolicy(user)
        if let customer = record.customer {
            guard policy.isUnrestricted || (!record.departed && policy.allows(CustomerScope(customer))) else { return nil }
        } else if !key.table.isProvinceWide {
            guard policy.isUnrestricted else { return nil }
            var history = RecordHistory.build(table: key.table, record: key.record, logged: [], current: record.state, conflictIDs: [])
            history.truncated = true
            return history
        }
        let read = try await historyRows(of: key, customer: record.customerID)
        var logged: [RecordHistory.Logged] = []
        for row in read.rows {
            var changes: [FieldChange] = []
            try row.changes.withUnsafeBytes { try ChangeLogCodec.decode($0, table: key.table, record: key.record, into: &changes) }
            logged.append(RecordHistory.Logged(changes: changes, receivedAt: row.receivedAt))
        }
        var history = RecordHistory.build(table: key.table, record: key.record, logged: logged, current: record.state, conflictIDs: read.conflictIDs)
        if read.truncated { history.truncated = true }
        return history
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
        // A field the table does not have is a resource that does not exist (404), as an unknown id is.
        if let field = query("field"), table.schema.index(of: field) == nil {
            throw ServerError(.notFound, ErrorCode.notFound, "field: \(table.rawValue) has no field '\(Wording.printable(String(field.prefix(40))))'")
        }
        key = RecordKey(table: table, record: id)
        field = query("field")
    }
}

extension KPIStorage {
    /// `kpi late` as this server answers it: each event with when this server first received the
    /// write that typed its time (`KPILateRecord.received`), cached as the figures are.
    public func recordedLate(_ query: KPIQuery, for user: UserInfo) async throws -> [KPILateRecord] {
        let late = try await kpiResult("late\u{1F}" + query.cacheKey, for: user) { facts in
            KPIEngine.recordedLate(query.select(facts), period: query.period, asOf: query.asOf)
        }
        return try await withReceipts(late, cacheKey: "late-received\u{1F}" + query.cacheKey, for: user)
    }

    /// `late` with the server's receipts: the earliest receipt of a log row of the event's record
    /// holding a change typed in the second it reads as typed. Read for the first `maxLateReceipts`
    /// (one history read per record: the log is found by the record's customer); the rest keep nil.
    public func withReceipts(_ late: [KPILateRecord], cacheKey: String, for user: UserInfo) async throws -> [KPILateRecord] {
        guard !late.isEmpty else { return late }
        let generation = try await recordGeneration()
        return try await kpiCache.result(Self.cacheScope(of: user) + cacheKey, generation: generation) {
            var result = late
            var receipts: [RecordKey: [Int64: UInt64]] = [:]
            for index in result.indices.prefix(Self.maxLateReceipts) {
                let event = result[index].event
                let key = RecordKey(table: event.table, record: event.record)
                if receipts[key] == nil {
                    var bySecond: [Int64: UInt64] = [:]
                    for row in try await historyRows(of: key, customer: event.customer.isEmpty ? nil : event.customer).rows {
                        guard let at = row.receivedAt else { continue }
                        var changes: [FieldChange] = []
                        try row.changes.withUnsafeBytes { try ChangeLogCodec.decode($0, table: key.table, record: key.record, into: &changes) }
                        for change in changes where change.record == key.record {
                            let second = Int64(clamping: change.hlc.milliseconds / 1_000)
                            bySecond[second] = min(bySecond[second] ?? .max, at)
                        }
                    }
                    receipts[key] = bySecond
                }
                let late = result[index]
                if let at = receipts[key]?[late.recorded.epochSeconds] {
                    result[index].received = Timestamp.recorded(milliseconds: at, offsetMinutes: late.claimed.offsetMinutes)
                }
            }
            return result
        }
    }

    /// Late events given their receipt in one answer, at most (each costs a history read of its record).
    public static var maxLateReceipts: Int { 500 }
}
