import FieldSyncModel
import Foundation
import GRDB

extension Replica {
    /// Checks the replica: SQLite's integrity check, and that the outbox and
    /// the records agree — every field this node wrote is in the outbox, and
    /// no outbox change is newer than what the record holds.
    /// - Returns: the problems found; empty when the replica is sound.
    public func verify() throws -> [String] {
        try writer.read { db in
            let io = RecordIO(db)
            var problems: [String] = []
            let integrity = try String.fetchAll(db, sql: "PRAGMA integrity_check")
            if integrity != ["ok"] { problems += integrity.map { "integrity: \($0)" } }
            guard let node = try Self.identity(db)?.node else { return problems + ["replica has no node id"] }

            var outboxWrites = Set<FieldWrite>()
            var previous: Int64?
            // Acknowledgements leave the outbox a contiguous run of counters, but for the refused
            // mutations it keeps: only after a refused one may the counters jump.
            // So may they where the person discarded an action.
            let refused = Set(try Int64.fetchAll(db, sql: "SELECT counter FROM rejections"))
            let discarded = Set(try Int64.fetchAll(db, sql: "SELECT counter FROM discarded"))
            func gapAllowed(after previous: Int64, before next: Int64) -> Bool {
                guard next > previous + 1, !refused.contains(previous) else { return next == previous + 1 || refused.contains(previous) }
                // Every number skipped was discarded (bounded: at most as many as were discarded).
                return next - previous - 1 <= Int64(discarded.count) && (previous + 1..<next).allSatisfy(discarded.contains)
            }
            for row in try Row.fetchAll(db, sql: "SELECT counter, body FROM outbox ORDER BY counter") {
                let counter: Int64 = row[0]
                if let previous, !gapAllowed(after: previous, before: counter) { problems.append("outbox: counter \(previous + 1) missing") }
                previous = counter
                let mutation = try JSONDecoder().decode(Mutation.self, from: row[1] as Data)
                for change in mutation.changes {
                    outboxWrites.insert(FieldWrite(change))
                    // Sound when merging the change into the record changes nothing:
                    // the record holds it or something the merge rules keep over it.
                    let schema = change.table.schema
                    guard let index = schema.index(of: change.field) else { continue }
                    let current = try io.load(change.table, change.record)?[state: index]
                    let merged = FieldMerge.merge(current: current, incoming: change.state,
                                                  rule: schema.fields[index].rule, detectConflicts: false)
                    if merged.replaced {
                        problems.append("outbox change \(change.table.rawValue) \(change.record) \(change.field) is not in the record")
                    }
                }
            }
            if let previous, let counter = try Self.meta(MetaKey.counter, db).flatMap(Int64.init),
               counter < previous || (counter > previous && (counter == .max || !gapAllowed(after: previous, before: counter + 1))) {
                problems.append("outbox: last counter \(previous) but the replica counted \(counter)")
            }
            let acked = HLC(rawValue: UInt64(try Self.meta(MetaKey.ackedHLC, db) ?? "0") ?? 0)
            for kind in RecordKind.allCases {
                for (id, state) in try io.scan(kind) {
                    for (index, stamp) in state.stamps.enumerated() {
                        guard let stamp, stamp.node == node, stamp.hlc > acked else { continue }
                        let field = kind.schema.fields[index].name
                        if !outboxWrites.contains(FieldWrite(table: kind, record: id, field: field, hlc: stamp.hlc)) {
                            problems.append("\(kind.rawValue) \(id) \(field) was written here but is not in the outbox")
                        }
                    }
                }
            }
            return problems
        }
    }
}
