import AsyncHTTPClient
import FieldSyncClient
import FieldSyncKPI
import FieldSyncModel
import FieldSyncPostgres
import FieldSyncProtocol
import FieldSyncSQLiteServer
import FieldSyncServer
import FieldSyncServerCore
import FieldSyncStore
import Foundation
import Logging
import NIOCore
import NIOSSL
import ServiceLifecycle
import UnixSignals

/// End-to-end sync over TLS on loopback: laptop A pushes the rows through a
/// server process, laptop B pulls them. Server and laptops run as separate
/// processes (this executable re-run with `--role`), so each one's peak memory
/// is measured on its own.
enum SyncBenchmark {
    struct Result {
        var pushSeconds: Double
        var pullSeconds: Double
        var serverPeak: Int
        var pushPeak: Int
        var pullPeak: Int
        /// CPU seconds (user + system) of the server during the push and the pull, and of each laptop's sync.
        var serverPushCPU: Double
        var serverPullCPU: Double
        /// Seconds the SQLite server's one writer spent in transactions during the push (`fieldsync_writer_busy_seconds_total`).
        var serverPushWriter: Double
        var pushCPU: Double
        var pullCPU: Double
        var noOpLatencies: [Double]
        var identical: Bool
        /// A third, new laptop's first sync from a snapshot (download, check, install, catch up).
        var snapshotSeconds: Double
        var snapshotCPU: Double
        var snapshotPeak: Int
        var snapshotIdentical: Bool
        /// On PostgreSQL: seconds to read the KPI facts of every record back from the database.
        var kpiLoadSeconds: Double?
    }

