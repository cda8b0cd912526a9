import FieldSyncKPI
import FieldSyncModel
import GRDB
import GRDBSQLite

/// Reads the KPI facts straight from the stored columns: only the columns the
/// KPIs use, times parsed from SQLite's text without making a String, no
/// stamps but the customers'. A year of a province is about a million rows.
struct KPIFactsReader {
    let connection: OpaquePointer

    init(_ db: Database) { connection = db.sqliteConnection! }

    func read() throws -> KPIFacts {
        var facts = KPIFacts()
        try rows("SELECT date, kind FROM calendar_days WHERE removed IS NOT 1") { row in
            guard let date = row.text(0).flatMap(LocalDate.init(iso:)) else { return }
            switch row.text(1) {
            case "holiday": facts.calendar.holidays.insert(date)
            case "workday": facts.calendar.makeUpDays.insert(date)
            default: break
            }
        }
        try rows("SELECT restoration_hours, restoration_hours_vip FROM settings WHERE id = '\(ProvinceSettings.id)'") { row in
            facts.restorationDefault = RestorationDefault(hours: row.int(0), vipHours: row.int(1))
        }
        // Customers are few; their earliest stamp stands in for a missing `since`.
        let schema = RecordKind.customer.schema
        try RecordIO(connection: connection).scan(.customer) { id, state in
            var firstRecorded: Timestamp?
            if state.value("since", in: schema) == .null, let first = state.stamps.compactMap({ $0?.hlc.milliseconds }).min() {
                firstRecorded = Timestamp(epochSeconds: Int64(first / 1000), offsetMinutes: 0)
            }
            facts.add(.customer, id, firstRecorded: firstRecorded) { state.value($0, in: schema) }
        }
        // A handover counts from when it was stamped (as `KPIFacts.add` reads it), not the `at` it states.
        let handoverManager = RecordKind.handover.schema.index(of: "manager") ?? 0
        try rows("SELECT customer, at, previous, manager, _stamps FROM handovers") { row in
            guard let id = row.text(0) else { return }
            let milliseconds = row.blob(4).flatMap { StampCodec.milliseconds(ofField: handoverManager, in: $0) }
            guard let at = milliseconds.map({ Timestamp.recorded(milliseconds: $0, offsetMinutes: 0) }) ?? row.time(1) else { return }
            facts.handovers[facts.customers[id]?.id ?? id, default: []].append(
                KPIFacts.Handover(at: at, previous: row.text(2), manager: row.text(3), milliseconds: milliseconds))
        }
        /// The customer's own id string, shared by its records.
        func customer(_ row: Row, _ column: Int32) -> String? {
            guard let id = row.text(column) else { return nil }
            return facts.customers[id]?.id ?? id
        }
        // Each time an event gives comes with when it was typed: its field's stamp, read from `_stamps` (the last column).
        // Field positions looked up once, not per row.
        func position(_ kind: RecordKind, _ field: String) -> Int { kind.schema.index(of: field) ?? -1 }
        let (faultFeedback, faultRestored) = (position(.fault, "first_feedback_at"), position(.fault, "restored_at"))
        let (complaintFeedback, complaintResolved) = (position(.complaint, "first_feedback_at"), position(.complaint, "resolved_at"))
        let visitAt = position(.visit, "at")
        let (notice, renewal, termination) = (position(.agreement, "renewal_notice_at"), position(.agreement, "renewed_at"),
                                              position(.agreement, "termination_notice_at"))
        func typed(_ row: Row, _ stamps: Int32, _ field: Int, near time: Timestamp?) -> Timestamp? {
            guard let time, let milliseconds = row.blob(stamps).flatMap({ StampCodec.milliseconds(ofField: field, in: $0) }) else { return nil }
            return .recorded(milliseconds: milliseconds, offsetMinutes: time.offsetMinutes)
        }
        func typed(_ row: Row, _ stamps: Int32, _ field: Int, day: LocalDate?) -> Timestamp? {
            typed(row, stamps, field, near: day.map { $0.start(offsetMinutes: 0) })
        }
        try rows("""
            SELECT id, customer, number, starts, ends, restore_hours, renewal_notice_at, renewed_at, termination_notice_at, _stamps
            FROM agreements WHERE removed IS NOT 1
            """) { row in
            guard let id = row.text(0), let owner = customer(row, 1) else { return }
            let noticeAt = row.date(6), renewed = row.date(7), terminationAt = row.date(8)
            facts.agreements.append(KPIFacts.Agreement(
                id: id, customer: owner, number: row.text(2) ?? "", starts: row.date(3), ends: row.date(4), restoreHours: row.int(5),
                renewalNoticeAt: noticeAt, renewedAt: renewed, terminationNoticeAt: terminationAt,
                renewalNoticeRecorded: typed(row, 9, notice, day: noticeAt),
                renewedRecorded: typed(row, 9, renewal, day: renewed),
                terminationNoticeRecorded: typed(row, 9, termination, day: terminationAt)))
        }
        try rows("SELECT id, customer, reported_at, first_feedback_at, restore_by, restored_at, level, owner, _stamps FROM faults") { row in
            guard let id = row.text(0), let owner = customer(row, 1), let reported = row.time(2) else { return }
            let feedback = row.time(3), restored = row.time(5)
            facts.faults.append(KPIFacts.Fault(id: id, customer: owner, reportedAt: reported, firstFeedbackAt: feedback, restoreBy: row.time(4),
                                               restoredAt: restored, level: row.text(6), owner: row.text(7),
                                               firstFeedbackRecorded: typed(row, 8, faultFeedback, near: feedback),
                                               restoredRecorded: typed(row, 8, faultRestored, near: restored)))
        }
        try rows("SELECT id, customer, received_at, first_feedback_at, resolved_at, escalated_at, closed_at, level, owner, _stamps FROM complaints") { row in
            guard let id = row.text(0), let owner = customer(row, 1), let received = row.time(2) else { return }
            let feedback = row.time(3), resolved = row.time(4)
            facts.complaints.append(KPIFacts.Complaint(id: id, customer: owner, receivedAt: received, firstFeedbackAt: feedback,
                                                       resolvedAt: resolved, escalatedAt: row.time(5), closedAt: row.time(6),
                                                       level: row.text(7), owner: row.text(8),
                                                       firstFeedbackRecorded: typed(row, 9, complaintFeedback, near: feedback),
                                                       resolvedRecorded: typed(row, 9, complaintResolved, near: resolved)))
        }
        // Only routine and follow-up visits count for a KPI.
        try rows("""
            SELECT customer, at, kind, complaint, manager, _stamps FROM visits
            WHERE removed IS NOT 1 AND kind IN ('\(VisitKind.routine.rawValue)', '\(VisitKind.complaintFollowUp.rawValue)')
            """) { row in
            guard let owner = customer(row, 0), let at = row.time(1), let kind = row.text(2) else { return }
            facts.visits.append(KPIFacts.Visit(customer: owner, at: at, kind: kind == VisitKind.routine.rawValue ? VisitKind.routine.rawValue
                                               : VisitKind.complaintFollowUp.rawValue, complaint: row.text(3), manager: row.text(4),
                                               recorded: typed(row, 5, visitAt, near: at)))
        }
        return facts
    }

