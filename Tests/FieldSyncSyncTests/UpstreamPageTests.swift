import FieldSyncModel
import FieldSyncProtocol
@testable import FieldSyncSQLiteServer
@testable import FieldSyncServer
@testable import FieldSyncServerCore
import FieldSyncStore
import FieldSyncTestSupport
import Foundation
import Testing

/// What a branch server relays up comes in pages; a page ends between mutations, never inside one.
@Suite struct UpstreamPageTests {
    /// A mutation that touches several records is logged as several rows. A page that
    /// reached its limit inside one sent part of it; the province marked the mutation
    /// applied, took the rest (same origin and counter, next page) for a retry, and the
    /// rest never reached it (found in review).
    /// By mutations, by field changes (the upstream's bound on a push) and by bytes.
    @Test(arguments: [(maxMutations: 1, maxChanges: 100_000, maxBytes: 4 << 20), (maxMutations: 1_000, maxChanges: 5, maxBytes: 4 << 20),
                      (maxMutations: 1_000, maxChanges: 100_000, maxBytes: 1)])
    func aPageNeverSplitsAMutation(limits: (maxMutations: Int, maxChanges: Int, maxBytes: Int)) throws {
        var rng = SplitMix64(seed: 7)
        let folder = try TemporaryFolder()
        let province = try TierPropertyTests.server("province", in: folder)
        let branch = try TierPropertyTests.server("Hangzhou", in: folder)
        let (_, relay) = try TierPropertyTests.enrol("Hangzhou server", role: .branch, branch: "Hangzhou", at: province, folder: folder,
                                                     node: try branch.replica.identity()!.node, rng: &rng)
        // The branch list comes down first: a branch server registers none itself.
        try TierPropertyTests.relay(branch, to: province, as: relay, key: "test|Hangzhou")
        let (replica, alice) = try TierPropertyTests.enrol("Alice", role: .manager, branch: "Hangzhou", at: branch, folder: folder, rng: &rng)
        let laptop = TierPropertyTests.Device(name: "Alice", replica: replica!, context: alice, server: branch)

        // One mutation with three records (three log rows), between two of one record each.
        let before = RecordID.make(using: &rng), customer = RecordID.make(using: &rng), after = RecordID.make(using: &rng)
        func customerEdit(_ id: String, _ name: String) -> RecordEdit {
            RecordEdit(.customer, id, [("name", .text(name)), ("level", .text("standard")), ("branch", .text("Hangzhou")), ("manager", .text("Alice"))])
        }
        let visits = [RecordID.make(using: &rng), RecordID.make(using: &rng)]
        try laptop.replica.write([customerEdit(before, "Before")])
        try laptop.replica.write([customerEdit(customer, "Acme")] + visits.map { visit in
            RecordEdit(.visit, visit, [("customer", .text(customer)), ("at", .text("2026-11-22T10:00:00+08:00")),
                                       ("kind", .text("routine")), ("summary", .text("visit \(visit.prefix(4))"))])
        })
        try laptop.replica.write([customerEdit(after, "After")])
        try laptop.sync()

        let key = "test|Hangzhou"
        var pages = 0
        var relayed: [MutationID: Int] = [:]
        while pages < 20 {
            let state = try branch.upstreamState(key)
            let page = try branch.upstreamPage(after: state.sent, maxMutations: limits.maxMutations, maxChanges: limits.maxChanges, maxBytes: limits.maxBytes)
            if page.mutations.count > 1 {
                #expect(page.mutations.count <= limits.maxMutations && page.mutations.reduce(0) { $0 + $1.changes.count } <= limits.maxChanges,
                        "only a mutation alone may pass a bound")
            }
            for mutation in page.mutations where mutation.origin == alice.node {
                relayed[MutationID(origin: mutation.origin, counter: mutation.counter), default: 0] += 1
                #expect(Set(mutation.changes.map(\.record)).count == (mutation.changes.contains { $0.record == customer } ? 3 : 1),
                        "a relayed mutation carries all of its records")
            }
            let response = try province.sync(SyncRequest(cursor: state.cursor, mutations: page.mutations, clientTime: province.now), from: relay).response
            #expect(response.rejected.isEmpty, "\(response.rejected)")
            try branch.applyFromUpstream(response, sentThrough: page.through, key: key, relayed: page.mutations)
            pages += 1
            if !response.more, page.mutations.isEmpty { break }
        }
        #expect(relayed.count == 3 && relayed.values.allSatisfy { $0 == 1 }, "each mutation relayed once, whole: \(relayed)")
        for id in [before, customer, after] { #expect(try province.replica.record(.customer, id) != nil) }
        for visit in visits { #expect(try province.replica.record(.visit, visit) != nil, "the province holds every record of the mutation") }
    }

    /// The page builder alone, over random logs: paging through a log with random bounds
    /// yields every mutation once, whole and in order, and a page passes a bound only
    /// with a single mutation (or a single row's mutations) in it.
    @Test func pagesPartitionTheLogIntoWholeMutations() {
        var rng = SplitMix64(seed: 0x0B5E)
        let writers = (1...3).map { NodeID(rawValue: 0xA0 + $0) }
        for _ in 0..<300 {
            // A log: mutations of 1-4 rows, and now and then a row without a counter (one or two writers).
            var rows: [(seq: Int64, origin: NodeID, counter: UInt64?, changes: [FieldChange], bytes: Int)] = []
            var expected: [[FieldChange]] = []
            var counters: [NodeID: UInt64] = [:]
            for _ in 0..<Int.random(in: 0...30, using: &rng) {
                let writer = writers.randomElement(using: &rng)!
                func change(_ node: NodeID) -> FieldChange {
                    FieldChange(table: .customer, record: RecordID.make(using: &rng), field: "name", value: .text("v"),
                                hlc: HLC(rawValue: rng.next()), node: node, base: .zero)
                }
                if Int.random(in: 0..<6, using: &rng) == 0 {
                    let nodes = Bool.random(using: &rng) ? [writer] : [writer, writers.filter { $0 != writer }.randomElement(using: &rng)!]
                    let changes = nodes.flatMap { node in (0..<Int.random(in: 1...3, using: &rng)).map { _ in change(node) } }
                    rows.append((Int64(rows.count + 1), writer, nil, changes, Int.random(in: 1...50, using: &rng)))
                    for node in nodes { expected.append(changes.filter { $0.node == node }) }
                } else {
                    counters[writer, default: 0] += 1
                    var whole: [FieldChange] = []
                    for _ in 0..<Int.random(in: 1...4, using: &rng) {
                        let changes = (0..<Int.random(in: 1...5, using: &rng)).map { _ in change(writer) }
                        rows.append((Int64(rows.count + 1), writer, counters[writer], changes, Int.random(in: 1...50, using: &rng)))
                        whole += changes
                    }
                    expected.append(whole)
                }
            }
            let bounds = (mutations: Int.random(in: 1...6, using: &rng), changes: Int.random(in: 1...25, using: &rng), bytes: Int.random(in: 1...200, using: &rng))
            var relayed: [[FieldChange]] = []
            var cursor: Int64 = 0
            var pages = 0
            while pages <= rows.count {
                var page = UpstreamPage(after: cursor, maxMutations: bounds.mutations, maxChanges: bounds.changes, maxBytes: bounds.bytes)
                for row in rows where row.seq > cursor {
                    guard page.add(seq: row.seq, origin: row.origin, counter: row.counter, changes: row.changes, bytes: row.bytes,
                                   synthesized: 1 << 62 | UInt64(row.seq)) else { break }
                }
                page.finish()
                pages += 1
                if page.through == cursor { break }
                let pageRows = rows.filter { $0.seq > cursor && $0.seq <= page.through }
                let withinBounds = page.mutations.count <= bounds.mutations && page.mutations.reduce(0) { $0 + $1.changes.count } <= bounds.changes
                    && pageRows.reduce(0) { $0 + $1.bytes } <= bounds.bytes
                // Past a bound only alone: one mutation, or the mutations of one row without a counter.
                #expect(withinBounds || page.mutations.count == 1 || pageRows.count == 1, "bounds \(bounds): \(page.mutations.count) mutations")
                relayed += page.mutations.map(\.changes)
                cursor = page.through
            }
            #expect(cursor == Int64(rows.count), "the pages reach the end of the log")
            #expect(relayed == expected, "every mutation once, whole, in order")
        }
    }
}
