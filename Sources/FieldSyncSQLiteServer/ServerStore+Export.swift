import FieldSyncModel
import FieldSyncProtocol
import FieldSyncServerCore
import FieldSyncStore
import Foundation
import GRDB

/// A consistent read of a whole SQLite server, in pages, for moving it to another engine
/// (`fieldsync-server store copy`): every page comes from the same moment, whatever the server writes meanwhile.
public final class ServerExport: StoreExport {
    let snapshot: DatabaseSnapshot
    public let node: NodeID
    public let clock: HLC
    /// The counter of the server's own mutations.
    public let counter: UInt64
    /// The id of the server's history: the copy continues it, so devices sync on unaware of the move.
    public let incarnation: String

    init(_ snapshot: DatabaseSnapshot) throws {
        self.snapshot = snapshot
        (node, clock, counter, incarnation) = try snapshot.read { db in
            guard let node = try Replica.identity(db)?.node else { throw StoreError.notInitialized("the server") }
            let (clock, counter) = try Replica.clockAndCounter(db)
            return (node, clock, counter, try ServerStore.incarnation(db))
        }
    }

    /// Records of a kind after `id`, in id order, with their owners and parents.
    public func records(_ kind: RecordKind, after id: String, limit: Int) throws -> [RecordRow] {
        try snapshot.read { db in
            let io = RecordIO(db)
            let ids = try String.fetchAll(db, sql: "SELECT id FROM \(kind.rawValue) WHERE id > ? ORDER BY id LIMIT ?", arguments: [id, limit])
            var cache: [RecordKey: RecordState?] = [:]
            func load(_ key: RecordKey) throws -> RecordState? {
                if let known = cache[key] { return known }
                let state = try io.load(key.table, key.record)
                cache[key] = state
                return state
            }
            return try ids.compactMap { id -> RecordRow? in
                let key = RecordKey(table: kind, record: id)
                guard let state = try load(key) else { return nil }
                let parent = RecordOwner.parentKey(of: kind, state).map { "\($0.table.rawValue)/\($0.record)" }
                return RecordRow(key: key, state: state, customer: try RecordOwner.file(of: key, in: load)?.customer, parent: parent)
            }
        }
    }

    public func log(after seq: Int64, limit: Int) throws -> [ChangeLogRow] {
        try snapshot.read { db in
            try Row.fetchAll(db, sql: """
                SELECT seq, tbl, record, origin, customer, changes, counter, from_upstream, exit_branch, exit_manager, exit_team
                FROM change_log WHERE seq > ? ORDER BY seq LIMIT ?
                """, arguments: [seq, limit]).map { row in
                ChangeLogRow(seq: row[0], table: row[1], record: row[2], origin: row[3], customer: row[4], changes: Array(row[5] as Data),
                             counter: row[6], fromUpstream: (row[7] as Int64? ?? 0) != 0,
                             exit: (row[8] as String?).map { ChangeLogRow.Exit(branch: $0, manager: row[9], team: row[10]) })
            }
        }
    }

    /// Runs of applied mutations' counters (`AppliedMarks`), after (origin, low), in that order.
    public func appliedRuns(after origin: String, _ low: Int64, limit: Int) throws -> [(origin: String, low: Int64, high: Int64)] {
        try snapshot.read { db in
            try Row.fetchAll(db, sql: """
                SELECT origin, low, high FROM applied_ranges WHERE (origin, low) > (?, ?) ORDER BY origin, low LIMIT ?
                """, arguments: [origin, low, limit]).map { ($0[0], $0[1], $0[2]) }
        }
    }

    public func accounts() throws -> ExportedAccounts {
        try snapshot.read { db in
            var accounts = ExportedAccounts()
            accounts.users = try Row.fetchAll(db, sql: "SELECT id, name, role, branch, created_at FROM users ORDER BY id").map {
                .init(id: $0[0], name: $0[1], role: $0[2], branch: $0[3], createdAt: $0[4])
            }
            accounts.codes = try Row.fetchAll(db, sql: "SELECT code_hash, user_id, expires_at, used_at FROM enrolment_codes ORDER BY code_hash").map {
                .init(hash: $0[0], user: $0[1], expiresAt: $0[2], usedAt: $0[3])
            }
            accounts.devices = try Row.fetchAll(db, sql: """
                SELECT id, user_id, node, name, token_hash, created_at, revoked_at, last_seen, pending, cursor, refused, refused_reason, refused_at
                FROM devices ORDER BY id
                """).map { row -> ExportedAccounts.Device in
                let (revokedAt, lastSeen, pending, cursor): (Int64?, Int64?, Int64?, Int64?) = (row[6], row[7], row[8], row[9])
                var device = ExportedAccounts.Device(id: row[0], user: row[1], node: row[2], name: row[3], tokenHash: row[4], createdAt: row[5],
                                                     revokedAt: revokedAt, lastSeen: lastSeen, pending: pending, cursor: cursor)
                (device.refused, device.refusedReason, device.refusedAt) = (row[10], row[11], row[12])
                return device
            }
            accounts.webTokens = try Row.fetchAll(db, sql: "SELECT token_hash, device_id, kind, expires_at, used_at FROM web_tokens ORDER BY token_hash").map {
                .init(hash: $0[0], device: $0[1], kind: $0[2], expiresAt: $0[3], usedAt: $0[4])
            }
            for row in try Row.fetchAll(db, sql: "SELECT node, device FROM relayed_nodes") { accounts.relayedNodes[row[0]] = row[1] }
            accounts.scopeHistory = try Row.fetchAll(db, sql: "SELECT customer, from_hlc, branch, manager, team FROM scope_history ORDER BY customer, from_hlc").map {
                .init(customer: $0[0], fromHLC: $0[1], branch: $0[2], manager: $0[3], team: $0[4])
            }
            accounts.reportedBelow = try Row.fetchAll(db, sql: """
                SELECT device, complete_up_to, devices, pending, stale, reported_at FROM reported_below ORDER BY device
                """).map { .init(device: $0[0], completeUpTo: $0[1], devices: $0[2], pending: $0[3], stale: $0[4], reportedAt: $0[5]) }
            accounts.logReceipts = try Row.fetchAll(db, sql: "SELECT first_seq, at FROM log_receipts ORDER BY first_seq").map { .init(firstSeq: $0[0], at: $0[1]) }
            accounts.refusedActions = try ServerStore.refusedActions(db)
            accounts.relayedNames = try Row.fetchAll(db, sql: "SELECT node, user, device, via, at FROM relayed_names ORDER BY node").map {
                .init(node: $0[0], user: $0[1], device: $0[2], via: $0[3], at: $0[4])
            }
            accounts.digestChecks = try Row.fetchAll(db, sql: "SELECT device, checked_at, matched, differing FROM digest_checks ORDER BY device").map {
                DigestCheck(device: $0[0], checkedAt: UInt64(clamping: $0[1] as Int64), matched: $0[2], differing: $0[3])
            }
            return accounts
        }
    }

    /// Files that left this server's scope upstream: a server that had any is a branch server, which cannot move.
    public func hasUpstreamState() throws -> Bool {
        try snapshot.read { db in try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM departed) OR EXISTS (SELECT 1 FROM upstream_state)") ?? false }
    }
}

extension ServerStore {
    /// A consistent read of the whole server for `store copy`.
    public func export() throws -> ServerExport {
        guard let pool = writer as? DatabasePool else { throw StoreError.notInitialized("a server database on disk") }
        return try ServerExport(try pool.makeSnapshot())
    }
}
