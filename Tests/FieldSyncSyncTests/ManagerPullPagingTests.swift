import FieldSyncClient
import FieldSyncModel
import FieldSyncProtocol
import FieldSyncSQLiteServer
import FieldSyncServer
import FieldSyncServerCore
import FieldSyncStore
import FieldSyncTestSupport
import Foundation
import Testing

/// A manager's pull reads their own customers' rows through indexes, a page's
/// worth at a time (issue 26, item 5). Pages smaller than the rows waiting,
/// with other managers' rows and the province's lists in between, must still
/// bring every row of the manager's files exactly once and nothing of others'.
@Suite struct ManagerPullPagingTests {
    /// Both ways a manager pulls: through their files' indexes (a cursor near the head) and by
    /// reading the log in order (window 0: as a manager far behind does).
    @Test(arguments: EngineKind.available, [Int64(20_000), 0])
    func smallPagesBringEveryRowOfTheManagersFilesAndNothingElse(engine: EngineKind, window: Int64) async throws {
        var limits = SyncLimits()
        limits.indexedPullWindow = window
        try await TestServer.run(on: engine, limits: limits) { server in
            let folder = try TemporaryFolder()
            let alice = try await Laptop.enrol("Alice", server: server, folder: folder)
            var random = SplitMix64(seed: 0x26_05)
            let alices = [RecordID.make(using: &random), RecordID.make(using: &random)]
            let team = RecordID.make(using: &random)
            let bobs = RecordID.make(using: &random)
            // Its team names "Alicea": the query's test (a substring) passes it, the policy does not.
            let lookalike = RecordID.make(using: &random)
            func customer(_ id: String, manager: String, team: String? = nil) -> RecordEdit {
                RecordEdit(.customer, id, [("name", .text("Customer")), ("level", .text("standard")), ("branch", .text("Hangzhou")),
                                           ("manager", .text(manager)), ("team", team.map(FieldValue.text) ?? .null)])
            }
            try await server.writeLocal([customer(alices[0], manager: "Alice"), customer(alices[1], manager: "Alice"),
                                         customer(team, manager: "Carol", team: "Dan, Alice"), customer(bobs, manager: "Bob"),
                                         customer(lookalike, manager: "Carol", team: "Alicea")])
            // Interleaved: each of Alice's files, the team's, Bob's and a calendar day in turn.
            // The branch list reaches everyone: the test server registered Hangzhou.
            var expected = Set(alices + [team, RecordID.branch("Hangzhou")])
            for round in 0..<12 {
                // Runs of rows the page skips, longer than a page: the cursor must not jump past what follows.
                for owner in alices + [team, bobs, lookalike, lookalike, lookalike, lookalike] {
                    let visit = RecordID.make(using: &random)
                    try await server.writeLocal([RecordEdit(.visit, visit, [
                        ("customer", .text(owner)), ("manager", .text("Alice")), ("kind", .text("routine")),
                        ("at", .text("2026-11-\(10 + round % 9)T09:00:00+08:00")), ("summary", .text("visit \(round)"))])])
                    if owner != bobs && owner != lookalike { expected.insert(visit) }
                }
                let day = RecordID.calendarDay(LocalDate(year: 2026, month: 10, day: 1 + round)!)
                try await server.writeLocal([RecordEdit(.calendarDay, day, [("date", .text("2026-10-\(String(format: "%02d", 1 + round))")),
                                                                             ("kind", .text("holiday"))])])
                expected.insert(day)
            }
            var cursor: Int64 = 0
            var received: [String: Int] = [:]
            var pages = 0
            while true {
                let answer = try await alice.client.exchange(SyncRequest(cursor: cursor, mutations: [], clientTime: Replica.systemMilliseconds(),
                                                                         maxChanges: 3), token: alice.binding.token)
                pages += 1
                for record in Set(answer.changes.map(\.record)) { received[record, default: 0] += 1 }
                #expect(answer.cursor >= cursor, "the cursor never goes back")
                cursor = answer.cursor
                if !answer.more { break }
                #expect(pages < 500)
            }
            let missing = expected.subtracting(received.keys), unexpected = Set(received.keys).subtracting(expected)
            #expect(missing.isEmpty && unexpected.isEmpty, "missing \(missing), unexpected \(unexpected)")
            #expect(!received.keys.contains(bobs))
            #expect(pages > 10, "the pages were small")
            // Nothing new: an empty page at the same cursor, and nothing more.
            let again = try await alice.client.exchange(SyncRequest(cursor: cursor, mutations: [], clientTime: Replica.systemMilliseconds()),
                                                        token: alice.binding.token)
            #expect(again.changes.isEmpty && !again.more)
            await alice.close()
        }
    }

