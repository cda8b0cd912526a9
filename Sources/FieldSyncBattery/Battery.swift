import FieldSyncModel
import FieldSyncStore
import Foundation
import GRDB

/// The run: set-up, the storm (server kills, sync kills, continuous writes and
/// syncs), the final syncs, and the checks.
final class Battery: @unchecked Sendable {
    let options: BatteryOptions
    let folder: URL
    let scratch: URL
    let binaries: URL
    let data: URL
    let port: Int
    let url: String

    /// What the storm did, for the report.
    struct Figures {
        var serverKills = 0
        var serverStops = 0
        var syncKills = 0
        var syncsSucceeded = 0
        var syncsFailed = 0
        var writes = 0
        /// Backlogs of more than a page written at once on laptop 1 (its next sync pushes two requests deep).
        var backlogs = 0
        var seconds = 0.0
        /// How interrupted syncs ended, by their message.
        var failures: [String: Int] = [:]
        /// When (seconds into the storm) the server was backed up while serving, and put back from that backup.
        var backedUpAt: Double?
        var restoredAt: Double?
    }

    private let lock = NSLock()
    private var figures = Figures()
    private var server: Child?
    /// Each laptop's sync now running, for the killer.
    private var runningSyncs: [Int: Child] = [:]
    private var stopping = false
    /// The last laptop syncs through it: cuts, stalls and slow links on top of the kills.
    private var proxy: FaultyProxy?

    init(options: BatteryOptions) throws {
        self.options = options
        let base = URL(fileURLWithPath: options.dir ?? NSTemporaryDirectory())
        folder = base.appendingPathComponent("fieldsync-battery-\(getpid())")
        scratch = folder.appendingPathComponent("scratch")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        binaries = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        for tool in ["fieldsync", "fieldsync-server"] where !FileManager.default.isExecutableFile(atPath: binaries.appendingPathComponent(tool).path) {
            throw BatteryError("\(tool) is not built next to fieldsync-battery in \(binaries.path); run 'swift build' first")
        }
        data = folder.appendingPathComponent("server")
        port = try freePort()
        url = "https://127.0.0.1:\(port)"
    }

    func home(_ laptop: Int) -> String { folder.appendingPathComponent("laptop-\(laptop)").path }

    /// Runs one command to its end (or `timeout`).
    @discardableResult
    func run(_ tool: String, _ arguments: [String], laptop: Int? = nil, timeout: Double = 120) throws -> Child.Result {
        var environment = ["FIELDSYNC_DATA": data.path]
        if let laptop { environment["FIELDSYNC_HOME"] = home(laptop) }
        return try Child(binaries.appendingPathComponent(tool), arguments, environment: environment, scratch: scratch).wait(timeout: timeout)
    }

