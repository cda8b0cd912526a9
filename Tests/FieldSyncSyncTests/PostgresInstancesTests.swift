import FieldSyncClient
import FieldSyncModel
import FieldSyncPostgres
import FieldSyncProtocol
import FieldSyncSQLiteServer
import FieldSyncServer
import FieldSyncStore
import FieldSyncTestSupport
import Foundation
import PostgresNIO
import Testing

/// Two server instances on one PostgreSQL database serve the same laptops: a
/// laptop may reach either at every sync and never sees a gap, a repeat or a
/// rewind; codes and sessions issued by one work on the other.
@Suite(.enabled(if: PostgresTestDatabase.enabled, "no PostgreSQL: set FIELDSYNC_TEST_DATABASE_URL (scripts/postgres start prints one)"))
struct PostgresInstancesTests {
    @Test func laptopsAlternatingBetweenTwoInstancesConverge() async throws {
        try await PostgresTestDatabase.with { client, location in
            try await PostgresTestDatabase.run(location) { secondClient in
                let clock = TestClock()
                let first = try await TestServer.start(postgres: client, clock: clock.now)
                let second = try await TestServer.start(postgres: secondClient, clock: clock.now, sharing: first)
                let folder = try TemporaryFolder()
                // Enrolled at one instance, each laptop also holds a client of the other.
                var laptops: [Laptop] = []
                for (name, role) in [("Li Wei", Role.manager), ("Ming", .manager), ("Sue", .supervisor)] {
                    laptops.append(try await Laptop.enrol(name, server: name == "Ming" ? second : first, folder: folder, role: role, clock: clock.now))
                }
                var elsewhere: [Laptop] = []
                for laptop in laptops {
                    let other = laptop.binding.url == first.url ? second : first
                    var binding = laptop.binding
                    binding.url = other.url
                    elsewhere.append(Laptop(name: laptop.name, replica: laptop.replica, binding: binding,
                                            client: try SyncClient(url: other.url, caPEM: other.caPEM)))
                }

                do {
                    try await Self.work(laptops, elsewhere, client: client)
                } catch {
                    Issue.record(error)
                }
                for laptop in laptops + elsewhere { await laptop.close() }
                await second.stop()
                await first.stop()
            }
        }
    }

    static func work(_ laptops: [Laptop], _ elsewhere: [Laptop], client: PostgresClient) async throws {
        // Each manager's customers have the other on their team: everything is shared.
        let (li, ming) = (laptops[0], laptops[1])
        var generator = SplitMix64(seed: 2026)
        var customers: [String] = []
        for (laptop, teammate) in [(li, "Ming"), (ming, "Li Wei")] {
            for number in 0..<3 {
                let id = RecordID.make(using: &generator)
                customers.append(id)
                try laptop.replica.write([RecordEdit(.customer, id, [("name", .text("\(laptop.name) customer \(number)")), ("level", .text("standard")),
                                                                      ("branch", .text("Hangzhou")), ("manager", .text(laptop.name)),
                                                                  ("team", .text(teammate))])])
            }
        }
        for laptop in [li, ming, li] { #expect(try await laptop.sync().rejected.isEmpty) }

        // Rounds of work, each laptop syncing through a random instance, all at once.
        let seeds = (0..<3).map { UInt64($0 + 1) * 7_919 }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in laptops.indices {
                let (here, there, seed, files) = (laptops[index], elsewhere[index], seeds[index], customers)
                group.addTask {
                    var random = SplitMix64(seed: seed)
                    var cursor: Int64 = try here.replica.syncCursor()
                    for round in 0..<12 {
                        if here.name != "Sue" {
                            for _ in 0..<Int(random.next() % 4) {
                                let customer = files[Int(random.next() % UInt64(files.count))]
                                if random.next() % 3 == 0 {
                                    try here.replica.write([RecordEdit(.customer, customer, [("notes", .text("\(here.name) round \(round)"))])])
                                } else {
                                    try here.replica.write([RecordEdit(.visit, RecordID.make(using: &random), [
                                        ("customer", .text(customer)), ("at", .text("2026-11-2\(round % 9)T09:00:00+08:00")),
                                        ("kind", .text("routine")), ("summary", .text("\(here.name) round \(round)"))])])
                                }
                            }
                        }
                        let via = random.next() % 2 == 0 ? here : there
                        let summary = try await via.sync()
                        #expect(summary.rejected.isEmpty, "\(summary.rejected)")
                        let now = try here.replica.syncCursor()
                        #expect(now >= cursor, "\(here.name)'s cursor went back from \(cursor) to \(now)")
                        cursor = now
                    }
                }
            }
            try await group.waitForAll()
        }
        // Everyone syncs twice more, across instances: all hold the same records.
        for pass in 0..<2 {
            for index in laptops.indices { try await (pass == 0 ? laptops[index] : elsewhere[index]).sync() }
        }
        let dumps = try laptops.map { try $0.dump() }
        #expect(dumps[0] == dumps[1] && dumps[1] == dumps[2])
        #expect(try li.replica.records(.visit).count > 10)

        // The log: numbers without a hole, and no mutation logged twice for one record.
        let logger = PostgresTestDatabase.logger
        var counts: [(Int64, Int64)] = []
        for try await row in try await client.query("SELECT count(*), COALESCE(max(seq), 0) FROM change_log", logger: logger)
            .decode((Int64, Int64).self) { counts.append(row) }
        #expect(counts.count == 1 && counts[0].0 == counts[0].1 && counts[0].0 > 20, "the log's numbers have a hole: \(counts)")
        var repeated: [Int64] = []
        for try await row in try await client.query("""
            SELECT count(*) FROM (SELECT origin, counter, tbl, record FROM change_log WHERE counter IS NOT NULL
                                  GROUP BY origin, counter, tbl, record HAVING count(*) > 1) AS twice
            """, logger: logger).decode(Int64.self) { repeated.append(row) }
        #expect(repeated == [0], "a mutation was applied twice")
        // The applied marks are runs: a few per origin (each laptop's counters and the server's), not a row per mutation.
        var marks: [(Int64, Int64, Int64)] = []
        for try await row in try await client.query("""
            SELECT count(*), count(DISTINCT origin), COALESCE(sum(high - low + 1), 0)::bigint FROM applied_ranges
            """, logger: logger).decode((Int64, Int64, Int64).self) { marks.append(row) }
        #expect(marks.count == 1 && marks[0].0 <= 2 * marks[0].1 && marks[0].2 > marks[0].0, "\(marks)")
    }
}