    /// A supervisor's (and a branch server's) pull through the branch index (`server-v15-pull-by-branch`)
    /// and by reading the log in order: with another branch's rows in between, a file moved in from it
    /// and one moved out to it midway, small pages bring every row of the branch's files, the file moved
    /// in whole, and nothing of the other branch's (the file moved out included).
    @Test(arguments: EngineKind.available, [Int64(20_000), 0])
    func aSupervisorsSmallPagesBringTheBranchAndAFileMovedIntoIt(engine: EngineKind, window: Int64) async throws {
        var limits = SyncLimits()
        limits.indexedPullWindow = window
        try await TestServer.run(on: engine, limits: limits) { server in
            let folder = try TemporaryFolder()
            let sue = try await Laptop.enrol("Sue", server: server, folder: folder, role: .supervisor)
            try await server.addBranch("Ningbo")
            var random = SplitMix64(seed: 0x26_0B)
            let ours = [RecordID.make(using: &random), RecordID.make(using: &random)]
            let theirs = RecordID.make(using: &random), movedIn = RecordID.make(using: &random), movedOut = RecordID.make(using: &random)
            func customer(_ id: String, branch: String, manager: String) -> RecordEdit {
                RecordEdit(.customer, id, [("name", .text("Customer")), ("level", .text("standard")), ("branch", .text(branch)),
                                           ("manager", .text(manager))])
            }
            try await server.writeLocal([customer(ours[0], branch: "Hangzhou", manager: "Alice"), customer(ours[1], branch: "Hangzhou", manager: "Carol"),
                                         customer(theirs, branch: "Ningbo", manager: "Bob"), customer(movedIn, branch: "Ningbo", manager: "Bob"),
                                         customer(movedOut, branch: "Hangzhou", manager: "Carol")])
            var expected = Set(ours + [RecordID.branch("Hangzhou"), RecordID.branch("Ningbo")])
            var movedInVisits: [String] = []
            for round in 0..<10 {
                for owner in ours + [theirs, theirs, movedIn, theirs, movedOut] {
                    let visit = RecordID.make(using: &random)
                    try await server.writeLocal([RecordEdit(.visit, visit, [
                        ("customer", .text(owner)), ("kind", .text("routine")),
                        ("at", .text("2026-11-\(10 + round % 9)T09:00:00+08:00")), ("summary", .text("visit \(round)"))])])
                    if ours.contains(owner) { expected.insert(visit) }
                    if owner == movedIn { movedInVisits.append(visit) }
                }
                if round == 6 {
                    // Ningbo's file comes to Hangzhou: its earlier visits are Hangzhou's now too. And one of
                    // Hangzhou's goes to Ningbo: its rows, written under Hangzhou, are not served any more.
                    try await server.writeLocal([RecordEdit(.customer, movedIn, [("branch", .text("Hangzhou")), ("manager", .text("Alice"))])])
                    try await server.writeLocal([RecordEdit(.customer, movedOut, [("branch", .text("Ningbo")), ("manager", .text("Bob"))])])
                }
            }
            expected.insert(movedIn)
            expected.formUnion(movedInVisits)
            var cursor: Int64 = 0
            var received = Set<String>()
            var pages = 0
            while true {
                let answer = try await sue.client.exchange(SyncRequest(cursor: cursor, mutations: [], clientTime: Replica.systemMilliseconds(),
                                                                       maxChanges: 3), token: sue.binding.token)
                pages += 1
                received.formUnion(answer.changes.map(\.record))
                // The file moved in came with its handover (Bob to Alice); the one moved out's stays in Ningbo.
                for change in answer.changes where change.table == .handover && change.field == "customer" {
                    #expect(change.value == .text(movedIn))
                    expected.insert(change.record)
                }
                #expect(answer.cursor >= cursor, "the cursor never goes back")
                cursor = answer.cursor
                if !answer.more { break }
                #expect(pages < 500)
            }
            let missing = expected.subtracting(received), unexpected = received.subtracting(expected)
            #expect(missing.isEmpty && unexpected.isEmpty, "missing \(missing), unexpected \(unexpected)")
            #expect(!received.contains(theirs) && !received.contains(movedOut))
            #expect(pages > 10, "the pages were small")
            await sue.close()
        }
    }
}
