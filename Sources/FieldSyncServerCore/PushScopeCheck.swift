import FieldSyncModel
import FieldSyncProtocol

/// Authorises a push by what the server holds, never by what the push says.
///
/// Each mutation's changes are merged in memory, with the real merge rules,
/// into the stored records (overlaid with the mutations accepted before it in
/// the same push). For every record it touches, the owner and scope before
/// (if the record exists) and after the merge must both be within the caller's
/// reach, and so must every record its references point at after the merge.
/// A change to a parent field, `branch` or `manager` is therefore a move, and
/// is allowed only inside the caller's reach.
///
/// A stamp proves nothing: a device may set its clock, or its stamps, to any
/// time. The only place a stamp grants anything is work on a file the caller
/// no longer holds, accepted as typed while it held it (a handover while the
/// laptop was offline). There each change must be stamped
/// - at or after the pushing node's floor (`floor`): its device's enrolment,
///   what the server already acknowledged from it, and the last sync that
///   left nothing of its outbox unsent — so a device cannot go back past what
///   the server has seen of it;
/// - while the record existed (not before its earliest stored stamp);
/// - under a merge rule that the stamp decides (last writer wins): the rules
///   that ignore stamps (a status only moves forward, the earliest first
///   feedback or escalation wins) are for whoever holds the file now;
/// - while the file was within the caller's reach (`scopeAt`).
package final class PushScopeCheck {
    /// A record as stored (nil: not stored). An engine that reads ahead may throw `PushReadMiss` for a record it did not read.
    let load: (RecordKey) throws -> RecordState?
    let policy: AccessPolicy
    /// The scope a customer had at a time (`ScopeHistory`), for work done
    /// while a file was the caller's and pushed after it changed hands.
    let scopeAt: (String, HLC) throws -> CustomerScope?
    /// Whether a customer's file left this server's scope upstream (`departed`): out of everybody's reach here.
    let departed: (String) throws -> Bool
    /// The earliest stamp of a mutation's origin that may claim a past scope (see above).
    let floor: (NodeID) -> HLC
    /// The pushing device's node: the people its own work names are checked against `people`.
    let device: NodeID?
    /// The people registered on this server, by name, read when a push first names one.
    let people: () throws -> [String: UserInfo]
    private var knownPeople: [String: UserInfo]?
    /// Whether the mutation checked last changed any record it touches (a re-logged row changes nothing).
    package private(set) var lastCheckChanged = false
    /// Stored states read so far, overlaid with accepted mutations' results:
    /// after the last check, every record the accepted mutations touch as the
    /// merge will store it (the change log's owners are read from here).
    package private(set) var states: [RecordKey: RecordState?] = [:]
    /// Stored states as read, before this push: the merge need not read them again.
    package private(set) var loaded: [RecordKey: RecordState?] = [:]
    /// Scopes of customers as stored, read once per push (parsing a team for every
    /// mutation cost a tenth of a push); not kept for customers this push writes.
    private var storedScopes: [String: CustomerScope] = [:]
    /// Customers written by this push so far, or by the mutation being checked.
    private var writtenCustomers: Set<String> = []
    /// What the kept mutations' merges changed, in the order first changed (`merged`).
    private var changedOrder: [RecordKey] = []
    private var changed: Set<RecordKey> = []
    private var overwrites: [Overwrite] = []
    private var newest = HLC.zero
    private var changeCount = 0

    package init(load: @escaping (RecordKey) throws -> RecordState?, policy: AccessPolicy,
                 scopeAt: @escaping (String, HLC) throws -> CustomerScope? = { _, _ in nil },
                 departed: @escaping (String) throws -> Bool = { _ in false },
                 floor: @escaping (NodeID) -> HLC = { _ in .zero },
                 device: NodeID? = nil, people: @escaping () throws -> [String: UserInfo] = { [:] }) {
        self.load = load
        self.policy = policy
        self.scopeAt = scopeAt
        self.departed = departed
        self.floor = floor
        self.device = device
        self.people = people
    }

    /// The owner as this server sees it: a departed file reaches nobody here now.
    private func owner(_ key: RecordKey, in state: (RecordKey) throws -> RecordState?) throws -> RecordOwner {
        let owner = try RecordOwner.of(key, in: state) { customer, current in
            if writtenCustomers.contains(customer) { return CustomerScope(current) }
            if let known = storedScopes[customer] { return known }
            let scope = CustomerScope(current)
            storedScopes[customer] = scope
            return scope
        }
        if case .customer(let id, _) = owner, try departed(id) { return .customer(id, CustomerScope()) }
        return owner
    }

    /// Why the mutation may not be applied, or nil. An allowed mutation's results
    /// are kept for the checks (and the log) of the mutations after it, unless
    /// `keep` is false: a mutation another check refuses must leave nothing here.
    package func check(_ mutation: Mutation, keep: Bool = true) throws -> Refusal? {
        if !policy.mayWriteProvinceRecords, let change = mutation.changes.first(where: { $0.table.isProvinceWide }) {
            switch change.table {
            case .calendarDay:
                return Refusal("calendar day \(change.record.prefix(8)): the working-day calendar is set by the province ('fieldsync-server calendar')",
                               key: "refusal.province-calendar")
            case .setting:
                return Refusal("province settings: the default restoration limit is set by the province ('fieldsync-server settings')",
                               key: "refusal.province-settings")
            default:
                return Refusal("branch \(change.record.prefix(8)): branches are registered by the province ('fieldsync-server branch')",
                               key: "refusal.province-branches")
            }
        }
        // The province and administrators reach every file: nothing to merge in advance.
        guard !policy.isUnrestricted else { return nil }
        // A customer this mutation writes has its scope read from its state each time, never from the cache.
        // By index: iterating the changes copied each one (three references retained and released).
        for index in mutation.changes.indices where mutation.changes[index].table == .customer { writtenCustomers.insert(mutation.changes[index].record) }
        let groups = ChangeGroups(mutation.changes[...]).groups
        // The mutation's records after its changes, by position in `groups` (one record, mostly).
        var keys: [RecordKey] = []
        var after: [RecordState] = []
        var existed: [Bool] = []
        /// Each stored record's earliest stamp: it did not exist before it.
        var earliest: [HLC?] = []
        var changedFlags: [Bool] = []
        var found: [Overwrite] = []
        for group in groups {
            let key = RecordKey(table: group.table, record: group.record)
            let schema = group.table.schema
            let before = try stored(key)
            var state = before ?? RecordState(fieldCount: schema.fields.count)
            var changed = false
            for range in group.ranges {
                changed = RecordMerge.apply(mutation.changes[range], to: &state, schema: schema, overwrites: &found) || changed
            }
            keys.append(key)
            after.append(state)
            existed.append(before != nil)
            earliest.append(before.flatMap { $0.stamps.lazy.compactMap { $0?.hlc }.min() })
            changedFlags.append(changed)
        }
        lastCheckChanged = changedFlags.contains(true)
        // A scan finds one of a few records sooner than hashing; a large mutation's are hashed.
        let positions = keys.count > 8 ? Dictionary(keys.enumerated().map { ($1, $0) }, uniquingKeysWith: { first, _ in first }) : nil
        let afterState = { (key: RecordKey) throws -> RecordState? in
            if let index = positions.map({ $0[key] }) ?? keys.firstIndex(of: key) { return after[index] }
            return try self.stored(key)
        }
        for (index, key) in keys.enumerated() {
            let existed = existed[index]
            let changes = groups[index].ranges.lazy.flatMap { mutation.changes[$0] }
            // Setting a new record's parent creates it where it is; changing an existing one's moves it.
            if existed, changes.contains(where: { RecordOwner.moves($0) }) {
                // A move needs the caller's reach now, where the record is and where it goes.
                if let refusal = refusal(key, try owner(key, in: stored)) { return refusal }
                if let refusal = refusal(key, try owner(key, in: afterState), writtenAs: .moved) {
                    return refusal
                }
            } else {
                // The owner stays: the work is allowed if the file is the caller's now, or
                // was when each change was stamped (typed before a handover, pushed after).
                let owner = try owner(key, in: afterState)
                if let refusal = refusal(key, owner, writtenAs: existed ? nil : .created) {
                    guard case .customer(let customer, _) = owner else { return refusal }
                    if let reason = try typedWhileHeld(changes, key: key, customer: customer, origin: mutation.origin,
                                                       since: earliest[index], refusal: refusal) { return reason }
                }
            }
            for reference in RecordOwner.references(of: key.table, after[index]) {
                if let refusal = refusal(reference, try owner(reference, in: afterState)) {
                    return Refusal("\(key.table.noun) \(key.record.prefix(8)) points at \(refusal.message)", key: refusal.text?.key, refusal.text?.values ?? [:])
                }
            }
            if let refusal = try personRefusal(key, before: existed ? try stored(key) : nil, after: after[index],
                                               changes: changes, origin: mutation.origin, owner: { try self.owner(key, in: afterState) }) {
                return refusal
            }
            if key.table == .handover, try !(existed && Self.repeatsStored(changes, in: stored(key))),
               let refusal = try handoverRefusal(key, existed: existed, after: after[index], afterState: afterState) {
                return refusal
            }
        }
        if keep {
            for (key, state) in zip(keys, after) { states[key] = state }
            for (key, changed) in zip(keys, changedFlags) where changed && self.changed.insert(key).inserted { changedOrder.append(key) }
            overwrites += found
            for index in mutation.changes.indices where mutation.changes[index].hlc > newest { newest = mutation.changes[index].hlc }
            changeCount += mutation.changes.count
        }
        return nil
    }

    /// Why a change of who answers for a file or a case is refused, or nil.
    ///
    /// Handing a file over is a supervisor's act (SYNC.md): a manager may not
    /// change a customer's `manager` nor take anyone off its `team`, and a
    /// customer a manager creates is theirs. Who answers for a case — a
    /// fault's or complaint's `owner`, a visit's `manager` — is who the KPIs
    /// charge: a manager records their own cases and visits and may not change
    /// who answers for one later; anyone else must name a registered person of
    /// the file's branch (the province's people reach every branch). The
    /// person check applies to a device's own work: the people a branch server
    /// relays are registered at the branch, not here.
    private func personRefusal(_ key: RecordKey, before: RecordState?, after: RecordState, changes: some Sequence<FieldChange>,
                               origin: NodeID, owner: () throws -> RecordOwner) throws -> Refusal? {
        let field: String
        switch key.table {
        case .customer: field = "manager"
        case .visit: field = "manager"
        case .fault, .complaint: field = "owner"
        default: return nil
        }
        let schema = key.table.schema
        var record: String { "\(key.table.noun) \(key.record.prefix(8))" }
        let manager = policy.user.role == .manager
        let named = after.value(field, in: schema).text
        if key.table == .customer, !manager {
            // A supervisor hands a file to a person this server knows in its branch, like a case's owner below:
            // a name typed wrong would take the file off every laptop that held it. A branch server's own
            // assignments name people registered at the branch, not here (the province and administrators
            // are not checked at all: `check` lets their work through before this).
            guard policy.user.role != .branch, before?.value("manager", in: schema) != after.value("manager", in: schema) else { return nil }
        } else if key.table == .customer {
            if let before {
                if before.value("manager", in: schema) != after.value("manager", in: schema) {
                    return Refusal("\(record): only a supervisor of the branch hands a file to another manager ('fieldsync customer assign' on a supervisor's laptop)",
                                   key: "refusal.assign-is-supervisors", values(key))
                }
                let removed = Set(Team.members(before.value("team", in: schema))).subtracting(Team.members(after.value("team", in: schema)))
                if !removed.isEmpty {
                    return Refusal("\(record): only a supervisor of the branch takes someone off a file's team (\(removed.sorted().joined(separator: ", ")))",
                                   key: "refusal.team-is-supervisors", values(key, ["names": removed.sorted().joined(separator: ", ")]))
                }
            } else if let named, named != policy.user.name {
                return Refusal("\(record): a customer \(policy.user.name) creates is theirs; a supervisor hands it to \(named) afterwards",
                               key: "refusal.customer-is-creators", values(key, ["user": policy.user.name, "named": named]))
            }
            return nil
        }
        guard changes.contains(where: { $0.field == field }) else { return nil }
        if manager {
            if let before, before.value(field, in: schema) != after.value(field, in: schema) {
                return Refusal("\(record).\(field): only a supervisor of the branch changes who answers for a \(key.table.noun)",
                               key: "refusal.owner-is-supervisors", values(key, ["field": field]))
            }
            if before == nil, let named, named != policy.user.name {
                return Refusal("\(record).\(field): \(policy.user.name) records their own \(key.table.noun)s; a supervisor may give one to \(named)",
                               key: "refusal.own-cases", values(key, ["field": field, "user": policy.user.name, "named": named]))
            }
            return nil
        }
        guard let named, origin == device, named != policy.user.name else { return nil }
        if knownPeople == nil { knownPeople = try people() }
        let branch: String? = if case .customer(_, let scope) = try owner() { scope.branch } else { nil }
        guard let person = knownPeople?[named], AccessPolicy(person).isUnrestricted || (person.branch != nil && person.branch == branch) else {
            return Refusal("\(record).\(field): '\(named.prefix(60))' is not a registered person of this file's branch",
                           key: "refusal.unknown-person", values(key, ["field": field, "named": String(named.prefix(60))]))
        }
        return nil
    }

    /// Why work on a file the caller no longer holds cannot pass as typed while
    /// it held it, or nil when it can (the rules are in the type's comment).
    private func typedWhileHeld(_ changes: some Sequence<FieldChange>, key: RecordKey, customer: String, origin: NodeID,
                                since earliest: HLC?, refusal: Refusal) throws -> Refusal? {
        let floor = self.floor(origin)
        let schema = key.table.schema
        var record: String { "\(key.table.noun) \(key.record.prefix(8))" }
        for change in changes {
            // The scope first: nothing is said about a file the caller never held.
            guard let scope = try scopeAt(customer, change.hlc), policy.allows(scope) else { return refusal }
            guard change.hlc >= floor else {
                return Refusal("\(record): stamped \(Self.time(change.hlc)), before what this server has already seen of this device (\(Self.time(floor))); the file is no longer in \(policy.reach)",
                               key: "refusal.stamped-before-seen", values(key, ["stamp-time": Self.time(change.hlc), "seen-time": Self.time(floor)]))
            }
            if let earliest, change.hlc < earliest {
                return Refusal("\(record): stamped \(Self.time(change.hlc)), before the record existed; the file is no longer in \(policy.reach)",
                               key: "refusal.stamped-before-record", values(key, ["stamp-time": Self.time(change.hlc)]))
            }
            guard schema.spec(change.field)?.rule == .lastWriterWins else {
                return Refusal("\(record).\(change.field): the file is no longer in \(policy.reach), and only whoever holds it now may change its \(change.field)",
                               key: "refusal.no-longer-held", values(key, ["field": change.field]))
            }
        }
        return nil
    }

    /// A refusal's values: the record (`table`, `id`) and the caller's reach (`reach-key` names
    /// its text, `reach-user` and `reach-branch` fill it).
    private func values(_ key: RecordKey, _ more: [String: String] = [:]) -> [String: String] {
        let reach = switch policy.user.role {
        case .province, .admin: "refusal.reach.every"
        case .supervisor, .branch: "refusal.reach.branch"
        case .manager: "refusal.reach.own"
        }
        return more.merging(["table": key.table.rawValue, "id": String(key.record.prefix(8)), "reach-key": reach,
                             "reach-user": policy.user.name, "reach-branch": policy.user.branch ?? "—"]) { own, _ in own }
    }

    private static func time(_ hlc: HLC) -> String {
        Timestamp(epochSeconds: Int64(clamping: hlc.milliseconds / 1000), offsetMinutes: 0).description
    }

    /// Whether every allowed mutation was merged here: the province and administrators'
    /// are not (nothing to authorise), and must be merged by `Replica.apply`.
    package var mergesEveryMutation: Bool { !policy.isUnrestricted }

    /// The kept mutations' records as merged here, for `Replica.store` (when `mergesEveryMutation`).
    package var merged: MergedRecords {
        var merged = MergedRecords()
        merged.records = changedOrder.compactMap { key in (states[key] ?? nil).map { (key, $0) } }
        merged.overwrites = overwrites
        merged.newest = newest
        merged.changes = changeCount
        return merged
    }

    enum Write { case moved, created }

    /// Why `key` with `owner` is out of reach, or nil. `write` says the owner is
    /// the caller's own result (so naming the branch it sets leaks nothing).
    private func refusal(_ key: RecordKey, _ owner: RecordOwner, writtenAs write: Write? = nil) -> Refusal? {
        // Built only for a refusal: this runs for every record and reference a push touches.
        var record: String { "\(key.table.noun) \(key.record.prefix(8))" }
        switch (owner, write) {
        case (.customer(_, let scope), _) where policy.allows(scope):
            return nil
        case (.customer(_, let scope), .moved?) where key.table == .customer:
            return Refusal("\(record) would move out of \(policy.reach) (to branch \(scope.branch ?? "(none)")); \(policy.user.name) may not move records out of their reach",
                           key: "refusal.move-out", values(key, ["branch": scope.branch ?? "—", "user": policy.user.name]))
        case (.customer(_, let scope), .created?) where key.table == .customer:
            return Refusal("\(record) would be created in branch \(scope.branch ?? "(none)"), outside \(policy.reach)",
                           key: "refusal.created-outside", values(key, ["branch": scope.branch ?? "—"]))
        case (.customer, .moved?):
            return Refusal("\(record) would move to a file outside \(policy.reach)", key: "refusal.move-to-outside", values(key))
        case (.customer, _), (.unknown, _):
            // One message for "another branch's" and "not here yet": neither reveals the other.
            return Refusal("\(record) is outside \(policy.reach) or unknown to the server; sync the change that created it first",
                           key: "refusal.outside-or-unknown", values(key))
        }
    }

    /// Whether every change repeats what `stored` holds, value and stamp: a copy of a write this server has
    /// (a branch server's re-logged rows, a laptop's offer after a restore), which changes nothing.
    static func repeatsStored(_ changes: some Sequence<FieldChange>, in stored: RecordState?) -> Bool {
        guard let stored else { return false }
        var any = false
        for change in changes {
            guard let index = change.table.schema.index(of: change.field), let stamp = stored.stamps[index],
                  stamp.hlc == change.hlc, stamp.node == change.node, stored.values[index] == change.value else { return false }
            any = true
        }
        return any
    }

    /// Why a handover record is refused, or nil. The KPIs charge weeks by it, so it is only ever the
    /// record of the change of manager it travels with (`HandoverRecords`): new, in the same action
    /// that changes that customer's `manager` to its `manager`, naming as `previous` the manager this
    /// server holds; never changed afterwards. A manager hands over nothing (`personRefusal`).
    private func handoverRefusal(_ key: RecordKey, existed: Bool, after: RecordState,
                                 afterState: (RecordKey) throws -> RecordState?) throws -> Refusal? {
        let schema = RecordKind.handover.schema
        var record: String { "handover \(key.record.prefix(8))" }
        guard !existed else {
            return Refusal("\(record): a handover is written once, with the change of manager it records", key: "refusal.handover-once", values(key))
        }
        guard policy.user.role != .manager else {
            return Refusal("\(record): only a supervisor of the branch hands a file to another manager ('fieldsync customer assign' on a supervisor's laptop)",
                           key: "refusal.assign-is-supervisors", values(key))
        }
        guard let customer = after.value("customer", in: schema).text else { return "\(record): it names no customer" }
        let customerKey = RecordKey(table: .customer, record: customer)
        let customerSchema = RecordKind.customer.schema
        let before = try stored(customerKey)?.value("manager", in: customerSchema) ?? .null
        let now = try afterState(customerKey)?.value("manager", in: customerSchema) ?? .null
        guard before != now, after.value("manager", in: schema) == now else {
            return Refusal("\(record): it must travel with the change of customer \(customer.prefix(8))'s manager it records",
                           key: "refusal.handover-alone", values(key, ["customer": String(customer.prefix(8))]))
        }
        guard after.value("previous", in: schema) == before else {
            return Refusal("\(record): customer \(customer.prefix(8))'s manager here is \(before.text ?? "nobody"), not \(after.value("previous", in: schema).text ?? "nobody"); discard the earlier assignment still waiting ('fieldsync outbox') and assign again",
                           key: "refusal.handover-previous", values(key, ["customer": String(customer.prefix(8)), "manager": before.text ?? "—",
                                                                          "previous": after.value("previous", in: schema).text ?? "—"]))
        }
        return nil
    }

    /// The record as stored, or as accepted earlier in this push.
    private func stored(_ key: RecordKey) throws -> RecordState? {
        if let known = states[key] { return known }
        let state = try load(key)
        states[key] = state
        loaded[key] = state
        return state
    }
}
