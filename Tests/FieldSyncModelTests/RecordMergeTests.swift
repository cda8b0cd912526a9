import FieldSyncModel
import Testing

/// `RecordMerge.apply` reads a batch in place and guesses each field's position
/// from the one before; it must do exactly what merging the changes one by one
/// with `FieldMerge.merge` does, whatever the order, repeats and unknown fields.
@Suite struct RecordMergeTests {
    @Test func aBatchMergesAsItsChangesOneByOne() {
        var generator = SplitMix64(seed: 0x4EC0)
        let schema = RecordKind.fault.schema
        let names = schema.fields.map(\.name) + ["not_a_field"]
        let values: [FieldValue] = [.null, .text(""), .text("reported"), .text("resolved"), .text("2026-03-01T08:00:00Z"),
                                    .text("2026-02-01T08:00:00Z"), .int(3), .text("故障 ✓")]
        for _ in 0..<3_000 {
            var start = RecordState(fieldCount: schema.fields.count)
            for index in schema.fields.indices where Bool.random(using: &generator) {
                start.values[index] = values.randomElement(using: &generator)!
                start.stamps[index] = FieldStamp(hlc: HLC(rawValue: .random(in: 1...20, using: &generator)),
                                                 node: NodeID(rawValue: .random(in: 1...3, using: &generator)), base: .zero)
            }
            let changes = (0..<Int.random(in: 0...30, using: &generator)).map { _ in
                FieldChange(table: .fault, record: "f", field: names.randomElement(using: &generator)!,
                            value: values.randomElement(using: &generator)!, hlc: HLC(rawValue: .random(in: 1...20, using: &generator)),
                            node: NodeID(rawValue: .random(in: 1...3, using: &generator)), base: HLC(rawValue: .random(in: 0...20, using: &generator)))
            }
            // Half the batches in schema order, as they mostly arrive.
            let batch = Bool.random(using: &generator)
                ? changes.sorted { (schema.index(of: $0.field) ?? .max) < (schema.index(of: $1.field) ?? .max) } : changes

            var expected = start, expectedOverwrites: [Overwrite] = [], expectedChanged = false
            for change in batch {
                guard let index = schema.index(of: change.field) else { continue }
                let outcome = FieldMerge.merge(current: expected[state: index], incoming: change.state,
                                               rule: schema.fields[index].rule, detectConflicts: true)
                if outcome.replaced {
                    expected.values[index] = outcome.state.value
                    expected.stamps[index] = outcome.state.stamp
                    expectedChanged = true
                }
                if let conflict = outcome.conflict {
                    expectedOverwrites.append(Overwrite(table: .fault, record: "f", field: change.field, lost: conflict.lost, kept: conflict.kept))
                }
            }

            var state = start, overwrites: [Overwrite] = []
            let changed = RecordMerge.apply(batch[...], to: &state, schema: schema, overwrites: &overwrites)
            #expect(state == expected)
            #expect(overwrites == expectedOverwrites)
            #expect(changed == expectedChanged)

            // A collection without contiguous storage takes the other path to the same result.
            var lazyState = start, lazyOverwrites: [Overwrite] = []
            _ = RecordMerge.apply(batch.lazy.map { $0 }, to: &lazyState, schema: schema, overwrites: &lazyOverwrites)
            #expect(lazyState == expected)
            #expect(lazyOverwrites == expectedOverwrites)
        }
    }
}
