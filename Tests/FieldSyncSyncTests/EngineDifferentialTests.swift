import FieldSyncModel
import FieldSyncPostgres
import FieldSyncProtocol
@testable import FieldSyncSQLiteServer
@testable import FieldSyncServer
@testable import FieldSyncServerCore
import FieldSyncStore
import FieldSyncTestSupport
import Foundation
import Synchronization
import Testing

/// The same random schedule of work, refusals, conflicts and handovers, pushed and
/// pulled through each engine's `SyncStorage` — SQLite, PostgreSQL and the in-memory
/// reference (`MemorySyncStorage`) — must give the same answers: what each sync
/// accepted and refused (with the reason), the files it told a device to drop, the
/// conflict records the server made, every device's records and the server's.
/// A failure prints its seed; `FIELDSYNC_SEED=<seed>` replays it first, `FIELDSYNC_DIFFERENTIAL_CASES`
/// sets how many schedules run (6; 3 on PostgreSQL unless set), and `FIELDSYNC_TRACE=1` prints
/// SQLite's answers beside the reference's, with what each sync pulled.
@Suite struct EngineDifferentialTests {
    static let cases = Environment.value("FIELDSYNC_DIFFERENTIAL_CASES").flatMap(Int.init) ?? 6
    static var seeds: [UInt64] {
        let first = Environment.value("FIELDSYNC_SEED").flatMap(UInt64.init) ?? 0xD1FF_0026
        return (0..<UInt64(cases)).map { first &+ $0 &* 7_919 }
    }

    @Test func sqliteAnswersAsTheReference() async throws {
        var seen: [String] = []
        for seed in Self.seeds {
            let folder = try TemporaryFolder()
            let clock = Counter()
            let store = try ServerStore.open(folder: try Self.serverFolder(folder), wallClock: clock.now)
            let sqlite = try await Self.run(seed: seed, on: Self.sqlite(store), clock: clock)
            let node = try await SQLiteSyncStorage(store).serverNode
            try store.close()
            // The reference takes the same server node: the server's own writes name it (a conflict's kept_node).
            let referenceClock = Counter()
            let reference = try await Self.run(seed: seed, on: Self.memory(referenceClock, node: node), clock: referenceClock)
            Self.compare(sqlite, reference, engine: "SQLite", seed: seed)
            seen += reference.steps
            if Environment.value("FIELDSYNC_TRACE") != nil {
                for (index, (step, expected)) in zip(sqlite.steps, reference.steps).enumerated() {
                    print("\(index) \(step == expected ? "=" : "≠") \(step)\(step == expected ? "" : "\n     the reference: \(expected)")")
                }
            }
        }
        // The schedules reach what they are meant to compare.
        #expect(seen.contains { $0.contains("outside") }, "no push refused for scope")
        #expect(seen.contains { $0.contains("may not move records out of their reach") }, "no file given away refused")
        #expect(seen.contains { !$0.contains("left []") && $0.contains("left [") }, "no file dropped after a handover")
        #expect(seen.contains { $0.hasPrefix("assign ") }, "no server handover")
        #expect(seen.contains { !$0.hasSuffix("conflicts made 0") && $0.contains("conflicts made") }, "no conflict record made by the server")
    }

    @Test(.enabled(if: PostgresTestDatabase.enabled, "no PostgreSQL: set FIELDSYNC_TEST_DATABASE_URL (scripts/postgres start prints one)"))
    func postgresAnswersAsTheReference() async throws {
        for seed in Self.seeds.prefix(Environment.value("FIELDSYNC_DIFFERENTIAL_CASES") == nil ? 3 : Self.cases) {
            let (postgres, node) = try await PostgresTestDatabase.with { client, _ in
                let clock = Counter()
                let storage = try await PostgresServerStorage.open(client: client, logger: PostgresTestDatabase.logger, wallClock: clock.now)
                return (try await Self.run(seed: seed, on: Self.postgres(storage), clock: clock), storage.node)
            }
            let referenceClock = Counter()
            let reference = try await Self.run(seed: seed, on: Self.memory(referenceClock, node: node), clock: referenceClock)
            Self.compare(postgres, reference, engine: "PostgreSQL", seed: seed)
        }
    }