    /// One result row: typed reads of its columns.
    struct Row {
        let statement: OpaquePointer

        func bytes(_ column: Int32) -> UnsafeBufferPointer<UInt8>? {
            guard sqlite3_column_type(statement, column) == SQLITE_TEXT, let text = sqlite3_column_text(statement, column) else { return nil }
            return UnsafeBufferPointer(start: text, count: Int(sqlite3_column_bytes(statement, column)))
        }

        func text(_ column: Int32) -> String? { bytes(column).map { String(decoding: $0, as: UTF8.self) } }

        func blob(_ column: Int32) -> UnsafeRawBufferPointer? {
            guard sqlite3_column_type(statement, column) == SQLITE_BLOB, let blob = sqlite3_column_blob(statement, column) else { return nil }
            return UnsafeRawBufferPointer(start: blob, count: Int(sqlite3_column_bytes(statement, column)))
        }

        func time(_ column: Int32) -> Timestamp? { bytes(column).flatMap { Timestamp(utf8: $0) } }

        func date(_ column: Int32) -> LocalDate? {
            guard let bytes = bytes(column), bytes.count == 10, let midnight = Timestamp(utf8: bytes) else { return nil }
            return midnight.localDay
        }

        func int(_ column: Int32) -> Int64? {
            sqlite3_column_type(statement, column) == SQLITE_INTEGER ? sqlite3_column_int64(statement, column) : nil
        }
    }

    private func rows(_ sql: String, _ body: (Row) throws -> Void) throws {
        var statement: OpaquePointer?
        let code = sqlite3_prepare_v2(connection, sql, -1, &statement, nil)
        guard code == SQLITE_OK, let statement else { throw DatabaseError(resultCode: ResultCode(rawValue: code), message: String(cString: sqlite3_errmsg(connection)), sql: sql) }
        defer { sqlite3_finalize(statement) }
        while true {
            let step = sqlite3_step(statement)
            if step == SQLITE_DONE { return }
            guard step == SQLITE_ROW else { throw DatabaseError(resultCode: ResultCode(rawValue: step), message: String(cString: sqlite3_errmsg(connection)), sql: sql) }
            try body(Row(statement: statement))
        }
    }
}
