extension ConflictRecord {
    /// The conflict records a replica or a server makes for the overwrites it saw first, as its
    /// own mutations of `perMutation` records each, stamped by its clock. Pure: a laptop's
    /// replica, the SQLite server and the PostgreSQL server all write what this returns.
    public struct Plan: Sendable {
        /// The mutations that carry the new conflict records, in counter order.
        public var mutations: [Mutation] = []
        /// The new conflict records as they are stored.
        public var records: [(key: RecordKey, state: RecordState)] = []
        /// The writer's clock and mutation counter after them.
        public var clock: HybridClock
        public var counter: UInt64
    }

    /// Plans a conflict record for each overwrite whose record `isStored` does not know (reported
    /// here before, or written by the same batch), once per record id.
    /// - Parameters:
    ///   - now: the writer's wall clock in milliseconds, corrected by any offset it learnt.
    ///   - user: who the mutations name (a laptop's user; nil for a server).
    public static func plan(for overwrites: [Overwrite], isStored: (String) throws -> Bool, node: NodeID, user: String?,
                            clock: HybridClock, counter: UInt64, now: UInt64) rethrows -> Plan {
        var plan = Plan(clock: clock, counter: counter)
        var seen = Set<String>()
        var fresh: [(id: String, overwrite: Overwrite)] = []
        for overwrite in overwrites {
            let id = id(for: overwrite)
            guard seen.insert(id).inserted, try !isStored(id) else { continue }
            fresh.append((id, overwrite))
        }
        let schema = RecordKind.conflict.schema
        for start in stride(from: 0, to: fresh.count, by: perMutation) {
            let hlc = plan.clock.tick(nowMilliseconds: now)
            var changes: [FieldChange] = []
            for (id, overwrite) in fresh[start..<min(start + perMutation, fresh.count)] {
                let edit = LocalEdit.changes(table: .conflict, record: id, current: nil, fields: fields(for: overwrite), hlc: hlc, node: node)
                var state = RecordState(fieldCount: schema.fields.count)
                var ignored: [Overwrite] = []  // a new record: nothing to overwrite
                _ = RecordMerge.apply(edit, to: &state, schema: schema, overwrites: &ignored)
                plan.records.append((RecordKey(table: .conflict, record: id), state))
                changes += edit
            }
            plan.counter += 1
            plan.mutations.append(Mutation(origin: node, counter: plan.counter, user: user, changes: changes))
        }
        return plan
    }
}