    /// `database`: a PostgreSQL database (empty) for the server instead of its folder's SQLite file.
    static func run(rows: VisitRows, folder: URL, database: String? = nil) async throws -> Result {
        let data = folder.appendingPathComponent("server").path
        let serverFolder = ServerFolder(path: data)
        let settings = try serverFolder.initialize(hosts: [], branch: nil, certificate: nil).settings
        let people = ["A", "B", "C"].map { UserInfo(name: $0, role: .manager, branch: "Bench") }
        var codes: [String] = []
        if let database {
            codes = try await PostgresBench.withStorage(database) { storage in
                try await storage.addBranch("Bench")
                var codes: [String] = []
                for person in people { codes.append(try await storage.addUser(person, codeLifetime: AccountRules.defaultCodeLifetime).code) }
                return codes
            }
        } else {
            let store = try serverFolder.openStore()
            try store.addBranch("Bench")
            codes = try people.map { try store.addUser($0).code }
            try store.close()
        }
        let (codeA, codeB, codeC) = (codes[0], codes[1], codes[2])

        let portFile = folder.appendingPathComponent("port").path
        let server = try ChildProcess.spawnSelf(["--role", "serve", "--data", data, "--port-file", portFile] + (database.map { ["--database", $0] } ?? []))
        defer { server.terminate() }
        let port = try waitForPort(portFile)
        let metricsPort = try waitForPort(portFile + ".metrics")
        let url = "https://127.0.0.1:\(port)"
        let caPEM = try String(contentsOfFile: settings.caCertificate!, encoding: .utf8)

        // Laptop A holds the rows (written locally, not timed); B starts empty.
        let customer = "c0000000-0000-4000-8000-000000000001"
        var laptops: [String] = []
        for (name, code) in [("A", codeA), ("B", codeB), ("C", codeC)] {
            let home = folder.appendingPathComponent("laptop-\(name)").path
            try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
            let replica = try Replica.open(path: (home as NSString).appendingPathComponent(Replica.fileName))
            var generator = SystemRandomNumberGenerator()
            try replica.initialize(ReplicaIdentity(node: NodeID.random(using: &generator), branch: "Bench", user: name, createdAt: ""))
            if name == "A" {
                try replica.write([RecordEdit(.customer, customer, [("name", .text("Bench")), ("level", .text("vip")), ("branch", .text("Bench")),
                                                                    ("manager", .text("A")), ("team", .text("B, C"))])])
                let actions = rows.edits(customer: customer, manager: "A")
                var start = 0
                while start < actions.count {
                    _ = try replica.write(actions: Array(actions[start..<min(start + 10_000, actions.count)]))
                    start += 10_000
                }
            }
            let client = try SyncClient(url: url, caPEM: caPEM)
            let response = try await client.enroll(code: code, node: try replica.identity()!.node, deviceName: name)
            try await client.shutdown()
            try ServerBinding(url: url, token: response.token, device: response.device, user: response.user, serverNode: response.serverNode)
                .save(home: home, caPEM: caPEM)
            laptops.append(home)
        }

        quietDisk()
        let serverStart = ChildProcess.cpuSeconds(of: server.pid)
        let writerStart = try await writerBusy(metricsPort: metricsPort)
        let pushStart = DispatchTime.now().uptimeNanoseconds
        let push = try ChildProcess.spawnSelf(["--role", "sync", "--home", laptops[0]]).wait()
        let pushSeconds = Double(DispatchTime.now().uptimeNanoseconds - pushStart) / 1e9
        let serverPushed = ChildProcess.cpuSeconds(of: server.pid)
        let serverPushWriter = try await writerBusy(metricsPort: metricsPort) - writerStart
        quietDisk()
        let pullStart = DispatchTime.now().uptimeNanoseconds
        // A push that failed leaves nothing worth pulling: its reason is already on stderr.
        guard push == 0 else { throw BenchError("laptop A's push failed (exit status \(push))") }
        let pull = try ChildProcess.spawnSelf(["--role", "sync", "--home", laptops[1]]).wait()
        let pullSeconds = Double(DispatchTime.now().uptimeNanoseconds - pullStart) / 1e9
        let serverPulled = ChildProcess.cpuSeconds(of: server.pid)
        // Each sync child reports its own VmHWM and CPU time: a spawned child's ru_maxrss carries the parent's across exec.
        func childFigures(_ home: String) -> (peak: Int, cpu: Double) {
            let words = ((try? String(contentsOfFile: home + "/peak", encoding: .utf8)) ?? "").split(separator: " ")
            return (words.first.flatMap { Int($0) } ?? 0, words.dropFirst().first.flatMap { Double($0) } ?? 0)
        }
        let (pushPeak, pushCPU) = childFigures(laptops[0])
        let (pullPeak, pullCPU) = childFigures(laptops[1])
        guard pull == 0 else { throw BenchError("laptop B's pull failed (exit status \(pull))") }

        // Laptop C is new: its first sync starts from a snapshot (not served on PostgreSQL yet).
        var (snapshotSeconds, snapshotPeak, snapshotCPU) = (Double.nan, 0, Double.nan)
        var kpiLoadSeconds: Double?
        if let database {
            kpiLoadSeconds = try await PostgresBench.withStorage(database) { storage in
                let started = DispatchTime.now().uptimeNanoseconds
                let facts = try await storage.loadKPIFacts()
                guard facts.visits.count == rows.ids.count else { throw BenchError("the KPI facts hold \(facts.visits.count) visits") }
                return Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
            }
        } else {
            quietDisk()
            let snapshotStart = DispatchTime.now().uptimeNanoseconds
            let snapshot = try ChildProcess.spawnSelf(["--role", "snapshot", "--home", laptops[2]]).wait()
            snapshotSeconds = Double(DispatchTime.now().uptimeNanoseconds - snapshotStart) / 1e9
            (snapshotPeak, snapshotCPU) = childFigures(laptops[2])
            guard snapshot == 0 else { throw BenchError("the snapshot process failed") }
        }

        // Latency of a sync with nothing to do, seen by laptop B (round trip + its transaction).
        let replicaB = try Replica.open(path: (laptops[1] as NSString).appendingPathComponent(Replica.fileName))
        let (binding, _) = try ServerBinding.load(home: laptops[1])!
        let client = try SyncClient(url: url, caPEM: caPEM)
        var latencies: [Double] = []
        for _ in 0..<300 {
            let started = DispatchTime.now().uptimeNanoseconds
            _ = try await Synchronizer().sync(replicaB, binding: binding, client: client)
            latencies.append(Double(DispatchTime.now().uptimeNanoseconds - started) / 1e6)
        }
        try await client.shutdown()
        let replicaA = try Replica.open(path: (laptops[0] as NSString).appendingPathComponent(Replica.fileName))
        let identical = try replicaA.records(.visit).count == rows.ids.count
            && replicaB.records(.visit).map(\.state) == replicaA.records(.visit).map(\.state)
        let replicaC = try Replica.open(path: (laptops[2] as NSString).appendingPathComponent(Replica.fileName))
        let snapshotIdentical = try database != nil
            || replicaC.records(.visit).map(\.state) == replicaA.records(.visit).map(\.state) && replicaC.verify().isEmpty

        let serverPeak = ChildProcess.peakResidentBytes(of: server.pid)
        return Result(pushSeconds: pushSeconds, pullSeconds: pullSeconds, serverPeak: serverPeak,
                      pushPeak: pushPeak, pullPeak: pullPeak,
                      serverPushCPU: serverPushed - serverStart, serverPullCPU: serverPulled - serverPushed, serverPushWriter: serverPushWriter, pushCPU: pushCPU, pullCPU: pullCPU,
                      noOpLatencies: latencies.sorted(), identical: identical, snapshotSeconds: snapshotSeconds, snapshotCPU: snapshotCPU,
                      snapshotPeak: snapshotPeak, snapshotIdentical: snapshotIdentical, kpiLoadSeconds: kpiLoadSeconds)
    }

