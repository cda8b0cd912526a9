import FieldSyncModel
import FieldSyncProtocol

/// What a push's decisions need that is stored, and was not read yet.
package struct PushReadNeeds: Sendable, Equatable {
    /// Records to read (found or known absent).
    package var records: Set<RecordKey> = []
    /// Customers whose scope histories (`ScopeHistory`) are needed.
    package var histories: Set<String> = []
    /// Whether the registered people are needed (a push names someone who answers for a case).
    package var people = false
    /// Whether the registered branches are needed (a pushed customer names a branch).
    package var branches = false

    package var isEmpty: Bool { records.isEmpty && histories.isEmpty && !people && !branches }

    package mutating func formUnion(_ other: PushReadNeeds) {
        records.formUnion(other.records)
        histories.formUnion(other.histories)
        people = people || other.people
        branches = branches || other.branches
    }

    package init(records: Set<RecordKey> = [], histories: Set<String> = [], people: Bool = false, branches: Bool = false) {
        self.records = records
        self.histories = histories
        self.people = people
        self.branches = branches
    }
}

/// What an engine read for `PushReadNeeds`: each engine's SQL, one batch per kind of read.
package struct PushReadResult: Sendable {
    /// The records found among those asked for; those not here are not stored.
    package var records: [RecordKey: RecordState] = [:]
    /// Each customer's scope history, oldest first (empty: its scope never changed).
    package var histories: [String: [ScopeHistory.Entry]] = [:]
    package var people: [String: UserInfo]?
    package var branches: Set<String>?

    package init() {}
}

/// A read the decisions needed that was not made: thrown inside the rules' `load`
/// closures, caught by `PushDecider`, which asks the engine for it and decides again.
package struct PushReadMiss: Error {
    package var needs: PushReadNeeds
}

/// Everything read for one push so far: records found and known absent, customers'
/// scope histories, the people and branches if asked for.
package struct PushReads: Sendable {
    package private(set) var found: [RecordKey: RecordState] = [:]
    package private(set) var absent: Set<RecordKey> = []
    private var histories: [String: [ScopeHistory.Entry]] = [:]
    private var people: [String: UserInfo]?
    private var branches: Set<String>?

    package init() {}

    package func knows(_ key: RecordKey) -> Bool { found[key] != nil || absent.contains(key) }

    /// The record as stored (nil: not stored); a miss if it was not read.
    package func stored(_ key: RecordKey) throws -> RecordState? {
        if let state = found[key] { return state }
        if absent.contains(key) { return nil }
        throw PushReadMiss(needs: PushReadNeeds(records: [key]))
    }

    /// The scope `customer` had at `hlc`: the latest history entry from before it; nil with no history
    /// (its scope never changed). A miss if its history was not read.
    package func scope(of customer: String, at hlc: HLC) throws -> CustomerScope? {
        guard let history = histories[customer] else { throw PushReadMiss(needs: PushReadNeeds(histories: [customer])) }
        return history.last { $0.from <= hlc }?.scope
    }

    package func registeredPeople() throws -> [String: UserInfo] {
        guard let people else { throw PushReadMiss(needs: PushReadNeeds(people: true)) }
        return people
    }

    package func registeredBranches() throws -> Set<String> {
        guard let branches else { throw PushReadMiss(needs: PushReadNeeds(branches: true)) }
        return branches
    }

    /// Adds what the engine read for `asked`; returns the records the found ones point at (their
    /// parents and references) that are not known yet: read ahead level by level, up to the customers.
    package mutating func add(_ result: PushReadResult, asked: PushReadNeeds) -> Set<RecordKey> {
        var next = Set<RecordKey>()
        for key in asked.records where !knows(key) {
            guard let state = result.records[key] else { absent.insert(key); continue }
            found[key] = state
            if let parent = RecordOwner.parentKey(of: key.table, state) { next.insert(parent) }
            next.formUnion(RecordOwner.references(of: key.table, state))
        }
        for customer in asked.histories { histories[customer] = result.histories[customer] ?? [] }
        if asked.people { people = result.people ?? [:] }
        if asked.branches { branches = result.branches ?? [] }
        return next.filter { !knows($0) }
    }

    /// What a push's decisions will read, asked for before they run: the records its changes
    /// touch and those their values point at (parents, references); the people and branches if
    /// it names any. Nothing for a device whose pushes are not checked against stored records.
    package static func ahead(of request: SyncRequest, policy: AccessPolicy) -> PushReadNeeds {
        var needs = PushReadNeeds()
        // A manager's own cases and visits are checked against their name, not the people registered.
        let checksPeople = policy.user.role != .manager
        var conflictTables: [String: String] = [:], conflictRecords: [String: String] = [:]
        for mutation in request.mutations {
            // By index, and a record's key once per run of its changes: a large push has millions of changes.
            var previous: (table: RecordKind, record: String)?
            for index in mutation.changes.indices {
                let change = mutation.changes[index]
                if change.table == .customer, change.field == "branch" { needs.branches = true }
                guard !policy.isUnrestricted else { continue }
                if previous?.table != change.table || previous?.record != change.record {
                    needs.records.insert(RecordKey(table: change.table, record: change.record))
                    previous = (change.table, change.record)
                }
                if checksPeople, (change.table == .visit && change.field == "manager") || change.field == "owner" { needs.people = true }
                if change.table == .conflict {
                    // A conflict record's subject is named by two text fields, `table` and `record`.
                    if change.field == "table", let table = change.value.text { conflictTables[change.record] = table }
                    if change.field == "record", let record = change.value.text { conflictRecords[change.record] = record }
                }
                guard let id = change.value.text, let kind = referenced(by: change.field, in: change.table) else { continue }
                needs.records.insert(RecordKey(table: kind, record: id))
            }
        }
        for (conflict, table) in conflictTables {
            if let kind = RecordKind(rawValue: table), let record = conflictRecords[conflict] {
                needs.records.insert(RecordKey(table: kind, record: record))
            }
        }
        return needs
    }

    /// The kind a reference field points at, found by comparing names with the few reference
    /// fields of the kind (cheaper than the schema's lookup by name, for every change of a push).
    private static func referenced(by field: String, in table: RecordKind) -> RecordKind? {
        for spec in table.schema.fields {
            if case .reference(let kind) = spec.type, spec.name == field { return kind }
        }
        return nil
    }
}
