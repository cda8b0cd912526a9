import FieldSyncModel
import FieldSyncProtocol
import FieldSyncServerCore
import Foundation
import Logging
import NIOCore
import PostgresNIO

/// What `store copy` moved and whether reading it back found it the same.
public struct StoreCopyReport: Sendable {
    public var records = 0
    public var logRows = 0
    public var applied = 0
    public var users = 0
    public var devices = 0
    /// What differed when read back (empty: identical).
    public var mismatches: [String] = []

    public init() {}
}

/// Moves a SQLite server into an empty PostgreSQL database — records, change
/// log (same sequence numbers), idempotency marks, people, devices (their token
/// hashes and cursors), sessions, and the server's node and clock — in one
/// transaction, then reads everything back and compares it. Devices keep their
/// tokens and cursors: they sync with the new server without enrolling again.
public enum PostgresStoreCopy {
    public struct NotEmpty: Error, CustomStringConvertible {
        public var description: String { "the database already holds a server's data; copy into a new, empty database" }
    }

    static let page = 2_000

    public static func copy(_ export: some StoreExport, into client: PostgresClient, logger: Logger,
                            progress: @escaping (String) -> Void = { _ in }) async throws -> StoreCopyReport {
        try await PostgresSchema.migrate(client, logger: logger)
        var report = StoreCopyReport()
        report = try await PostgresTransaction.run(client, logger: logger) { connection in
            var report = report
            let occupied = try await connection.first("""
                SELECT EXISTS (SELECT 1 FROM server_state) OR EXISTS (SELECT 1 FROM records) OR EXISTS (SELECT 1 FROM users)
                    OR EXISTS (SELECT 1 FROM change_log)
                """, as: Bool.self, logger: logger) ?? true
            guard !occupied else { throw NotEmpty() }
            try await connection.query("""
                INSERT INTO server_state (one, node, hlc, counter, created_at, incarnation)
                VALUES (true, \(export.node.description), \(Int64(bitPattern: export.clock.rawValue)), \(Int64(clamping: export.counter)),
                        \(Int64(Date().timeIntervalSince1970 * 1_000)), \(export.incarnation))
                """, logger: logger)
            for kind in RecordKind.allCases {
                var after = ""
                while true {
                    let records = try export.records(kind, after: after, limit: page)
                    guard let last = records.last else { break }
                    try await PostgresServerStorage.save(records, on: connection, logger: logger)
                    report.records += records.count
                    after = last.key.record
                    progress("records: \(report.records)")
                }
            }
            var seq: Int64 = 0
            while true {
                let rows = try export.log(after: seq, limit: page)
                guard let last = rows.last else { break }
                try await PostgresChangeLog.insert(rows, on: connection, logger: logger)
                report.logRows += rows.count
                seq = last.seq
                progress("change log: \(report.logRows) rows")
            }
            try await connection.query("UPDATE change_log_head SET seq = \(seq)", logger: logger)
            // Both engines keep runs of counters (`AppliedRuns`): copied as they are.
            try await forEachAppliedRunPage(export, page: page) { runs in
                try await connection.query("""
                    INSERT INTO applied_ranges (origin, low, high)
                    SELECT * FROM unnest(\(runs.map(\.origin))::text[], \(runs.map(\.low))::bigint[], \(runs.map(\.high))::bigint[])
                    """, logger: logger)
                report.applied = Self.total(report.applied, runs)
            }
            let accounts = try export.accounts()
            try await insert(accounts, on: connection, logger: logger)
            report.users = accounts.users.count
            report.devices = accounts.devices.count
            return report
        }
        progress("reading it back")
        report.mismatches = try await compare(export, with: client, logger: logger)
        return report
    }

    /// Calls `body` with the SQLite store's runs of applied counters, a page at a time, in order.
    static func forEachAppliedRunPage(_ export: some StoreExport, page: Int,
                                      _ body: ([(origin: String, low: Int64, high: Int64)]) async throws -> Void) async throws {
        var (origin, low) = ("", Int64.min)
        while true {
            let runs = try export.appliedRuns(after: origin, low, limit: page)
            guard let last = runs.last else { return }
            try await body(runs)
            (origin, low) = (last.origin, last.low)
        }
    }

