import FieldSyncModel
import Foundation
import GRDB

/// A SQLite replica: the records, their field stamps, the node's clock and
/// counter, and the outbox of local mutations not yet acknowledged by a server.
///
/// Every write is one SQLite transaction that changes the records, the clock
/// and the outbox together, so a crash at any point leaves them consistent.
public struct Replica: Sendable {
    public let writer: any DatabaseWriter
    /// Milliseconds since the Unix epoch; injected so tests control time.
    public let wallClock: @Sendable () -> UInt64
    /// Set when the replica was opened for long runs of commits (`open(path:checkpointInBackground:)`).
    public let checkpointer: WALCheckpointer?
    /// This replica's key in `RecordChangeCounter`.
    private let recordCounterKey: String

    public static let fileName = "replica.sqlite"

    public init(writer: any DatabaseWriter, wallClock: @escaping @Sendable () -> UInt64 = Replica.systemMilliseconds,
                checkpointer: WALCheckpointer? = nil) throws {
        self.writer = writer
        self.wallClock = wallClock
        self.checkpointer = checkpointer
        try Self.migrator.migrate(writer)
        recordCounterKey = try writer.read { RecordChangeCounter.key($0) }
    }

    /// The database file's path.
    public var path: String { writer.path }

    /// Rises with every commit that changed a record; equal values mean the same records.
    public var recordGeneration: UInt64 { RecordChangeCounter.generation(of: recordCounterKey) }

    /// Opens (creating if needed) the replica database file at `path`, in WAL
    /// mode with `synchronous=FULL`: an acknowledged write survives a power cut.
    ///
    /// `checkpointInBackground` is for a server and a sync, which commit page
    /// after page: the log is copied back into the file on another thread
    /// (`WALCheckpointer`), every few thousand pages, instead of inside a commit.
    public static func open(path: String, wallClock: @escaping @Sendable () -> UInt64 = Replica.systemMilliseconds,
                            checkpointInBackground: Bool = false) throws -> Replica {
        try open(path: path, wallClock: wallClock,
                 backgroundCheckpointPages: checkpointInBackground ? WALCheckpointer.walPagesBeforeBackgroundCheckpoint : nil)
    }

