import Logging
import PostgresNIO

/// The provincial server's tables in PostgreSQL. Each migration is literal SQL,
/// applied once, in order, and never modified after it shipped: a change is a
/// new migration. Server instances starting at once migrate one at a time (an
/// advisory lock), and one whose code is older than the database refuses to run.
public enum PostgresSchema {
    struct Migration {
        var name: String
        /// One statement each (PostgreSQL's extended protocol takes one per query).
        var statements: [String]
    }

    static let migrations: [Migration] = [
        Migration(name: "pg-v1-change-log", statements: [
            // One row per record per mutation, as in the SQLite engine (ChangeLogCodec bytes in `changes`).
            """
            CREATE TABLE change_log (
                seq bigint PRIMARY KEY, tbl text NOT NULL, record text NOT NULL, origin text NOT NULL, customer text,
                changes bytea NOT NULL, counter bigint, from_upstream boolean NOT NULL DEFAULT false,
                exit_branch text, exit_manager text, exit_team text)
            """,
            // The last sequence number handed out. Appending updates this one row, so appends
            // are serialised until their transaction ends, and sequence numbers become visible in
            // order with no hole: a reader never passes a number whose row commits later.
            """
            CREATE TABLE change_log_head (
                one boolean PRIMARY KEY DEFAULT true CHECK (one), seq bigint NOT NULL)
            """,
            "INSERT INTO change_log_head (one, seq) VALUES (true, 0)",
        ]),
        Migration(name: "pg-v2-server", statements: [
            // The server's identity and clock, shared by every instance: one logical server.
            // Writers take this row's lock after their records' and before the log's head.
            """
            CREATE TABLE server_state (
                one boolean PRIMARY KEY DEFAULT true CHECK (one), node text NOT NULL, hlc bigint NOT NULL,
                counter bigint NOT NULL, created_at bigint NOT NULL)
            """,
            // Records of every kind, one row each: values and stamps in `state` (RecordStateCodec),
            // the customer whose file holds it as stored, and a customer's own scope.
            """
            CREATE TABLE records (
                kind text NOT NULL, id text NOT NULL, state bytea NOT NULL, customer text,
                branch text, manager text, team text, PRIMARY KEY (kind, id))
            """,
            "CREATE INDEX records_customer ON records (customer)",
            "CREATE TABLE applied_mutations (origin text NOT NULL, counter bigint NOT NULL, PRIMARY KEY (origin, counter))",
            """
            CREATE TABLE users (
                id text PRIMARY KEY, name text NOT NULL UNIQUE, role text NOT NULL, branch text, created_at bigint NOT NULL)
            """,
            """
            CREATE TABLE enrolment_codes (
                code_hash text PRIMARY KEY, user_id text NOT NULL REFERENCES users (id), expires_at bigint NOT NULL, used_at bigint)
            """,
            // A node belongs to one device for good, revoked or not.
            """
            CREATE TABLE devices (
                id text PRIMARY KEY, user_id text NOT NULL REFERENCES users (id), node text NOT NULL UNIQUE, name text NOT NULL,
                token_hash text NOT NULL UNIQUE, created_at bigint NOT NULL, revoked_at bigint, last_seen bigint,
                pending bigint, cursor bigint)
            """,
            """
            CREATE TABLE web_tokens (
                token_hash text PRIMARY KEY, device_id text NOT NULL REFERENCES devices (id), kind text NOT NULL,
                expires_at bigint NOT NULL, used_at bigint)
            """,
            "CREATE TABLE relayed_nodes (node text PRIMARY KEY, device text NOT NULL)",
        ]),
        Migration(name: "pg-v3-sync", statements: [
            // The record each one hangs from ("kind/id": its parent field, or a conflict's subject):
            // a move logs the moved record's whole subtree again under its new owner.
            "ALTER TABLE records ADD COLUMN parent text",
            "CREATE INDEX records_parent ON records (parent)",
            // When each customer's scope changed (ScopeHistory): work stamped while a file was
            // the caller's, pushed after it changed hands, is still theirs.
            """
            CREATE TABLE scope_history (
                customer text NOT NULL, from_hlc bigint NOT NULL, branch text, manager text, team text,
                PRIMARY KEY (customer, from_hlc))
            """,
            // What each branch server last reported about the devices below it (freshness carried up).
            """
            CREATE TABLE reported_below (
                device text PRIMARY KEY, complete_up_to bigint, devices bigint NOT NULL, pending bigint NOT NULL,
                stale bigint NOT NULL, reported_at bigint NOT NULL)
            """,
        ]),
        Migration(name: "pg-v4-byte-order", statements: [
            // Records are paged in byte order, as SQLite orders them (`store copy` compares page by page),
            // whatever the cluster's collation: an index in that order keeps each page one index range.
            "CREATE INDEX records_kind_id_bytes ON records (kind, id COLLATE \"C\")",
        ]),
        Migration(name: "pg-v5-stamp-floor", statements: [
            // The earliest stamp of a device's own node that may still claim a file's past scope (`StampFloor`).
            "ALTER TABLE devices ADD COLUMN stamp_floor bigint NOT NULL DEFAULT 0",
            // The same for each node a branch server relays: the newest stamp accepted from it.
            "ALTER TABLE relayed_nodes ADD COLUMN stamp_floor bigint NOT NULL DEFAULT 0",
            // The key each relayed node signs its pages with, pinned on first use (`RelaySignatures`).
            "CREATE TABLE node_keys (node text PRIMARY KEY, key bytea NOT NULL)",
        ]),
        Migration(name: "pg-v6-pull-by-customer", statements: [
            // A manager's pull reads the log rows of their customers only (found by manager and team),
            // the province's lists and their branch's exits: its cost follows their own files.
            "CREATE INDEX change_log_customer ON change_log (customer, seq) WHERE customer IS NOT NULL",
            "CREATE INDEX change_log_exit ON change_log (exit_branch, seq) WHERE exit_branch IS NOT NULL",
            "CREATE INDEX change_log_province_wide ON change_log (tbl, seq) WHERE tbl IN ('calendar_days', 'branches')",
            "CREATE INDEX records_customers_manager ON records (branch, manager) WHERE kind = 'customers'",
            "CREATE INDEX records_customers_with_team ON records (branch) WHERE kind = 'customers' AND team IS NOT NULL",
            "CREATE INDEX relayed_nodes_device ON relayed_nodes (device)",
        ]),
        Migration(name: "pg-v7-pull-by-branch", statements: [
            // A supervisor's or branch server's pull reads its branch's rows only: each row keeps the branch
            // its customer had when it was written (a moved file is logged again under its new branch); the
            // customer's current scope still decides what is served. Rows written before: the branch now.
            "ALTER TABLE change_log ADD COLUMN branch text",
            """
            UPDATE change_log l SET branch = r.branch FROM records r
            WHERE r.kind = 'customers' AND r.id = l.customer AND l.customer IS NOT NULL
            """,
            "CREATE INDEX change_log_branch ON change_log (branch, seq) WHERE branch IS NOT NULL",
        ]),
        // The id of this server's history, new whenever it is restored (`fieldsync-server restore`):
        // a device that synced with another history is told (`server_restored`).
        Migration(name: "pg-v8-incarnation", statements: [
            "ALTER TABLE server_state ADD COLUMN incarnation text NOT NULL DEFAULT md5(random()::text || clock_timestamp()::text)",
        ]),
        // What this server refused of a device's work at its latest push (`RefusedWork`), for its supervisor.
        Migration(name: "pg-v9-refused-work", statements: [
            "ALTER TABLE devices ADD COLUMN refused bigint, ADD COLUMN refused_reason text, ADD COLUMN refused_at bigint",
        ]),
        // When this server received its log rows, for a record's history (`LogReceipts`): one row per
        // appending transaction; a history finds a record's rows by its customer or, province-wide, its table.
        Migration(name: "pg-v10-log-receipts", statements: [
            "CREATE TABLE log_receipts (first_seq bigint PRIMARY KEY, at bigint NOT NULL)",
        ]),
        // The province's settings (`ProvinceSettings`) reach every device as its other lists do.
        Migration(name: "pg-v11-settings", statements: [
            "DROP INDEX change_log_province_wide",
            "CREATE INDEX change_log_province_wide ON change_log (tbl, seq) WHERE tbl IN ('calendar_days', 'branches', 'settings')",
        ]),
        // Each device's actions refused lately, and a supervisor's decision about each (`RefusedAction`).
        Migration(name: "pg-v12-refused-actions", statements: [
            """
            CREATE TABLE refused_actions (node text NOT NULL, counter bigint NOT NULL, reason text NOT NULL, about text NOT NULL,
                at bigint NOT NULL, decision text, note text, decided_by text, decided_at bigint, PRIMARY KEY (node, counter))
            """,
        ]),
        // Who writes under each node a branch server relays, as it reported them (`FreshnessReport.names`).
        Migration(name: "pg-v13-relayed-names", statements: [
            "CREATE TABLE relayed_names (node text PRIMARY KEY, \"user\" text NOT NULL, device text NOT NULL, via text NOT NULL, at bigint NOT NULL)",
            "CREATE INDEX relayed_names_via ON relayed_names (via)",
        ]),
        // A refused action's reason as a text key (issue 29), for the inbox in its reader's language.
        Migration(name: "pg-v14-refusal-text", statements: [
            "ALTER TABLE refused_actions ADD COLUMN reason_text text",
        ]),
        // Applied mutations as runs of consecutive counters per origin, as the SQLite engine keeps them
        // (`AppliedRuns`): about one row per origin per push instead of one per mutation.
        // An instance of the previous build still serving waits on the lock, then fails its push (retried later):
        // no mark it writes is lost between the copy and the drop.
        Migration(name: "pg-v15-applied-runs", statements: [
            "LOCK TABLE applied_mutations IN EXCLUSIVE MODE",
            "CREATE TABLE applied_ranges (origin text NOT NULL, low bigint NOT NULL, high bigint NOT NULL, PRIMARY KEY (origin, low))",
            """
            INSERT INTO applied_ranges (origin, low, high)
            SELECT origin, min(counter), max(counter) FROM (
                SELECT origin, counter, counter - row_number() OVER (PARTITION BY origin ORDER BY counter) AS run FROM applied_mutations) AS numbered
            GROUP BY origin, run
            """,
            "DROP TABLE applied_mutations",
        ]),
        // Each branch server's latest comparison by digests with this server (`DigestCheck`, issue 27).
        Migration(name: "pg-v16-digest-checks", statements: [
            "CREATE TABLE digest_checks (device text PRIMARY KEY, checked_at bigint NOT NULL, matched boolean NOT NULL, differing bigint NOT NULL)",
        ]),
    ]

