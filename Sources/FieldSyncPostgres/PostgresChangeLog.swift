import FieldSyncServerCore
import Logging
import NIOCore
import PostgresNIO

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
    /// Appends `rows` in order inside the caller's transaction and returns their numbers, with
    /// one receipt (`LogReceipts`): this server received them at `receivedAt`.
    @discardableResult
    public static func append(_ rows: [ChangeLogRow], receivedAt: UInt64, on connection: PostgresConnection, logger: Logger) async throws -> ClosedRange<Int64>? {
        guard !rows.isEmpty else { return nil }
        // Each row's `branch` is read from its customer as the row is inserted. A transaction moving that
        // customer to another branch holds its row until it commits: wait for it here, before taking the
        // head, so the row reads the branch it moved to (and the mover, which re-logs the file's records,
        // sees this transaction's, or waits for it to commit first). Without this a row written while
        // its file moved could keep the old branch and never reach the new one's devices.
        // The branches are read by that same statement: the row it returns is the version committed after the wait.
        let customers = Array(Set(rows.compactMap(\.customer)))
        var branches: [String: String] = [:]
        if !customers.isEmpty {
            for try await (id, branch) in try await connection.query("""
                SELECT id, branch FROM records WHERE kind = 'customers' AND id = ANY(\(customers)) FOR SHARE
                """, logger: logger).decode((String, String?).self) {
                if let branch { branches[id] = branch }
            }
        }
        let count = Int64(rows.count)
        var last: Int64 = 0
        for try await seq in try await connection.query(
            "UPDATE change_log_head SET seq = seq + \(count) RETURNING seq", logger: logger).decode(Int64.self) {
            last = seq
        }
        let first = last - count + 1
        guard first >= 1 else { throw PostgresChangeLogError(description: "the change log's head row is missing or damaged") }
        var numbered = rows
        for index in numbered.indices { numbered[index].seq = first + Int64(index) }
        // The receipt travels in the rows' own statement: no extra round trip while the head row is locked.
        try await insert(numbered, receipt: (first, Int64(clamping: receivedAt)), branches: branches, on: connection, logger: logger)
        return first...last
    }

    /// Writes rows with the numbers they carry (`append` numbers them; `store copy` keeps the source's).
    /// Each row's `branch` is its customer's as stored when it is written (records are saved before
    /// their rows; a copy writes the records first): what a branch's pull finds it by. `branches`: the
    /// customers' branches as the caller read them in this transaction (else each row reads its own).
    static func insert(_ rows: [ChangeLogRow], receipt: (firstSeq: Int64, at: Int64)? = nil, branches: [String: String]? = nil,
                       on connection: PostgresConnection, logger: Logger) async throws {
        guard !rows.isEmpty else { return }
        // One statement for the whole batch: columns as arrays, unnested into rows.
        // Arrays hold no NULL here, so absent values travel as '' and 0 (neither is valid for them).
        let customers = rows.map { $0.customer ?? "" }
        let changes = rows.map { ByteBuffer(bytes: $0.changes) }
        let counters = rows.map { $0.counter ?? 0 }
        let exits = rows.map { $0.exit != nil }
        let exitBranches = rows.map { $0.exit?.branch ?? "" }, exitManagers = rows.map { $0.exit?.manager ?? "" }
        let exitTeams = rows.map { $0.exit?.team ?? "" }
        let rowBranches = rows.map { row in row.customer.flatMap { branches?[$0] } ?? "" }
        let branch = branches == nil ? "(SELECT branch FROM records WHERE kind = 'customers' AND id = NULLIF(c, ''))" : "NULLIF(b, '')"
        let withReceipt = receipt.map { "WITH receipt AS (INSERT INTO log_receipts (first_seq, at) VALUES (\($0.firstSeq), \($0.at)))" } ?? ""
        try await connection.query("""
            \(unescaped: withReceipt)
            INSERT INTO change_log (seq, tbl, record, origin, customer, changes, counter, from_upstream, exit_branch, exit_manager, exit_team, branch)
            SELECT s, t, r, o, NULLIF(c, ''), ch, NULLIF(n, 0), u, CASE WHEN e THEN eb END, CASE WHEN e THEN NULLIF(em, '') END,
                   CASE WHEN e THEN NULLIF(et, '') END, \(unescaped: branch)
            FROM unnest(\(rows.map(\.seq))::bigint[], \(rows.map(\.table))::text[], \(rows.map(\.record))::text[], \(rows.map(\.origin))::text[],
                        \(customers)::text[], \(changes)::bytea[], \(counters)::bigint[], \(rows.map(\.fromUpstream))::boolean[], \(exits)::boolean[],
                        \(exitBranches)::text[], \(exitManagers)::text[], \(exitTeams)::text[], \(rowBranches)::text[])
                AS x(s, t, r, o, c, ch, n, u, e, eb, em, et, b)
            """, logger: logger)
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
