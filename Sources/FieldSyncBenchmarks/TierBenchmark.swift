import FieldSyncClient
import FieldSyncModel
import FieldSyncPostgres
import FieldSyncProtocol
import FieldSyncRelay
import FieldSyncSQLiteServer
import FieldSyncServer
import FieldSyncServerCore
import FieldSyncStore
import Foundation
import Logging

/// `--only tier`: ten branch servers, each holding a tenth of the records its
/// laptops pushed, relay them up to one provincial server process at once
/// (each branch server its own process); then the lag from a laptop's sync to
/// the record being readable at the province, with a 1-second upstream interval.
enum TierBenchmark {
    static let branchCount = 10

    /// `database`: the province on PostgreSQL, as two server instances sharing it (branch servers split between them).
    static func run(records: Int, folder: URL, database: String? = nil) async throws {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        // The reference, in the same run: raw SQLite insert of the same rows.
        let perBranch = max(1, records / branchCount)
        let reference = VisitRows(count: perBranch * branchCount, seed: 99)
        quietDisk()
        let raw = Double(reference.ids.count) / (try measure { try RawSQLite.insert(reference, path: folder.appendingPathComponent("raw.sqlite").path) })

        let provinceData = folder.appendingPathComponent("province").path
        let provinceFolder = ServerFolder(path: provinceData)
        let settings = try provinceFolder.initialize(hosts: [], branch: nil, certificate: nil).settings
        let caPEM = try String(contentsOfFile: settings.caCertificate!, encoding: .utf8)
        var codes: [String] = []
        if let database {
            codes = try await PostgresBench.withStorage(database) { storage in
                var codes: [String] = []
                for index in 0..<branchCount {
                    try await storage.addBranch("B\(index)")
                    codes.append(try await storage.addUser(UserInfo(name: "B\(index) server", role: .branch, branch: "B\(index)"),
                                                           codeLifetime: AccountRules.defaultCodeLifetime).code)
                }
                return codes
            }
        } else {
            let province = try provinceFolder.openStore()
            for index in 0..<branchCount {
                try province.addBranch("B\(index)")
                codes.append(try province.addUser(UserInfo(name: "B\(index) server", role: .branch, branch: "B\(index)")).code)
            }
            try province.close()
        }
        // On PostgreSQL, two instances of the province share the database (and the certificate).
        var servers: [ChildProcess] = []
        var urls: [String] = []
        for instance in 0..<(database == nil ? 1 : 2) {
            let portFile = folder.appendingPathComponent("port-\(instance)").path
            servers.append(try ChildProcess.spawnSelf(["--role", "serve", "--data", provinceData, "--port-file", portFile]
                                                      + (database.map { ["--database", $0] } ?? [])))
            urls.append("https://127.0.0.1:\(try SyncBenchmark.waitForPort(portFile))")
        }
        defer { for server in servers { server.terminate() } }

        // Each branch server: enrolled at the province, its laptop's records pushed into it (not timed).
        var branchFolders: [String] = []
        for index in 0..<branchCount {
            let data = folder.appendingPathComponent("branch-\(index)").path
            let branchFolder = ServerFolder(path: data)
            _ = try branchFolder.initialize(hosts: [], branch: "B\(index)", certificate: nil)
            let store = try branchFolder.openStore()
            let binding = try await UpstreamSync.enrol(store, at: urls[index % urls.count], code: codes[index], caPEM: caPEM, deviceName: "B\(index)")
            try FileManager.default.createDirectory(atPath: branchFolder.upstreamFolder, withIntermediateDirectories: true)
            try binding.save(home: branchFolder.upstreamFolder, caPEM: caPEM)
            try store.addBranch("B\(index)")
            let laptop = try Laptop(at: folder.appendingPathComponent("laptop-\(index).sqlite").path, branch: "B\(index)", store: store)
            try laptop.fill(VisitRows(count: perBranch, seed: UInt64(index)), customer: "c0000000-0000-4000-8000-\(String(repeating: "0", count: 11))\(index)")
            try laptop.push()
            try store.close()
            branchFolders.append(data)
        }

        // All branch servers relay up at once, each in its own process.
        quietDisk()
        let provinceCPU = servers.reduce(0) { $0 + ChildProcess.cpuSeconds(of: $1.pid) }
        let started = DispatchTime.now().uptimeNanoseconds
        let relays = try branchFolders.map { try ChildProcess.spawnSelf(["--role", "upstream", "--data", $0]) }
        let statuses = relays.map { $0.wait() }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
        guard statuses.allSatisfy({ $0 == 0 }) else { throw BenchError("a branch server failed to relay (\(statuses))") }
        let provinceCPUUsed = servers.reduce(0) { $0 + ChildProcess.cpuSeconds(of: $1.pid) } - provinceCPU
        let provincePeak = Double(servers.map { ChildProcess.peakResidentBytes(of: $0.pid) }.max() ?? 0) / 1_048_576
        let total = perBranch * branchCount
        if let database {
            let held = try await PostgresBench.withStorage(database) { try await $0.records(of: .visit).count }
            print(String(format: "tier, the province on PostgreSQL behind 2 instances: %d branch servers relay %d records   %6.0f records/s  (%.1f s, %.0f%% of raw insert %.0f rows/s)",
                         branchCount, total, Double(total) / seconds, seconds, 100 * Double(total) / seconds / raw, raw))
            print(String(format: "    province instances: peak memory %.0f MiB each at most, CPU %.1f s together (PostgreSQL's own not counted); holds %d of %d visits",
                         provincePeak, provinceCPUUsed, held, total))
            return
        }
        let held = try Replica.open(path: (provinceData as NSString).appendingPathComponent(ServerStore.fileName)).records(.visit).count
        print(String(format: "tier: %d branch servers relay %d records to one province at once     %6.0f records/s  (%.1f s, %.0f%% of raw insert %.0f rows/s)",
                     branchCount, total, Double(total) / seconds, seconds, 100 * Double(total) / seconds / raw, raw))
        print(String(format: "    province: peak memory %.0f MiB, CPU %.1f s; holds %d of %d visits", provincePeak, provinceCPUUsed, held, total))

        // Lag: a laptop's sync to its branch server, until the record is readable at the province.
        let lagBranch = try ServerFolder(path: branchFolders[0]).openStore()
        guard let (binding, branchCA) = try ServerBinding.load(home: ServerFolder(path: branchFolders[0]).upstreamFolder) else { throw BenchError("no upstream") }
        var logger = Logger(label: "bench-upstream")
        logger.logLevel = .critical
        let upstream = try UpstreamSync(store: lagBranch, binding: binding, caPEM: branchCA, interval: .seconds(1), logger: logger)
        let link = Task { try await upstream.run() }
        let laptop = try Laptop(at: folder.appendingPathComponent("lag-laptop.sqlite").path, branch: "B0", store: lagBranch)
        try laptop.pull()
        let provinceReader = try Replica.open(path: (provinceData as NSString).appendingPathComponent(ServerStore.fileName))
        var lags: [Double] = []
        var generator = SplitMix64(seed: 7)
        for _ in 0..<30 {
            let visit = RecordID.make(using: &generator)
            try laptop.replica.write([RecordEdit(.visit, visit, [("customer", .text("c0000000-0000-4000-8000-000000000000")), ("at", .text("2026-11-23T09:00:00+08:00")),
                                                                 ("kind", .text("routine")), ("summary", .text("lag probe"))])])
            try laptop.push()
            upstream.poke()  // as the HTTPS service does after a push
            let pushed = DispatchTime.now().uptimeNanoseconds
            while try provinceReader.record(.visit, visit) == nil {
                try await Task.sleep(for: .milliseconds(10))
                if DispatchTime.now().uptimeNanoseconds - pushed > 30_000_000_000 { throw BenchError("a record did not reach the province in 30 s") }
            }
            lags.append(Double(DispatchTime.now().uptimeNanoseconds - pushed) / 1e9)
        }
        link.cancel()
        _ = await link.result
        await upstream.shutdown()
        lags.sort()
        print(String(format: "    lag from a laptop's sync to the record readable at the province (1 s interval, 30 runs): p50 %.2f s, p99 %.2f s",
                     lags[lags.count / 2], lags[min(lags.count - 1, lags.count * 99 / 100)]))
    }

