import Logging
import NIOCore
import PostgresNIO

/// One row of the change log: the changes of one mutation to one record.
public struct ChangeLogRow: Sendable, Equatable {
    /// Its position; set by `append`.
    public var seq: Int64
    public var table: String
    public var record: String
    public var origin: String
    /// The customer whose file holds the record as stored (pulls filter on that customer's scope).
    public var customer: String?
    /// The changes, encoded as the SQLite engine's change log encodes them.
    public var changes: [UInt8]
    /// The mutation's counter, to relay it upstream.
    public var counter: Int64?
    public var fromUpstream: Bool
    /// An exit row: the customer file `record` left this scope (branch, manager, team as written).
    public var exit: Exit?

    public struct Exit: Sendable, Equatable {
        public var branch: String
        public var manager: String?
        public var team: String?

        public init(branch: String, manager: String?, team: String?) {
            self.branch = branch
            self.manager = manager
            self.team = team
        }
    }

    public init(seq: Int64 = 0, table: String, record: String, origin: String, customer: String?, changes: [UInt8],
                counter: Int64? = nil, fromUpstream: Bool = false, exit: Exit? = nil) {
        self.seq = seq
        self.table = table
        self.record = record
        self.origin = origin
        self.customer = customer
        self.changes = changes
        self.counter = counter
        self.fromUpstream = fromUpstream
        self.exit = exit
    }
}

/// The change log in PostgreSQL, read by cursor (`seq > cursor`), which must
/// never skip a row: with a plain sequence, a transaction that took number 7
/// and commits after another took 8 and committed lets a reader at 8 pass 7.
///
/// Appends take their numbers from the one row of `change_log_head`, whose
/// update locks it until the transaction ends. So appending transactions take
/// turns: numbers are handed out in commit order, and whenever a reader sees
/// number n, every number below it is committed already. A transaction that
/// rolls back gives its numbers back, so they are gapless too.
///
/// The lock is held from the append to the commit: append last, and commit soon.
public enum PostgresChangeLog {
    /// Appends `rows` in order inside the caller's transaction and returns their numbers.
    @discardableResult
    public static func append(_ rows: [ChangeLogRow], on connection: PostgresConnection, logger: Logger) async throws -> ClosedRange<Int64>? {
        guard !rows.isEmpty else { return nil }
        let count = Int64(rows.count)
        var last: Int64 = 0
        for try await seq in try await connection.query(
            "UPDATE change_log_head SET seq = seq + \(count) RETURNING seq", logger: logger).decode(Int64.self) {
            last = seq
        }
        let first = last - count + 1
        guard first >= 1 else { throw PostgresChangeLogError(description: "the change log's head row is missing or damaged") }
        // One statement for the whole batch: columns as arrays, unnested into rows.
        // Arrays hold no NULL here, so absent values travel as '' and 0 (neither is valid for them).
        let seqs = Array(first...last)
        let tables = rows.map(\.table), records = rows.map(\.record), origins = rows.map(\.origin)
        let customers = rows.map { $0.customer ?? "" }
        let changes = rows.map { ByteBuffer(bytes: $0.changes) }
        let counters = rows.map { $0.counter ?? 0 }
        let upstream = rows.map(\.fromUpstream)
        let exits = rows.map { $0.exit != nil }
        let exitBranches = rows.map { $0.exit?.branch ?? "" }, exitManagers = rows.map { $0.exit?.manager ?? "" }
        let exitTeams = rows.map { $0.exit?.team ?? "" }
        try await connection.query("""
            INSERT INTO change_log (seq, tbl, record, origin, customer, changes, counter, from_upstream, exit_branch, exit_manager, exit_team)
            SELECT s, t, r, o, NULLIF(c, ''), ch, NULLIF(n, 0), u, CASE WHEN e THEN eb END, CASE WHEN e THEN NULLIF(em, '') END,
                   CASE WHEN e THEN NULLIF(et, '') END
            FROM unnest(\(seqs)::bigint[], \(tables)::text[], \(records)::text[], \(origins)::text[], \(customers)::text[],
                        \(changes)::bytea[], \(counters)::bigint[], \(upstream)::boolean[], \(exits)::boolean[], \(exitBranches)::text[],
                        \(exitManagers)::text[], \(exitTeams)::text[]) AS x(s, t, r, o, c, ch, n, u, e, eb, em, et)
            """, logger: logger)
        return first...last
    }

    /// Up to `limit` rows after `cursor`, in order.
    public static func page(after cursor: Int64, limit: Int, on connection: PostgresConnection, logger: Logger) async throws -> [ChangeLogRow] {
        let rows = try await connection.query("""
            SELECT seq, tbl, record, origin, customer, changes, counter, from_upstream, exit_branch, exit_manager, exit_team FROM change_log
            WHERE seq > \(cursor) ORDER BY seq LIMIT \(Int64(max(0, limit)))
            """, logger: logger)
        var page: [ChangeLogRow] = []
        for try await (seq, table, record, origin, customer, changes, counter, fromUpstream, exitBranch, exitManager, exitTeam)
            in rows.decode((Int64, String, String, String, String?, ByteBuffer, Int64?, Bool, String?, String?, String?).self) {
            page.append(ChangeLogRow(seq: seq, table: table, record: record, origin: origin, customer: customer,
                                     changes: Array(changes.readableBytesView), counter: counter, fromUpstream: fromUpstream,
                                     exit: exitBranch.map { ChangeLogRow.Exit(branch: $0, manager: exitManager, team: exitTeam) }))
        }
        return page
    }

    /// The last number handed out and committed.
    public static func head(on connection: PostgresConnection, logger: Logger) async throws -> Int64 {
        for try await seq in try await connection.query("SELECT seq FROM change_log_head", logger: logger).decode(Int64.self) {
            return seq
        }
        throw PostgresChangeLogError(description: "the change log's head row is missing")
    }
}

public struct PostgresChangeLogError: Error, CustomStringConvertible {
    public let description: String
}
