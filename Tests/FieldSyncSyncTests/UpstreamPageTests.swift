import FieldSyncModel
import FieldSyncProtocol
@testable import FieldSyncServer
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
        func server(_ name: String) throws -> ServerStore {
            let data = ServerFolder(path: folder.path(name))
            _ = try data.initialize(hosts: [], branch: nil, certificate: nil)
            return try data.openStore()
        }
        let province = try server("province")
        let branch = try server("Hangzhou")
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
}
