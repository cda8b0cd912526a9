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
/// `noteChange(in:)` once per transaction instead, and the connection's one
/// observer (added once, for the connection's lifetime) counts the commit.
/// Not an observer per transaction: GRDB drops its cached statements that
/// delete whenever an observer is added or removed, so every transaction
/// compiled them again (a tenth of the server's CPU per small sync).
public enum RecordChangeCounter {
    private static let counts = Mutex<[String: UInt64]>([:])
    /// Each connection's observer, by connection object (checked by identity: an address may be reused).
    private static let observers = Mutex<[ObjectIdentifier: Observer]>([:])

    /// The file a connection writes ("" for an in-memory database, shared by all of them: more recounts, never a stale count).
    static func key(_ db: Database) -> String {
        guard let connection = db.sqliteConnection, let name = sqlite3_db_filename(connection, "main") else { return "" }
        return String(cString: name)
    }

    /// Inside a write transaction that changes a record: the count rises when it commits.
    static func noteChange(in db: Database) {
        let (observer, isNew) = observers.withLock { map -> (Observer, Bool) in
            if let existing = map[ObjectIdentifier(db)], existing.database === db { return (existing, false) }
            map = map.filter { $0.value.database != nil }
            let observer = Observer(key: key(db), database: db)
            map[ObjectIdentifier(db)] = observer
            return (observer, true)
        }
        if isNew { db.add(transactionObserver: observer, extent: .databaseLifetime) }
        observer.changed = true
    }

    static func generation(of key: String) -> UInt64 { counts.withLock { $0[key] ?? 0 } }

    /// Counts the commits of its connection's transactions that noted a change. Its state is touched
    /// only on that connection's queue (`noteChange` runs inside the transaction, the callbacks at its end).
    private final class Observer: TransactionObserver, @unchecked Sendable {
        let key: String
        weak var database: Database?
        var changed = false

        init(key: String, database: Database) {
            self.key = key
            self.database = database
        }

        func observes(eventsOfKind eventKind: DatabaseEventKind) -> Bool { false }
        func databaseDidChange(with event: DatabaseEvent) {}

        func databaseDidCommit(_ db: Database) {
            guard changed else { return }
            changed = false
            counts.withLock { $0[key, default: 0] &+= 1 }
        }

        func databaseDidRollback(_ db: Database) { changed = false }
    }
}