    static func compare(_ trace: Trace, _ reference: Trace, engine: String, seed: UInt64) {
        #expect(trace.steps.count == reference.steps.count, "\(engine), seed \(seed)")
        for (index, (step, expected)) in zip(trace.steps, reference.steps).enumerated() where step != expected {
            Issue.record("\(engine), seed \(seed), step \(index): \(step)\n   the reference: \(expected)")
            break
        }
        for (name, records) in reference.devices where trace.devices[name] != records {
            Issue.record("\(engine), seed \(seed): \(name)'s records differ from the reference's\n\(Self.difference(trace.devices[name] ?? [:], records))")
        }
        #expect(trace.server == reference.server, "\(engine), seed \(seed): the server's records\n\(Self.difference(trace.server, reference.server))")
    }

    static func difference(_ got: [String: [FieldValue]], _ expected: [String: [FieldValue]]) -> String {
        Set(got.keys).union(expected.keys).sorted().filter { got[$0] != expected[$0] }.prefix(5)
            .map { "  \($0): \(got[$0].map { "\($0)" } ?? "absent") vs \(expected[$0].map { "\($0)" } ?? "absent")" }.joined(separator: "\n")
    }

    // MARK: The engines

    /// One engine as the schedule drives it: people and devices, the server's own writes, sync.
    struct Engine {
        var enrol: (UserInfo, NodeID) async throws -> DeviceContext
        var addBranch: (String) async throws -> Void
        var assign: (String, String) async throws -> Void
        var sync: any SyncStorage
        var records: () async throws -> [String: [FieldValue]]
    }

    static func memory(_ clock: Counter, node: NodeID) -> Engine {
        let storage = MemorySyncStorage(node: node, wallClock: clock.now)
        let devices = Mutex(0)
        return Engine(
            enrol: { user, node in storage.enrol(user, node: node, device: "device-\(devices.withLock { $0 += 1; return $0 })") },
            addBranch: { try storage.addBranch($0) },
            assign: { try storage.assign($0, manager: $1, team: nil) },
            sync: storage,
            records: { Dictionary(uniqueKeysWithValues: storage.records().map { ("\($0.key.table.rawValue)/\($0.key.record)", $0.value.values) }) })
    }

    static func sqlite(_ store: ServerStore) -> Engine {
        let accounts = SQLiteAccountStorage(store)
        return Engine(
            enrol: { user, node in try await enrol(user, node: node, accounts) },
            addBranch: { try store.addBranch($0) },
            assign: { _ = try store.assign($0, manager: $1, team: nil) },
            sync: SQLiteSyncStorage(store),
            records: {
                var all: [String: [FieldValue]] = [:]
                for kind in RecordKind.allCases {
                    for record in try store.replica.records(kind) { all["\(kind.rawValue)/\(record.id)"] = record.state.values }
                }
                return all
            })
    }

    static func postgres(_ storage: PostgresServerStorage) -> Engine {
        Engine(
            enrol: { user, node in try await enrol(user, node: node, storage) },
            addBranch: { try await storage.addBranch($0) },
            assign: { _ = try await storage.assign($0, manager: $1, team: nil) },
            sync: storage,
            records: {
                var all: [String: [FieldValue]] = [:]
                for kind in RecordKind.allCases {
                    for (id, state) in try await storage.records(of: kind) { all["\(kind.rawValue)/\(id)"] = state.values }
                }
                return all
            })
    }

    static func enrol(_ user: UserInfo, node: NodeID, _ accounts: any AccountStorage) async throws -> DeviceContext {
        let code = try await accounts.addUser(user, codeLifetime: AccountRules.defaultCodeLifetime).code
        let enrolled = try await accounts.enroll(EnrollRequest(code: code, node: node, deviceName: "\(user.name)'s laptop"))
        return try await accounts.authenticate(token: enrolled.token)
    }

    static func serverFolder(_ folder: TemporaryFolder) throws -> String {
        let data = ServerFolder(path: folder.path("server"))
        _ = try data.initialize(hosts: [], branch: nil, certificate: nil)
        return data.path
    }

    // MARK: The schedule

