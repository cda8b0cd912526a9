import FieldSyncModel
import FieldSyncProtocol
@testable import FieldSyncSQLiteServer
import FieldSyncStore
import GRDB
import Testing

/// The SQLite server's applied marks, kept as runs of counters per origin: what
/// a push reads, marks and writes back must answer exactly like one mark per mutation.
@Suite struct AppliedMarksTests {
    static let origins = [NodeID(rawValue: 0xA1), NodeID(rawValue: 0xB2)]

    @Test func pushesInAnyOrderMarkExactlyWhatASetWould() throws {
        var generator = SplitMix64(seed: 0xA991_1ED)
        for _ in 0..<20 {
            let store = try ServerStore(replica: Replica.inMemory())
            var plain: [NodeID: Set<UInt64>] = [:]
            for _ in 0..<40 {
                // A push: mostly the next counters, sometimes retried, overlapping, out of order or with gaps.
                let origin = Self.origins.randomElement(using: &generator)!
                let start = UInt64.random(in: 1...120, using: &generator)
                // Now and then a counter far from the rest: read as a cluster of its own.
                let counters = (0..<Int.random(in: 1...12, using: &generator)).map { _ in
                    start + (Int.random(in: 0..<8, using: &generator) == 0 ? UInt64.random(in: 80...300, using: &generator)
                                                                             : UInt64.random(in: 0...15, using: &generator))
                }
                let mutations = counters.map { Mutation(origin: origin, counter: $0, changes: []) }
                try store.writer.write { db in
                    var marks = try AppliedMarks(for: mutations, db)
                    for mutation in mutations {
                        let id = MutationID(origin: origin, counter: mutation.counter)
                        let before = plain[origin, default: []].contains(mutation.counter)
                        #expect(marks.contains(id) == before)
                        let inserted = try marks.insert(id, db)
                        #expect(inserted == !before)
                        plain[origin, default: []].insert(mutation.counter)
                    }
                    // A counter outside what the push read is read on demand.
                    let far = MutationID(origin: origin, counter: start + 500)
                    if Bool.random(using: &generator) {
                        let inserted = try marks.insert(far, db)
                        #expect(inserted == !plain[origin, default: []].contains(far.counter))
                        plain[origin, default: []].insert(far.counter)
                    }
                    try marks.save(db)
                }
                for origin in Self.origins {
                    let stored = try store.writer.read { db in
                        try Row.fetchAll(db, sql: "SELECT low, high FROM applied_ranges WHERE origin = ? ORDER BY low", arguments: [origin.description])
                            .map { UInt64($0[0] as Int64)...UInt64($0[1] as Int64) }
                    }
                    #expect(stored == CounterRanges((plain[origin] ?? []).map { $0...$0 }).ranges, "stored runs are the canonical runs")
                }
            }
        }
    }

    @Test func aPushReadsTheRunsNearItsCountersNotTheOriginsWholeHistory() throws {
        let store = try ServerStore(replica: Replica.inMemory())
        let origin = Self.origins[0]
        // A history of 5,000 one-counter runs (every other counter applied).
        try store.writer.write { db in
            for counter in stride(from: 1, through: 10_000, by: 2) {
                try db.execute(sql: "INSERT INTO applied_ranges (origin, low, high) VALUES (?, ?, ?)", arguments: [origin.description, counter, counter])
            }
        }
        try store.writer.write { db in
            // Counters 2 and 9,998, far apart: each reads the runs beside it, not the 4,998 between.
            let mutations = [2, 9_998].map { Mutation(origin: origin, counter: $0, changes: []) }
            var marks = try AppliedMarks(for: mutations, db)
            #expect(marks.storedRunsRead <= 4, "\(marks.storedRunsRead) runs read")
            #expect(!marks.contains(MutationID(origin: origin, counter: 2)) && marks.contains(MutationID(origin: origin, counter: 9_999)))
            for mutation in mutations { _ = try marks.insert(MutationID(origin: origin, counter: mutation.counter), db) }
            try marks.save(db)
        }
        let stored = try store.writer.read { db in
            try Row.fetchAll(db, sql: "SELECT low, high FROM applied_ranges WHERE origin = ? ORDER BY low", arguments: [origin.description])
                .map { ($0[0] as Int64, $0[1] as Int64) }
        }
        #expect(stored.count == 4_998 && stored.first! == (1, 3) && stored.last! == (9_997, 9_999))
    }

    @Test func theServersOwnMarksJoinTheRunBelow() throws {
        let store = try ServerStore(replica: Replica.inMemory())
        let node = NodeID(rawValue: 7)
        try store.writer.write { db in
            for counter in [1, 2, 4, 3] as [UInt64] { try AppliedMarks.mark(MutationID(origin: node, counter: counter), db) }
            #expect(throws: DatabaseError.self) { try AppliedMarks.mark(MutationID(origin: node, counter: UInt64(Int64.max) + 1), db) }
        }
        let rows = try store.writer.read { db in try Row.fetchAll(db, sql: "SELECT low, high FROM applied_ranges").map { [$0[0] as Int64, $0[1] as Int64] } }
        #expect(rows == [[1, 4]])
    }

    @Test func marksStoredOnePerMutationBecomeRunsOnUpgrade() throws {
        let replica = try Replica.inMemory()
        try ServerStore.migrator.migrate(replica.writer, upTo: "server-v10-drop-departed")
        try replica.writer.write { db in
            for (origin, counter) in [("a", 1), ("a", 2), ("a", 3), ("a", 5), ("a", 7), ("a", 8), ("b", 10)] {
                try db.execute(sql: "INSERT INTO applied_mutations (origin, counter) VALUES (?, ?)", arguments: [origin, counter])
            }
        }
        let store = try ServerStore(replica: replica)
        let rows = try store.writer.read { db in
            try Row.fetchAll(db, sql: "SELECT origin, low, high FROM applied_ranges ORDER BY origin, low").map { "\($0[0] as String):\($0[1] as Int64)-\($0[2] as Int64)" }
        }
        #expect(rows == ["a:1-3", "a:5-5", "a:7-8", "b:10-10"])
        #expect(try store.writer.read { db in try db.tableExists("applied_mutations") } == false)
    }
}
