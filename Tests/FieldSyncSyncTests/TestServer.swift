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
import GRDB
import Hummingbird
import Logging
import NIOSSL
import PostgresNIO
import Synchronization

/// A clock tests move by hand.
final class TestClock: Sendable {
    private let milliseconds: Mutex<UInt64>

    init(_ start: UInt64 = 1_795_000_000_000) { milliseconds = Mutex(start) }

    func now() -> UInt64 { milliseconds.withLock { $0 } }
    func advance(_ delta: UInt64) { milliseconds.withLock { $0 += delta } }
}

/// The storage engines a server test runs on: SQLite always, PostgreSQL when a
/// database is at hand (`FIELDSYNC_TEST_DATABASE_URL`; always in CI).
enum EngineKind: String, CaseIterable, Sendable, CustomStringConvertible {
    case sqlite, postgres

    static var available: [EngineKind] { PostgresTestDatabase.enabled ? allCases : [.sqlite] }
    var description: String { rawValue }
}

/// A real fieldsync server on 127.0.0.1 (free port) with its own CA and real TLS,
/// on the embedded SQLite store or (`start(postgres:)`) on PostgreSQL.
final class TestServer: Sendable {
    let folder: TemporaryFolder
    /// The SQLite engine's store; nil on PostgreSQL.
    let embedded: ServerStore?
    let postgres: PostgresServerStorage?
    let caPEM: String
    let port: Int
    let http: SyncHTTPServer
    private let task: Task<Void, any Error>

    var url: String { "https://127.0.0.1:\(port)" }

    static func start(clock: @escaping @Sendable () -> UInt64 = Replica.systemMilliseconds, limits: SyncLimits = SyncLimits(),
                      configure: (inout ServerConfiguration) -> Void = { _ in }) async throws -> TestServer {
        try await start(in: nil, clock: clock, limits: limits, configure: configure)
    }

    /// The server of `stopped` started again on its folder, address and certificate (after its database was replaced).
    static func restart(_ stopped: TestServer, clock: @escaping @Sendable () -> UInt64 = Replica.systemMilliseconds) async throws -> TestServer {
        try await start(in: stopped.folder, clock: clock) { $0.port = stopped.port }
    }

    private static func start(in existing: TemporaryFolder?, clock: @escaping @Sendable () -> UInt64, limits: SyncLimits = SyncLimits(),
                              configure: (inout ServerConfiguration) -> Void) async throws -> TestServer {
        let folder = try existing ?? TemporaryFolder()
        let data = ServerFolder(path: folder.path("server"))
        let settings = try existing == nil ? data.initialize(hosts: [], branch: nil, certificate: nil).settings : data.settings()
        let store = try ServerStore.open(folder: data.path, wallClock: clock)
        let tls = try TLSConfiguration.fieldSyncServer(
            certificatePEM: String(contentsOfFile: settings.tlsCertificate, encoding: .utf8),
            privateKeyPEM: String(contentsOfFile: settings.tlsKey, encoding: .utf8))
        var configuration = ServerConfiguration(host: "127.0.0.1", port: 0)
        configuration.limits = limits
        configure(&configuration)
        var logger = Logger(label: "test-server")
        logger.logLevel = .warning
        let server = SyncHTTPServer(store: store, configuration: configuration, logger: logger)
        return try await run(server, folder: folder, caPath: settings.caCertificate!, tls: tls, embedded: store, postgres: nil)
    }

    /// The same server on PostgreSQL (`client` running): what it does not serve yet answers 501.
    /// `sharing`: another instance whose certificate this one serves (two instances of one server).
    static func start(postgres client: PostgresClient, clock: @escaping @Sendable () -> UInt64 = Replica.systemMilliseconds,
                      sharing other: TestServer? = nil, configure: (inout ServerConfiguration) -> Void = { _ in }) async throws -> TestServer {
        let folder = try other?.folder ?? TemporaryFolder()
        let data = ServerFolder(path: folder.path("server"))
        let settings = try other == nil ? data.initialize(hosts: [], branch: nil, certificate: nil).settings : data.settings()
        let storage = try await PostgresServerStorage.open(client: client, logger: PostgresTestDatabase.logger, wallClock: clock)
        let tls = try TLSConfiguration.fieldSyncServer(
            certificatePEM: String(contentsOfFile: settings.tlsCertificate, encoding: .utf8),
            privateKeyPEM: String(contentsOfFile: settings.tlsKey, encoding: .utf8))
        var configuration = ServerConfiguration(host: "127.0.0.1", port: 0)
        configure(&configuration)
        var logger = Logger(label: "test-server")
        logger.logLevel = .warning
        let server = SyncHTTPServer(accounts: storage, sync: storage, kpi: storage, snapshots: PostgresSnapshots(storage: storage, dataFolder: data.path),
                                    clock: clock, configuration: configuration, logger: logger)
        return try await run(server, folder: folder, caPath: settings.caCertificate!, tls: tls, embedded: nil, postgres: storage)
    }

