import FieldSyncClient
import FieldSyncModel
import FieldSyncProtocol
import FieldSyncSQLiteServer
import FieldSyncServer
import FieldSyncStore
import Foundation

/// Many laptops at once: `clients` devices, each with its own replica and
/// connection, write a few dozen field changes and sync, again and again
/// (a pause of up to twice `interval` between a laptop's syncs) for `seconds`,
/// against a server in its own process. Prints throughput, p50/p99 latency of
/// a whole sync (push and pull), errors, and the server's CPU time and peak memory.
enum LoadBenchmark {
    static func run(folder: URL, clients: Int, seconds: Double, interval: Double) async throws {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let data = folder.appendingPathComponent("server").path
        let serverFolder = ServerFolder(path: data)
        let settings = try serverFolder.initialize(hosts: [], branch: nil, certificate: nil).settings
        let store = try serverFolder.openStore()
        try store.addBranch("Load")
        let codes = try (0..<clients).map { try store.addUser(UserInfo(name: "Manager \($0)", role: .manager, branch: "Load")).code }
        try store.close()
        let codesFile = folder.appendingPathComponent("codes").path
        try codes.joined(separator: "\n").write(toFile: codesFile, atomically: true, encoding: .utf8)

        let portFile = folder.appendingPathComponent("port").path
        let server = try ChildProcess.spawnSelf(["--role", "serve", "--data", data, "--port-file", portFile])
        defer { server.terminate() }
        let url = "https://127.0.0.1:\(try SyncBenchmark.waitForPort(portFile))"
        print("Load: \(clients) laptops, each writing 3 visits (24 field changes) and syncing, a pause of 0–\(Int(interval * 2)) s between syncs, for \(Int(seconds)) s")
        fflush(nil)
        let cpuBefore = ChildProcess.cpuSeconds(of: server.pid)
        let results = folder.appendingPathComponent("results").path
        let laptops = try ChildProcess.spawnSelf(["--role", "load-clients", "--url", url, "--ca", settings.caCertificate!, "--codes", codesFile,
                                                  "--seconds", String(seconds), "--interval", String(interval), "--results", results,
                                                  "--server-pid", String(server.pid)])
        guard laptops.wait() == 0 else { throw BenchError("the laptops' process failed") }
        let serverCPU = ChildProcess.cpuSeconds(of: server.pid) - cpuBefore
        let peak = ChildProcess.peakResidentBytes(of: server.pid)
        print(try String(contentsOfFile: results, encoding: .utf8), terminator: "")
        print(String(format: "    server: %.1f s of CPU over the run (%.0f%% of one core), peak memory %.0f MiB", serverCPU,
                     serverCPU / seconds * 100, Double(peak) / 1_048_576))
    }

