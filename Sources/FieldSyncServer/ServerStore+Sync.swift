import FieldSyncModel
import FieldSyncProtocol
import FieldSyncStore
import Foundation
import GRDB
import HTTPTypes

/// Bounds of one sync exchange.
public struct SyncLimits: Sendable {
    /// Most changes returned in one page.
    public var maxChanges = 5_000
    /// About the most bytes of changes returned in one page.
    public var maxBytes = 4 << 20
    /// A push whose sender's clock differs from the server's by more than this
    /// is refused with `clock_skew` (the client re-stamps its changes and retries).
    public var maxClockSkew: UInt64 = 5 * 60_000

    public init() {}
}

/// A sync answer plus what the server itself did while producing it.
public struct SyncOutcome: Sendable {
    public var response: SyncResponse
    /// Conflict records this server created while merging the push.
    public var conflictsCreated: Int
}

extension ServerStore {
    /// One sync round trip: validates and applies the pushed mutations, logs
    /// them with sequence numbers, and returns the next page of changes in the
    /// device's scope — all in one transaction, durable before it returns.
    public func sync(_ request: SyncRequest, from device: DeviceContext, limits: SyncLimits = SyncLimits()) throws -> SyncOutcome {
        let now = self.now
        let skew = request.clientTime > now ? request.clientTime - now : now - request.clientTime
        if !request.mutations.isEmpty, skew > limits.maxClockSkew {
            throw ServerError(.conflict, ErrorCode.clockSkew,
                              "this device's clock is off by \(skew / 60_000) minutes; its changes are re-stamped and sent again",
                              serverTime: now)
        }
        return try writer.write { db in
            try db.execute(sql: "UPDATE devices SET last_seen = ? WHERE id = ?", arguments: [Int64(now), device.device])
            let io = RecordIO(db)
            var scope = ScopeResolver(io: io)
            var accepted: [MutationID] = []
            var rejected: [Rejection] = []
            var toApply: [FieldChange] = []
            var conflictsCreated = 0
            for mutation in request.mutations {
                let id = MutationID(origin: mutation.origin, counter: mutation.counter)
                let seen = try db.cachedStatement(sql: "SELECT 1 FROM applied_mutations WHERE origin = ? AND counter = ?")
                if try Bool.fetchOne(seen, arguments: [mutation.origin.description, Int64(mutation.counter)]) == true {
                    accepted.append(id)
                    continue
                }
                if let reason = try check(mutation, from: device, now: now, limits: limits, scope: &scope) {
                    rejected.append(Rejection(origin: mutation.origin, counter: mutation.counter, reason: reason))
                    continue
                }
                scope.remember(mutation.changes)
                toApply += mutation.changes
                try markApplied(id, db)
                accepted.append(id)
            }
            if !toApply.isEmpty {
                let report = try Replica.apply(toApply[...], now: now, db)
                var logged = toApply
                conflictsCreated = report.conflictsCreated.count
                if let conflicts = report.conflictMutation {
                    logged += conflicts.changes
                    try markApplied(MutationID(origin: conflicts.origin, counter: conflicts.counter), db)
                    // The server's own conflict records are in the log; its outbox is not used.
                    try db.execute(sql: "DELETE FROM outbox WHERE counter = ?", arguments: [Int64(conflicts.counter)])
                }
                try log(logged, scope: &scope, db)
            }
            let page = try pull(after: request.cursor, for: device, limits: limits, maxChanges: request.maxChanges, db)
            let response = SyncResponse(accepted: accepted, rejected: rejected, changes: page.changes,
                                        cursor: page.cursor, more: page.more, serverTime: now)
            return SyncOutcome(response: response, conflictsCreated: conflictsCreated)
        }
    }

    private func markApplied(_ id: MutationID, _ db: Database) throws {
        try db.cachedStatement(sql: "INSERT OR IGNORE INTO applied_mutations (origin, counter) VALUES (?, ?)")
            .execute(arguments: [id.origin.description, Int64(id.counter)])
    }