    private static func run(_ server: SyncHTTPServer, folder: TemporaryFolder, caPath: String, tls: TLSConfiguration,
                            embedded: ServerStore?, postgres: PostgresServerStorage?) async throws -> TestServer {
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let app = try server.makeApplication(tls: tls) { port in continuation.yield(port) }
        let task = Task { try await app.runService() }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else { throw SyncError("server did not start") }
        return TestServer(folder: folder, embedded: embedded, postgres: postgres, caPEM: try String(contentsOfFile: caPath, encoding: .utf8),
                          port: port, http: server, task: task)
    }

    private init(folder: TemporaryFolder, embedded: ServerStore?, postgres: PostgresServerStorage?, caPEM: String, port: Int,
                 http: SyncHTTPServer, task: Task<Void, any Error>) {
        self.folder = folder
        self.embedded = embedded
        self.postgres = postgres
        self.caPEM = caPEM
        self.port = port
        self.http = http
        self.task = task
    }

    /// The SQLite engine's store, for tests that look inside it.
    var store: ServerStore { embedded! }

    /// Runs `body` with a server on `engine` (on PostgreSQL, in a new database dropped afterwards), and stops it.
    static func run(on engine: EngineKind, clock: @escaping @Sendable () -> UInt64 = Replica.systemMilliseconds, limits: SyncLimits = SyncLimits(),
                    _ body: (TestServer) async throws -> Void) async throws {
        switch engine {
        case .sqlite:
            let server = try await start(clock: clock, limits: limits)
            do { try await body(server) } catch {
                await server.stop()
                throw error
            }
            await server.stop()
        case .postgres:
            try await PostgresTestDatabase.with { client, _ in
                let server = try await start(postgres: client, clock: clock) { $0.limits = limits }
                do { try await body(server) } catch {
                    await server.stop()
                    throw error
                }
                await server.stop()
            }
        }
    }

    /// People, devices and sessions, on either engine.
    var accounts: any AccountStorage { postgres.map { $0 as any AccountStorage } ?? SQLiteAccountStorage(store) }

    /// KPI inputs, on either engine.
    var kpi: any KPIStorage { postgres.map { $0 as any KPIStorage } ?? SQLiteKPIStorage(store) }

    /// A record as the server stores it, on either engine.
    func record(_ kind: RecordKind, _ id: String) async throws -> RecordState? {
        if let postgres { return try await postgres.records(of: kind).first { $0.id == id }?.state }
        return try store.replica.record(kind, id)?.state
    }

    /// The server's clock as stored.
    func clock() async throws -> HLC {
        if let postgres {
            var raw: Int64 = 0
            for try await value in try await postgres.client.query("SELECT hlc FROM server_state", logger: PostgresTestDatabase.logger)
                .decode(Int64.self) { raw = value }
            return HLC(rawValue: UInt64(bitPattern: raw))
        }
        return try store.replica.status().clock
    }

    /// Rows in the change log, the branch list's aside.
    func loggedRows() async throws -> Int {
        if let postgres {
            var count: Int64 = 0
            for try await value in try await postgres.client.query("SELECT count(*) FROM change_log WHERE tbl <> 'branches'", logger: PostgresTestDatabase.logger)
                .decode(Int64.self) { count = value }
            return Int(count)
        }
        return try await store.writer.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM change_log WHERE tbl != 'branches'") ?? -1 }
    }

    /// An enrolment code for a new user; their branch is registered first if it is not yet.
    func code(for name: String, role: Role = .manager, branch: String? = "Hangzhou") throws -> String {
        if let branch, try !store.branches().contains(branch) { try store.addBranch(branch) }
        return try store.addUser(UserInfo(name: name, role: role, branch: branch)).code
    }

    /// The same on either engine.
    func enrolmentCode(for name: String, role: Role = .manager, branch: String? = "Hangzhou") async throws -> String {
        guard let postgres else { return try code(for: name, role: role, branch: branch) }
        if let branch, try await !postgres.branches().contains(branch) { try await postgres.addBranch(branch) }
        return try await postgres.addUser(UserInfo(name: name, role: role, branch: branch), codeLifetime: AccountRules.defaultCodeLifetime).code
    }