    @discardableResult
    func require(_ result: Child.Result, _ what: String) throws -> String {
        guard result.status == 0 else { throw BatteryError("\(what) failed (exit \(result.status)): \(result.stderr.prefix(400))") }
        return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func startServer() throws {
        let child = try Child(binaries.appendingPathComponent("fieldsync-server"),
                              ["serve", "--data", data.path, "--port", String(port), "--metrics-port", "0"], environment: [:], scratch: scratch)
        let deadline = Date().addingTimeInterval(60)
        while !accepts(port: port) {
            guard child.process.isRunning, Date() < deadline else {
                let result = child.wait(timeout: 1)
                throw BatteryError("the server did not start: \(result.stderr.prefix(400))")
            }
            usleep(20_000)
        }
        lock.withLock { server = child }
    }

    func killServer() {
        guard let child = lock.withLock({ server }) else { return }
        child.kill(SIGKILL)
        _ = child.wait(timeout: 10)
        lock.withLock {
            server = nil
            figures.serverKills += 1
        }
    }

    func run() throws -> Outcome {
        defer { try? FileManager.default.removeItem(at: folder) }
        let customer = try setUp()
        let started = Date()
        let laptops = (1...options.clients).map { laptop in
            let thread = Thread { [self] in work(laptop, customer: customer) }
            thread.start()
            return thread
        }
        var generator = SystemRandomNumberGenerator()
        // Once in the storm the server is backed up while it serves, and later put back from that backup
        // (stopped, restored, started): the laptops must offer back what it lost, and nothing be applied twice.
        let backupAt = options.seconds * Double.random(in: 0.15...0.4, using: &generator)
        let restoreAt = options.seconds * Double.random(in: 0.5...0.8, using: &generator)
        let backup = folder.appendingPathComponent("backup.sqlite").path
        // The storm: kill the server at random moments, and now and then a laptop's sync in flight.
        while Date().timeIntervalSince(started) < options.seconds || lock.withLock({ figures.serverKills }) < options.serverKills {
            usleep(UInt32.random(in: 100_000...600_000, using: &generator))
            let elapsed = Date().timeIntervalSince(started)
            if lock.withLock({ figures.backedUpAt == nil }), elapsed >= backupAt {
                if lock.withLock({ server }) == nil { try startServer() }
                try require(run("fieldsync-server", ["backup", "--to", backup, "--data", data.path]), "fieldsync-server backup")
                lock.withLock { figures.backedUpAt = elapsed }
                continue
            }
            if lock.withLock({ figures.backedUpAt != nil && figures.restoredAt == nil }), elapsed >= restoreAt {
                killServer()
                try require(run("fieldsync-server", ["restore", "--from", backup, "--data", data.path]), "fieldsync-server restore")
                try startServer()
                lock.withLock { figures.restoredAt = elapsed }
                continue
            }
            // Mostly while a sync is in flight, at a random point of it: mid-request, mid-commit, mid-response.
            let waitUntil = Date().addingTimeInterval(1)
            while lock.withLock({ runningSyncs.isEmpty }) && Date() < waitUntil { usleep(2_000) }
            usleep(UInt32.random(in: 0...60_000, using: &generator))
            if Int.random(in: 0..<3, using: &generator) == 0, let sync = lock.withLock({ runningSyncs.randomElement()?.value }) {
                sync.kill(SIGKILL)
                lock.withLock { figures.syncKills += 1 }
            }
            if Int.random(in: 0..<8, using: &generator) == 0, let child = lock.withLock({ server }) {
                // Frozen (SIGSTOP) longer than a laptop waits for an answer: they time out, then resume.
                child.kill(SIGSTOP)
                usleep(6_500_000)
                child.kill(SIGCONT)
                lock.withLock { figures.serverStops += 1 }
                continue
            }
            killServer()
            // Down for a moment: laptops meet a refused connection too.
            usleep(UInt32.random(in: 0...400_000, using: &generator))
            try startServer()
        }
        lock.withLock { stopping = true }
        while laptops.contains(where: { !$0.isFinished }) { usleep(50_000) }
        lock.withLock { figures.seconds = Date().timeIntervalSince(started) }
        return try settleAndCheck()
    }

    /// One laptop: write a visit, sync, again, until the storm ends. Remembers every visit written.
    private var written: [Int: [String]] = [:]

    func work(_ laptop: Int, customer: String) {
        var number = 0
        while !lock.withLock({ stopping }) {
            number += 1
            if laptop == 1, number % 12 == 0 {
                // Back from days offline: more than a page waits, so this sync pushes two requests deep while the server dies.
                guard let summaries = try? writeBacklog(laptop, customer: customer, number: number) else { continue }
                lock.withLock {
                    written[laptop, default: []] += summaries
                    figures.writes += summaries.count
                    figures.backlogs += 1
                }
            } else {
                let summary = "laptop \(laptop) visit \(number)"
                guard let wrote = try? run("fieldsync", ["visit", "log", customer, "--kind", "routine", "--summary", summary], laptop: laptop),
                      wrote.status == 0 else { continue }
                lock.withLock {
                    written[laptop, default: []].append(summary)
                    figures.writes += 1
                }
            }
            guard let sync = try? Child(binaries.appendingPathComponent("fieldsync"), ["sync"], environment: ["FIELDSYNC_HOME": home(laptop)],
                                        scratch: scratch) else { continue }
            lock.withLock { runningSyncs[laptop] = sync }
            let result = sync.wait(timeout: 60)
            lock.withLock {
                runningSyncs[laptop] = nil
                if result.status == 0 {
                    figures.syncsSucceeded += 1
                } else {
                    figures.syncsFailed += 1
                    let message = result.killed ? "killed mid-sync" : String(result.stderr.split(separator: "\n").first ?? "exit \(result.status)")
                    figures.failures[Self.shape(message), default: 0] += 1
                }
            }
        }
    }

    /// 1,200 visits written on `laptop`'s replica in one transaction (no CLI writes that many quickly); their summaries.
    func writeBacklog(_ laptop: Int, customer: String, number: Int) throws -> [String] {
        let replica = try Replica.open(path: (home(laptop) as NSString).appendingPathComponent(Replica.fileName))
        defer { try? replica.close() }
        let summaries = (1...1_200).map { "laptop \(laptop) backlog \(number) visit \($0)" }
        var generator = SystemRandomNumberGenerator()
        let actions = summaries.map { summary in
            [RecordEdit(.visit, RecordID.make(using: &generator), [("customer", .text(customer)), ("at", .text("2026-11-20T09:00:00+08:00")),
                                                                  ("kind", .text("routine")), ("summary", .text(summary))])]
        }
        guard try replica.write(actions: actions) == actions.count else { throw BatteryError("laptop \(laptop): the backlog was not written whole") }
        return summaries
    }

    /// The server, its branch and one manager per laptop; the laptops enrolled; one customer all of them share.
    func setUp() throws -> String {
        try require(run("fieldsync-server", ["init", "--data", data.path]), "fieldsync-server init")
        try require(run("fieldsync-server", ["branch", "add", "Hangzhou", "--data", data.path]), "branch add")
        try startServer()
        for laptop in 1...options.clients {
            let user = try require(run("fieldsync-server", ["user", "add", "--name", "Manager \(laptop)", "--role", "manager", "--branch", "Hangzhou",
                                                            "--json", "--data", data.path]), "user add")
            guard let object = try JSONSerialization.jsonObject(with: Data(user.utf8)) as? [String: Any], let code = object["enrolment_code"] as? String else {
                throw BatteryError("user add printed no enrolment code: \(user)")
            }
            try require(run("fieldsync", ["enroll", url, "--code", code, "--ca", data.appendingPathComponent("ca.pem").path], laptop: laptop), "enroll")
            try require(run("fieldsync", ["sync"], laptop: laptop), "first sync")
        }
        // The last laptop talks to the server through the fault-injecting relay from now on.
        let relay = try FaultyProxy(target: port)
        proxy = relay
        let bindingFile = URL(fileURLWithPath: home(options.clients)).appendingPathComponent("server.json")
        guard var binding = try JSONSerialization.jsonObject(with: Data(contentsOf: bindingFile)) as? [String: Any], binding["url"] as? String == url else {
            throw BatteryError("\(bindingFile.path) does not name \(url)")
        }
        binding["url"] = "https://127.0.0.1:\(relay.port)"
        try JSONSerialization.data(withJSONObject: binding).write(to: bindingFile, options: .atomic)
        let team = (2...options.clients).map { "Manager \($0)" }.joined(separator: ",")
        let customer = try require(run("fieldsync", ["customer", "add", "--name", "Shared Tower Co", "--branch", "Hangzhou", "--team", team], laptop: 1),
                                   "customer add")
        for laptop in 1...options.clients { try syncUntilDone(laptop) }
        return customer
    }

    /// Syncs until a sync completes (through the faulty relay, some are cut).
    func syncUntilDone(_ laptop: Int) throws {
        var last = ""
        for _ in 0..<20 {
            let result = try run("fieldsync", ["sync"], laptop: laptop)
            if result.status == 0 { return }
            last = result.stderr
            usleep(100_000)
        }
        throw BatteryError("laptop \(laptop) cannot complete a sync: \(last.prefix(300))")
    }

    struct Outcome {
        var report: String
        var passed: Bool
    }

    /// Everything syncs until quiet; then the checks.
    func settleAndCheck() throws -> Outcome {
        let figures = lock.withLock { self.figures }
        if lock.withLock({ server }) == nil { try startServer() }
        // Three rounds: every laptop pushes, then every laptop pulls what the others pushed.
        for _ in 0..<3 {
            for laptop in 1...options.clients { try syncUntilDone(laptop) }
        }
        var checks: [(String, Bool, String)] = []
        let expected = lock.withLock { written.values.flatMap { $0 } }.sorted()
        for laptop in 1...options.clients {
            let verify = try run("fieldsync", ["verify"], laptop: laptop)
            checks.append(("laptop \(laptop): integrity_check and outbox consistent", verify.status == 0, verify.stderr))
            let status = try run("fieldsync", ["status", "--json"], laptop: laptop)
            let object = try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: Any]
            checks.append(("laptop \(laptop): nothing left to send", object?["outbox_mutations"] as? Int == 0, status.stdout))
            let list = try run("fieldsync", ["visit", "list", "--json"], laptop: laptop)
            let visits = (try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [[String: Any]]) ?? []
            let summaries = visits.compactMap { $0["summary"] as? String }.sorted()
            checks.append(("laptop \(laptop): every visit written anywhere, exactly once (\(summaries.count) of \(expected.count))",
                           summaries == expected, difference(summaries, expected)))
        }
        // The server, stopped cleanly, read directly.
        if let child = lock.withLock({ server }) {
            child.kill(SIGTERM)
            _ = child.wait(timeout: 30)
        }
        let database = try DatabaseQueue(path: data.appendingPathComponent("server.sqlite").path, configuration: {
            var configuration = Configuration()
            configuration.readonly = true
            return configuration
        }())
        let (integrity, serverSummaries, duplicates) = try database.read { db in
            (try String.fetchAll(db, sql: "PRAGMA integrity_check"),
             try String.fetchAll(db, sql: "SELECT summary FROM visits WHERE removed IS NOT 1").sorted(),
             try Int.fetchOne(db, sql: """
                SELECT COUNT(*) FROM applied_ranges a JOIN applied_ranges b ON a.origin = b.origin AND a.low < b.low AND a.high >= b.low
                """) ?? -1)
        }
        checks.append(("server: integrity_check", integrity == ["ok"], integrity.joined(separator: "; ")))
        checks.append(("server: every visit written, exactly once (\(serverSummaries.count) of \(expected.count))",
                       serverSummaries == expected, difference(serverSummaries, expected)))
        checks.append(("server: no mutation marked applied twice (runs of applied counters disjoint)", duplicates == 0, "\(duplicates) overlapping runs"))
        if figures.restoredAt != nil {
            // Every laptop learnt the restored server's history (it was told, and offered back what the backup lacked).
            let incarnation = try database.read { db in try String.fetchOne(db, sql: "SELECT value FROM server_identity WHERE key = 'incarnation'") }
            for laptop in 1...options.clients {
                let replica = try DatabaseQueue(path: (home(laptop) as NSString).appendingPathComponent(Replica.fileName))
                let known = try replica.read { db in try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'server_incarnation'") }
                try replica.close()
                checks.append(("laptop \(laptop): told of the restore, synced with the restored server's history", known != nil && known == incarnation,
                               "knows \(known ?? "none"), the server is \(incarnation ?? "none")"))
            }
        }
        try database.close()
        let disk = try diskPhase()
        checks += disk.checks.map { ($0.name, $0.passed, $0.detail) }

        proxy?.stop()
        let relayed = (proxy?.faults ?? [:]).sorted { $0.key.rawValue < $1.key.rawValue }.map { "\($0.value) \($0.key.rawValue)" }.joined(separator: ", ")
        var report = String(format: "fieldsync-battery: %d laptops for %.0f s; server killed (SIGKILL) %d times and frozen (SIGSTOP 6.5 s) %d times; laptops' syncs killed %d times\n",
                            options.clients, figures.seconds, figures.serverKills, figures.serverStops, figures.syncKills)
        report += "  laptop \(options.clients) through a faulty relay, connections: \(relayed)\n"
        if let backedUp = figures.backedUpAt, let restored = figures.restoredAt {
            report += String(format: "  server backed up while serving at %.0f s, put back from that backup at %.0f s\n", backedUp, restored)
        }
        report += "  \(disk.note)\n"
        report += "  \(figures.writes) visits written (\(figures.backlogs) backlogs of 1,200 on laptop 1, pushed two requests deep), \(figures.syncsSucceeded) syncs completed, \(figures.syncsFailed) interrupted or refused during the storm\n"
        for (message, count) in figures.failures.sorted(by: { $0.value > $1.value }) {
            report += "    \(count) × \(message)\n"
        }
        for (name, passed, detail) in checks {
            report += "  \(passed ? "PASS" : "FAIL")  \(name)\(passed ? "" : ": \(detail.prefix(600))")\n"
        }
        let passed = checks.allSatisfy(\.1)
        report += passed ? "fieldsync-battery passed" : "fieldsync-battery FAILED"
        return Outcome(report: report, passed: passed)
    }

    /// A message without its numbers, so the same failure counts once.
    static func shape(_ message: String) -> String {
        String(message.prefix(240).map { $0.isNumber ? "#" : $0 })
    }

    func difference(_ found: [String], _ expected: [String]) -> String {
        let missing = Set(expected).subtracting(found), extra = Set(found).subtracting(expected)
        let duplicated = Dictionary(found.map { ($0, 1) }, uniquingKeysWith: +).filter { $0.value > 1 }.keys
        return "missing \(missing.sorted().prefix(5)), unexpected \(extra.sorted().prefix(5)), duplicated \(duplicated.sorted().prefix(5))"
    }
}