    /// Why a mutation is refused, or nil if it may be applied.
    private func check(_ mutation: Mutation, from device: DeviceContext, now: UInt64, limits: SyncLimits, scope: inout ScopeResolver) throws -> String? {
        guard mutation.origin == device.node else {
            return "mutation from node \(mutation.origin) sent by device node \(device.node); a device pushes its own changes"
        }
        guard !mutation.changes.isEmpty else { return "empty mutation" }
        for change in mutation.changes {
            guard change.node == mutation.origin else { return "\(change.table.rawValue).\(change.field): change stamped by another node" }
            guard change.hlc.milliseconds <= now + limits.maxClockSkew else {
                return "\(change.table.rawValue).\(change.field): stamped \((change.hlc.milliseconds - now) / 60_000) minutes ahead of the server's clock"
            }
            do {
                try change.table.schema.check(field: change.field, value: change.value)
            } catch {
                return "\(change.table.rawValue).\(change.field): \(error.message)"
            }
        }
        guard device.user.role == .manager || device.user.role == .supervisor else { return nil }
        var checked = Set<RecordKey>()
        for change in mutation.changes where checked.insert(RecordKey(table: change.table, record: change.record)).inserted {
            let branch = try scope.branch(of: change.table, change.record, pending: mutation.changes)
            switch branch {
            case .unknownCustomer(let table, let id):
                return "\(table.noun) \(id.prefix(8)) is unknown to the server; sync the change that created it first"
            case .branch(let name) where name != device.user.branch:
                return "\(change.table.noun) \(change.record.prefix(8)) belongs to branch \(name ?? "(none)"); \(device.user.name) works for \(device.user.branch ?? "no branch")"
            default:
                continue
            }
        }
        return nil
    }

    /// Appends changes to the log; each gets the next sequence number and the
    /// branch of the customer it belongs to (what pulls are scoped by).
    private func log(_ changes: [FieldChange], scope: inout ScopeResolver, _ db: Database) throws {
        let statement = try db.cachedStatement(sql: """
            INSERT INTO change_log (tbl, record, field, value, hlc, node, base, branch) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            """)
        // Branch by record, and by customer: a push of many visits of one
        // customer looks the customer up once.
        var branches: [RecordKey: String?] = [:]
        for change in changes {
            let key = RecordKey(table: change.table, record: change.record)
            let branch: String?
            if let known = branches[key] {
                branch = known
            } else {
                if case .branch(let name) = try scope.branch(of: change.table, change.record, pending: []) { branch = name } else { branch = nil }
                branches[key] = branch
            }
            statement.setUncheckedArguments([
                change.table.rawValue, change.record, change.field, change.value.databaseValue,
                Int64(bitPattern: change.hlc.rawValue), change.node.description, Int64(bitPattern: change.base.rawValue), branch,
            ])
            try statement.execute()
        }
    }

    /// The changes after `cursor` in the device's scope, bounded in rows and bytes.
    private func pull(after cursor: Int64, for device: DeviceContext, limits: SyncLimits, maxChanges: Int?, _ db: Database) throws -> (changes: [FieldChange], cursor: Int64, more: Bool) {
        let limit = max(1, min(maxChanges ?? limits.maxChanges, limits.maxChanges))
        var sql = "SELECT seq, tbl, record, field, value, hlc, node, base FROM change_log WHERE seq > ? AND node != ?"
        var arguments: [(any DatabaseValueConvertible)?] = [cursor, device.node.description]
        if device.user.role == .manager || device.user.role == .supervisor {
            sql += " AND branch = ?"
            arguments.append(device.user.branch)
        }
        sql += " ORDER BY seq LIMIT ?"
        arguments.append(limit + 1)
        var changes: [FieldChange] = []
        var last = cursor
        var bytes = 0
        var more = false
        let rows = try Row.fetchCursor(db, sql: sql, arguments: StatementArguments(arguments))
        while let row = try rows.next() {
            if changes.count == limit || bytes > limits.maxBytes { more = true; break }
            guard let table = RecordKind(rawValue: row[1]), let node = NodeID(row[6] as String) else { continue }
            let value = FieldValue(row[4] as DatabaseValue)
            let change = FieldChange(table: table, record: row[2], field: row[3], value: value,
                                     hlc: HLC(rawValue: UInt64(bitPattern: row[5])), node: node,
                                     base: HLC(rawValue: UInt64(bitPattern: row[7])))
            bytes += 120 + change.record.utf8.count + change.field.utf8.count + (value.text?.utf8.count ?? 8)
            changes.append(change)
            last = row[0]
        }
        if !more {
            // Nothing further in scope: skip past everything out of scope too.
            last = max(last, try Int64.fetchOne(db, sql: "SELECT MAX(seq) FROM change_log") ?? cursor)
        }
        return (changes, last, more)
    }
}

