import Crypto
import FieldSyncModel
import FieldSyncProtocol
import FieldSyncServerCore
import FieldSyncStore
import Foundation
import GRDB
import Synchronization

/// The server's replica plus what only a server keeps: people, enrolment
/// codes, devices, and the change log that gives every accepted change a
/// sequence number. All in one SQLite file, so accepting a push (records,
/// log, idempotency marks) is one durable transaction.
public struct ServerStore: Sendable {
    public let replica: Replica
    public var writer: any DatabaseWriter { replica.writer }
    /// The KPI facts between requests, until a record changes.
    public let kpiCache = KPIFactsCache()
    /// Concurrent syncs share a transaction and its disk flush.
    let groupCommit = GroupCommit()
    /// Whether this server relays to a provincial server (it then keeps its devices' signed pages).
    package let relaysUpstream = UpstreamRole()
    /// The server's node, read once: every sync names it and it never changes while the store is open.
    let ownNode = OwnNode()
    /// The incarnation as read when first needed: it changes only while no server runs (`restore`).
    let incarnationRead = Remembered<String>()
    /// The highest change-log number this process has seen (the log only grows while it runs).
    let knownHead = KnownHead()

    public static let fileName = "server.sqlite"

    /// The folder of the database file (nil for one in memory).
    public var folder: String? {
        let path = writer.path
        return path.isEmpty || path == ":memory:" ? nil : (path as NSString).deletingLastPathComponent
    }

    public init(replica: Replica) throws {
        self.replica = replica
        try Self.migrator.migrate(replica.writer)
        if try replica.identity() != nil { try registerBranchesInUse() }
    }

    public static func open(folder: String, wallClock: @escaping @Sendable () -> UInt64 = Replica.systemMilliseconds) throws -> ServerStore {
        try ServerStore(replica: Replica.open(path: (folder as NSString).appendingPathComponent(fileName), wallClock: wallClock,
                                             checkpointInBackground: true))
    }