    func stop() async {
        task.cancel()
        _ = await task.result
    }

    /// Every record table of the server replica, for comparison with laptops (SQLite).
    func dump() throws -> String { try dumpRecords(store.writer) }

    /// A change the server makes itself (the calendar), on either engine.
    func writeLocal(_ edits: [RecordEdit]) async throws {
        if let postgres { try await postgres.writeLocal(edits) } else { try store.writeLocal(edits) }
    }

    /// Hands a customer over, as `fieldsync-server assign` does, on either engine.
    func assign(_ customer: String, to manager: String, team: [String]? = nil) async throws {
        if let postgres { _ = try await postgres.assign(customer, manager: manager, team: team) } else { _ = try store.assign(customer, manager: manager, team: team) }
    }

    /// Renames a branch, as `fieldsync-server branch rename` does, on either engine.
    func renameBranch(_ old: String, to new: String) async throws {
        if let postgres { _ = try await postgres.renameBranch(old, to: new) } else { _ = try store.renameBranch(old, to: new) }
    }

    /// Registers a branch, on either engine.
    func addBranch(_ name: String) async throws {
        if let postgres { try await postgres.addBranch(name) } else { try store.addBranch(name) }
    }

    /// Every stored record, on either engine: equal before and after, nothing changed.
    func records() async throws -> String {
        guard let postgres else { return try dump() }
        var text = ""
        for try await (kind, id, state) in try await postgres.client.query(
            "SELECT kind, id, encode(state, 'hex') FROM records ORDER BY kind COLLATE \"C\", id COLLATE \"C\"", logger: PostgresTestDatabase.logger)
            .decode((String, String, String).self) {
            text += "\(kind): \(id) \(state)\n"
        }
        return text
    }
}

/// A laptop: a replica in its own folder, enrolled with the test server.
/// Every laptop's client, held for the test process's life: a test that fails between enrolling a
/// laptop and closing it would otherwise drop the client unclosed, and AsyncHTTPClient's debug check
/// in its deinit kills the whole test process before the failure is reported.
enum OpenClients {
    private static let clients = Mutex<[SyncClient]>([])
    static func keep(_ client: SyncClient) { clients.withLock { $0.append(client) } }
}

struct Laptop {
    let name: String
    let replica: Replica
    var binding: ServerBinding
    let client: SyncClient

    static func enrol(_ name: String, server: TestServer, folder: TemporaryFolder, role: Role = .manager, branch: String? = "Hangzhou",
                      clock: @escaping @Sendable () -> UInt64 = Replica.systemMilliseconds,
                      before: (Replica) throws -> Void = { _ in }) async throws -> Laptop {
        let replica = try Replica.open(path: folder.path("\(name).sqlite"), wallClock: clock)
        var generator = SystemRandomNumberGenerator()
        try replica.initialize(ReplicaIdentity(node: NodeID.random(using: &generator), branch: branch, user: name, createdAt: ""))
        try before(replica)
        let client = try SyncClient(url: server.url, caPEM: server.caPEM)
        OpenClients.keep(client)
        let response = try await client.enroll(code: try await server.enrolmentCode(for: name, role: role, branch: branch),
                                               node: try replica.identity()!.node, deviceName: name)
        let binding = ServerBinding(url: server.url, token: response.token, device: response.device, user: response.user, serverNode: response.serverNode)
        return Laptop(name: name, replica: replica, binding: binding, client: client)
    }

    @discardableResult
    func sync() async throws -> SyncSummary {
        try await Synchronizer().sync(replica, binding: binding, client: client)
    }

    func close() async { try? await client.shutdown() }

    func dump() throws -> String { try dumpRecords(replica.writer) }
}

/// The record tables as text, ordered, for byte-for-byte comparison between replicas.
func dumpRecords(_ writer: any DatabaseWriter) throws -> String {
    try writer.read { db in
        var text = ""
        for kind in RecordKind.allCases {
            let columns = (["id"] + kind.schema.fields.map { "\"\($0.name)\"" } + ["_stamps"])
                .map { "quote(\($0))" }.joined(separator: " || ',' || ")
            for line in try String.fetchAll(db, sql: "SELECT \(columns) FROM \(kind.rawValue) ORDER BY id") {
                text += "\(kind.rawValue): \(line)\n"
            }
        }
        return text
    }
}