    /// `--role upstream`: one branch server's relay to its provincial server until nothing is left.
    static func relay(data: String) async throws {
        let folder = ServerFolder(path: data)
        let store = try folder.openStore()
        guard let (binding, caPEM) = try ServerBinding.load(home: folder.upstreamFolder) else { throw BenchError("no upstream in \(data)") }
        var logger = Logger(label: "bench-upstream")
        logger.logLevel = .critical
        let upstream = try UpstreamSync(store: store, binding: binding, caPEM: caPEM, logger: logger)
        try await upstream.syncOnce()
        await upstream.shutdown()
        try store.close()
    }

    /// A laptop of a branch server, syncing through the server's own entry point (no HTTPS: not what is measured).
    struct Laptop {
        let replica: Replica
        let store: ServerStore
        let device: DeviceContext

        init(at path: String, branch: String, store: ServerStore) throws {
            replica = try Replica.open(path: path)
            var generator = SystemRandomNumberGenerator()
            let node = NodeID.random(using: &generator)
            let name = "M-\(node)"
            try replica.initialize(ReplicaIdentity(node: node, branch: branch, user: name, createdAt: ""))
            let code = try store.addUser(UserInfo(name: name, role: .supervisor, branch: branch)).code
            let token = try store.enroll(EnrollRequest(code: code, node: node, deviceName: name)).token
            self.store = store
            device = try store.authenticate(token: token)
        }

        func fill(_ rows: VisitRows, customer: String) throws {
            try replica.write([RecordEdit(.customer, customer, [("name", .text("Bench")), ("level", .text("vip")),
                                                                ("branch", .text(device.user.branch ?? "")), ("manager", .text(device.user.name))])])
            let actions = rows.edits(customer: customer, manager: device.user.name)
            var start = 0
            while start < actions.count {
                _ = try replica.write(actions: Array(actions[start..<min(start + 10_000, actions.count)]))
                start += 10_000
            }
        }

        /// Receives the branch's records (the lag probes need the customer).
        func pull() throws {
            var more = true
            while more {
                let response = try store.sync(SyncRequest(cursor: replica.syncCursor(), mutations: [], clientTime: store.now), from: device).response
                try replica.finishExchange(pulled: response.changes, cursor: response.cursor, acknowledged: [], rejected: [], syncedAt: "")
                more = response.more
            }
        }

        func push() throws {
            while true {
                let bodies = try replica.outboxBodies(after: 0, maxMutations: 1_000, maxBytes: 4 << 20)
                if bodies.isEmpty { return }
                let mutations = try bodies.map { try JSONDecoder().decode(Mutation.self, from: Data($0.body)) }
                let response = try store.sync(SyncRequest(cursor: replica.syncCursor(), mutations: mutations, clientTime: store.now), from: device).response
                try replica.finishExchange(pulled: response.changes, cursor: response.cursor, acknowledged: response.accepted.map(\.counter),
                                           rejected: [], syncedAt: "")
                guard !response.accepted.isEmpty else { throw BenchError("the branch server refused the laptop's records") }
            }
        }
    }
}
