import FieldSyncModel
import FieldSyncStore
import FieldSyncTestSupport
import Foundation
import Testing

/// Replays `Protocol/vectors/merge/*.json`: each vector's changes, delivered in
/// many orders, in one batch or one by one, with duplicates, must give the
/// expected fields and exactly the expected conflict records, in the memory
/// reference and in a SQLite replica.
@Suite struct ProtocolVectorTests {
    struct Vector: Decodable {
        var name: String
        var changes: [FieldChange]
        var expected: [String: [String: [String: FieldValue]]]
        var conflicts: [ExpectedConflict]
    }

    struct ExpectedConflict: Decodable, Hashable {
        var table: String
        var record: String
        var field: String
        var lost_value: FieldValue
        var lost_node: String
    }

    static let folder = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Protocol/vectors/merge")

    static func vectors() throws -> [Vector] {
        let files = try FileManager.default.contentsOfDirectory(at: folder, includingPropertiesForKeys: nil)
            .filter { $0.pathExtension == "json" }.sorted { $0.path < $1.path }
        return try files.map { try JSONDecoder().decode(Vector.self, from: Data(contentsOf: $0)) }
    }

    static let replicaNode = NodeID(rawValue: 0xC)

    @Test func vectorsArePresent() throws {
        #expect(try Self.vectors().count >= 10)
    }

    @Test(arguments: try vectors().map(\.name))
    func vectorHolds(_ name: String) throws {
        let vector = try #require(try Self.vectors().first { $0.name == name })
        var rng = SplitMix64(seed: 7)
        var orders = [vector.changes, vector.changes.reversed(), vector.changes + vector.changes.shuffled(using: &rng)]
        for _ in 0..<20 { orders.append(vector.changes.shuffled(using: &rng)) }
        for (index, order) in orders.enumerated() {
            for oneByOne in [false, true] {
                let batches = oneByOne ? order.map { [$0] } : [order]
                var memory = MemoryReplica(node: Self.replicaNode)
                for batch in batches { let _: [Overwrite] = memory.apply(batch, nowMilliseconds: 1) }
                check(vector, order: index, conflictCount: memory.tables[.conflict]?.count ?? 0, read: { memory.record($0, $1) })

                let store = try Replica.inMemory(wallClock: { 1 })
                try store.initialize(ReplicaIdentity(node: Self.replicaNode, branch: nil, user: nil, createdAt: ""))
                for batch in batches { try store.apply(remote: batch) }
                check(vector, order: index, conflictCount: try store.records(.conflict).count, read: { try? store.record($0, $1)?.state })
            }
        }
    }

    func check(_ vector: Vector, order: Int, conflictCount: Int, read: (RecordKind, String) -> RecordState?) {
        for (tableName, records) in vector.expected {
            guard let table = RecordKind(rawValue: tableName) else { Issue.record("unknown table \(tableName)"); continue }
            for (id, fields) in records {
                let state = read(table, id)
                for (field, value) in fields {
                    #expect(state?.value(field, in: table.schema) == value, "\(vector.name) order \(order): \(tableName).\(field)")
                }
            }
        }
        let schema = RecordKind.conflict.schema
        var found = Set<ExpectedConflict>()
        for expected in vector.conflicts {
            // Conflict ids are derived, so the expected record can be looked up directly.
            let lost = vector.changes.first {
                $0.table.rawValue == expected.table && $0.record == expected.record && $0.field == expected.field
                    && $0.value == expected.lost_value && $0.node.description == expected.lost_node
            }!
            let id = ConflictRecord.id(for: Overwrite(table: lost.table, record: lost.record, field: lost.field,
                                                      lost: lost.state, kept: lost.state))
            if let record = read(.conflict, id) {
                found.insert(ExpectedConflict(
                    table: record.value("table", in: schema).description, record: record.value("record", in: schema).description,
                    field: record.value("field", in: schema).description, lost_value: record.value("lost_value", in: schema),
                    lost_node: record.value("lost_node", in: schema).description))
            }
        }
        #expect(found == Set(vector.conflicts), "\(vector.name) order \(order): conflicts")
        #expect(conflictCount == vector.conflicts.count, "\(vector.name) order \(order): \(conflictCount) conflict records")
    }
}