    /// The server's `fieldsync_writer_busy_seconds_total`, read from its metrics listener.
    static func writerBusy(metricsPort: Int) async throws -> Double {
        let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: "http://127.0.0.1:\(metricsPort)/metrics"), timeout: .seconds(10))
        let text = String(buffer: try await response.body.collect(upTo: 1 << 20))
        let line = text.split(separator: "\n").first { $0.hasPrefix("fieldsync_writer_busy_seconds_total ") }
        guard let value = line.flatMap({ Double($0.split(separator: " ").last ?? "") }) else {
            throw BenchError("the server's metrics have no fieldsync_writer_busy_seconds_total")
        }
        return value
    }

    static func waitForPort(_ file: String) throws -> Int {
        for _ in 0..<300 {
            if let text = try? String(contentsOfFile: file, encoding: .utf8), let port = Int(text.trimmingCharacters(in: .whitespacesAndNewlines)) {
                return port
            }
            usleep(100_000)
        }
        throw BenchError("the server process did not start")
    }

    /// `--role serve`: a fieldsync server on 127.0.0.1, port written to a file.
    static func serve(data: String, portFile: String, database: String? = nil) async throws {
        AllocatorTuning.forServing()
        let folder = ServerFolder(path: data)
        let settings = try folder.settings()
        let tls = try TLSConfiguration.fieldSyncServer(
            certificatePEM: String(contentsOfFile: settings.tlsCertificate, encoding: .utf8),
            privateKeyPEM: String(contentsOfFile: settings.tlsKey, encoding: .utf8))
        var logger = Logger(label: "bench-server")
        logger.logLevel = .warning
        var configuration = ServerConfiguration(host: "127.0.0.1", port: 0)
        // The load benchmark holds up to several thousand laptops' connections open at once
        // (`--clients`), every one from the same address (127.0.0.1), all enrolling in the same minute.
        configuration.maxConnections = 10_000
        configuration.maxConnectionsPerAddress = 10_000
        configuration.enrolmentsPerAddressPerMinute = 100_000
        func run(_ server: SyncHTTPServer) async throws {
            let app = try server.makeApplication(tls: tls) { port in
                try? String(port).write(toFile: portFile, atomically: true, encoding: .utf8)
            }
            let metrics = server.makeMetricsApplication(host: "127.0.0.1", port: 0) { port in
                try? String(port).write(toFile: portFile + ".metrics", atomically: true, encoding: .utf8)
            }
            try await ServiceGroup(configuration: .init(services: [app, metrics], gracefulShutdownSignals: [.sigterm], logger: logger)).run()
        }
        if let database {
            try await PostgresBench.withStorage(database) { storage in
                try await run(SyncHTTPServer(accounts: storage, sync: storage, kpi: storage, snapshots: PostgresSnapshots(storage: storage, dataFolder: data),
                                             clock: { storage.now }, configuration: configuration, logger: logger))
            }
            return
        }
        let store = try folder.openStore()
        try await run(SyncHTTPServer(store: store, configuration: configuration, logger: logger))
        try store.close()
    }

    /// `--role snapshot`: a new laptop's first sync, as `fieldsync sync` does it: the snapshot, then what changed since.
    static func snapshot(home: String) async throws {
        let path = (home as NSString).appendingPathComponent(Replica.fileName)
        guard let (binding, caPEM) = try ServerBinding.load(home: home) else { throw BenchError("not enrolled: \(home)") }
        let fresh = try Replica.open(path: path)
        guard try fresh.isEmptyForSnapshot(), let identity = try fresh.identity() else { throw BenchError("laptop C is not new") }
        try fresh.close()
        let client = try SyncClient(url: binding.url, caPEM: caPEM)
        _ = try await SnapshotBootstrap.run(replicaPath: path, identity: identity, token: binding.token, client: client)
        let replica = try Replica.open(path: path, checkpointInBackground: true)
        let synchronizer = abSynchronizer()
        _ = try await synchronizer.sync(replica, binding: binding, client: client)
        try await client.shutdown()
        try replica.close()
        try "\(ChildProcess.peakResidentBytes(of: getpid())) \(ChildProcess.cpuSeconds(of: getpid()))".write(toFile: home + "/peak", atomically: true, encoding: .utf8)
    }

    /// For A/B runs in one session: `FIELDSYNC_BENCH_ONE_DEEP` pushes one request deep (as
    /// before pushes went two deep), `FIELDSYNC_BENCH_PAGE_COMMITS` stores each pulled page on its own,
    /// `FIELDSYNC_BENCH_PUSH_PAGE=N` pushes pages of N mutations instead of 1,000.
    static func abSynchronizer() -> Synchronizer {
        var synchronizer = Synchronizer()
        let environment = ProcessInfo.processInfo.environment
        synchronizer.pushesAhead = environment["FIELDSYNC_BENCH_ONE_DEEP"] == nil
        if environment["FIELDSYNC_BENCH_PAGE_COMMITS"] != nil { synchronizer.changesPerCommit = 0 }
        if let page = environment["FIELDSYNC_BENCH_PUSH_PAGE"].flatMap(Int.init), page > 0 { synchronizer.maxMutationsPerPage = page }
        return synchronizer
    }

    /// `--role sync`: one `fieldsync sync` of the replica in `home`.
    static func sync(home: String) async throws {
        let replica = try Replica.open(path: (home as NSString).appendingPathComponent(Replica.fileName), checkpointInBackground: true)
        guard let (binding, caPEM) = try ServerBinding.load(home: home) else { throw BenchError("not enrolled: \(home)") }
        let client = try SyncClient(url: binding.url, caPEM: caPEM)
        let synchronizer = abSynchronizer()
        _ = try await synchronizer.sync(replica, binding: binding, client: client)
        try await client.shutdown()
        try replica.close()
        let cpu = ChildProcess.cpuSeconds(of: getpid())
        try "\(ChildProcess.peakResidentBytes(of: getpid())) \(cpu)".write(toFile: home + "/peak", atomically: true, encoding: .utf8)
    }
}