    /// How many counters a run of applied mutations holds (none for a malformed run).
    /// `sum` plus the sizes of `runs`, saturating.
    static func total(_ sum: Int, _ runs: [(origin: String, low: Int64, high: Int64)]) -> Int {
        runs.reduce(sum) { total, run in
            let (next, overflow) = total.addingReportingOverflow(size(of: run))
            return overflow ? Int.max : next
        }
    }

    static func size(of run: (origin: String, low: Int64, high: Int64)) -> Int {
        guard run.low >= 0, run.low <= run.high else { return 0 }
        return min(Int(clamping: run.high - run.low), Int.max - 1) + 1
    }

    static func insert(_ accounts: ExportedAccounts, on connection: PostgresConnection, logger: Logger) async throws {
        for user in accounts.users {
            try await connection.query("""
                INSERT INTO users (id, name, role, branch, created_at) VALUES (\(user.id), \(user.name), \(user.role), \(user.branch), \(user.createdAt))
                """, logger: logger)
        }
        for code in accounts.codes {
            try await connection.query("""
                INSERT INTO enrolment_codes (code_hash, user_id, expires_at, used_at) VALUES (\(code.hash), \(code.user), \(code.expiresAt), \(code.usedAt))
                """, logger: logger)
        }
        for device in accounts.devices {
            try await connection.query("""
                INSERT INTO devices (id, user_id, node, name, token_hash, created_at, revoked_at, last_seen, pending, cursor, refused, refused_reason, refused_at)
                VALUES (\(device.id), \(device.user), \(device.node), \(device.name), \(device.tokenHash), \(device.createdAt), \(device.revokedAt),
                        \(device.lastSeen), \(device.pending), \(device.cursor), \(device.refused), \(device.refusedReason), \(device.refusedAt))
                """, logger: logger)
        }
        for name in accounts.relayedNames {
            try await connection.query("""
                INSERT INTO relayed_names (node, "user", device, via, at) VALUES (\(name.node), \(name.user), \(name.device), \(name.via), \(name.at))
                """, logger: logger)
        }
        for action in accounts.refusedActions {
            let decision = action.decision
            try await connection.query("""
                INSERT INTO refused_actions (node, counter, reason, about, at, decision, note, decided_by, decided_at, reason_text)
                VALUES (\(action.node.description), \(Int64(clamping: action.counter)), \(action.reason), \(action.about), \(Int64(clamping: action.at)),
                        \(decision?.action.rawValue), \(decision?.note), \(decision?.by), \(decision.map { Int64(clamping: $0.at) }),
                        \(RefusedAction.column(action.text)))
                """, logger: logger)
        }
        for token in accounts.webTokens {
            try await connection.query("""
                INSERT INTO web_tokens (token_hash, device_id, kind, expires_at, used_at)
                VALUES (\(token.hash), \(token.device), \(token.kind), \(token.expiresAt), \(token.usedAt))
                """, logger: logger)
        }
        for (node, device) in accounts.relayedNodes {
            try await connection.query("INSERT INTO relayed_nodes (node, device) VALUES (\(node), \(device))", logger: logger)
        }
        for change in accounts.scopeHistory {
            try await connection.query("""
                INSERT INTO scope_history (customer, from_hlc, branch, manager, team)
                VALUES (\(change.customer), \(change.fromHLC), \(change.branch), \(change.manager), \(change.team))
                """, logger: logger)
        }
        for check in accounts.digestChecks {
            try await connection.query("""
                INSERT INTO digest_checks (device, checked_at, matched, differing)
                VALUES (\(check.device), \(Int64(clamping: check.checkedAt)), \(check.matched), \(Int64(check.differing)))
                """, logger: logger)
        }
        for below in accounts.reportedBelow {
            try await connection.query("""
                INSERT INTO reported_below (device, complete_up_to, devices, pending, stale, reported_at)
                VALUES (\(below.device), \(below.completeUpTo), \(below.devices), \(below.pending), \(below.stale), \(below.reportedAt))
                """, logger: logger)
        }
        // One statement for them all: a server keeps one per write transaction.
        if !accounts.logReceipts.isEmpty {
            try await connection.query("""
                INSERT INTO log_receipts (first_seq, at) SELECT * FROM unnest(\(accounts.logReceipts.map(\.firstSeq))::bigint[],
                    \(accounts.logReceipts.map(\.at))::bigint[])
                """, logger: logger)
        }
    }