    /// What an engine answered, step by step, and what everyone holds at the end (values, not stamps:
    /// each engine's server has a node of its own, which stamps its own writes).
    struct Trace {
        var steps: [String] = []
        var devices: [String: [String: [FieldValue]]] = [:]
        var server: [String: [FieldValue]] = [:]
    }

    final class Counter: Sendable {
        private let milliseconds = Mutex<UInt64>(1_796_000_000_000)
        var now: @Sendable () -> UInt64 { { [self] in milliseconds.withLock { $0 } } }
        func advance(_ delta: UInt64) { milliseconds.withLock { $0 += delta } }
    }

    /// A laptop as the schedule needs it: records merged from what it pulls, its own writes as
    /// mutations, its cursor, what it has sent. It makes no conflict records of its own: whether a
    /// laptop sees an overwrite before the server's conflict record depends on where pages are cut,
    /// which may differ between engines; the server's conflict records are what is compared.
    struct Device {
        var name: String
        var context: DeviceContext
        var records: [RecordKey: RecordState] = [:]
        var clock = HybridClock()
        var outbox: [Mutation] = []
        var cursor: Int64 = 0
        var decided = Set<UInt64>()

        init(name: String, context: DeviceContext) {
            self.name = name
            self.context = context
        }

        mutating func write(_ table: RecordKind, _ record: String, _ fields: [(String, FieldValue)], now: UInt64) {
            let key = RecordKey(table: table, record: record)
            let hlc = clock.tick(nowMilliseconds: now)
            let changes = LocalEdit.changes(table: table, record: record, current: records[key], fields: fields, hlc: hlc, node: context.node)
            guard !changes.isEmpty else { return }
            merge(changes)
            outbox.append(Mutation(origin: context.node, counter: UInt64(outbox.count + 1), user: name, changes: changes))
        }

        mutating func merge(_ changes: [FieldChange]) {
            let current = records
            let merged = MergedRecords.merging(changes[...], into: { current[$0] })
            for (key, state) in merged.records { records[key] = state }
            clock.observe(merged.newest)
        }
    }