    /// `backgroundCheckpointPages`: with a `WALCheckpointer`, the log's size in pages that starts its checkpoint.
    package static func open(path: String, wallClock: @escaping @Sendable () -> UInt64 = Replica.systemMilliseconds,
                             backgroundCheckpointPages: Int32?) throws -> Replica {
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
            // 32 MiB of page cache (SQLite's default is 2 MiB): a first sync of a
            // province-sized scope touches indexes larger than the default.
            try db.execute(sql: "PRAGMA cache_size = -32768")
        }
        let pool = try DatabasePool(path: path, configuration: configuration)
        var checkpointer: WALCheckpointer?
        if let backgroundCheckpointPages {
            checkpointer = try WALCheckpointer(path: path)
            checkpointer?.watch(pool, backgroundPages: backgroundCheckpointPages)
        }
        return try Replica(writer: pool, wallClock: wallClock, checkpointer: checkpointer)
    }

    /// Closes the database; a checkpoint of the whole log happens on the way.
    public func close() throws {
        try checkpointer?.close()
        try writer.close()
    }

    public static func inMemory(wallClock: @escaping @Sendable () -> UInt64 = Replica.systemMilliseconds) throws -> Replica {
        try Replica(writer: DatabaseQueue(), wallClock: wallClock)
    }

    @Sendable public static func systemMilliseconds() -> UInt64 {
        UInt64(max(0, Date().timeIntervalSince1970 * 1000))
    }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        // Migrations are literal SQL, frozen once committed: a replica made by any earlier build
        // must end up with the same tables as a new one. A field added to a schema needs a new
        // migration that adds its column (fields only ever append: stamps and log rows name
        // fields by position); `SchemaFreezeTests` fails until it exists.
        migrator.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE meta (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL);
                CREATE TABLE customers (id TEXT PRIMARY KEY NOT NULL, "name", "branch", "level", "manager", "services", "notes", "archived",
                    "team", "since", _stamps BLOB NOT NULL);
                CREATE TABLE contacts (id TEXT PRIMARY KEY NOT NULL, "customer", "name", "role", "phone", "email", "billing", "removed",
                    _stamps BLOB NOT NULL);
                CREATE INDEX contacts_customer ON contacts("customer");
                CREATE TABLE agreements (id TEXT PRIMARY KEY NOT NULL, "customer", "number", "starts", "ends", "removed", "restore_hours",
                    "renewal_notice_at", "renewed_at", "termination_notice_at", _stamps BLOB NOT NULL);
                CREATE INDEX agreements_customer ON agreements("customer");
                CREATE TABLE visits (id TEXT PRIMARY KEY NOT NULL, "customer", "manager", "at", "kind", "participants", "summary", "requests",
                    "actions", "complaint", "removed", _stamps BLOB NOT NULL);
                CREATE INDEX visits_customer ON visits("customer");
                CREATE TABLE faults (id TEXT PRIMARY KEY NOT NULL, "customer", "symptom", "scope", "occurred_at", "reported_at", "owner",
                    "dispatch", "restore_by", "first_feedback_at", "restored_at", "report_delivered_at", "status", "level", "ticket",
                    "dispatched_to", "site", _stamps BLOB NOT NULL);
                CREATE INDEX faults_customer ON faults("customer");
                CREATE TABLE fault_notes (id TEXT PRIMARY KEY NOT NULL, "fault", "at", "author", "text", _stamps BLOB NOT NULL);
                CREATE INDEX fault_notes_fault ON fault_notes("fault");
                CREATE TABLE complaints (id TEXT PRIMARY KEY NOT NULL, "customer", "channel", "content", "received_at", "owner",
                    "first_feedback_at", "resolved_at", "result", "escalated_at", "escalation_reason", "closed_at", "report", "status",
                    "level", _stamps BLOB NOT NULL);
                CREATE INDEX complaints_customer ON complaints("customer");
                CREATE TABLE complaint_notes (id TEXT PRIMARY KEY NOT NULL, "complaint", "at", "author", "text", _stamps BLOB NOT NULL);
                CREATE INDEX complaint_notes_complaint ON complaint_notes("complaint");
                CREATE TABLE conflicts (id TEXT PRIMARY KEY NOT NULL, "table", "record", "field", "lost_value", "lost_node", "lost_hlc",
                    "kept_value", "kept_node", "kept_hlc", "resolved", "resolution", _stamps BLOB NOT NULL);
                CREATE TABLE calendar_days (id TEXT PRIMARY KEY NOT NULL, "date", "kind", "name", "removed", _stamps BLOB NOT NULL);
                CREATE TABLE branches (id TEXT PRIMARY KEY NOT NULL, "name", "removed", _stamps BLOB NOT NULL);
                -- One row per local mutation not yet acknowledged; `body` is the mutation as JSON.
                CREATE TABLE outbox (counter INTEGER PRIMARY KEY NOT NULL, hlc INTEGER NOT NULL, body BLOB NOT NULL);
                """)
        }
        migrator.registerMigration("v2-sync") { db in
            // Mutations a server refused, with its reason; they stay in the outbox.
            try db.execute(sql: "CREATE TABLE rejections (counter INTEGER PRIMARY KEY NOT NULL, reason TEXT NOT NULL)")
        }
        migrator.registerMigration("v3-kpi") { db in
            // A new file has it from v1; a file made before it does not.
            try db.execute(sql: """
                CREATE TABLE IF NOT EXISTS calendar_days (id TEXT PRIMARY KEY NOT NULL, "date", "kind", "name", "removed", _stamps BLOB NOT NULL)
                """)
            for table in ["faults", "complaints"] where try !db.columns(in: table).contains(where: { $0.name == "level" }) {
                // Stamps of older rows have one byte per field they knew; the new field reads as never written.
                try db.execute(sql: "ALTER TABLE \(table) ADD COLUMN \"level\"")
            }
        }
        migrator.registerMigration("v4-team") { db in
            // A customer's backup or joint managers; older stamps read as never written.
            if try !db.columns(in: "customers").contains(where: { $0.name == "team" }) {
                try db.execute(sql: "ALTER TABLE customers ADD COLUMN \"team\"")
            }
        }
        migrator.registerMigration("v5-branches") { db in
            // A new file has it from v1; a file made before it does not.
            try db.execute(sql: "CREATE TABLE IF NOT EXISTS branches (id TEXT PRIMARY KEY NOT NULL, \"name\", \"removed\", _stamps BLOB NOT NULL)")
        }
        migrator.registerMigration("v6-handover") { db in
            // Customers whose files left this replica's scope, dropped once nothing unsent touches them.
            try db.execute(sql: "CREATE TABLE handed_over (customer TEXT PRIMARY KEY NOT NULL)")
        }
        migrator.registerMigration("v7-handbook") { db in
            // Fields the handbook asks for (issue 11); older stamps read as never written.
            let added: [(String, [String])] = [
                ("customers", ["since"]),
                ("agreements", ["restore_hours", "renewal_notice_at", "renewed_at", "termination_notice_at"]),
                ("faults", ["ticket", "dispatched_to", "site"]),
            ]
            for (table, fields) in added {
                let existing = Set(try db.columns(in: table).map(\.name))
                for field in fields where !existing.contains(field) {
                    try db.execute(sql: "ALTER TABLE \(table) ADD COLUMN \"\(field)\"")
                }
            }
        }
        migrator.registerMigration("v8-outbox-care") { db in
            // How often, and since when, a server refused an action; and the actions the person discarded.
            try db.execute(sql: """
                ALTER TABLE rejections ADD COLUMN times INTEGER NOT NULL DEFAULT 1;
                ALTER TABLE rejections ADD COLUMN since TEXT;
                CREATE TABLE discarded (id INTEGER PRIMARY KEY, counter INTEGER NOT NULL, body BLOB NOT NULL, reason TEXT,
                                        discarded_at TEXT NOT NULL);
                """)
        }
        migrator.registerMigration("v9-offers") { db in
            // Outbox actions that offer back work this replica already holds (after a restore, or a repair):
            // discarding one leaves the values as they are.
            try db.execute(sql: "CREATE TABLE offers (counter INTEGER PRIMARY KEY NOT NULL)")
        }
        migrator.registerMigration("v10-settings") { db in
            // The province's settings (`ProvinceSettings`), a province-wide record kind like the calendar.
            try db.execute(sql: #"CREATE TABLE settings (id TEXT PRIMARY KEY NOT NULL, "restoration_hours", "restoration_hours_vip", _stamps BLOB NOT NULL)"#)
        }
        migrator.registerMigration("v11-conflicts-by-record") { db in
            // A record's history names the conflicts about it (`RecordHistory`) without reading them all.
            try db.execute(sql: "CREATE INDEX conflicts_record ON conflicts (record)")
        }
        migrator.registerMigration("v12-handovers") { db in
            // Who held a customer's file from when (`RecordKind.handover`), for the KPIs' attribution.
            try db.execute(sql: """
                CREATE TABLE handovers (id TEXT PRIMARY KEY NOT NULL, "customer", "at", "previous", "manager", _stamps BLOB NOT NULL);
                CREATE INDEX handovers_customer ON handovers (customer);
                """)
        }
        migrator.registerMigration("v13-supervisor-decisions") { db in
            // A supervisor's note on a refused action (handed back), and who decided a discard and why.
            try db.execute(sql: """
                ALTER TABLE rejections ADD COLUMN decision TEXT;
                ALTER TABLE discarded ADD COLUMN decided TEXT;
                """)
        }
        migrator.registerMigration("v14-document-language") { db in
            // The language of a customer's documents (issue 29); older stamps read as never written.
            try db.execute(sql: #"ALTER TABLE customers ADD COLUMN "language""#)
        }
        migrator.registerMigration("v15-refusal-text") { db in
            // A refusal's reason as a text key and values (JSON), shown in the reader's language (issue 29).
            try db.execute(sql: "ALTER TABLE rejections ADD COLUMN reason_text TEXT")
        }
        migrator.registerMigration("v16-discarded-refusal-text") { db in
            // A discarded action keeps its refusal's text key too, so `outbox discarded` reads in the reader's language.
            try db.execute(sql: "ALTER TABLE discarded ADD COLUMN reason_text TEXT")
        }
        return migrator
    }
}

/// What `fieldsync init` records about the device.
public struct ReplicaIdentity: Sendable, Equatable, Codable {
    public var node: NodeID
    public var branch: String?
    public var user: String?
    public var createdAt: String

    public init(node: NodeID, branch: String?, user: String?, createdAt: String) {
        self.node = node
        self.branch = branch
        self.user = user
        self.createdAt = createdAt
    }
}

enum MetaKey {
    static let node = "node"
    static let branch = "branch"
    static let user = "user"
    static let createdAt = "created_at"
    static let hlc = "hlc"
    static let counter = "counter"
    static let lastSync = "last_sync"
    /// Who writes under other nodes, as the server's directory last said (`Replica.nodeNames`).
    static let nodeNames = "node_names"
    /// Local changes up to this HLC were acknowledged by a server and left the outbox.
    static let ackedHLC = "acked_hlc"
    static let cursor = "sync_cursor"
    /// Milliseconds to add to this device's wall clock, learnt from the server.
    static let clockOffset = "clock_offset"
    /// The newest HLC received from other nodes (re-stamping never goes below it).
    static let remoteHLC = "remote_hlc"
    /// The device's Ed25519 private key (base64), made at its first sync: it signs its pages (`SignedPage`).
    static let signingKey = "signing_key"
    /// The incarnation of the server this replica last synced with (`Replica.reofferAfterServerRestore`).
    static let serverIncarnation = "server_incarnation"
    /// What a newer server sent that this version skipped, and the cursor to read it again from (`Replica.noteUnknownContent`).
    static let unknownContent = "unknown_content"
    static let unknownFrom = "unknown_from"
    /// Set when more unknown names came than are kept: the schemas of the version that noted it.
    static let unknownOverflow = "unknown_overflow"
    /// Records a supervisor's discard emptied here, whose server copy is still to be taken back
    /// ("kind/id" lines; `Replica.recordsToTakeBack`).
    static let takeBack = "take_back"
    /// When this replica last compared itself with its server by digests (ms, its clock; `Synchronizer`).
    static let digestComparedAt = "digest_compared_at"
}

extension Replica {
    /// Gives the replica its node id. A replica is initialised once.
    public func initialize(_ identity: ReplicaIdentity) throws {
        try writer.write { db in
            if let node = try Self.meta(MetaKey.node, db) {
                throw StoreError.alreadyInitialized("this replica", node: node)
            }
            try Self.setMeta(MetaKey.node, identity.node.description, db)
            try Self.setMeta(MetaKey.createdAt, identity.createdAt, db)
            if let branch = identity.branch { try Self.setMeta(MetaKey.branch, branch, db) }
            if let user = identity.user { try Self.setMeta(MetaKey.user, user, db) }
        }
    }

    public func identity() throws -> ReplicaIdentity? {
        try writer.read { db in try Self.identity(db) }
    }

    public static func identity(_ db: Database) throws -> ReplicaIdentity? {
        guard let text = try meta(MetaKey.node, db), let node = NodeID(text) else { return nil }
        return ReplicaIdentity(
            node: node, branch: try meta(MetaKey.branch, db), user: try meta(MetaKey.user, db),
            createdAt: try meta(MetaKey.createdAt, db) ?? "")
    }

    static func meta(_ key: String, _ db: Database) throws -> String? {
        try String.fetchOne(db.cachedStatement(sql: "SELECT value FROM meta WHERE key = ?"), arguments: [key])
    }

    static func setMeta(_ key: String, _ value: String, _ db: Database) throws {
        try db.cachedStatement(sql: "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)").execute(arguments: [key, value])
    }

    static func clock(_ db: Database) throws -> HybridClock {
        HybridClock(last: HLC(rawValue: UInt64(try meta(MetaKey.hlc, db) ?? "0") ?? 0))
    }

    static func saveClock(_ clock: HybridClock, _ db: Database) throws {
        try setMeta(MetaKey.hlc, String(clock.last.rawValue), db)
    }

    static func requireNode(_ db: Database) throws -> NodeID {
        guard let text = try meta(MetaKey.node, db), let node = NodeID(text) else {
            throw StoreError.notInitialized("this folder")
        }
        return node
    }
}

extension Replica {
    /// This replica's clock and the counter of its own mutations, as stored (a server's, when it moves to another engine).
    /// The next mutation counter of this replica's node, taken (stored).
    public static func takeCounter(_ db: Database) throws -> UInt64 {
        let counter = (UInt64(try meta(MetaKey.counter, db) ?? "0") ?? 0) + 1
        try setMeta(MetaKey.counter, String(counter), db)
        return counter
    }

    public static func clockAndCounter(_ db: Database) throws -> (clock: HLC, counter: UInt64) {
        (try clock(db).last, UInt64(try meta(MetaKey.counter, db) ?? "0") ?? 0)
    }
}
