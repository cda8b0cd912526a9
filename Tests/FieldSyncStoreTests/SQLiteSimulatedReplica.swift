import FieldSyncModel
@testable import FieldSyncStore
import FieldSyncTestSupport
import GRDB

/// A SQLite replica driven by the simulation through the store's own write
/// and apply paths (without validation, as the simulation writes children
/// before their parents arrive).
struct SQLiteSimulatedReplica: SimulatedReplica {
    let node: NodeID
    let replica: Replica

    init(node: NodeID, path: String? = nil) {
        self.node = node
        replica = try! path.map { try Replica.open(path: $0) } ?? Replica.inMemory()
        try! replica.initialize(ReplicaIdentity(node: node, branch: nil, user: nil, createdAt: "2026-11-23T00:00:00Z"))
    }

    mutating func write(_ edits: [(table: RecordKind, record: String, fields: [(String, FieldValue)])], nowMilliseconds now: UInt64) -> Mutation? {
        try! replica.writer.write { db in
            try Replica.write(edits.map { RecordEdit($0.table, $0.record, $0.fields) }, validate: false, now: now, io: RecordIO(db), db)
        }
    }

    mutating func apply(_ changes: [FieldChange], nowMilliseconds now: UInt64) -> [Mutation] {
        let report = try! replica.writer.write { db in try Replica.apply(changes[...], now: now, db) }
        return report.conflictMutations
    }

    func record(_ table: RecordKind, _ id: String) -> RecordState? {
        try! replica.record(table, id)?.state
    }

    func snapshot() -> [RecordKind: [String: RecordState]] {
        var tables: [RecordKind: [String: RecordState]] = [:]
        for kind in RecordKind.allCases {
            let records = try! replica.records(kind)
            if !records.isEmpty {
                tables[kind] = Dictionary(uniqueKeysWithValues: records.map { ($0.id, $0.state) })
            }
        }
        return tables
    }

    /// Every record table as SQLite text, for byte-for-byte comparison.
    func dump() -> String {
        try! replica.writer.read { db in
            var text = ""
            for kind in RecordKind.allCases {
                let columns = (["id"] + kind.schema.fields.map { "\"\($0.name)\"" } + ["_stamps"])
                    .map { "quote(\($0))" }.joined(separator: " || ',' || ")
                for line in try String.fetchAll(db, sql: "SELECT \(columns) FROM \(kind.rawValue) ORDER BY id") {
                    text += "\(kind.rawValue): \(line)\n"
                }
            }
            return text
        }
    }
}