    /// `--role load-clients`: the laptops, in one process; writes its figures to `results`.
    /// `serverPID`: the server's process, whose CPU time during the timed syncs (set-up excluded) is reported per sync.
    static func laptops(url: String, caPath: String, codesFile: String, seconds: Double, interval: Double, results: String,
                        serverPID: pid_t) async throws {
        let caPEM = try String(contentsOfFile: caPath, encoding: .utf8)
        let codes = try String(contentsOfFile: codesFile, encoding: .utf8).split(separator: "\n").map(String.init)
        struct Laptop: Sendable {
            let replica: Replica
            let binding: ServerBinding
            let client: SyncClient
            let customer: String
        }
        // Enrol and make each laptop's customer, fifty at a time (not measured).
        var laptops: [Laptop] = []
        let setUp = Date()
        for batch in stride(from: 0, to: codes.count, by: 50) {
            try await withThrowingTaskGroup(of: Laptop.self) { group in
                for index in batch..<min(batch + 50, codes.count) {
                    group.addTask {
                        var generator = SystemRandomNumberGenerator()
                        let replica = try Replica.inMemory()
                        let node = NodeID.random(using: &generator)
                        try replica.initialize(ReplicaIdentity(node: node, branch: "Load", user: "Manager \(index)", createdAt: ""))
                        let client = try SyncClient(url: url, caPEM: caPEM)
                        let response = try await client.enroll(code: codes[index], node: node, deviceName: "load-\(index)")
                        let binding = ServerBinding(url: url, token: response.token, device: response.device, user: response.user, serverNode: response.serverNode)
                        let customer = RecordID.make(using: &generator)
                        try replica.write([RecordEdit(.customer, customer, [("name", .text("Customer \(index)")), ("level", .text("standard")),
                                                                            ("branch", .text("Load")), ("manager", .text("Manager \(index)"))])])
                        _ = try await Synchronizer().sync(replica, binding: binding, client: client)
                        return Laptop(replica: replica, binding: binding, client: client, customer: customer)
                    }
                }
                for try await laptop in group { laptops.append(laptop) }
            }
        }
        let setUpSeconds = Date().timeIntervalSince(setUp)

        struct Outcome: Sendable {
            var latencies: [Double] = []
            var errors: [String] = []
        }
        let cpuBefore = ChildProcess.cpuSeconds(of: getpid())
        let serverCPUBefore = ChildProcess.cpuSeconds(of: serverPID)
        let start = Date()
        let deadline = start.addingTimeInterval(seconds)
        let outcomes = await withTaskGroup(of: Outcome.self) { group in
            for laptop in laptops {
                group.addTask {
                    var outcome = Outcome()
                    var generator = SystemRandomNumberGenerator()
                    var number = 0
                    // Laptops start spread over the first pause, not all at once.
                    try? await Task.sleep(nanoseconds: UInt64(Double.random(in: 0...(2 * interval), using: &generator) * 1e9))
                    while Date() < deadline {
                        var edits: [RecordEdit] = []
                        for _ in 0..<3 {
                            number += 1
                            edits.append(RecordEdit(.visit, RecordID.make(using: &generator), [
                                ("customer", .text(laptop.customer)), ("manager", .text(laptop.binding.user.name)),
                                ("at", .text("2026-11-23T09:30:00+08:00")), ("kind", .text("routine")), ("participants", .text("Wang Fang, Chen Jie")),
                                ("summary", .text("Routine visit \(number): checked the sites and the open faults with the customer")),
                                ("requests", .text("faster feedback on alarms")), ("actions", .text("send the monthly report")),
                            ]))
                        }
                        let began = Date()
                        do {
                            try laptop.replica.write(edits)
                            _ = try await Synchronizer().sync(laptop.replica, binding: laptop.binding, client: laptop.client)
                            outcome.latencies.append(Date().timeIntervalSince(began))
                        } catch {
                            outcome.errors.append(String(describing: error))
                        }
                        let pause = min(Double.random(in: 0...(2 * interval), using: &generator), deadline.timeIntervalSinceNow)
                        guard pause > 0 else { break }
                        try? await Task.sleep(nanoseconds: UInt64(pause * 1e9))
                    }
                    return outcome
                }
            }
            var all: [Outcome] = []
            for await outcome in group { all.append(outcome) }
            return all
        }
        let elapsed = Date().timeIntervalSince(start)
        let cpu = ChildProcess.cpuSeconds(of: getpid()) - cpuBefore
        let serverCPU = ChildProcess.cpuSeconds(of: serverPID) - serverCPUBefore
        for laptop in laptops { try? await laptop.client.shutdown() }
        let latencies = outcomes.flatMap(\.latencies).sorted()
        let errors = outcomes.flatMap(\.errors)
        func percentile(_ p: Double) -> Double {
            latencies.isEmpty ? 0 : latencies[min(latencies.count - 1, Int((Double(latencies.count) * p).rounded(.up)) - 1)] * 1000
        }
        var text = String(format: "    set-up: %d laptops enrolled and synced once in %.1f s\n", laptops.count, setUpSeconds)
        text += String(format: "    %d syncs in %.0f s: %.0f syncs/s, %.0f field changes/s pushed; latency of a whole sync p50 %.0f ms, p99 %.0f ms, max %.0f ms (aim: p99 under 250)\n",
                       latencies.count, elapsed, Double(latencies.count) / elapsed, Double(latencies.count * 24) / elapsed,
                       percentile(0.5), percentile(0.99), (latencies.last ?? 0) * 1000)
        text += String(format: "    server CPU during these syncs: %.1f s, %.2f ms per sync (aim: 1 ms)\n", serverCPU,
                       latencies.isEmpty ? 0 : serverCPU * 1000 / Double(latencies.count))
        text += "    errors: \(errors.count) (aim: 0)\(errors.isEmpty ? "" : "; first: \(errors[0].prefix(200))")\n"
        text += String(format: "    laptops' process: %.1f s of CPU, peak memory %.0f MiB\n", cpu, Double(ChildProcess.peakResidentBytes(of: getpid())) / 1_048_576)
        try text.write(toFile: results, atomically: true, encoding: .utf8)
    }
}