/// Finds which branch a record belongs to, through its customer.
struct ScopeResolver {
    enum Answer: Equatable {
        case branch(String?)
        case unknownCustomer(RecordKind, String)
    }

    let io: RecordIO
    /// Customers' branches and records' parents learned from accepted
    /// mutations of this push that are not applied yet.
    private var pendingBranch: [String: String?] = [:]
    private var pendingParent: [RecordKey: RecordKey] = [:]
    /// Stored customers' branches, looked up once per push.
    private var storedBranch: [String: String?] = [:]

    init(io: RecordIO) { self.io = io }

    mutating func remember(_ changes: [FieldChange]) {
        for change in changes {
            if change.table == .customer, change.field == "branch" {
                pendingBranch[change.record] = change.value.text
                storedBranch[change.record] = nil
            }
            if change.table == .customer, pendingBranch[change.record] == nil { pendingBranch[change.record] = .some(nil) }
            if let parent = Self.parentKey(of: change) {
                pendingParent[RecordKey(table: change.table, record: change.record)] = parent
            }
        }
    }

    mutating func branch(of table: RecordKind, _ record: String, pending: [FieldChange]) throws -> Answer {
        var key = RecordKey(table: table, record: record)
        for _ in 0..<4 {
            if key.table == .customer {
                if let change = pending.last(where: { $0.table == .customer && $0.record == key.record && $0.field == "branch" }) {
                    return .branch(change.value.text)
                }
                if let known = storedBranch[key.record] { return .branch(known) }
                if let stored = try io.load(.customer, key.record) {
                    let branch = stored.value("branch", in: RecordKind.customer.schema).text
                    storedBranch[key.record] = branch
                    return .branch(branch)
                }
                if let known = pendingBranch[key.record] { return .branch(known) }
                if pending.contains(where: { $0.table == .customer && $0.record == key.record }) { return .branch(nil) }
                return .unknownCustomer(.customer, key.record)
            }
            let own = pending.filter { $0.table == key.table && $0.record == key.record }
            if let parent = own.lazy.compactMap(Self.parentKey).first {
                key = parent
            } else if key.table == .conflict,
                      let target = own.first(where: { $0.field == "table" })?.value.text.flatMap(RecordKind.init(rawValue:)),
                      let record = own.first(where: { $0.field == "record" })?.value.text {
                key = RecordKey(table: target, record: record)
            } else if let parent = pendingParent[key] {
                key = parent
            } else if let stored = try io.load(key.table, key.record), let parent = Self.parentKey(of: key.table, stored) {
                key = parent
            } else {
                return .unknownCustomer(key.table, key.record)
            }
        }
        return .branch(nil)
    }

    /// The record a change's record hangs from, when the change names it.
    static func parentKey(of change: FieldChange) -> RecordKey? {
        switch (change.table, change.field) {
        case (.contact, "customer"), (.agreement, "customer"), (.visit, "customer"), (.fault, "customer"), (.complaint, "customer"):
            return change.value.text.map { RecordKey(table: .customer, record: $0) }
        case (.faultNote, "fault"): return change.value.text.map { RecordKey(table: .fault, record: $0) }
        case (.complaintNote, "complaint"): return change.value.text.map { RecordKey(table: .complaint, record: $0) }
        default: return nil
        }
    }

    static func parentKey(of table: RecordKind, _ state: RecordState) -> RecordKey? {
        let schema = table.schema
        if table == .conflict {
            guard let target = state.value("table", in: schema).text.flatMap(RecordKind.init(rawValue:)),
                  let record = state.value("record", in: schema).text else { return nil }
            return RecordKey(table: target, record: record)
        }
        guard let parent = schema.parentField, case .reference(let kind) = parent.type,
              let id = state.value(parent.name, in: schema).text else { return nil }
        return RecordKey(table: kind, record: id)
    }
}
