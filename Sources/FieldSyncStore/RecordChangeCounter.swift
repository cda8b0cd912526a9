import GRDB
import GRDBSQLite
import Synchronization

/// Counts, per database file, the committed transactions that changed a
/// record, so a cache of what is computed from the records (the server's KPI
/// facts) knows it is stale. Transactions that touch only other tables
/// (devices' last-seen times, enrolment codes) leave the count alone.
///
/// Record writes go through raw SQLite statements (`RecordIO`), which GRDB's
/// change observation does not see; each writer of records calls
/// `noteChange(in:)` once per transaction instead.
public enum RecordChangeCounter {
    private static let counts = Mutex<[String: UInt64]>([:])

    /// The file a connection writes ("" for an in-memory database, shared by all of them: more recounts, never a stale count).
    static func key(_ db: Database) -> String {
        guard let connection = db.sqliteConnection, let name = sqlite3_db_filename(connection, "main") else { return "" }
        return String(cString: name)
    }

    /// Inside a write transaction that changes a record: the count rises when it commits.
    static func noteChange(in db: Database) {
        let key = key(db)
        db.afterNextTransaction(onCommit: { _ in counts.withLock { $0[key, default: 0] &+= 1 } })
    }

    static func generation(of key: String) -> UInt64 { counts.withLock { $0[key] ?? 0 } }
}
