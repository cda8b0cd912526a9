@testable import FieldSyncPostgres
import FieldSyncSQLiteServer
import FieldSyncServer
import FieldSyncServerCore
import FieldSyncTestSupport
import Foundation
import Logging
import PostgresNIO
import Synchronization
import Testing

/// What the writers and readers of the race share.
private final class Race: Sendable {
    let writersDone = Atomic<Bool>(false)
    let committed = Atomic<Int>(0)
}

private struct RolledBack: Error {}

@Suite(.enabled(if: PostgresTestDatabase.enabled, "no PostgreSQL: set FIELDSYNC_TEST_DATABASE_URL (scripts/postgres start prints one)")) struct PostgresChangeLogTests {
    /// 8 writers append batches at once (a quarter of them roll back) while 3 readers
    /// page through by cursor: every reader reads every committed row once, in order,
    /// with consecutive numbers — a row committed late is never passed.
    @Test func readersNeverSkipARowWhileEightWritersRace() async throws {
        try await PostgresTestDatabase.with { client, _ in
            let logger = PostgresTestDatabase.logger
            try await PostgresSchema.migrate(client, logger: logger)
            let race = Race()

            let readings = try await withThrowingTaskGroup(of: [ChangeLogRow]?.self) { group in
                for writer in 0..<8 {
                    group.addTask {
                        var random = SystemRandomNumberGenerator()
                        for batch in 0..<40 {
                            let count = Int.random(in: 1...12, using: &random)
                            var rows: [ChangeLogRow] = []
                            for index in 0..<count {
                                let customer: String? = index % 3 == 0 ? nil : "c\(writer)"
                                let counter: Int64? = index % 2 == 0 ? Int64(batch + 1) : nil
                                let changes: [UInt8] = [UInt8(writer), UInt8(batch), UInt8(index)]
                                rows.append(ChangeLogRow(table: "visits", record: "w\(writer)-b\(batch)-r\(index)", origin: "node-\(writer)",
                                                         customer: customer, changes: changes, counter: counter, fromUpstream: index % 5 == 0))
                            }
                            let rollBack = Int.random(in: 0..<4, using: &random) == 0
                            do {
                                try await client.withTransaction(logger: logger) { connection in
                                    try await PostgresChangeLog.append(rows, receivedAt: 0, on: connection, logger: logger)
                                    // More work between taking the numbers and committing widens the race a plain sequence loses.
                                    try await connection.query("SELECT count(*) FROM change_log", logger: logger)
                                    if rollBack { throw RolledBack() }
                                }
                                race.committed.add(count, ordering: .relaxed)
                            } catch is RolledBack {
                            } catch let error as PostgresTransactionError where error.closureError is RolledBack {
                            }
                        }
                        return nil
                    }
                }
                for _ in 0..<3 {
                    group.addTask {
                        var read: [ChangeLogRow] = []
                        var cursor: Int64 = 0
                        while true {
                            let done = race.writersDone.load(ordering: .acquiring)
                            let page = try await client.withConnection { connection in
                                try await PostgresChangeLog.page(after: cursor, limit: 5, on: connection, logger: logger)
                            }
                            for row in page {
                                #expect(row.seq == cursor + 1, "after \(cursor) came \(row.seq): a row was passed")
                                cursor = row.seq
                                read.append(row)
                            }
                            if page.isEmpty {
                                if done { return read }
                                await Task.yield()
                            }
                        }
                    }
                }
                var readings: [[ChangeLogRow]] = []
                var writers = 8
                while let result = try await group.next() {
                    if let rows = result { readings.append(rows) } else {
                        writers -= 1
                        if writers == 0 { race.writersDone.store(true, ordering: .releasing) }
                    }
                }
                return readings
            }

            let all = try await client.withConnection { connection in
                try await PostgresChangeLog.page(after: 0, limit: 1_000_000, on: connection, logger: logger)
            }
            let head = try await client.withConnection { try await PostgresChangeLog.head(on: $0, logger: logger) }
            #expect(all.count == race.committed.load(ordering: .relaxed) && all.count > 0)
            #expect(all.map(\.seq) == Array(1...Int64(all.count)), "numbers are gapless: rolled-back ones are handed out again")
            #expect(head == Int64(all.count))
            #expect(readings.count == 3)
            for reading in readings { #expect(reading == all) }
            // Each batch is whole and in its order: a transaction's rows are consecutive.
            let firstRows = all.filter { $0.record.hasSuffix("-r0") }
            for first in firstRows {
                let prefix = first.record.dropLast(1)
                let batch = all.filter { $0.record.hasPrefix(prefix) && $0.record.dropFirst(prefix.count).allSatisfy(\.isNumber) }
                #expect(batch.map(\.seq) == Array(first.seq..<(first.seq + Int64(batch.count))))
            }
        }
    }

    @Test func valuesComeBackAsWritten() async throws {
        try await PostgresTestDatabase.with { client, _ in
            let logger = PostgresTestDatabase.logger
            try await PostgresSchema.migrate(client, logger: logger)
            let rows = [
                ChangeLogRow(table: "customers", record: "a", origin: "n1", customer: "a", changes: [0, 1, 255], counter: 7, fromUpstream: true),
                ChangeLogRow(table: "visits", record: "b", origin: "n2", customer: nil, changes: [], counter: nil, fromUpstream: false),
            ]
            let numbers = try await client.withTransaction(logger: logger) { try await PostgresChangeLog.append(rows, receivedAt: 0, on: $0, logger: logger) }
            #expect(numbers == 1...2)
            let read = try await client.withConnection { try await PostgresChangeLog.page(after: 0, limit: 10, on: $0, logger: logger) }
            #expect(read == [rows[0], rows[1]].enumerated().map { var row = $1; row.seq = Int64($0 + 1); return row })
            let empty = try await client.withTransaction(logger: logger) { try await PostgresChangeLog.append([], receivedAt: 0, on: $0, logger: logger) }
            #expect(empty == nil)
        }
    }
}

@Suite(.enabled(if: PostgresTestDatabase.enabled, "no PostgreSQL: set FIELDSYNC_TEST_DATABASE_URL (scripts/postgres start prints one)")) struct PostgresSchemaTests {
    @Test func migrationsRunOnceAndAnOlderBuildRefusesANewerDatabase() async throws {
        try await PostgresTestDatabase.with { client, _ in
            let logger = PostgresTestDatabase.logger
            // Several instances starting at once: one applies, the others find it done.
            let applied = try await withThrowingTaskGroup(of: [String].self) { group in
                for _ in 0..<4 { group.addTask { try await PostgresSchema.migrate(client, logger: logger) } }
                var all: [[String]] = []
                for try await names in group { all.append(names) }
                return all
            }
            #expect(applied.filter { !$0.isEmpty } == [PostgresSchema.migrationNames])
            try await client.query("INSERT INTO fieldsync_migrations (name) VALUES ('pg-v999-from-the-future')", logger: logger)
            let refused = await #expect(throws: PostgresSchema.TooNew.self) { try await PostgresSchema.migrate(client, logger: logger) }
            #expect(refused?.description.contains("pg-v999-from-the-future") == true)
        }
    }

    /// pg-v15 turns a row per applied mutation into runs of consecutive counters per origin.
    @Test func appliedMarksBecomeRuns() async throws {
        try await PostgresTestDatabase.with { client, _ in
            let logger = PostgresTestDatabase.logger
            try await PostgresSchema.migrate(client, logger: logger)
            let migration = try #require(PostgresSchema.migrations.first { $0.name == "pg-v15-applied-runs" })
            try await client.query("DROP TABLE applied_ranges", logger: logger)
            try await client.query("CREATE TABLE applied_mutations (origin text NOT NULL, counter bigint NOT NULL, PRIMARY KEY (origin, counter))",
                                   logger: logger)
            try await client.query("""
                INSERT INTO applied_mutations (origin, counter) VALUES ('a', 1), ('a', 2), ('a', 3), ('a', 7), ('a', 9), ('a', 10), ('b', 5)
                """, logger: logger)
            // In one transaction, as `migrate` runs it (its lock holds until the commit).
            try await client.withTransaction(logger: logger) { connection in
                for statement in migration.statements { try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger) }
            }
            var runs: [String] = []
            for try await (origin, low, high) in try await client.query("SELECT origin, low, high FROM applied_ranges ORDER BY origin, low",
                                                                       logger: logger).decode((String, Int64, Int64).self) {
                runs.append("\(origin) \(low)-\(high)")
            }
            #expect(runs == ["a 1-3", "a 7-7", "a 9-10", "b 5-5"])
        }
    }
}

