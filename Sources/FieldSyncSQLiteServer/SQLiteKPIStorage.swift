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
    public func freshnessInputs() async throws -> (devices: [DeviceRecord], below: [String: FreshnessReport]) {
        try await offload { try store.freshnessInputs() }
    }
    public func historyInputs(of key: RecordKey) async throws -> HistoryInputs? {
        try await offload { try store.historyInputs(of: key) }
    }
    public func inboxInputs() async throws -> InboxInputs {
        try await offload { try store.inboxInputs() }
    }
}

extension ServerStore {
    /// Unresolved conflict records (each with its file's customer) and the upstream's refusals of relayed work.
    func inboxInputs() throws -> InboxInputs {
        try writer.read { db in
            let io = RecordIO(db)
            var conflicts: [InboxInputs.Conflict] = []
            for (id, state) in try io.scan(.conflict) where !state.value("resolved", in: RecordKind.conflict.schema).bool {
                let file = try RecordOwner.file(of: RecordKey(table: .conflict, record: id)) { try io.load($0.table, $0.record) }
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

    /// The record, its customer, and the log rows of the record and of its file's conflicts (found by
    /// the customer the rows were logged under, `change_log_customer`), each with its receipt.
    func historyInputs(of key: RecordKey) throws -> HistoryInputs? {
        try writer.read { db in
            let io = RecordIO(db)
            guard let state = try io.load(key.table, key.record) else { return nil }
            let file = key.table.isProvinceWide ? nil : try RecordOwner.file(of: key) { try io.load($0.table, $0.record) }
            let receipt = "(SELECT at FROM log_receipts WHERE first_seq <= change_log.seq ORDER BY first_seq DESC LIMIT 1)"
            let rows: RowCursor
            if let file {
                rows = try Row.fetchCursor(db, sql: """
                    SELECT tbl, record, changes, \(receipt) FROM change_log
                    WHERE customer = ? AND ((tbl = ? AND record = ?) OR tbl = 'conflicts') ORDER BY seq LIMIT \(HistoryInputs.rowLimit)
                    """, arguments: [file.customer, key.table.rawValue, key.record])
            } else {
                rows = try Row.fetchCursor(db, sql: """
                    SELECT tbl, record, changes, \(receipt) FROM change_log
                    WHERE tbl = ? AND record = ? ORDER BY seq LIMIT \(HistoryInputs.rowLimit)
                    """, arguments: [key.table.rawValue, key.record])
            }
            var found: [HistoryInputs.Row] = []
            while let row = try rows.next() {
                guard let table = RecordKind(rawValue: row[0]) else { continue }
                let received: Int64? = row[3]
                found.append(HistoryInputs.Row(table: table, record: row[1], changes: [UInt8](row[2] as Data),
                                               receivedAt: received.map { UInt64(clamping: $0) }))
            }
            return HistoryInputs(state: state, customer: file?.state, rows: found)
        }
    }
}
