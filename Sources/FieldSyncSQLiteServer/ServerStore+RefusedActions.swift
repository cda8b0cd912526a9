import FieldSyncModel
import FieldSyncProtocol
import FieldSyncServerCore
import GRDB

/// The refused actions kept per device and the decisions about them (`RefusedAction`).
extension ServerStore {
    public func noteRefusals(node: NodeID, refused: [RefusedAction.Refusal], pushed: ClosedRange<UInt64>?,
                             wholeOutbox: Bool) throws -> [SyncResponse.Instruction] {
        let now = Int64(clamping: self.now)
        let name = node.description
        return try writer.write { db in
            let counters = refused.compactMap { Int64(exactly: $0.counter) }
            // Kept are the ones refused now; of the run pushed (every outbox action of it was sent),
            // or of the whole outbox, the ones not refused again were taken or discarded.
            if wholeOutbox {
                try db.execute(sql: "DELETE FROM refused_actions WHERE node = ? AND counter NOT IN (SELECT value FROM json_each(?))",
                               arguments: [name, "[" + counters.map(String.init).joined(separator: ",") + "]"])
            } else if let pushed, let low = Int64(exactly: pushed.lowerBound) {
                try db.execute(sql: """
                    DELETE FROM refused_actions WHERE node = ? AND counter BETWEEN ? AND ? AND counter NOT IN (SELECT value FROM json_each(?))
                    """, arguments: [name, low, Int64(clamping: pushed.upperBound), "[" + counters.map(String.init).joined(separator: ",") + "]"])
            }
            let upsert = try db.cachedStatement(sql: """
                INSERT INTO refused_actions (node, counter, reason, about, at, reason_text) VALUES (?, ?, ?, ?, ?, ?)
                ON CONFLICT (node, counter) DO UPDATE SET reason = excluded.reason, about = excluded.about, at = excluded.at,
                    reason_text = excluded.reason_text
                """)
            for refusal in refused {
                guard let counter = Int64(exactly: refusal.counter) else { continue }
                try upsert.execute(arguments: [name, counter, refusal.reason, refusal.about, now, RefusedAction.column(refusal.text)])
            }
            // Beyond the bound the oldest undecided go first: a decision waits for its action to be sent again.
            try db.execute(sql: """
                DELETE FROM refused_actions WHERE node = ? AND counter NOT IN
                    (SELECT counter FROM refused_actions WHERE node = ? ORDER BY decision IS NOT NULL DESC, at DESC, counter LIMIT ?)
                """, arguments: [name, name, RefusedAction.maxPerDevice])
            return try Row.fetchAll(db, sql: """
                SELECT counter, decision, note, decided_by, decided_at FROM refused_actions
                WHERE node = ? AND decision IS NOT NULL AND counter IN (SELECT value FROM json_each(?)) ORDER BY counter
                """, arguments: [name, "[" + counters.map(String.init).joined(separator: ",") + "]"]).compactMap { row in
                Self.instruction(row[0], row[1], row[2], row[3], row[4])
            }
        }
    }

    public func refusedActions(of nodes: [NodeID], limit: Int) throws -> [RefusedAction] {
        try writer.read { db in
            try Self.refusedActions(db, sql: """
                SELECT node, counter, reason, about, at, decision, note, decided_by, decided_at, reason_text FROM refused_actions
                WHERE node IN (SELECT value FROM json_each(?)) ORDER BY at, node, counter LIMIT ?
                """, arguments: [Self.jsonArray(nodes.map { "\"\($0)\"" }), limit])
        }
    }

    public func refusedAction(node: NodeID, counter: UInt64) throws -> RefusedAction? {
        guard let number = Int64(exactly: counter) else { return nil }
        return try writer.read { db in
            try Self.refusedActions(db, sql: """
                SELECT node, counter, reason, about, at, decision, note, decided_by, decided_at, reason_text FROM refused_actions WHERE node = ? AND counter = ?
                """, arguments: [node.description, number]).first
        }
    }

    /// Every kept refused action, by node then counter (`store copy`).
    static func refusedActions(_ db: Database) throws -> [RefusedAction] {
        try refusedActions(db, sql: """
            SELECT node, counter, reason, about, at, decision, note, decided_by, decided_at, reason_text FROM refused_actions ORDER BY node, counter
            """, arguments: [])
    }

    static func jsonArray(_ items: [String]) -> String { "[" + items.joined(separator: ",") + "]" }

    private static func refusedActions(_ db: Database, sql: String, arguments: StatementArguments) throws -> [RefusedAction] {
            try Row.fetchAll(db, sql: sql, arguments: arguments).compactMap { row in
                guard let node = NodeID(row[0] as String) else { return nil }
                return RefusedAction(node: node, counter: UInt64(clamping: row[1] as Int64), reason: row[2], about: row[3],
                                     at: UInt64(clamping: row[4] as Int64),
                                     decision: Self.instruction(row[1], row[5], row[6], row[7], row[8]),
                                     text: RefusedAction.text(fromColumn: row[9]))
            }
    }

    public func decideRefused(node: NodeID, counter: UInt64, decision: SyncResponse.Instruction) throws -> Bool {
        guard let number = Int64(exactly: counter) else { return false }
        return try writer.write { db in
            try db.execute(sql: """
                UPDATE refused_actions SET decision = ?, note = ?, decided_by = ?, decided_at = ? WHERE node = ? AND counter = ?
                """, arguments: [decision.action.rawValue, decision.note, decision.by, Int64(clamping: decision.at), node.description, number])
            return db.changesCount > 0
        }
    }

    /// A stored decision, or nil without one.
    static func instruction(_ counter: Int64, _ decision: String?, _ note: String?, _ by: String?, _ at: Int64?) -> SyncResponse.Instruction? {
        guard let decision, let action = SyncResponse.Instruction.Action(rawValue: decision) else { return nil }
        return SyncResponse.Instruction(counter: UInt64(clamping: counter), action: action, note: note ?? "", by: by ?? "",
                                        at: UInt64(clamping: at ?? 0))
    }
}

/// Names of the writers below a branch server (`FreshnessReport.names`).
extension ServerStore {
    public func noteRelayedNames(_ names: [Directory.Entry], via device: String) throws -> Int {
        let now = Int64(clamping: self.now)
        return try writer.write { db in
            let upsert = try db.cachedStatement(sql: """
                INSERT INTO relayed_names (node, user, device, via, at)
                SELECT ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM relayed_nodes WHERE node = ? AND device = ?)
                ON CONFLICT (node) DO UPDATE SET user = excluded.user, device = excluded.device, via = excluded.via, at = excluded.at
                WHERE user IS NOT excluded.user OR device IS NOT excluded.device OR via IS NOT excluded.via
                """)
            var kept = 0
            for entry in Directory.Entry.keptNames(names) {
                let node = entry.node.description
                try upsert.execute(arguments: [node, entry.user, entry.device, device, now, node, device])
                kept += db.changesCount
            }
            return kept
        }
    }

    public func relayedNames(via devices: [String]) throws -> [(entry: Directory.Entry, via: String)] {
        try writer.read { db in
            // One placeholder per branch server (a province has a few dozen).
            try Row.fetchAll(db, sql: "SELECT node, user, device, via FROM relayed_names WHERE via IN (\(devices.map { _ in "?" }.joined(separator: ", "))) ORDER BY node",
                             arguments: StatementArguments(devices)).compactMap { row in
                guard let node = NodeID(row[0] as String) else { return nil }
                return (Directory.Entry(node: node, user: row[1], device: row[2]), row[3])
            }
        }
    }
}
