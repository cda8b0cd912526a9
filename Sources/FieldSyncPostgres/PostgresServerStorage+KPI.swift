import FieldSyncKPI
import FieldSyncModel
import FieldSyncProtocol
import FieldSyncServerCore
import Foundation
import Logging
import NIOCore
import PostgresNIO

/// KPI inputs in PostgreSQL: the records the KPIs count, decoded as a replica
/// reads them; the cache is valid while the change log's head stays (any
/// instance's write moves it).
extension PostgresServerStorage: KPIStorage {
    public func recordGeneration() async throws -> UInt64 {
        let head = try await client.withConnection { connection in
            try await connection.first("SELECT seq FROM change_log_head", as: Int64.self, logger: logger)
        }
        return UInt64(clamping: head ?? 0)
    }

    public func loadKPIFacts() async throws -> KPIFacts {
        var facts = KPIFacts()
        // Customers first: their records share the customer's id string.
        let kinds: [RecordKind] = [.customer, .calendarDay, .setting, .handover, .agreement, .visit, .fault, .complaint]
        try await client.withConnection { connection in
            for kind in kinds {
                let schema = kind.schema
                for try await (id, bytes) in try await connection.query("SELECT id, state FROM records WHERE kind = \(kind.rawValue)", logger: logger)
                    .decode((String, ByteBuffer).self) {
                    let state = try Self.state(bytes, kind, id)
                    var firstRecorded: Timestamp?
                    // A customer's earliest stamp stands in for a missing `since`.
                    if kind == .customer, state.value("since", in: schema) == .null, let first = state.stamps.compactMap({ $0?.hlc.milliseconds }).min() {
                        firstRecorded = Timestamp(epochSeconds: Int64(first / 1000), offsetMinutes: 0)
                    }
                    facts.add(kind, id, firstRecorded: firstRecorded, field: { state.value($0, in: schema) },
                              stamp: { name in schema.index(of: name).flatMap { state.stamps.indices.contains($0) ? state.stamps[$0]?.hlc.milliseconds : nil } })
                }
            }
        }
        return facts.indexed()
    }

    public func serviceRecords(customer: String) async throws -> [RecordKind: [(id: String, fields: ServiceReport.Fields)]] {
        var records: [RecordKind: [(id: String, fields: ServiceReport.Fields)]] = [:]
        try await client.withConnection { connection in
            for try await (kind, id, bytes) in try await connection.query("""
                SELECT kind, id, state FROM records WHERE customer = \(customer) AND kind IN ('visits', 'faults', 'complaints') ORDER BY id COLLATE "C"
                """, logger: logger).decode((String, String, ByteBuffer).self) {
                guard let table = RecordKind(rawValue: kind) else { continue }
                let state = try Self.state(bytes, table, id)
                // Only records whose own customer field names it (a conflict's subject is not the customer's record).
                guard state.value("customer", in: table.schema).text == customer else { continue }
                records[table, default: []].append((id, state.dictionary(in: table.schema)))
            }
        }
        return records
    }

    public func documentRecords(customer: String) async throws -> [RecordKind: [(id: String, fields: ServiceReport.Fields)]] {
        var records: [RecordKind: [(id: String, fields: ServiceReport.Fields)]] = [:]
        let kinds = CaseDocuments.documentKinds.map(\.rawValue)
        try await client.withConnection { connection in
            // `customer` is the file a record belongs to: a note's is its fault's or complaint's customer.
            for try await (kind, id, bytes) in try await connection.query("""
                SELECT kind, id, state FROM records WHERE customer = \(customer) AND kind = ANY(\(kinds)::text[]) ORDER BY id COLLATE "C"
                """, logger: logger).decode((String, String, ByteBuffer).self) {
                guard let table = RecordKind(rawValue: kind) else { continue }
                let state = try Self.state(bytes, table, id)
                // A record naming a customer names this one (a conflict's subject is not the customer's record).
                if table.schema.index(of: "customer") != nil, state.value("customer", in: table.schema).text != customer { continue }
                records[table, default: []].append((id, state.dictionary(in: table.schema)))
            }
        }
        return records
    }

    public func historyRecord(of key: RecordKey) async throws -> HistoryRecord? {
        try await client.withConnection { connection in
            var found: (state: RecordState, customer: String?)?
            for try await (bytes, customer) in try await connection.query(
                "SELECT state, customer FROM records WHERE kind = \(key.table.rawValue) AND id = \(key.record)", logger: logger)
                .decode((ByteBuffer, String?).self) {
                found = (try Self.state(bytes, key.table, key.record), customer)
            }
            guard let found else { return nil }
            guard !key.table.isProvinceWide, let customer = found.customer else {
                return HistoryRecord(state: found.state, customerID: nil, customer: nil)
            }
            var customerState: RecordState?
            for try await bytes in try await connection.query(
                "SELECT state FROM records WHERE kind = 'customers' AND id = \(customer)", logger: logger).decode(ByteBuffer.self) {
                customerState = try Self.state(bytes, .customer, customer)
            }
            guard let customerState else { return HistoryRecord(state: found.state, customerID: nil, customer: nil) }
            return HistoryRecord(state: found.state, customerID: customer, customer: customerState)
        }
    }