    // MARK: Reading back

    /// What differs between the export and the database, page by page.
    static func compare(_ export: some StoreExport, with client: PostgresClient, logger: Logger) async throws -> [String] {
        var mismatches: [String] = []
        func differ(_ text: String) { if mismatches.count < 20 { mismatches.append(text) } }
        try await client.withConnection { connection in
            let node = try await connection.first("SELECT node FROM server_state", as: String.self, logger: logger)
            if node != export.node.description { differ("the server's node is \(node ?? "missing"), not \(export.node)") }
            let incarnation = try await connection.first("SELECT incarnation FROM server_state", as: String.self, logger: logger)
            if incarnation != export.incarnation { differ("the server's incarnation is \(incarnation ?? "missing"), not \(export.incarnation)") }
            for kind in RecordKind.allCases {
                var after = ""
                while true {
                    let expected = try export.records(kind, after: after, limit: page)
                    var found: [RecordRow] = []
                    for try await (id, bytes, customer, parent) in try await connection.query("""
                        SELECT id, state, customer, parent FROM records WHERE kind = \(kind.rawValue) AND id COLLATE "C" > \(after)
                        ORDER BY id COLLATE "C" LIMIT \(Int64(page))
                        """, logger: logger).decode((String, ByteBuffer, String?, String?).self) {
                        let state = try bytes.withUnsafeReadableBytes { try RecordStateCodec.decode($0, table: kind, record: id) }
                        found.append(RecordRow(key: RecordKey(table: kind, record: id), state: state, customer: customer, parent: parent))
                    }
                    if found != expected { differ("\(kind.rawValue) after '\(after.prefix(8))': \(found.count) read back, \(expected.count) expected, or different") }
                    guard let last = expected.last else { break }
                    after = last.key.record
                }
            }
            var seq: Int64 = 0
            while true {
                let expected = try export.log(after: seq, limit: page)
                let found = try await PostgresChangeLog.page(after: seq, limit: page, on: connection, logger: logger)
                if found != expected { differ("change log after \(seq): \(found.count) rows read back, \(expected.count) expected, or different") }
                guard let last = expected.last else { break }
                seq = last.seq
            }
            var count = 0
            try await forEachAppliedRunPage(export, page: page) { runs in count = Self.total(count, runs) }
            // Counted as `size` counts (a malformed run holds nothing), in numeric: no overflow.
            let stored = try await connection.first("""
                SELECT LEAST(COALESCE(sum(high::numeric - low + 1) FILTER (WHERE low >= 0 AND low <= high), 0), 9223372036854775807)::bigint
                FROM applied_ranges
                """, as: Int64.self, logger: logger) ?? -1
            if stored != Int64(count) { differ("\(stored) applied mutations read back, \(count) expected") }
            if try await accounts(on: connection, logger: logger) != export.accounts() { differ("people, devices or sessions differ") }
        }
        return mismatches
    }

