import FieldSyncModel
import FieldSyncProtocol

/// Builds one pull page from change-log rows in order, whatever engine reads
/// them: which rows the device may see (by its policy and each file's scope as
/// stored now), exits of files it no longer reaches, no echo of its own writes,
/// and the bounds of a page. The engine's query may pass more rows than the
/// policy allows (a superset, filtered in SQL for speed); this decides.
package struct PullPageBuilder {
    package let device: DeviceContext
    let policy: AccessPolicy
    let limit: Int
    let maxBytes: Int
    /// The nodes whose writes this device already has: its own, and for a branch server those it relays.
    let own: Set<NodeID>
    /// Files that left this server's scope upstream: they reach none of its devices.
    let departed: Set<String>
    /// A customer's scope as stored now (nil: not stored).
    let scope: (String) throws -> CustomerScope?
    private var reachable: [String: Bool] = [:]

    package private(set) var changes: [FieldChange] = []
    package private(set) var left: [String] = []
    package private(set) var cursor: Int64
    package private(set) var more = false
    private var bytes = 0

    package init(device: DeviceContext, cursor: Int64, limits: SyncLimits, maxChanges: Int?, own: Set<NodeID>, departed: Set<String>,
                 scope: @escaping (String) throws -> CustomerScope?) {
        self.device = device
        self.policy = AccessPolicy(device.user)
        self.limit = max(1, min(maxChanges ?? limits.maxChanges, limits.maxChanges))
        self.maxBytes = limits.maxBytes
        self.own = own
        self.departed = policy.isUnrestricted ? [] : departed
        self.scope = scope
        self.cursor = cursor
        changes.reserveCapacity(min(limit, 1_024))
    }

    /// Whether the query need pass only rows of customers in the device's branch (and rows of no customer).
    package var filtersByBranch: Bool { !policy.isUnrestricted }

    private mutating func reaches(_ customer: String) throws -> Bool {
        if let known = reachable[customer] { return known }
        let allowed = try !departed.contains(customer) && (scope(customer).map(policy.allows) ?? false)
        reachable[customer] = allowed
        return allowed
    }

    /// Takes the next row; false when the page is full (the row waits for the next page).
    /// `decode` appends the row's changes to the array it is given and returns the row's size in bytes.
    /// `fromServer`: the server logged the row itself (a file logged again after a move, its own writes): a laptop
    /// receives it whole, its own writes included, since a laptop that dropped the file and receives it again holds none
    /// of them. A branch server never receives its laptops' writes back (they are relayed up, not down).
    package mutating func add(seq: Int64, table: RecordKind?, record: String, customer: String?, exit: CustomerScope?, fromServer: Bool,
                              decode: (inout [FieldChange]) throws -> Int) throws -> Bool {
        if changes.count >= limit || bytes >= maxBytes { more = true; return false }
        guard table != nil else { cursor = seq; return true }
        if let old = exit {
            // An exit row: tell a device that reached the file before and does not now.
            if !policy.isUnrestricted, policy.allows(old), try !reaches(record), !left.contains(record) { left.append(record) }
            cursor = seq
            return true
        }
        // Every row of a customer's file is checked against the customer's scope now, whatever the query
        // passed: a branch's index finds rows by the branch they were written under, and a file that moved
        // out since must not be served (its exit row tells the device to drop it).
        if !policy.isUnrestricted, let customer, try !reaches(customer) {
            cursor = seq
            return true
        }
        let before = changes.count
        let size = try decode(&changes)
        // No echo of the device's own writes in rows it pushed through another device of its own (a branch server's relays).
        let isOwn: (FieldChange) -> Bool = own.count == 1 ? { [node = device.node] in $0.node == node } : { [own] in own.contains($0.node) }
        let whole = fromServer && device.user.role != .branch
        if !whole, changes[before...].contains(where: isOwn) {
            changes.replaceSubrange(before..., with: changes[before...].filter { !isOwn($0) })
        }
        // A record's changes from one mutation travel together: a row that does not
        // fit waits for the next page, unless it is the first (the record limits keep one row far below a page).
        let rowBytes = size + (changes.count - before) * (72 + record.utf8.count)
        if changes.count > limit || bytes + rowBytes > maxBytes, before > 0 {
            changes.removeSubrange(before...)
            more = true
            return false
        }
        bytes += rowBytes
        cursor = seq
        return true
    }

    /// The query stopped at a row limit: rows in scope may follow, so the page ends at the
    /// last row taken and says there is more (the cursor does not skip to the head).
    package mutating func endBeforeHead() { more = true }

    /// Ends the page: with nothing further in scope, the cursor skips past every row out of scope too (`head`: the log's last).
    package mutating func finish(head: Int64) {
        if !more { cursor = max(cursor, head) }
    }
}
