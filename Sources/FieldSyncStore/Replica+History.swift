import FieldSyncModel

extension Replica {
    /// What this replica holds of a record's history, offline: each field's
    /// current value and who wrote it, the values it knows lost a conflict,
    /// and its own writes still waiting to be sent; nil if it does not hold the
    /// record. Earlier values replaced here are not kept: the server's history has them.
    /// `me` names this replica's own node (the person and device it is enrolled as).
    public func history(of table: RecordKind, _ id: String, me: (person: String, device: String)? = nil) throws -> RecordHistory? {
        guard let stored = try record(table, id) else { return nil }
        let conflicts = try records(.conflict, where: "record", equals: .text(id)).filter { $0["table"].text == table.rawValue }
        var lost: [RecordHistory.Logged] = []
        // A conflict record holds both sides: the value lost and the value kept over it.
        for conflict in conflicts {
            guard let field = conflict["field"].text else { continue }
            for side in ["lost", "kept"] {
                guard let node = conflict["\(side)_node"].text.flatMap(NodeID.init), let hlc = conflict["\(side)_hlc"].int else { continue }
                lost.append(RecordHistory.Logged(changes: [FieldChange(table: table, record: id, field: field, value: conflict["\(side)_value"],
                                                                       hlc: HLC(rawValue: UInt64(bitPattern: hlc)), node: node, base: .zero)],
                                                 receivedAt: nil))
            }
        }
        let waiting = try outbox().flatMap { $0.changes.filter { $0.table == table && $0.record == id } }
        var history = RecordHistory.build(table: table, record: id, logged: lost, current: stored.state,
                                          conflictIDs: Set(conflicts.map(\.id)), waiting: waiting)
        var names = try nodeNames().mapValues { (person: $0.user, device: $0.device) }
        if let me, let node = try identity()?.node, names[node] == nil { names[node] = me }
        history.name(names)
        return history
    }

    /// The kinds holding a record whose id is or starts with `prefix`.
    public func kinds(holding prefix: String) throws -> [(RecordKind, String)] {
        try RecordKind.allCases.compactMap { kind in
            do {
                return (kind, try resolve(kind, prefix))
            } catch let error as StoreError where error.isNotFound {
                return nil
            }
        }
    }
}
