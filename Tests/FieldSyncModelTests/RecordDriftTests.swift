import FieldSyncModel
import Testing

/// `RecordDrift.compare` names, field by field, which side lacks what; repairing by it (merging
/// each side's lacks into it, and taking the server's copy of an altered write) must leave the
/// two sides equal, under every merge rule, whatever the states.
@Suite struct RecordDriftTests {
    @Test(arguments: RecordKind.allCases)
    func repairingWhatTheComparisonFindsLeavesBothSidesEqual(kind: RecordKind) {
        var generator = SplitMix64(seed: 0xD21F7 &+ UInt64(kind.rawValue.utf8.count))
        let schema = kind.schema
        let values: [FieldValue] = [.null, .text(""), .text("received"), .text("resolved"), .text("2026-03-01T08:00:00Z"),
                                    .text("2026-02-01T08:00:00Z"), .int(3), .text("投诉 ✓")]
        func randomState() -> RecordState? {
            if Int.random(in: 0..<6, using: &generator) == 0 { return nil }
            var state = RecordState(fieldCount: schema.fields.count)
            for index in schema.fields.indices where Bool.random(using: &generator) {
                state.values[index] = values.randomElement(using: &generator)!
                state.stamps[index] = FieldStamp(hlc: HLC(rawValue: .random(in: 1...6, using: &generator)),
                                                 node: NodeID(rawValue: .random(in: 1...2, using: &generator)), base: .zero)
            }
            return state
        }
        let key = RecordKey(table: kind, record: "r")
        var differing = 0
        for _ in 0..<2_000 {
            let here = randomState()
            var server = randomState()
            // Sometimes the same writes on both sides, some of them altered on one.
            if Bool.random(using: &generator), let here { server = here; server?.values[Int.random(in: 0..<schema.fields.count, using: &generator)] = .text("altered") }
            guard let drift = RecordDrift.compare(key, here: here, server: server) else {
                #expect(here?.stamps ?? [] == server?.stamps ?? [] || (here == nil) != (server == nil) && (here ?? server)!.stamps.allSatisfy { $0 == nil })
                continue
            }
            differing += 1
            var repairedHere = here ?? RecordState(fieldCount: schema.fields.count)
            for change in drift.serverCopyOfAlteredWrites {
                repairedHere.values[schema.index(of: change.field)!] = change.value
            }
            var ignored: [Overwrite] = []
            _ = RecordMerge.apply(drift.replicaLacks, to: &repairedHere, schema: schema, overwrites: &ignored)
            var repairedServer = server ?? RecordState(fieldCount: schema.fields.count)
            _ = RecordMerge.apply(drift.serverLacks, to: &repairedServer, schema: schema, overwrites: &ignored)
            #expect(repairedHere == repairedServer, "\(String(describing: here)) vs \(String(describing: server)): \(drift.fields)")
            #expect(RecordDrift.compare(key, here: repairedHere, server: repairedServer) == nil)
        }
        #expect(differing > 500)
    }
}