    /// The names of every migration this build knows, in order.
    public static var migrationNames: [String] { migrations.map(\.name) }

    public struct TooNew: Error, CustomStringConvertible {
        public let unknown: [String]
        public var description: String {
            "the database was migrated by a newer FieldSync (\(unknown.joined(separator: ", "))); run that version or newer"
        }
    }

    /// Brings the database to this build's schema; returns the migrations it applied.
    @discardableResult
    public static func migrate(_ client: PostgresClient, logger: Logger) async throws -> [String] {
        try await PostgresTransaction.run(client, logger: logger) { connection in
            // Any constant shared by every instance: they take turns.
            try await connection.query("SELECT pg_advisory_xact_lock(7423001)", logger: logger)
            try await connection.query("""
                CREATE TABLE IF NOT EXISTS fieldsync_migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())
                """, logger: logger)
            var applied: Set<String> = []
            for try await name in try await connection.query("SELECT name FROM fieldsync_migrations", logger: logger).decode(String.self) {
                applied.insert(name)
            }
            let unknown = applied.subtracting(migrationNames)
            guard unknown.isEmpty else { throw TooNew(unknown: unknown.sorted()) }
            var done: [String] = []
            for migration in migrations where !applied.contains(migration.name) {
                for statement in migration.statements {
                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
                try await connection.query("INSERT INTO fieldsync_migrations (name) VALUES (\(migration.name))", logger: logger)
                done.append(migration.name)
            }
            return done
        }
    }
}