    static func run(seed: UInt64, on engine: Engine, clock: Counter) async throws -> Trace {
        var random = SplitMix64(seed: seed)
        var trace = Trace()
        try await engine.addBranch("Hangzhou")
        try await engine.addBranch("Ningbo")
        let people = [UserInfo(name: "Ann", role: .manager, branch: "Hangzhou"), UserInfo(name: "Ben", role: .manager, branch: "Hangzhou"),
                      UserInfo(name: "Cai", role: .manager, branch: "Hangzhou"), UserInfo(name: "Sue", role: .supervisor, branch: "Hangzhou"),
                      UserInfo(name: "Bob", role: .manager, branch: "Ningbo")]
        var devices: [Device] = []
        for (index, person) in people.enumerated() {
            let node = NodeID(rawValue: 0xA000 + UInt64(index))
            devices.append(Device(name: person.name, context: try await engine.enrol(person, node)))
        }
        let managers = ["Ann", "Ben", "Cai"]
        var customers: [(id: String, branch: String)] = []
        for (index, name) in (managers + ["Bob"]).enumerated() {
            let id = RecordID.make(using: &random)
            let branch = name == "Bob" ? "Ningbo" : "Hangzhou"
            let team = name == "Bob" ? FieldValue.null : .text(managers[(index + 1) % 3])
            let position = devices.firstIndex { $0.name == name } ?? 0
            devices[position].write(.customer, id, [("name", .text("\(name)'s customer")), ("level", .text("standard")),
                                                    ("branch", .text(branch)), ("manager", .text(name)), ("team", team)], now: clock.now())
            customers.append((id, branch))
        }
        for index in devices.indices { trace.steps.append(try await sync(&devices[index], engine, clock: clock, maxChanges: nil)) }

        for step in 0..<60 {
            clock.advance(1 + random.next() % 20_000)
            let index = Int(random.next() % UInt64(devices.count))
            let name = devices[index].name
            // Mostly a file of the device's own branch (work that passes and collides), now and then any (refused).
            let branch = devices[index].context.user.branch
            let near = customers.filter { $0.branch == branch }
            let pool = random.next() % 4 == 0 || near.isEmpty ? customers : near
            let customer = pool[Int(random.next() % UInt64(pool.count))]
            let now = clock.now()
            switch random.next() % 8 {
            case 0, 1:
                // A field of a customer (perhaps not theirs: refused then, for scope).
                let field = ["notes", "services", "level"][Int(random.next() % 3)]
                let value: FieldValue = field == "level" ? .text(random.next() % 2 == 0 ? "vip" : "standard") : .text("\(name) step \(step)")
                devices[index].write(.customer, customer.id, [(field, value)], now: now)
            case 2:
                devices[index].write(.visit, RecordID.make(using: &random), [
                    ("customer", .text(customer.id)), ("at", .text("2026-11-2\(step % 9)T09:00:00+08:00")), ("kind", .text("routine")),
                    ("summary", .text("\(name) step \(step)"))], now: now)
            case 3:
                // The manager or team changes: a supervisor's handover, or a manager giving a file away (refused).
                let to = managers[Int(random.next() % 3)]
                let fields: [(String, FieldValue)] = random.next() % 2 == 0 ? [("manager", .text(to))] : [("team", .text(to))]
                devices[index].write(.customer, customer.id, fields, now: now)
            case 4 where customer.branch == "Hangzhou":
                // The server hands a file over (`fieldsync-server assign`).
                let to = managers[Int(random.next() % 3)]
                do {
                    try await engine.assign(customer.id, to)
                    trace.steps.append("assign \(customer.id) to \(to)")
                } catch let error as ServerError {
                    trace.steps.append("assign refused: \(error.message)")
                }
            default:
                trace.steps.append(try await sync(&devices[index], engine, clock: clock,
                                                  maxChanges: random.next() % 3 == 0 ? Int(1 + random.next() % 6) : nil))
            }
        }
        // Everyone syncs until nothing moves.
        for _ in 0..<3 {
            for index in devices.indices { trace.steps.append(try await sync(&devices[index], engine, clock: clock, maxChanges: nil)) }
        }
        for device in devices {
            var records: [String: [FieldValue]] = [:]
            for (key, state) in device.records { records["\(key.table.rawValue)/\(key.record)"] = state.values }
            trace.devices[device.name] = records
        }
        trace.server = try await engine.records()
        return trace
    }

    /// Syncs a device to the head of the log: pushes what it has not sent, pulls page after page.
    /// Returns what the engine answered, in a form the engines must agree on.
    static func sync(_ device: inout Device, _ engine: Engine, clock: Counter, maxChanges: Int?) async throws -> String {
        var accepted: [String] = [], rejected: [String] = [], left: [String] = [], conflicts = 0
        var pulled = 0, pulledChanges: [String] = []
        for _ in 0..<1_000 {
            let decided = device.decided
            let mutations = device.outbox.filter { !decided.contains($0.counter) }
            let request = SyncRequest(cursor: device.cursor, mutations: mutations, clientTime: clock.now(), maxChanges: maxChanges,
                                      pending: mutations.count)
            let outcome = try await engine.sync.sync(request, from: device.context, limits: SyncLimits())
            let response = outcome.response
            for id in response.accepted where id.origin == device.context.node { device.decided.insert(id.counter) }
            for rejection in response.rejected where rejection.origin == device.context.node { device.decided.insert(rejection.counter) }
            accepted += response.accepted.map { "\($0.counter)" }
            rejected += response.rejected.map { "\($0.counter): \($0.reason)" }
            left += response.left
            conflicts += outcome.conflictsCreated
            pulled += response.changes.count
            if Environment.value("FIELDSYNC_TRACE") != nil {
                pulledChanges += response.changes.map { "\($0.table.rawValue)/\($0.record.prefix(8)).\($0.field)=\($0.value)@\($0.hlc.rawValue)/\($0.node)" }
            }
            device.merge(response.changes)
            device.cursor = response.cursor
            if !response.more && mutations.isEmpty { break }
        }
        let detail = pulledChanges.isEmpty ? "" : " pulled \(pulledChanges.sorted())"
        return "\(device.name): accepted \(accepted) refused \(rejected) left \(left.sorted()) conflicts made \(conflicts)\(detail)"
    }
}
