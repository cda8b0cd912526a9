import FieldSyncModel
import Foundation
import GRDB

extension Replica {
    /// Moves this replica to a fresh node id, keeping every record: the way
    /// back for a laptop whose device was revoked (or whose node the server no
    /// longer accepts), so the work typed since is not stranded.
    ///
    /// What the server acknowledged stays stamped with the old node, as the
    /// server holds it. What is still in the outbox has never been accepted
    /// anywhere, so it is re-issued under `node`: each mutation gets the new
    /// origin and a counter from 1 in the same order, its changes and the
    /// record stamps they set name the new node (their HLCs are kept, so the
    /// order of edits is unchanged), and the refusals noted against them
    /// follow their counters. All in one transaction.
    /// - Returns: how many unsent mutations now travel under the new node.
    @discardableResult
    public func renode(to node: NodeID) throws -> Int {
        try writer.write { db in
            let old = try Self.requireNode(db)
            guard node != old else { return 0 }
            let rows = try Row.fetchAll(db, sql: "SELECT counter, hlc, body FROM outbox ORDER BY counter")
            let reasons = try RefusalNote.all(db)
            let offers = Set(try Int64.fetchAll(db, sql: "SELECT counter FROM offers"))
            var sent: Set<HLC> = []
            var renumbered: [(counter: Int64, hlc: Int64, body: Data, reason: RefusalNote?, offer: Bool)] = []
            for (index, row) in rows.enumerated() {
                var mutation = try JSONDecoder().decode(Mutation.self, from: row[2] as Data)
                mutation.origin = node
                mutation.counter = UInt64(index + 1)
                for change in mutation.changes.indices where mutation.changes[change].node == old {
                    mutation.changes[change].node = node
                    sent.insert(mutation.changes[change].hlc)
                }
                renumbered.append((Int64(index + 1), row[1] as Int64, Data(mutation.jsonBytes()), reasons[row[0] as Int64], offers.contains(row[0])))
            }
            try db.execute(sql: "DELETE FROM outbox")
            try db.execute(sql: "DELETE FROM rejections")
            try db.execute(sql: "DELETE FROM offers")
            for entry in renumbered {
                try db.execute(sql: "INSERT INTO outbox (counter, hlc, body) VALUES (?, ?, ?)", arguments: [entry.counter, entry.hlc, entry.body])
                try entry.reason?.insert(counter: entry.counter, db)
                if entry.offer { try db.execute(sql: "INSERT INTO offers (counter) VALUES (?)", arguments: [entry.counter]) }
            }
            if !sent.isEmpty {
                try Self.rewriteStamps(of: old, db) { stamp in
                    guard sent.contains(stamp.hlc) else { return false }
                    stamp.node = node
                    return true
                }
            }
            try Self.setMeta(MetaKey.node, node.description, db)
            try Self.setMeta(MetaKey.counter, String(renumbered.count), db)
            return renumbered.count
        }
    }
}
