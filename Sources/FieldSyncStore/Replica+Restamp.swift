import FieldSyncModel
import Foundation
import GRDB

extension Replica {
    /// Re-stamps every change still in the outbox with the corrected clock
    /// (wall clock + the offset learnt from the server), in the records and in
    /// the outbox alike, keeping their order, never below a stamp this node
    /// already had acknowledged.
    ///
    /// A laptop whose clock ran a day ahead would otherwise win every conflict
    /// with what it typed offline, and one a day behind would lose them all.
    /// Nobody else has seen these changes yet, so their stamps are still ours to fix.
    /// - Returns: how many mutations were re-stamped.
    @discardableResult
    public func restampOutbox() throws -> Int {
        let raw = wallClock()
        return try writer.write { db in
            let node = try Self.requireNode(db)
            let offset = try Self.clockOffset(db)
            let now = UInt64(max(0, Int64(raw) + offset))
            // Never below what was received, nor below this node's own work a server already acknowledged:
            // a server refuses to let a node's stamps go back past what it has seen of it (`StampFloor`).
            let received = HLC(rawValue: UInt64(try Self.meta(MetaKey.remoteHLC, db) ?? "0") ?? 0)
            let acknowledged = HLC(rawValue: UInt64(try Self.meta(MetaKey.ackedHLC, db) ?? "0") ?? 0)
            var clock = HybridClock(last: max(received, acknowledged))
            var renamed: [HLC: HLC] = [:]
            let rows = try Row.fetchAll(db, sql: "SELECT counter, body FROM outbox ORDER BY counter")
            for row in rows {
                var mutation = try JSONDecoder().decode(Mutation.self, from: row[1] as Data)
                guard let old = mutation.changes.first?.hlc else { continue }
                // Work a server acknowledged before keeps its stamps: offered back after a restore
                // (`reofferAfterServerRestore`), it must merge as it did the first time.
                if mutation.changes.allSatisfy({ $0.hlc <= acknowledged }) { continue }
                let new = clock.tick(nowMilliseconds: now)
                renamed[old] = new
                for index in mutation.changes.indices {
                    mutation.changes[index].hlc = renamed[mutation.changes[index].hlc] ?? new
                    if let base = renamed[mutation.changes[index].base] { mutation.changes[index].base = base }
                }
                try db.execute(sql: "UPDATE outbox SET hlc = ?, body = ? WHERE counter = ?",
                               arguments: [Int64(bitPattern: new.rawValue), Data(mutation.jsonBytes()), row[0] as Int64])
            }
            guard !renamed.isEmpty else { return 0 }
            try Self.rewriteStamps(of: node, db) { stamp in
                var changed = false
                if let hlc = renamed[stamp.hlc] { stamp.hlc = hlc; changed = true }
                if let base = renamed[stamp.base] { stamp.base = base; changed = true }
                return changed
            }
            try Self.saveClock(clock, db)
            return rows.count
        }
    }
}

extension Replica {
    /// Rewrites, in every record, the stamps `node` wrote; `rewrite` changes a
    /// stamp in place and says whether it did (only changed records are saved).
    static func rewriteStamps(of node: NodeID, _ db: Database, _ rewrite: (inout FieldStamp) -> Bool) throws {
        let io = RecordIO(db)
        for kind in RecordKind.allCases {
            for (id, scanned) in try io.scan(kind) {
                var state = scanned
                var changed = false
                for index in state.stamps.indices {
                    guard var stamp = state.stamps[index], stamp.node == node else { continue }
                    if rewrite(&stamp) {
                        state.stamps[index] = stamp
                        changed = true
                    }
                }
                if changed { try io.save(kind, id, state) }
            }
        }
    }
}
