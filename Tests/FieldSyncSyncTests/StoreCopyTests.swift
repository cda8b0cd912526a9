import FieldSyncClient
import FieldSyncModel
import FieldSyncPostgres
import FieldSyncProtocol
import FieldSyncSQLiteServer
import FieldSyncServer
import FieldSyncServerCore
import FieldSyncStore
import FieldSyncTestSupport
import Foundation
import Testing

/// A branch grown too big moves from SQLite to PostgreSQL: everything is copied
/// and read back the same, and its laptops sync on with the new server without
/// enrolling again, from where they were.
@Suite(.enabled(if: PostgresTestDatabase.enabled, "no PostgreSQL: set FIELDSYNC_TEST_DATABASE_URL (scripts/postgres start prints one)"))
struct StoreCopyTests {
    @Test func aSQLiteServerMovesToPostgreSQLWithoutEnrollingAgain() async throws {
        try await PostgresTestDatabase.with { client, _ in
            let clock = TestClock()
            let old = try await TestServer.start(clock: clock.now)
            let folder = try TemporaryFolder()
            let li = try await Laptop.enrol("Li Wei", server: old, folder: folder, clock: clock.now)
            let ming = try await Laptop.enrol("Ming", server: old, folder: folder, clock: clock.now)
            let sue = try await Laptop.enrol("Sue", server: old, folder: folder, role: .supervisor, clock: clock.now)
            var generator = SplitMix64(seed: 11)
            func id() -> String { RecordID.make(using: &generator) }
            let tower = id(), fault = id()
            try li.replica.write([RecordEdit(.customer, tower, [("name", .text("Tower Co")), ("level", .text("vip")), ("branch", .text("Hangzhou")),
                                                              ("manager", .text("Li Wei")), ("team", .text("Ming"))])])
            try li.replica.write([RecordEdit(.fault, fault, [("customer", .text(tower)), ("symptom", .text("alarm")),
                                                             ("reported_at", .text("2026-11-20T09:00:00+08:00")), ("status", .text("1:reported"))])])
            for number in 0..<20 {
                clock.advance(1_000)
                try li.replica.write([RecordEdit(.visit, id(), [("customer", .text(tower)), ("at", .text("2026-11-2\(number % 9)T09:00:00+08:00")),
                                                                ("kind", .text("routine")), ("summary", .text("visit \(number)"))])])
            }
            try await li.sync()
            try await ming.sync()
            // A conflict, and a handover (scope history, an exit row): the log holds every kind of row.
            try li.replica.write([RecordEdit(.customer, tower, [("notes", .text("li's note"))])])
            clock.advance(1_000)
            try ming.replica.write([RecordEdit(.customer, tower, [("notes", .text("ming's note"))])])
            for laptop in [li, ming, li, sue] { try await laptop.sync() }
            try sue.replica.write([RecordEdit(.customer, tower, [("team", .text("Ming, Li Wei")), ("manager", .text("Ming"))])])
            for laptop in [sue, li, ming] { try await laptop.sync() }
            let serverNode = try #require(try old.store.replica.identity()?.node)
            // Refused work and a supervisor's note about it (`RefusedAction`): carried, and the note still reaches Ming.
            let holiday = try #require(LocalDate(year: 2026, month: 12, day: 24))
            try ming.replica.write([RecordEdit(.calendarDay, RecordID.calendarDay(holiday), [("date", .text(holiday.description)), ("kind", .text("holiday"))])])
            let counter = try #require(try await ming.sync().rejected.first?.counter)
            let mingNode = try #require(try ming.replica.identity()?.node)
            _ = try await SQLiteAccountStorage(old.store).decide(RefusedActionDecision(node: mingNode, counter: counter, action: .note, note: "ask the province"),
                                                                  by: UserInfo(name: "Sue", role: .supervisor, branch: "Hangzhou"), now: clock.now())

            let report = try await PostgresStoreCopy.copy(try old.store.export(), into: client, logger: PostgresTestDatabase.logger)
            #expect(report.mismatches.isEmpty, "\(report.mismatches)")
            #expect(report.records >= 24 && report.logRows >= 24 && report.users == 3 && report.devices == 3 && report.applied >= 24)
            let again = await #expect(throws: PostgresStoreCopy.NotEmpty.self) {
                _ = try await PostgresStoreCopy.copy(try old.store.export(), into: client, logger: PostgresTestDatabase.logger)
            }
            #expect(again != nil)
            await old.stop()

            // The new server: same address book entry (certificate), same node; the laptops only learn its URL.
            let new = try await TestServer.start(postgres: client, clock: clock.now, sharing: old)
            #expect(new.postgres?.node == serverNode)
            var moved: [Laptop] = []
            for laptop in [li, ming, sue] {
                var binding = laptop.binding
                binding.url = new.url
                moved.append(Laptop(name: laptop.name, replica: laptop.replica, binding: binding, client: try SyncClient(url: new.url, caPEM: new.caPEM)))
            }
            let cursors = try moved.map { try $0.replica.syncCursor() }
            // Nothing new: nothing is pulled again.
            for (laptop, cursor) in zip(moved, cursors) {
                let summary = try await laptop.sync()
                #expect(summary.pulled == 0 && summary.rejected.map(\.counter) == (laptop.name == "Ming" ? [counter] : []), "\(laptop.name): \(summary)")
                #expect(try laptop.replica.syncCursor() >= cursor)
            }
            #expect(try moved[1].replica.rejections().first?.note?.hasSuffix(": ask the province") == true)
            #expect(try await new.postgres?.refusedActions(of: [mingNode], limit: 10).map(\.counter) == [counter])
            // New work flows as before.
            let later = id()
            try moved[1].replica.write([RecordEdit(.visit, later, [("customer", .text(tower)), ("at", .text("2026-11-30T09:00:00+08:00")),
                                                                   ("kind", .text("routine")), ("summary", .text("after the move"))])])
            let pushed = try await moved[1].sync()
            #expect(pushed.pushed == 1 && pushed.rejected.map(\.counter) == [counter])
            let pulled = try await moved[2].sync()
            #expect(pulled.pulled == 4, "only the new visit's fields arrive: \(pulled)")
            try await moved[0].sync()
            // Ming's laptop alone holds its refused holiday (waiting in its outbox, never on the server).
            let withoutCalendar = try moved[1].dump().split(separator: "\n").filter { !$0.hasPrefix("calendar_days:") }.joined(separator: "\n") + "\n"
            #expect(try moved[0].dump() == withoutCalendar && moved[0].dump() == moved[2].dump())
            for laptop in [li, ming, sue] + moved { await laptop.close() }
            await new.stop()
        }
    }
}
