import FieldSyncModel
import FieldSyncProtocol

/// What a push's mutations must be before any is applied, whatever engine
/// stores them: pure, given what the engine read.
package enum PushRules {
    /// A push stamped by a clock too far from the server's is refused whole: the device learns the offset and re-stamps.
    package static func checkClock(_ request: SyncRequest, now: UInt64, limits: SyncLimits) throws {
        let skew = request.clientTime > now ? request.clientTime - now : now - request.clientTime
        if !request.mutations.isEmpty, skew > limits.maxClockSkew {
            throw ServerError(.conflict, ErrorCode.clockSkew,
                              "this device's clock is off by \(skew / 60_000) minutes; its changes are re-stamped and sent again",
                              serverTime: now)
        }
    }

    /// A device that synced with another history of this server (its incarnation changed: restored
    /// from a backup, or made anew), or read further than this server's log now reaches (a copy put
    /// back by hand), is refused before anything is stored: it must offer back what this server lost
    /// and read the log again from the start, or its cursor would skip what is written from here on.
    package static func checkHistory(_ request: SyncRequest, incarnation: String, head: Int64) throws {
        let otherHistory = request.incarnation.map { $0 != incarnation } ?? false
        if otherHistory || request.cursor > head { throw ServerError.serverRestored(incarnation: incarnation, head: head) }
    }

    /// What still waits on a device after a push: what it reported as waiting
    /// when it sent the push, less its own mutations the push acknowledged.
    package static func waitingAfter(reported: Int, accepted: [MutationID], own: NodeID) -> Int {
        max(0, reported - accepted.lazy.filter { $0.origin == own }.count)
    }

    /// The most a branch server's `below` report may claim: devices, and actions waiting among them.
    package static let maxDevicesBelow = 1_000_000
    package static let maxPendingBelow = 1_000_000_000_000

    /// A `below` report out of bounds is refused with the request (what a device says of others is bounded too).
    package static func checkBelow(_ request: SyncRequest) throws {
        guard let below = request.below else { return }
        guard (0...maxDevicesBelow).contains(below.devices), (0...maxDevicesBelow).contains(below.notSeenForThreeDays),
              (0...maxPendingBelow).contains(below.pending) else {
            throw ServerError.badRequest("below: devices and not_seen_for_3_days are 0 to \(maxDevicesBelow), pending 0 to \(maxPendingBelow)")
        }
    }

    /// Why the device may not send this mutation (it is neither its own nor a node's it relays), or nil.
    package static func validateOrigin(_ mutation: Mutation, from device: DeviceContext, relaying relayed: Set<NodeID>) -> Refusal? {
        guard mutation.origin == device.node || relayed.contains(mutation.origin) else {
            return "mutation from node \(mutation.origin) sent by device node \(device.node); a device pushes its own changes"
        }
        return nil
    }

    /// The reason a mutation carrying what this server does not know is refused: a newer peer's
    /// work, kept on its device and sent again at every sync until the server is upgraded.
    package static func newerThanServer(_ what: String) -> String {
        "this server does not know the \(what) (written by a newer FieldSync); the action waits on the device and is sent again until the server is upgraded"
    }

    private static func newerThanServer(kind: String) -> Refusal {
        Refusal(newerThanServer("record kind '\(kind)'"), key: "refusal.newer-kind", ["name": kind])
    }

    private static func newerThanServer(field: String, of table: RecordKind) -> Refusal {
        Refusal(newerThanServer("field '\(field)' of \(table.rawValue)"), key: "refusal.newer-field", ["name": field, "table": table.rawValue])
    }

    /// Why a mutation is refused whoever sends it (its stamps, its values, its size), or nil.
    /// Needs nothing stored: the server checks it before the push waits for the writer.
    package static func validateContent(_ mutation: Mutation, now: UInt64, limits: SyncLimits) -> Refusal? {
        // Written by a newer FieldSync: refused, never dropped; it waits on its device and passes once this server knows it.
        if let kind = mutation.unknownKinds.first { return newerThanServer(kind: String(kind.prefix(64))) }
        guard !mutation.changes.isEmpty else { return "empty mutation" }
        // SQLite stores counters as Int64 (the wire reader refuses others; this guards direct callers).
        guard (1...UInt64(Int64.max)).contains(mutation.counter) else { return "counter \(mutation.counter) is not 1 to \(Int64.max)" }
        // Read in place: iterating the changes copied each one (three reference counts up and down).
        return mutation.changes.withUnsafeBufferPointer { changes in Self.validate(changes, origin: mutation.origin, now: now, limits: limits) }
    }

    private static func validate(_ changes: UnsafeBufferPointer<FieldChange>, origin: NodeID, now: UInt64, limits: SyncLimits) -> Refusal? {
        var perRecord: [RecordKey: Int] = [:]
        var checkedID = ""
        for index in changes.indices {
            guard changes[index].node == origin else { return "\(changes[index].table.rawValue).\(changes[index].field): change stamped by another node" }
            guard changes[index].hlc.milliseconds <= now + limits.maxClockSkew else {
                let minutes = (changes[index].hlc.milliseconds - now) / 60_000
                return Refusal("\(changes[index].table.rawValue).\(changes[index].field): stamped \(minutes) minutes ahead of the server's clock",
                               key: "refusal.clock-ahead", ["minutes": String(minutes)])
            }
            // A record's changes travel together: its id is checked once per run.
            if changes[index].record != checkedID {
                guard RecordID.isValid(changes[index].record) else {
                    return "\(changes[index].table.rawValue): '\(changes[index].record.prefix(40))' is not a record id (36 characters, lowercase hex in groups 8-4-4-4-12)"
                }
                checkedID = changes[index].record
            }
            // Counted only when the mutation is long enough to pass the limit (the hot path is short mutations).
            if changes.count > RecordLimits.maxChangesPerRecord {
                let key = RecordKey(table: changes[index].table, record: changes[index].record)
                let count = perRecord[key, default: 0] + 1
                guard count <= RecordLimits.maxChangesPerRecord else {
                    return "\(key.table.noun) \(key.record.prefix(8)): more than \(RecordLimits.maxChangesPerRecord) changes to one record in one mutation"
                }
                perRecord[key] = count
            }
            do {
                try changes[index].table.schema.check(field: changes[index].field, value: changes[index].value)
            } catch {
                if changes[index].table.schema.index(of: changes[index].field) == nil {
                    return newerThanServer(field: String(changes[index].field.prefix(64)), of: changes[index].table)
                }
                return Refusal(changes[index], error)
            }
            if changes[index].table == .conflict {
                if changes[index].field == "table", let table = changes[index].value.text, RecordKind(rawValue: table) == nil {
                    return "conflicts.table: '\(table.prefix(40))' is not a table"
                }
                if changes[index].field == "record", let record = changes[index].value.text, !RecordID.isValid(record) {
                    return "conflicts.record: '\(record.prefix(40))' is not a record id"
                }
            }
        }
        return nil
    }


    /// Why a mutation's customer `branch` values are refused: each must name a
    /// registered branch (read once per push, when first needed), or nil.
    package static func branchCheck(_ mutation: Mutation, registered: inout Set<String>?, _ read: () throws -> Set<String>) throws -> Refusal? {
        // By index: iterating the changes copied each one, for every mutation of every push.
        for index in mutation.changes.indices where mutation.changes[index].table == .customer && mutation.changes[index].field == "branch" {
            let change = mutation.changes[index]
            if registered == nil { registered = try read() }
            guard let name = change.value.text, registered?.contains(name) == true else {
                return Refusal("customer \(change.record.prefix(8)): branch '\(change.value.description.prefix(40))' is not a registered branch; the province registers branches ('fieldsync-server branch add')",
                               key: "refusal.branch-unknown", ["id": String(change.record.prefix(8)), "branch": String(change.value.description.prefix(40))])
            }
        }
        return nil
    }
}