    static func accounts(on connection: PostgresConnection, logger: Logger) async throws -> ExportedAccounts {
        var accounts = ExportedAccounts()
        for try await (id, name, role, branch, created) in try await connection.query(
            "SELECT id, name, role, branch, created_at FROM users ORDER BY id COLLATE \"C\"", logger: logger).decode((String, String, String, String?, Int64).self) {
            accounts.users.append(.init(id: id, name: name, role: role, branch: branch, createdAt: created))
        }
        for try await (hash, user, expires, used) in try await connection.query(
            "SELECT code_hash, user_id, expires_at, used_at FROM enrolment_codes ORDER BY code_hash COLLATE \"C\"", logger: logger)
            .decode((String, String, Int64, Int64?).self) {
            accounts.codes.append(.init(hash: hash, user: user, expiresAt: expires, usedAt: used))
        }
        for try await (id, user, node, name, token, created, revoked, seen, pending, cursor, refused, reason, refusedAt) in try await connection.query("""
            SELECT id, user_id, node, name, token_hash, created_at, revoked_at, last_seen, pending, cursor, refused, refused_reason, refused_at
            FROM devices ORDER BY id COLLATE "C"
            """, logger: logger).decode((String, String, String, String, String, Int64, Int64?, Int64?, Int64?, Int64?, Int64?, String?, Int64?).self) {
            var device = ExportedAccounts.Device(id: id, user: user, node: node, name: name, tokenHash: token, createdAt: created, revokedAt: revoked,
                                                 lastSeen: seen, pending: pending, cursor: cursor)
            (device.refused, device.refusedReason, device.refusedAt) = (refused, reason, refusedAt)
            accounts.devices.append(device)
        }
        for try await (hash, device, kind, expires, used) in try await connection.query(
            "SELECT token_hash, device_id, kind, expires_at, used_at FROM web_tokens ORDER BY token_hash COLLATE \"C\"", logger: logger)
            .decode((String, String, String, Int64, Int64?).self) {
            accounts.webTokens.append(.init(hash: hash, device: device, kind: kind, expiresAt: expires, usedAt: used))
        }
        for try await (node, device) in try await connection.query("SELECT node, device FROM relayed_nodes", logger: logger).decode((String, String).self) {
            accounts.relayedNodes[node] = device
        }
        for try await (customer, from, branch, manager, team) in try await connection.query("""
            SELECT customer, from_hlc, branch, manager, team FROM scope_history ORDER BY customer COLLATE "C", from_hlc
            """, logger: logger).decode((String, Int64, String?, String?, String?).self) {
            accounts.scopeHistory.append(.init(customer: customer, fromHLC: from, branch: branch, manager: manager, team: team))
        }
        for try await (device, complete, devices, pending, stale, reported) in try await connection.query("""
            SELECT device, complete_up_to, devices, pending, stale, reported_at FROM reported_below ORDER BY device COLLATE "C"
            """, logger: logger).decode((String, Int64?, Int64, Int64, Int64, Int64).self) {
            accounts.reportedBelow.append(.init(device: device, completeUpTo: complete, devices: devices, pending: pending, stale: stale, reportedAt: reported))
        }
        for try await (device, checkedAt, matched, differing) in try await connection.query("""
            SELECT device, checked_at, matched, differing FROM digest_checks ORDER BY device COLLATE "C"
            """, logger: logger).decode((String, Int64, Bool, Int64).self) {
            accounts.digestChecks.append(DigestCheck(device: device, checkedAt: UInt64(clamping: checkedAt), matched: matched,
                                                     differing: Int(clamping: differing)))
        }
        for try await (first, at) in try await connection.query("SELECT first_seq, at FROM log_receipts ORDER BY first_seq", logger: logger)
            .decode((Int64, Int64).self) {
            accounts.logReceipts.append(.init(firstSeq: first, at: at))
        }
        for try await (node, user, device, via, at) in try await connection.query("""
            SELECT node, "user", device, via, at FROM relayed_names ORDER BY node COLLATE "C"
            """, logger: logger).decode((String, String, String, String, Int64).self) {
            accounts.relayedNames.append(.init(node: node, user: user, device: device, via: via, at: at))
        }
        for try await (node, counter, reason, about, at, decision, note, by, decidedAt, text) in try await connection.query("""
            SELECT node, counter, reason, about, at, decision, note, decided_by, decided_at, reason_text FROM refused_actions ORDER BY node COLLATE "C", counter
            """, logger: logger).decode((String, Int64, String, String, Int64, String?, String?, String?, Int64?, String?).self) {
            guard let node = NodeID(node) else { continue }
            accounts.refusedActions.append(RefusedAction(node: node, counter: UInt64(clamping: counter), reason: reason, about: about,
                                                         at: UInt64(clamping: at),
                                                         decision: PostgresServerStorage.instruction(counter, decision, note, by, decidedAt),
                                                         text: RefusedAction.text(fromColumn: text)))
        }
        return accounts
    }
}