/// This executable re-run as a child (server or sync client), so each one's memory is its own.
struct ChildProcess {
    let pid: pid_t

    static func spawnSelf(_ arguments: [String]) throws -> ChildProcess {
        let executable = URL(fileURLWithPath: CommandLine.arguments[0]).path
        var pid: pid_t = 0
        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        let code = posix_spawn(&pid, executable, nil, nil, argv, environ)
        guard code == 0 else { throw BenchError("cannot start \(executable): error \(code)") }
        return ChildProcess(pid: pid)
    }

    /// Waits for the child and returns its exit status; 128 + the signal's number if a signal
    /// ended it (a crash, or an error thrown out of the child's top level, must not read as 0).
    func wait() -> Int32 {
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        let signal = status & 0x7F
        return signal != 0 ? 128 + signal : (status >> 8) & 0xFF
    }

    func terminate() {
        kill(pid, SIGTERM)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
    }

    /// User + system CPU seconds of a running process (Linux, /proc/PID/stat).
    static func cpuSeconds(of pid: pid_t) -> Double {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return 0 }
        // After "pid (comm)": state is field 3, utime and stime are fields 14 and 15.
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// VmHWM of a running process (Linux).
    /// VmRSS: resident now.
    static func residentBytes(of pid: pid_t) -> Int { statusKilobytes("VmRSS:", of: pid) * 1024 }

    static func statusKilobytes(_ key: String, of pid: pid_t) -> Int {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix(key) }),
              let kilobytes = Int(line.split(separator: " ").dropFirst().first ?? "") else { return 0 }
        return kilobytes
    }

    static func peakResidentBytes(of pid: pid_t) -> Int {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
              let kilobytes = Int(line.split(separator: " ").dropFirst().first ?? "") else { return 0 }
        return kilobytes * 1024
    }
}
