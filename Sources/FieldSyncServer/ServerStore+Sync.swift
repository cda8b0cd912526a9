import FieldSyncModel
import FieldSyncProtocol
import FieldSyncStore
import Foundation
import GRDB
import HTTPTypes

/// Bounds of one sync exchange.
public struct SyncLimits: Sendable {
    /// Most changes returned in one page.
    public var maxChanges = 10_000
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
        defer { replica.checkpointer?.poke() }
        return try writer.write { db in
            // At most once a minute: a pull that writes nothing else then commits without a disk flush.
            try db.cachedStatement(sql: "UPDATE devices SET last_seen = ? WHERE id = ? AND (last_seen IS NULL OR last_seen < ?)")
                .execute(arguments: [Int64(now), device.device, Int64(now) - 60_000])
            let io = RecordIO(db)
            var scope = ScopeResolver(io: io)
            var accepted: [MutationID] = []
            var rejected: [Rejection] = []
            var toApply: [Mutation] = []
            var applied = try appliedAmong(request.mutations, db)
            for mutation in request.mutations {
                let id = MutationID(origin: mutation.origin, counter: mutation.counter)
                if applied.contains(id) {
                    accepted.append(id)
                    continue
                }
                if let reason = try check(mutation, from: device, now: now, limits: limits, scope: &scope) {
                    rejected.append(Rejection(origin: mutation.origin, counter: mutation.counter, reason: reason))
                    continue
                }
                try scope.remember(mutation.changes)
                toApply.append(mutation)
                try markApplied(id, db)
                applied.insert(id)  // a mutation repeated within this push is applied once
                accepted.append(id)
            }
            var conflictsCreated = 0
            if !toApply.isEmpty {
                let changes = toApply.flatMap(\.changes)
                // Customers whose branch or manager this push touches: if the merged
                // value moves them, their whole file is logged again in the new scope.
                let touched = Set(changes.lazy.filter { $0.table == .customer && ($0.field == "branch" || $0.field == "manager") }.map(\.record))
                let scopesBefore = try Dictionary(uniqueKeysWithValues: touched.map { ($0, try io.load(.customer, $0).map(CustomerScope.init)) })
                let report = try Replica.apply(changes[...], now: now, db)
                conflictsCreated = report.conflictsCreated.count
                var log = ChangeLogWriter(db, io: io)
                for mutation in toApply { try log.append(mutation.changes, origin: mutation.origin) }
                if let conflicts = report.conflictMutation { try log.appendOwn(conflicts) }
                let server = try Replica.identity(db)?.node ?? NodeID(rawValue: 0)
                for customer in touched.sorted() {
                    guard let before = scopesBefore[customer] ?? nil,
                          let after = try io.load(.customer, customer).map(CustomerScope.init), after != before else { continue }
                    try log.appendFile(ofCustomer: customer, origin: server)
                }
            }
            let page = try pull(after: request.cursor, for: device, limits: limits, maxChanges: request.maxChanges, db)
            let response = SyncResponse(accepted: accepted, rejected: rejected, changes: page.changes,
                                        cursor: page.cursor, more: page.more, serverTime: now)
            return SyncOutcome(response: response, conflictsCreated: conflictsCreated)
        }
    }

    /// Which of these mutations this server applied before (a retried push), in one query per origin.
    private func appliedAmong(_ mutations: [Mutation], _ db: Database) throws -> Set<MutationID> {
        var applied = Set<MutationID>()
        for (origin, group) in Dictionary(grouping: mutations, by: \.origin) {
            let counters = group.map(\.counter)
            let rows = try Int64.fetchCursor(
                db.cachedStatement(sql: "SELECT counter FROM applied_mutations WHERE origin = ? AND counter BETWEEN ? AND ?"),
                arguments: [origin.description, Int64(counters.min()!), Int64(counters.max()!)])
            while let counter = try rows.next() { applied.insert(MutationID(origin: origin, counter: UInt64(counter))) }
        }
        return applied
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
        if let change = mutation.changes.first(where: { $0.table == .calendarDay }) {
            return "calendar day \(change.record.prefix(8)): the working-day calendar is set by the province ('fieldsync-server calendar')"
        }
        var checked = Set<RecordKey>()
        var customers = Set<String>()
        for change in mutation.changes where checked.insert(RecordKey(table: change.table, record: change.record)).inserted {
            switch try scope.owner(of: change.table, change.record, pending: mutation.changes[...]) {
            case .unknown(let table, let id):
                return "\(table.noun) \(id.prefix(8)) is unknown to the server; sync the change that created it first"
            case .customer(let id):
                guard customers.insert(id).inserted else { continue }
                let before = try scope.customerScope(id)
                let after = CustomerScope(before ?? CustomerScope(), applying: mutation.changes, to: id)
                if let before, before.branch != device.user.branch {
                    return "\(change.table.noun) \(change.record.prefix(8)) belongs to branch \(before.branch ?? "(none)"); \(device.user.name) works for \(device.user.branch ?? "no branch")"
                }
                if after.branch != device.user.branch {
                    let moving = before == nil ? "belongs to" : "would move to"
                    return "customer \(id.prefix(8)) \(moving) branch \(after.branch ?? "(none)"); \(device.user.name) works for \(device.user.branch ?? "no branch")"
                }
            }
        }
        return nil
    }

    /// The changes after `cursor` in the device's scope, bounded in rows and bytes.
    private func pull(after cursor: Int64, for device: DeviceContext, limits: SyncLimits, maxChanges: Int?, _ db: Database) throws -> (changes: [FieldChange], cursor: Int64, more: Bool) {
        let limit = max(1, min(maxChanges ?? limits.maxChanges, limits.maxChanges))
        var sql = "SELECT seq, tbl, record, changes FROM change_log WHERE seq > ? AND origin != ?"
        var arguments: [(any DatabaseValueConvertible)?] = [cursor, device.node.description]
        if device.user.role == .manager || device.user.role == .supervisor {
            // The working-day calendar belongs to no customer and reaches everyone.
            sql += " AND (branch = ? OR tbl = '\(RecordKind.calendarDay.rawValue)')"
            arguments.append(device.user.branch)
        }
        sql += " ORDER BY seq"
        var changes: [FieldChange] = []
        changes.reserveCapacity(min(limit, 1_024))
        var last = cursor
        var bytes = 0
        var more = false
        let statement = try db.cachedStatement(sql: sql)
        let rows = try Row.fetchCursor(statement, arguments: StatementArguments(arguments))
        while let row = try rows.next() {
            if changes.count >= limit || bytes > limits.maxBytes { more = true; break }
            guard let table = RecordKind(rawValue: row[1]) else { continue }
            let record: String = row[2]
            let before = changes.count
            let size = try row.withUnsafeData(atIndex: 3) { data in
                guard let data else { throw ChangeLogCodec.Malformed() }
                try data.withUnsafeBytes { raw in
                    try ChangeLogCodec.decode(raw, table: table, record: record, into: &changes)
                }
                return data.count
            }
            // A record's changes from one mutation travel together: a row that
            // does not fit waits for the next page, unless it is the first.
            if changes.count > limit, before > 0 {
                changes.removeSubrange(before...)
                more = true
                break
            }
            bytes += size + (changes.count - before) * (72 + record.utf8.count)
            last = row[0]
        }
        if !more {
            // Nothing further in scope: skip past everything out of scope too.
            last = max(last, try Int64.fetchOne(db.cachedStatement(sql: "SELECT MAX(seq) FROM change_log")) ?? cursor)
        }
        return (changes, last, more)
    }
}