@Suite struct PostgresLocationTests {
    @Test func urlsAreReadAsLibpqWritesThem() throws {
        let location = try PostgresLocation(url: "postgres://fs:s3cret@db.example:6543/province?sslmode=require", environment: [:])
        #expect(location == PostgresLocation(host: "db.example", port: 6543, user: "fs", password: "s3cret", database: "province", tls: .require))
        #expect(location.description == "postgres://fs:***@db.example:6543/province?sslmode=require", "no password in messages")
        let plain = try PostgresLocation(url: "postgresql://fs@127.0.0.1/fieldsync", environment: [:])
        #expect(plain.port == 5432 && plain.tls == .prefer && plain.password == nil)
        for (bad, says) in [("http://fs@h/db", "not a postgres:// URL"), ("postgres://h/db", "names no user"), ("postgres://fs@h", "names no database"),
                            ("postgres://fs@h/db?sslmode=maybe", "sslmode 'maybe'"), ("postgres://fs@h/db?pool=3", "option 'pool'"),
                            ("postgres://fs:pw@/db", "names no host")] {
            let error = #expect(throws: PostgresLocation.Invalid.self) { try PostgresLocation(url: bad) }
            #expect(error?.description.contains(says) == true, "\(bad): \(error?.description ?? "")")
            #expect(error?.description.contains("pw") != true)
        }
    }

