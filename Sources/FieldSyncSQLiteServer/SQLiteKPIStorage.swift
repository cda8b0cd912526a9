import FieldSyncKPI
import FieldSyncModel
import FieldSyncProtocol
import FieldSyncServerCore
import FieldSyncStore
import Foundation
import GRDB

/// The SQLite engine's KPI inputs behind the protocol.
public struct SQLiteKPIStorage: KPIStorage {
    public let store: ServerStore

    public init(_ store: ServerStore) { self.store = store }

    public var kpiCache: KPIFactsCache { store.kpiCache }
    public var now: UInt64 { store.now }
    public func recordGeneration() async throws -> UInt64 { store.replica.recordGeneration }
    public func loadKPIFacts() async throws -> KPIFacts { try await offload { try store.replica.kpiFacts() } }
    public func serviceRecords(customer: String) async throws -> [RecordKind: [(id: String, fields: ServiceReport.Fields)]] {
        try await offload { try store.replica.serviceRecords(customer: customer) }
    }
    public func documentRecords(customer: String) async throws -> [RecordKind: [(id: String, fields: ServiceReport.Fields)]] {
        try await offload { try store.replica.documentRecords(customer: customer) }
    }
    public func freshnessInputs() async throws -> (devices: [DeviceRecord], below: [String: FreshnessReport]) {
        try await offload { try store.freshnessInputs() }
    }
    public func historyRecord(of key: RecordKey) async throws -> HistoryRecord? {
        try await offload { try store.historyRecord(of: key) }
    }
    public func historyRows(of key: RecordKey, customer: String?) async throws -> HistoryRows {
        try await offload { try store.historyRows(of: key, customer: customer) }
    }
    public func inboxInputs() async throws -> InboxInputs {
        try await offload { try store.inboxInputs() }
    }
    public func digestChecks() async throws -> [String: DigestCheck] {
        try await offload { try store.digestChecks() }
    }
    public func noteDigestCheck(_ check: DigestCheck) async throws {
        try await offload { try store.noteDigestCheck(check) }
    }
}

extension ServerStore {
    /// Unresolved conflict records (each with its file's customer) and the upstream's refusals of relayed work.
    func inboxInputs() throws -> InboxInputs {
        try writer.read { db in
            let io = RecordIO(db)
            var conflicts: [InboxInputs.Conflict] = []
            // A file that left this branch server's branch is served to no one here (as the pull).
            let departed = Set(try String.fetchAll(db, sql: "SELECT customer FROM departed"))
            for (id, state) in try io.scan(.conflict) where !state.value("resolved", in: RecordKind.conflict.schema).bool {
                let file = try RecordOwner.file(of: RecordKey(table: .conflict, record: id)) { try io.load($0.table, $0.record) }
                if let file, departed.contains(file.customer) { continue }
                conflicts.append(InboxInputs.Conflict(id: id, state: state, customer: file?.state))
            }
            let handedBack = try Row.fetchAll(db, sql: "SELECT origin, counter, reason, returned FROM upstream_rejections ORDER BY origin, counter LIMIT 5000")
                .compactMap { row -> InboxInputs.HandedBack? in
                    guard let origin = NodeID(row[0] as String) else { return nil }
                    let counter: Int64 = row[1]
                    return InboxInputs.HandedBack(origin: origin, counter: UInt64(clamping: counter), reason: row[2], returned: (row[3] as Int64) != 0)
                }
            return InboxInputs(conflicts: conflicts, handedBack: handedBack)
        }
    }

    /// The record and the customer whose file holds it; whether that file has left this branch server's branch.
    func historyRecord(of key: RecordKey) throws -> HistoryRecord? {
        try writer.read { db in
            let io = RecordIO(db)
            guard let state = try io.load(key.table, key.record) else { return nil }
            guard !key.table.isProvinceWide, let file = try RecordOwner.file(of: key, in: { try io.load($0.table, $0.record) }) else {
                return HistoryRecord(state: state, customerID: nil, customer: nil)
            }
            let departed = try Bool.fetchOne(db, sql: "SELECT 1 FROM departed WHERE customer = ?", arguments: [file.customer]) ?? false
            return HistoryRecord(state: state, customerID: file.customer, customer: file.state, departed: departed)
        }
    }

    /// The record's newest log rows (by its customer's rows, `change_log_customer`, or the province
    /// lists' partial index), within `HistoryRows`' bounds, in log order; the conflicts about it.
    func historyRows(of key: RecordKey, customer: String?) throws -> HistoryRows {
        try writer.read { db in
            let receipt = "(SELECT at FROM log_receipts WHERE first_seq <= change_log.seq ORDER BY first_seq DESC LIMIT 1)"
            let rows: RowCursor
            if let customer {
                rows = try Row.fetchCursor(db, sql: """
                    SELECT changes, \(receipt) FROM change_log WHERE customer = ? AND tbl = ? AND record = ?
                    ORDER BY seq DESC LIMIT \(HistoryRows.rowLimit + 1)
                    """, arguments: [customer, key.table.rawValue, key.record])
            } else {
                rows = try Row.fetchCursor(db, sql: """
                    SELECT changes, \(receipt) FROM change_log WHERE tbl IN (\(Self.provinceWideTables)) AND tbl = ? AND record = ?
                    ORDER BY seq DESC LIMIT \(HistoryRows.rowLimit + 1)
                    """, arguments: [key.table.rawValue, key.record])
            }
            var found: [HistoryRows.Row] = []
            var bytes = 0, truncated = false
            while let row = try rows.next() {
                let changes = [UInt8](row[0] as Data)
                bytes += changes.count
                guard found.count < HistoryRows.rowLimit, bytes <= HistoryRows.byteLimit else { truncated = true; break }
                let received: Int64? = row[1]
                found.append(HistoryRows.Row(changes: changes, receivedAt: received.map { UInt64(clamping: $0) }))
            }
            let conflicts = try String.fetchSet(db, sql: #"SELECT id FROM conflicts WHERE record = ? AND "table" = ?"#,
                                                arguments: [key.record, key.table.rawValue])
            return HistoryRows(rows: found.reversed(), conflictIDs: conflicts, truncated: truncated)
        }
    }

}