    public func historyRows(of key: RecordKey, customer: String?) async throws -> HistoryRows {
        try await client.withConnection { connection in
            let receipt = "(SELECT at FROM log_receipts WHERE first_seq <= change_log.seq ORDER BY first_seq DESC LIMIT 1)"
            let limit = Int64(HistoryRows.rowLimit + 1)
            let rows: PostgresRowSequence
            if let customer {
                rows = try await connection.query("""
                    SELECT changes, \(unescaped: receipt) FROM change_log WHERE customer = \(customer) AND tbl = \(key.table.rawValue)
                    AND record = \(key.record) ORDER BY seq DESC LIMIT \(limit)
                    """, logger: logger)
            } else {
                rows = try await connection.query("""
                    SELECT changes, \(unescaped: receipt) FROM change_log WHERE tbl IN (\(unescaped: RecordKind.provinceWideSQLList))
                    AND tbl = \(key.table.rawValue) AND record = \(key.record) ORDER BY seq DESC LIMIT \(limit)
                    """, logger: logger)
            }
            var found: [HistoryRows.Row] = []
            var bytes = 0, truncated = false
            // Read to the end (at most `rowLimit + 1` rows) rather than leave the query half read on the connection.
            for try await (changes, received) in rows.decode((ByteBuffer, Int64?).self) {
                bytes += changes.readableBytes
                guard !truncated, found.count < HistoryRows.rowLimit, bytes <= HistoryRows.byteLimit else { truncated = true; continue }
                found.append(HistoryRows.Row(changes: Array(changes.readableBytesView), receivedAt: received.map { UInt64(clamping: $0) }))
            }
            // The conflicts about it live in the same file (or, for a province list, in none).
            var conflicts: Set<String> = []
            let schema = RecordKind.conflict.schema
            let candidates: PostgresRowSequence = customer == nil
                ? try await connection.query("SELECT id, state FROM records WHERE kind = 'conflicts' AND customer IS NULL", logger: logger)
                : try await connection.query("SELECT id, state FROM records WHERE kind = 'conflicts' AND customer = \(customer ?? "")", logger: logger)
            for try await (id, bytes) in candidates.decode((String, ByteBuffer).self) {
                let state = try Self.state(bytes, .conflict, id)
                if state.value("record", in: schema).text == key.record, state.value("table", in: schema).text == key.table.rawValue { conflicts.insert(id) }
            }
            return HistoryRows(rows: found.reversed(), conflictIDs: conflicts, truncated: truncated)
        }
    }

    /// Unresolved conflict records with their files' customers; a province hands nothing back (it has no upstream).
    public func inboxInputs() async throws -> InboxInputs {
        try await client.withConnection { connection in
            var found: [(id: String, state: RecordState, customer: String?)] = []
            for try await (id, bytes, customer) in try await connection.query(
                "SELECT id, state, customer FROM records WHERE kind = 'conflicts'", logger: logger).decode((String, ByteBuffer, String?).self) {
                let state = try Self.state(bytes, .conflict, id)
                guard !state.value("resolved", in: RecordKind.conflict.schema).bool else { continue }
                found.append((id, state, customer))
            }
            let ids = Array(Set(found.compactMap(\.customer)))
            var customers: [String: RecordState] = [:]
            if !ids.isEmpty {
                for try await (id, bytes) in try await connection.query(
                    "SELECT id, state FROM records WHERE kind = 'customers' AND id = ANY(\(ids))", logger: logger).decode((String, ByteBuffer).self) {
                    customers[id] = try Self.state(bytes, .customer, id)
                }
            }
            return InboxInputs(conflicts: found.map { InboxInputs.Conflict(id: $0.id, state: $0.state, customer: $0.customer.flatMap { customers[$0] }) },
                               handedBack: [])
        }
    }

    public func digestChecks() async throws -> [String: DigestCheck] {
        var checks: [String: DigestCheck] = [:]
        for try await (device, checkedAt, matched, differing) in try await client.query(
            "SELECT device, checked_at, matched, differing FROM digest_checks", logger: logger).decode((String, Int64, Bool, Int64).self) {
            checks[device] = DigestCheck(device: device, checkedAt: UInt64(clamping: checkedAt), matched: matched, differing: Int(clamping: differing))
        }
        return checks
    }

    public func noteDigestCheck(_ check: DigestCheck) async throws {
        try await client.query("""
            INSERT INTO digest_checks (device, checked_at, matched, differing)
            VALUES (\(check.device), \(Int64(clamping: check.checkedAt)), \(check.matched), \(Int64(check.differing)))
            ON CONFLICT (device) DO UPDATE SET checked_at = excluded.checked_at, matched = excluded.matched, differing = excluded.differing
            """, logger: logger)
    }

    public func freshnessInputs() async throws -> (devices: [DeviceRecord], below: [String: FreshnessReport]) {
        var below: [String: FreshnessReport] = [:]
        for try await (device, complete, devices, pending, stale) in try await client.query(
            "SELECT device, complete_up_to, devices, pending, stale FROM reported_below", logger: logger).decode((String, Int64?, Int64, Int64, Int64).self) {
            below[device] = FreshnessReport(completeUpTo: complete.map { UInt64(clamping: $0) }, devices: Int(clamping: devices),
                                            pending: Int(clamping: pending), notSeenForThreeDays: Int(clamping: stale))
        }
        return (try await devices(), below)
    }
}