    /// The server's own tables, next to the replica's (whose migrations are named without the `server-` prefix).
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("server-v1") { db in
            try db.execute(sql: """
                CREATE TABLE IF NOT EXISTS users (
                    id TEXT PRIMARY KEY NOT NULL, name TEXT NOT NULL UNIQUE, role TEXT NOT NULL,
                    branch TEXT, created_at INTEGER NOT NULL);
                CREATE TABLE IF NOT EXISTS enrolment_codes (
                    code_hash TEXT PRIMARY KEY NOT NULL, user_id TEXT NOT NULL REFERENCES users(id),
                    expires_at INTEGER NOT NULL, used_at INTEGER);
                CREATE TABLE IF NOT EXISTS devices (
                    id TEXT PRIMARY KEY NOT NULL, user_id TEXT NOT NULL REFERENCES users(id),
                    node TEXT NOT NULL, name TEXT NOT NULL, token_hash TEXT NOT NULL UNIQUE,
                    created_at INTEGER NOT NULL, revoked_at INTEGER, last_seen INTEGER);
                CREATE TABLE IF NOT EXISTS change_log (
                    seq INTEGER PRIMARY KEY AUTOINCREMENT, tbl TEXT NOT NULL, record TEXT NOT NULL,
                    field TEXT NOT NULL, value, hlc INTEGER NOT NULL, node TEXT NOT NULL,
                    base INTEGER NOT NULL, branch TEXT);
                CREATE TABLE IF NOT EXISTS applied_mutations (
                    origin TEXT NOT NULL, counter INTEGER NOT NULL, PRIMARY KEY (origin, counter)) WITHOUT ROWID;
                """)
        }
        migrator.registerMigration("server-v2-record-log") { db in
            // One log row per record per mutation (ChangeLogCodec), scoped by the
            // customer's branch and manager. Sequence numbers carry over, so
            // devices' cursors stay valid.
            try db.execute(sql: """
                ALTER TABLE change_log RENAME TO field_log;
                CREATE TABLE change_log (
                    seq INTEGER PRIMARY KEY AUTOINCREMENT, tbl TEXT NOT NULL, record TEXT NOT NULL,
                    origin TEXT NOT NULL, branch TEXT, manager TEXT, changes BLOB NOT NULL);
                """)
            let rows = try Row.fetchCursor(db, sql: "SELECT seq, tbl, record, field, value, hlc, node, base, branch FROM field_log ORDER BY seq")
            let insert = try db.makeStatement(sql: "INSERT INTO change_log (seq, tbl, record, origin, branch, changes) VALUES (?, ?, ?, ?, ?, ?)")
            while let row = try rows.next() {
                // Fields keep their positions forever (`SchemaFreezeTests`), so the schema names them as it did then.
                guard let table = RecordKind(rawValue: row[1]), let node = NodeID(row[6] as String),
                      let field = table.schema.index(of: row[3]).flatMap(UInt8.init(exactly:)),
                      let blob = Self.singleChangeBlob(field: field, value: FieldValue(row[4] as DatabaseValue),
                                                       hlc: UInt64(bitPattern: row[5]), node: node.rawValue, base: UInt64(bitPattern: row[7]))
                else { continue }
                let seq: Int64 = row[0], branch: String? = row[8]
                try insert.execute(arguments: [seq, table.rawValue, row[2] as String, node.description, branch, Data(blob)])
            }
            try db.execute(sql: "DROP TABLE field_log")
        }
        migrator.registerMigration("server-v3-dashboard") { db in
            // One-time login links (10 minutes) and the browser sessions they open (8 hours); hashes only.
            try db.execute(sql: """
                CREATE TABLE web_tokens (
                    token_hash TEXT PRIMARY KEY NOT NULL, device_id TEXT NOT NULL REFERENCES devices(id),
                    kind TEXT NOT NULL, expires_at INTEGER NOT NULL, used_at INTEGER)
                """)
        }
        migrator.registerMigration("server-v4-scope-by-stored-owner") { db in
            // Log rows name the customer whose file holds the record; pulls join
            // that customer's current branch, so a file that moved is served by
            // its new scope only. Rows of records whose file is unknown keep NULL.
            try db.execute(sql: """
                ALTER TABLE change_log ADD COLUMN customer TEXT;
                UPDATE change_log SET customer = record WHERE tbl = 'customers';
                UPDATE change_log SET customer = (SELECT customer FROM contacts WHERE id = change_log.record) WHERE tbl = 'contacts';
                UPDATE change_log SET customer = (SELECT customer FROM agreements WHERE id = change_log.record) WHERE tbl = 'agreements';
                UPDATE change_log SET customer = (SELECT customer FROM visits WHERE id = change_log.record) WHERE tbl = 'visits';
                UPDATE change_log SET customer = (SELECT customer FROM faults WHERE id = change_log.record) WHERE tbl = 'faults';
                UPDATE change_log SET customer = (SELECT customer FROM complaints WHERE id = change_log.record) WHERE tbl = 'complaints';
                UPDATE change_log SET customer = (SELECT f.customer FROM fault_notes n JOIN faults f ON f.id = n.fault
                                                  WHERE n.id = change_log.record) WHERE tbl = 'fault_notes';
                UPDATE change_log SET customer = (SELECT c.customer FROM complaint_notes n JOIN complaints c ON c.id = n.complaint
                                                  WHERE n.id = change_log.record) WHERE tbl = 'complaint_notes';
                UPDATE change_log SET customer = (
                    SELECT CASE k."table"
                        WHEN 'customers' THEN k.record
                        WHEN 'contacts' THEN (SELECT customer FROM contacts WHERE id = k.record)
                        WHEN 'agreements' THEN (SELECT customer FROM agreements WHERE id = k.record)
                        WHEN 'visits' THEN (SELECT customer FROM visits WHERE id = k.record)
                        WHEN 'faults' THEN (SELECT customer FROM faults WHERE id = k.record)
                        WHEN 'complaints' THEN (SELECT customer FROM complaints WHERE id = k.record)
                        WHEN 'fault_notes' THEN (SELECT f.customer FROM fault_notes n JOIN faults f ON f.id = n.fault WHERE n.id = k.record)
                        WHEN 'complaint_notes' THEN (SELECT c.customer FROM complaint_notes n JOIN complaints c ON c.id = n.complaint WHERE n.id = k.record)
                    END FROM conflicts k WHERE k.id = change_log.record) WHERE tbl = 'conflicts';
                ALTER TABLE change_log DROP COLUMN branch;
                ALTER TABLE change_log DROP COLUMN manager;
                """)
            // A node belongs to one device. Devices enrolled twice with one node
            // before this rule keep the first enrolment; the later ones are revoked.
            try db.execute(sql: """
                UPDATE devices SET revoked_at = COALESCE(revoked_at, created_at)
                WHERE revoked_at IS NULL AND EXISTS (
                    SELECT 1 FROM devices earlier WHERE earlier.node = devices.node AND earlier.revoked_at IS NULL
                    AND (earlier.created_at, earlier.id) < (devices.created_at, devices.id));
                CREATE UNIQUE INDEX devices_active_node ON devices(node) WHERE revoked_at IS NULL;
                """)
        }
        migrator.registerMigration("server-v5-handover") { db in
            // When each customer's scope changed (ScopeHistory), and exit rows in the
            // log: a customer's file left the scope these columns name.
            try db.execute(sql: """
                CREATE TABLE scope_history (
                    customer TEXT NOT NULL, from_hlc INTEGER NOT NULL, branch TEXT, manager TEXT, team TEXT,
                    PRIMARY KEY (customer, from_hlc)) WITHOUT ROWID;
                ALTER TABLE change_log ADD COLUMN exit_branch TEXT;
                ALTER TABLE change_log ADD COLUMN exit_manager TEXT;
                ALTER TABLE change_log ADD COLUMN exit_team TEXT;
                """)
        }
        migrator.registerMigration("server-v6-freshness") { db in
            // What each device last reported as waiting in its outbox (freshness).
            try db.execute(sql: "ALTER TABLE devices ADD COLUMN pending INTEGER")
        }
        migrator.registerMigration("server-v7-tier") { db in
            // Nodes a branch server relays to this one (its laptops), claimed by the first
            // branch server that relays them; log rows keep their mutation's counter (to
            // relay them up) and say whether they came down from the upstream server.
            try db.execute(sql: """
                CREATE TABLE relayed_nodes (node TEXT PRIMARY KEY NOT NULL, device TEXT NOT NULL) WITHOUT ROWID;
                ALTER TABLE change_log ADD COLUMN counter INTEGER;
                ALTER TABLE change_log ADD COLUMN from_upstream INTEGER NOT NULL DEFAULT 0;
                CREATE TABLE upstream_rejections (
                    origin TEXT NOT NULL, counter INTEGER NOT NULL, reason TEXT NOT NULL, PRIMARY KEY (origin, counter)) WITHOUT ROWID;
                CREATE TABLE upstream_state (
                    key TEXT PRIMARY KEY NOT NULL, cursor INTEGER NOT NULL DEFAULT 0, sent INTEGER NOT NULL DEFAULT 0,
                    last_success INTEGER, last_error TEXT);
                """)
        }
        migrator.registerMigration("server-v8-departed") { db in
            // Files the upstream says left this branch server's scope, and when: its
            // laptops are told to drop them, and their work stamped later is refused.
            try db.execute(sql: "CREATE TABLE departed (customer TEXT PRIMARY KEY NOT NULL, at_hlc INTEGER NOT NULL) WITHOUT ROWID")
        }
        migrator.registerMigration("server-v9-below") { db in
            // What each branch server last reported about the devices below it (freshness carried up).
            try db.execute(sql: """
                CREATE TABLE reported_below (
                    device TEXT PRIMARY KEY NOT NULL, complete_up_to INTEGER, devices INTEGER NOT NULL, pending INTEGER NOT NULL,
                    stale INTEGER NOT NULL, reported_at INTEGER NOT NULL) WITHOUT ROWID
                """)
        }
        migrator.registerMigration("server-v10-drop-departed") { db in
            // Where each device's cursor stands, and the exit row of each departed file: a branch
            // server drops a departed file once every device of the branch has read past its exit.
            try db.execute(sql: """
                ALTER TABLE devices ADD COLUMN cursor INTEGER;
                ALTER TABLE departed ADD COLUMN exit_seq INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE departed ADD COLUMN dropped INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE upstream_rejections ADD COLUMN body BLOB;
                ALTER TABLE upstream_rejections ADD COLUMN returned INTEGER NOT NULL DEFAULT 0;
                """)
        }
        migrator.registerMigration("server-v11-applied-ranges") { db in
            // Applied mutations as runs of consecutive counters per origin (`AppliedMarks`):
            // a row per push instead of a row per mutation. Each run of counters becomes one row.
            try db.execute(sql: """
                CREATE TABLE applied_ranges (
                    origin TEXT NOT NULL, low INTEGER NOT NULL, high INTEGER NOT NULL, PRIMARY KEY (origin, low)) WITHOUT ROWID;
                INSERT INTO applied_ranges (origin, low, high)
                    SELECT origin, MIN(counter), MAX(counter) FROM (
                        SELECT origin, counter, counter - ROW_NUMBER() OVER (PARTITION BY origin ORDER BY counter) AS run FROM applied_mutations)
                    GROUP BY origin, run;
                DROP TABLE applied_mutations;
                """)
        }
        migrator.registerMigration("server-v12-stamp-floor") { db in
            // The earliest stamp of a device's own node that may still claim a file's past scope (`StampFloor`).
            try db.execute(sql: "ALTER TABLE devices ADD COLUMN stamp_floor INTEGER NOT NULL DEFAULT 0")
            // The same for each node a branch server relays: the newest stamp accepted from it.
            try db.execute(sql: "ALTER TABLE relayed_nodes ADD COLUMN stamp_floor INTEGER NOT NULL DEFAULT 0")
        }
        migrator.registerMigration("server-v13-signed-pages") { db in
            // The key each relayed node signs its pages with, pinned on first use (`RelaySignatures`),
            // and the pages this server received, kept to relay them up with the mutations they cover.
            try db.execute(sql: """
                CREATE TABLE node_keys (node TEXT PRIMARY KEY NOT NULL, key BLOB NOT NULL) WITHOUT ROWID;
                CREATE TABLE signed_pages (
                    node TEXT NOT NULL, low INTEGER NOT NULL, high INTEGER NOT NULL, page BLOB NOT NULL,
                    PRIMARY KEY (node, low, high)) WITHOUT ROWID;
                """)
        }
        migrator.registerMigration("server-v14-pull-by-customer") { db in
            // A manager's pull reads the log rows of their customers only (found by manager and
            // team), the province's lists and their branch's exits, not every row since their
            // cursor: its cost follows their own files, not how many devices write in the branch.
            try db.execute(sql: """
                CREATE INDEX change_log_customer ON change_log(customer, seq) WHERE customer IS NOT NULL;
                CREATE INDEX change_log_exit ON change_log(exit_branch, seq) WHERE exit_branch IS NOT NULL;
                CREATE INDEX change_log_province_wide ON change_log(tbl, seq) WHERE tbl IN ('calendar_days', 'branches');
                CREATE INDEX customers_manager ON customers(branch, manager);
                CREATE INDEX customers_with_team ON customers(branch) WHERE team IS NOT NULL;
                CREATE INDEX relayed_nodes_device ON relayed_nodes(device);
                """)
        }
        migrator.registerMigration("server-v15-pull-by-branch") { db in
            // A supervisor's or branch server's pull reads its branch's rows only: each row keeps the
            // branch its customer had when it was written (a file that moves is logged again under its
            // new branch, so the rows of its new branch are complete); the customer's current scope
            // still decides what is served. Rows written before: their customer's branch now.
            try db.execute(sql: """
                ALTER TABLE change_log ADD COLUMN branch TEXT;
                UPDATE change_log SET branch = (SELECT branch FROM customers WHERE id = change_log.customer) WHERE customer IS NOT NULL;
                CREATE INDEX change_log_branch ON change_log(branch, seq) WHERE branch IS NOT NULL;
                """)
        }
        migrator.registerMigration("server-v16-incarnation") { db in
            // The id of this server's history: new when the file is made, and in every backup and
            // every restore, so a device that synced with another history is told (`server_restored`).
            try db.execute(sql: "CREATE TABLE server_identity (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL) WITHOUT ROWID")
            try db.execute(sql: "INSERT INTO server_identity (key, value) VALUES ('incarnation', ?)", arguments: [Incarnation.make()])
        }
        migrator.registerMigration("server-v17-upstream-incarnation") { db in
            // The upstream's incarnation as a branch server last saw it: a restored province is told apart.
            try db.execute(sql: "ALTER TABLE upstream_state ADD COLUMN incarnation TEXT")
        }
        migrator.registerMigration("server-v18-refused-work") { db in
            // What this server refused of a device's work at its latest push (`RefusedWork`), for its supervisor.
            try db.execute(sql: """
                ALTER TABLE devices ADD COLUMN refused INTEGER;
                ALTER TABLE devices ADD COLUMN refused_reason TEXT;
                ALTER TABLE devices ADD COLUMN refused_at INTEGER;
                """)
        }
        migrator.registerMigration("server-v19-signed-page-retention") { db in
            // When the upstream took all a signed page covers (NULL: not yet). Kept for a while after
            // (`signedPageRetention`): a province put back from a backup needs them again.
            try db.execute(sql: """
                ALTER TABLE signed_pages ADD COLUMN relayed_at INTEGER;
                CREATE INDEX signed_pages_relayed ON signed_pages (relayed_at) WHERE relayed_at IS NOT NULL;
                """)
        }
        migrator.registerMigration("server-v20-log-receipts") { db in
            // When this server received its log rows, for a record's history (`LogReceipts`): one row per
            // write transaction. Rows logged before have no receipt.
            try db.execute(sql: "CREATE TABLE log_receipts (first_seq INTEGER PRIMARY KEY NOT NULL, at INTEGER NOT NULL) WITHOUT ROWID")
        }
        migrator.registerMigration("server-v21-settings") { db in
            // The province's settings reach every device as its other lists do (the replica's `v10-settings`
            // made the table): the pulls' index of province-wide rows names them too.
            try db.execute(sql: """
                DROP INDEX change_log_province_wide;
                CREATE INDEX change_log_province_wide ON change_log(tbl, seq) WHERE tbl IN ('calendar_days', 'branches', 'settings');
                """)
        }
        migrator.registerMigration("server-v22-refused-actions") { db in
            // Each device's actions refused lately, and a supervisor's decision about each (`RefusedAction`).
            try db.execute(sql: """
                CREATE TABLE refused_actions (node TEXT NOT NULL, counter INTEGER NOT NULL, reason TEXT NOT NULL, about TEXT NOT NULL,
                    at INTEGER NOT NULL, decision TEXT, note TEXT, decided_by TEXT, decided_at INTEGER,
                    PRIMARY KEY (node, counter)) WITHOUT ROWID
                """)
        }
        migrator.registerMigration("server-v23-relayed-names") { db in
            // Who writes under each node a branch server relays, as it reported them (`FreshnessReport.names`).
            try db.execute(sql: """
                CREATE TABLE relayed_names (node TEXT PRIMARY KEY NOT NULL, user TEXT NOT NULL, device TEXT NOT NULL, via TEXT NOT NULL,
                    at INTEGER NOT NULL) WITHOUT ROWID;
                CREATE INDEX relayed_names_via ON relayed_names (via);
                """)
        }
        migrator.registerMigration("server-v24-refusal-text") { db in
            // A refused action's reason as a text key (issue 29), for the inbox in its reader's language.
            try db.execute(sql: "ALTER TABLE refused_actions ADD COLUMN reason_text TEXT")
        }
        migrator.registerMigration("server-v25-digest-checks") { db in
            // Each branch server's latest comparison by digests with this server (`DigestCheck`, issue 27).
            try db.execute(sql: """
                CREATE TABLE digest_checks (device TEXT PRIMARY KEY NOT NULL, checked_at INTEGER NOT NULL, matched INTEGER NOT NULL,
                    differing INTEGER NOT NULL) WITHOUT ROWID
                """)
        }
        return migrator
    }

    /// This server's incarnation (`SyncResponse.incarnation`).
    public func incarnation() throws -> String {
        try incarnationRead.value { try writer.read { db in try Self.incarnation(db) } }
    }

    static func incarnation(_ db: Database) throws -> String {
        guard let value = try String.fetchOne(db.cachedStatement(sql: "SELECT value FROM server_identity WHERE key = 'incarnation'")) else {
            throw StoreError.notInitialized("this server's database (no incarnation)")
        }
        return value
    }

    /// Gives the server's database at `db` a new incarnation: a backup, or a file put back by `restore`.
    static func renewIncarnation(_ db: Database) throws {
        try db.execute(sql: "INSERT OR REPLACE INTO server_identity (key, value) VALUES ('incarnation', ?)", arguments: [Incarnation.make()])
    }

    /// One field change as a log row's blob, written out here rather than by `ChangeLogCodec` so that
    /// `server-v2-record-log` stays as committed: one stamp, one change (the codec reads it ever after).
    static func singleChangeBlob(field: UInt8, value: FieldValue, hlc: UInt64, node: UInt64, base: UInt64) -> [UInt8]? {
        var out: [UInt8] = []
        func append<T: FixedWidthInteger>(_ number: T) { withUnsafeBytes(of: number.littleEndian) { out.append(contentsOf: $0) } }
        append(UInt16(1))
        append(hlc)
        append(node)
        append(base)
        append(UInt16(1))
        out += [field, 0]
        switch value {
        case .null: out.append(0)
        case .int(let number):
            out.append(1)
            append(UInt64(bitPattern: number))
        case .text(let text):
            guard let length = UInt32(exactly: text.utf8.count) else { return nil }
            out.append(2)
            append(length)
            out += text.utf8
        }
        return out
    }

    public var now: UInt64 { replica.wallClock() }

    /// Closes the database (checkpointing the WAL) after the last request.
    public func close() throws {
        try replica.close()
    }
}


/// Set once a server has an upstream (`UpstreamSync`): shared by every copy of its store.
package final class UpstreamRole: Sendable {
    private let on = Mutex(false)
    package var isOn: Bool { on.withLock { $0 } }
    package func turnOn() { on.withLock { $0 = true } }
}

/// The server's node once read (`Replica.identity` reads several rows of `meta` each time).
/// A value read once and kept for the life of the store.
final class Remembered<Value: Sendable>: Sendable {
    private let kept = Mutex<Value?>(nil)

    func value(_ read: () throws -> Value) rethrows -> Value {
        if let known = kept.withLock({ $0 }) { return known }
        let value = try read()
        kept.withLock { $0 = value }
        return value
    }
}

final class KnownHead: Sendable {
    private let head = Mutex<Int64>(0)
    var value: Int64 { head.withLock { $0 } }
    func raise(to seen: Int64) { head.withLock { $0 = max($0, seen) } }
}

final class OwnNode: Sendable {
    private let node = Mutex<NodeID?>(nil)

    func read(_ db: Database) throws -> NodeID? {
        if let known = node.withLock({ $0 }) { return known }
        let read = try Replica.identity(db)?.node
        if let read { node.withLock { $0 = read } }
        return read
    }
}
