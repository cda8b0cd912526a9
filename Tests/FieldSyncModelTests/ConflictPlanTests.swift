import FieldSyncModel
import Testing

/// `ConflictRecord.plan`: the one place a laptop, the SQLite server and the PostgreSQL
/// server decide which conflict records to make and how their mutations are cut.
@Suite struct ConflictPlanTests {
    static func overwrite(_ index: Int) -> Overwrite {
        let stamp = { (hlc: UInt64, node: UInt64) in FieldStamp(hlc: HLC(rawValue: hlc), node: NodeID(rawValue: node), base: .zero) }
        return Overwrite(table: .customer, record: "customer-\(index)", field: "notes",
                         lost: FieldState(value: .text("lost \(index)"), stamp: stamp(100, 1)),
                         kept: FieldState(value: .text("kept \(index)"), stamp: stamp(200, 2)))
    }

    @Test func eachOverwriteOnceInMutationsOfAThousand() {
        let overwrites = (0..<2_001).map(Self.overwrite) + [Self.overwrite(7)]
        let stored = ConflictRecord.id(for: Self.overwrite(0))
        let node = NodeID(rawValue: 0xAB)
        let plan = ConflictRecord.plan(for: overwrites, isStored: { $0 == stored }, node: node, user: "Li Wei",
                                       clock: HybridClock(last: HLC(milliseconds: 5_000, counter: 0)), counter: 41, now: 9_000)
        // 2,001 distinct, one already stored: 2,000 new records in two mutations.
        #expect(plan.records.count == 2_000)
        #expect(Set(plan.records.map(\.key.record)).count == 2_000)
        #expect(!plan.records.contains { $0.key.record == stored })
        #expect(plan.mutations.map(\.changes.count) == [1_000 * 9, 1_000 * 9])
        #expect(plan.mutations.map(\.counter) == [42, 43] && plan.counter == 43)
        #expect(plan.mutations.allSatisfy { $0.origin == node && $0.user == "Li Wei" })
        // One tick per mutation, from the wall clock.
        let stamps = plan.mutations.map { Set($0.changes.map(\.hlc)) }
        #expect(stamps == [[HLC(milliseconds: 9_000, counter: 0)], [HLC(milliseconds: 9_000, counter: 1)]])
        #expect(plan.clock.last == HLC(milliseconds: 9_000, counter: 1))
        // Each record is what its mutation's changes make of an empty one.
        let first = plan.records[0]
        #expect(first.state.value("kept_value", in: RecordKind.conflict.schema) == .text("kept 1"))
        #expect(first.state.value("resolved", in: RecordKind.conflict.schema) == .null)
    }

    @Test func nothingNewPlansNothing() {
        let clock = HybridClock(last: HLC(milliseconds: 5_000, counter: 3))
        let plan = ConflictRecord.plan(for: [Self.overwrite(1)], isStored: { _ in true }, node: NodeID(rawValue: 1), user: nil,
                                       clock: clock, counter: 7, now: 9_000)
        #expect(plan.mutations.isEmpty && plan.records.isEmpty && plan.counter == 7 && plan.clock == clock)
    }
}
