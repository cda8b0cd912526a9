import FieldSyncModel
import Testing

/// `ChangeGroups` against the plain definition: every change in exactly one
/// group, a group per record in order of first appearance, its ranges in
/// delivery order and maximal (no two touching).
@Suite struct ChangeGroupsTests {
    @Test func randomBatchesGroupAsDefined() {
        var generator = SplitMix64(seed: 0xC6A0)
        let records = ["a", "b", "c", "d"]
        for _ in 0..<2_000 {
            let count = Int.random(in: 0...24, using: &generator)
            let changes = (0..<count).map { _ in
                FieldChange(table: Bool.random(using: &generator) ? .visit : .fault, record: records.randomElement(using: &generator)!,
                            field: "summary", value: .null, hlc: .zero, node: NodeID(rawValue: 1), base: .zero)
            }
            // A slice that does not start at 0 keeps its base's indices.
            let offset = Int.random(in: 0...3, using: &generator)
            let batch = (Array(repeating: changes.first ?? FieldChange(table: .visit, record: "z", field: "summary", value: .null,
                                                                        hlc: .zero, node: NodeID(rawValue: 1), base: .zero), count: offset) + changes)[offset...]
            let groups = ChangeGroups(batch).groups

            var expectedOrder: [RecordKey] = []
            for change in batch where !expectedOrder.contains(RecordKey(table: change.table, record: change.record)) {
                expectedOrder.append(RecordKey(table: change.table, record: change.record))
            }
            #expect(groups.map { RecordKey(table: $0.table, record: $0.record) } == expectedOrder)
            for group in groups {
                let positions = group.ranges.flatMap { Array($0) }
                let expected = batch.indices.filter { batch[$0].table == group.table && batch[$0].record == group.record }
                #expect(positions == expected, "\(group.record): \(group.ranges)")
                #expect(zip(group.ranges, group.ranges.dropFirst()).allSatisfy { $0.upperBound < $1.lowerBound })
            }
        }
    }
}
