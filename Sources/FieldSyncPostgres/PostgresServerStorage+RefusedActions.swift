import FieldSyncModel
import FieldSyncProtocol
import FieldSyncServerCore
import PostgresNIO

/// The refused actions kept per device and the decisions about them (`RefusedAction`), as the
/// SQLite engine keeps them (`ServerStore.noteRefusals`).
extension PostgresServerStorage {
    public func noteRefusals(node: NodeID, refused: [RefusedAction.Refusal], pushed: ClosedRange<UInt64>?,
                             wholeOutbox: Bool) async throws -> [SyncResponse.Instruction] {
        let now = Int64(clamping: self.now)
        let name = node.description
        let kept = refused.filter { Int64(exactly: $0.counter) != nil }
        let counters = kept.map { Int64(clamping: $0.counter) }
        return try await transaction { connection in
            // Kept are the ones refused now; of the run pushed (every outbox action of it was sent),
            // or of the whole outbox, the ones not refused again were taken or discarded.
            if wholeOutbox {
                try await connection.query("DELETE FROM refused_actions WHERE node = \(name) AND NOT (counter = ANY(\(counters)::bigint[]))", logger: logger)
            } else if let pushed, let low = Int64(exactly: pushed.lowerBound) {
                let high = Int64(clamping: pushed.upperBound)
                try await connection.query("""
                    DELETE FROM refused_actions WHERE node = \(name) AND counter BETWEEN \(low) AND \(high) AND NOT (counter = ANY(\(counters)::bigint[]))
                    """, logger: logger)
            }
            try await connection.query("""
                INSERT INTO refused_actions (node, counter, reason, about, at, reason_text)
                SELECT \(name), c, r, a, \(now), NULLIF(t, '') FROM unnest(\(counters)::bigint[], \(kept.map(\.reason))::text[], \(kept.map(\.about))::text[],
                                                                       \(kept.map { RefusedAction.column($0.text) ?? "" })::text[]) AS k(c, r, a, t)
                ON CONFLICT (node, counter) DO UPDATE SET reason = excluded.reason, about = excluded.about, at = excluded.at,
                    reason_text = excluded.reason_text
                """, logger: logger)
            // Beyond the bound the oldest undecided go first: a decision waits for its action to be sent again.
            try await connection.query("""
                DELETE FROM refused_actions WHERE node = \(name) AND counter NOT IN
                    (SELECT counter FROM refused_actions WHERE node = \(name) ORDER BY decision IS NOT NULL DESC, at DESC, counter LIMIT \(RefusedAction.maxPerDevice))
                """, logger: logger)
            var instructions: [SyncResponse.Instruction] = []
            let rows = try await connection.query("""
                SELECT counter, decision, note, decided_by, decided_at FROM refused_actions
                WHERE node = \(name) AND decision IS NOT NULL AND counter = ANY(\(counters)::bigint[]) ORDER BY counter
                """, logger: logger)
            for try await (counter, decision, note, by, at) in rows.decode((Int64, String?, String?, String?, Int64?).self) {
                if let instruction = Self.instruction(counter, decision, note, by, at) { instructions.append(instruction) }
            }
            return instructions
        }
    }

    public func refusedActions(of nodes: [NodeID], limit: Int) async throws -> [RefusedAction] {
        try await refusedActions(client.query("""
            SELECT node, counter, reason, about, at, decision, note, decided_by, decided_at, reason_text FROM refused_actions
            WHERE node = ANY(\(nodes.map(\.description))::text[]) ORDER BY at, node COLLATE "C", counter LIMIT \(limit)
            """, logger: logger))
    }

    public func refusedAction(node: NodeID, counter: UInt64) async throws -> RefusedAction? {
        guard let number = Int64(exactly: counter) else { return nil }
        return try await refusedActions(client.query("""
            SELECT node, counter, reason, about, at, decision, note, decided_by, decided_at, reason_text FROM refused_actions
            WHERE node = \(node.description) AND counter = \(number)
            """, logger: logger)).first
    }

    private func refusedActions(_ rows: PostgresRowSequence) async throws -> [RefusedAction] {
        var actions: [RefusedAction] = []
        for try await (node, counter, reason, about, at, decision, note, by, decidedAt, text)
            in rows.decode((String, Int64, String, String, Int64, String?, String?, String?, Int64?, String?).self) {
            guard let node = NodeID(node) else { continue }
            actions.append(RefusedAction(node: node, counter: UInt64(clamping: counter), reason: reason, about: about, at: UInt64(clamping: at),
                                         decision: Self.instruction(counter, decision, note, by, decidedAt), text: RefusedAction.text(fromColumn: text)))
        }
        return actions
    }

    public func decideRefused(node: NodeID, counter: UInt64, decision: SyncResponse.Instruction) async throws -> Bool {
        guard let number = Int64(exactly: counter) else { return false }
        let updated = try await client.query("""
            UPDATE refused_actions SET decision = \(decision.action.rawValue), note = \(decision.note), decided_by = \(decision.by),
                decided_at = \(Int64(clamping: decision.at)) WHERE node = \(node.description) AND counter = \(number) RETURNING counter
            """, logger: logger)
        for try await _ in updated.decode(Int64.self) { return true }
        return false
    }

    /// A stored decision, or nil without one.
    static func instruction(_ counter: Int64, _ decision: String?, _ note: String?, _ by: String?, _ at: Int64?) -> SyncResponse.Instruction? {
        guard let decision, let action = SyncResponse.Instruction.Action(rawValue: decision) else { return nil }
        return SyncResponse.Instruction(counter: UInt64(clamping: counter), action: action, note: note ?? "", by: by ?? "",
                                        at: UInt64(clamping: at ?? 0))
    }
}

/// Names of the writers below a branch server (`FreshnessReport.names`), as `ServerStore` keeps them.
extension PostgresServerStorage {
    public func noteRelayedNames(_ names: [Directory.Entry], via device: String) async throws -> Int {
        let kept = Directory.Entry.keptNames(names)
        guard !kept.isEmpty else { return 0 }
        let now = Int64(clamping: self.now)
        let rows = try await client.query("""
            INSERT INTO relayed_names (node, "user", device, via, at)
            SELECT n, u, d, \(device), \(now) FROM unnest(\(kept.map(\.node.description))::text[],
                \(kept.map(\.user))::text[], \(kept.map(\.device))::text[]) AS k(n, u, d)
            WHERE EXISTS (SELECT 1 FROM relayed_nodes r WHERE r.node = k.n AND r.device = \(device))
            ON CONFLICT (node) DO UPDATE SET "user" = excluded."user", device = excluded.device, via = excluded.via, at = excluded.at
            WHERE (relayed_names."user", relayed_names.device, relayed_names.via) IS DISTINCT FROM (excluded."user", excluded.device, excluded.via)
            RETURNING node
            """, logger: logger)
        var count = 0
        for try await _ in rows.decode(String.self) { count += 1 }
        return count
    }

    public func relayedNames(via devices: [String]) async throws -> [(entry: Directory.Entry, via: String)] {
        let rows = try await client.query("""
            SELECT node, "user", device, via FROM relayed_names WHERE via = ANY(\(devices)::text[]) ORDER BY node COLLATE "C"
            """, logger: logger)
        var names: [(entry: Directory.Entry, via: String)] = []
        for try await (node, user, device, via) in rows.decode((String, String, String, String).self) {
            guard let node = NodeID(node) else { continue }
            names.append((Directory.Entry(node: node, user: user, device: device), via))
        }
        return names
    }
}