    /// Issue 24, item 6: a database on another host was reached with
    /// `prefer` (an unverified, or no, TLS session) unless the URL said
    /// otherwise, and its password could only be typed into the URL, where
    /// `ps` shows it.
    @Test func aRemoteDatabaseIsVerifiedAndItsPasswordStaysOffTheCommandLine() throws {
        let remote = try PostgresLocation(url: "postgres://fs@db.example/province", environment: [:])
        #expect(remote.tls == .verifyFull && remote.password == nil)
        #expect(try PostgresLocation(url: "postgres://fs@localhost/x", environment: [:]).tls == .prefer)
        #expect(try PostgresLocation(url: "postgres://fs@[::1]/x", environment: [:]).tls == .prefer)
        #expect(try PostgresLocation(url: "postgres://fs@db.example/x?sslmode=disable", environment: [:]).tls == .disable, "an explicit choice stands")
        #expect(try PostgresLocation(url: "postgres://fs@db.example/x?sslmode=verify-full", environment: [:]).description
            == "postgres://fs@db.example:5432/x", "verify-full is the default there, so it is not repeated")
        #expect(try PostgresLocation(url: "postgres://fs@127.0.0.1/x?sslmode=verify-full", environment: [:]).url.contains("sslmode=verify-full"))

        let folder = try TemporaryFolder()
        let file = folder.path("password")
        try "from-a-file\nignored\n".write(toFile: file, atomically: true, encoding: .utf8)
        #expect(try PostgresLocation(url: "postgres://fs@db.example/x", environment: ["PGPASSWORD": "from-env"]).password == "from-env")
        #expect(try PostgresLocation(url: "postgres://fs@db.example/x", environment: ["FIELDSYNC_DATABASE_PASSWORD_FILE": file]).password == "from-a-file")
        #expect(try PostgresLocation(url: "postgres://fs:typed@db.example/x", environment: ["PGPASSWORD": "from-env"]).password == "typed")
        let missing = #expect(throws: PostgresLocation.Invalid.self) {
            try PostgresLocation(url: "postgres://fs@db.example/x", environment: ["FIELDSYNC_DATABASE_PASSWORD_FILE": folder.path("none")])
        }
        #expect(missing?.description.contains("FIELDSYNC_DATABASE_PASSWORD_FILE") == true)
        let root = #expect(throws: PostgresLocation.Invalid.self) { try PostgresLocation(url: "postgres://fs@db.example/x?sslrootcert=/no/such.pem", environment: [:]) }
        #expect(root?.description.contains("sslrootcert") == true)
    }
}
