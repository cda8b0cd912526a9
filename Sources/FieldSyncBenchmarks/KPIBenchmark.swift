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

/// KPIs of a province: 10 branches, 200 managers, 20,000 customers and a year
/// of visits, faults and complaints (about 1,000,000 records), built by
/// merge-apply into a server's replica; then a separate process reads the
/// replica and computes the reports, and prints its times and its own peak
/// memory; then the server itself serves the dashboard over TLS, first and
/// repeated (its KPI facts cached between requests).
enum KPIBenchmark {
    static let branches = 10, managersPerBranch = 20, customersPerManager = 100
    static let visitsPerCustomer = 40, faultsPerCustomer = 6, complaintsPerCustomer = 3

    static var recordCount: Int {
        let customers = branches * managersPerBranch * customersPerManager
        // Each closed complaint gets a follow-up visit (about 5 in 6 of them).
        return customers * (1 + visitsPerCustomer + faultsPerCustomer + complaintsPerCustomer) + customers * complaintsPerCustomer * 5 / 6
    }

    static let asOf = "2027-01-05T09:00:00+08:00"

    /// `database`: then the same province moved into PostgreSQL (`store copy`), its KPI facts read from there, and its dashboard served from it.
    static func run(folder: URL, database: String? = nil) async throws {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let data = folder.appendingPathComponent("server").path
        let serverFolder = ServerFolder(path: data)
        let settings = try serverFolder.initialize(hosts: [], branch: nil, certificate: nil).settings
        let store = try serverFolder.openStore()
        let code = try store.addUser(UserInfo(name: "Pat", role: .province, branch: nil)).code
        print("KPIs of a province: \(branches) branches, \(branches * managersPerBranch) managers, \(branches * managersPerBranch * customersPerManager) customers, a year of activity (~\(recordCount) records)")
        let buildSeconds = try measure { try build(store.replica) }
        try store.close()
        let path = (data as NSString).appendingPathComponent(ServerStore.fileName)
        print(String(format: "    built the server's replica by merge-apply in %.1f s (%.0f MiB on disk)", buildSeconds,
                     Double((try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0) / 1_048_576))
        fflush(nil)  // our lines first, then the child's
        let child = try ChildProcess.spawnSelf(["--role", "kpi", "--replica", path])
        guard child.wait() == 0 else { throw BenchError("the KPI process failed") }
        let caPEM = try String(contentsOfFile: settings.caCertificate!, encoding: .utf8)
        try await dashboard(data: data, caPEM: caPEM, code: code, folder: folder)
        if let database { try await onPostgres(data: data, caPEM: caPEM, database: database, folder: folder) }
    }

    /// The province moved into PostgreSQL: the copy, the KPI facts read back, the dashboard served from it.
    static func onPostgres(data: String, caPEM: String, database: String, folder: URL) async throws {
        let store = try ServerFolder(path: data).openStore()
        var report = StoreCopyReport()
        let copySeconds = try await measureAsync {
            report = try await PostgresBench.withClient(database) { client in
                try await PostgresStoreCopy.copy(try store.export(), into: client, logger: PostgresBench.logger)
            }
        }
        try store.close()
        print(String(format: "    on PostgreSQL: store copy of %d records and %d log rows in %.1f s (%.0f records/s), read back: %@",
                     report.records, report.logRows, copySeconds, Double(report.records) / copySeconds, report.mismatches.isEmpty ? "identical" : "DIFFERENT"))
        let code = try await PostgresBench.withStorage(database) { storage in
            var facts = KPIFacts()
            let load = try await measureAsync { facts = try await storage.loadKPIFacts() }
            var summary = KPIReport?.none
            let month = try measure {
                summary = KPIEngine.report(facts, period: try ReportingPeriod("2026-11"), grouping: .branch, asOf: Timestamp(iso: Self.asOf)!)
            }
            print(String(format: "    on PostgreSQL: KPI facts of the province read in %.2f s (%d customers, %d visits, %d faults, %d complaints); a month by branch in %.2f s (%d rows)",
                         load, facts.customers.count, facts.visits.count, facts.faults.count, facts.complaints.count, month, summary?.groups.count ?? 0))
            return try await storage.addUser(UserInfo(name: "Pat on PostgreSQL", role: .province, branch: nil), codeLifetime: AccountRules.defaultCodeLifetime).code
        }
        try await dashboard(data: data, caPEM: caPEM, code: code, folder: folder, database: database)
    }

    /// The server process serves `GET /dashboard` (a report, a six-period trend and the to-do list) to
    /// the province: the first request reads the facts, the repeated ones find them cached.
    static func dashboard(data: String, caPEM: String, code: String, folder: URL, database: String? = nil) async throws {
        let portFile = folder.appendingPathComponent(database == nil ? "port" : "port-postgres").path
        let server = try ChildProcess.spawnSelf(["--role", "serve", "--data", data, "--port-file", portFile] + (database.map { ["--database", $0] } ?? []))
        defer { server.terminate() }
        let url = "https://127.0.0.1:\(try SyncBenchmark.waitForPort(portFile))"
        let client = try SyncClient(url: url, caPEM: caPEM)
        var generator = SystemRandomNumberGenerator()
        let token = try await client.enroll(code: code, node: NodeID.random(using: &generator), deviceName: "bench").token
        let query = [("period", "2026-11"), ("by", "branch"), ("as_of", asOf)]
        var bytes = 0
        let first = try await measureAsync { bytes = try await client.get("/dashboard", query: query, token: token).count }
        var repeated: [Double] = []
        for _ in 0..<40 { repeated.append(try await measureAsync { _ = try await client.get("/dashboard", query: query, token: token) }) }
        let dashboardPeak = ChildProcess.peakResidentBytes(of: server.pid)
        var kpiBytes = 0
        let kpi = try await measureAsync { kpiBytes = try await client.get("/v1/kpi", query: query, token: token).count }
        try await client.shutdown()
        repeated.sort()
        func percentile(_ p: Double) -> Double { repeated[min(repeated.count - 1, Int((Double(repeated.count) * p).rounded(.up)) - 1)] }
        print(String(format: "    %@dashboard over TLS (2026-11 by branch, trend, to-do; %d KiB): first %.2f s; repeated, %d requests: p50 %.0f ms, p99 %.0f ms (aim: under 200)",
                     database == nil ? "" : "on PostgreSQL: ", bytes / 1024, first, repeated.count, percentile(0.5) * 1000, percentile(0.99) * 1000))
        print(String(format: "    peak memory of the server process: %.0f MiB serving the dashboard; %.0f MiB after GET /v1/kpi (%d KiB of JSON with every miss, %.0f ms)",
                     Double(dashboardPeak) / 1_048_576, Double(ChildProcess.peakResidentBytes(of: server.pid)) / 1_048_576, kpiBytes / 1024, kpi * 1000))
    }

    /// The child: load, compute, report times and VmHWM.
    static func compute(replica path: String) throws {
        let replica = try Replica.open(path: path)
        var facts = KPIFacts()
        let load = try measure { facts = try replica.kpiFacts() }
        let loadedBytes = ChildProcess.residentBytes(of: getpid())
        let asOf = Timestamp(iso: Self.asOf)!
        var lines: [(String, Double, String)] = []
        for (label, period, grouping) in [("year 2026 by manager", "2026-01-01..2026-12-31", KPIGrouping.manager),
                                          ("2026-Q4 by branch", "2026-Q4", .branch), ("2026-11 by province", "2026-11", .province),
                                          ("2026-W47 by manager", "2026-W47", .manager)] {
            var report: KPIReport?
            let seconds = try measure { report = KPIEngine.report(facts, period: try ReportingPeriod(period), grouping: grouping, asOf: asOf) }
            let total = report!.total
            lines.append((label, seconds, "\(report!.groups.count) groups, fault feedback \(KPIText.rate(total.figure(.faultFirstFeedback))), coverage \(KPIText.rate(total.figure(.visitCoverage)))"))
        }
        var todo: [KPIMiss] = []
        let todoSeconds = measure { todo = KPIEngine.openPastLimit(facts, asOf: asOf) }
        print(String(format: "    load %d customers, %d faults, %d complaints, %d visits from SQLite: %.1f s (aim: under 2 s), %.0f MiB resident after",
                     facts.customers.count, facts.faults.count, facts.complaints.count, facts.visits.count, load, Double(loadedBytes) / 1_048_576))
        for (label, seconds, detail) in lines {
            print("    \(label.padding(toLength: 24, withPad: " ", startingAt: 0))" + String(format: "%6.2f s  (", seconds) + detail + ")")
        }
        print("    \("to-do list".padding(toLength: 24, withPad: " ", startingAt: 0))" + String(format: "%6.2f s  (%d open past a limit)", todoSeconds, todo.count))
        print(String(format: "    peak memory of the KPI process: %.0f MiB (aim: under 400)", Double(ChildProcess.peakResidentBytes(of: getpid())) / 1_048_576))
    }

    /// Generates the province deterministically and merges it in pages of about 5,000 records.
    static func build(_ replica: Replica) throws {
        var rng = SplitMix64(seed: 2026)
        let node = NodeID(rawValue: 0x9A1)
        var hlc = HLC(milliseconds: 1_790_000_000_000, counter: 0)
        var page: [FieldChange] = []
        var records = 0
        func add(_ table: RecordKind, _ fields: [(String, FieldValue)]) throws {
            let id = RecordID.make(using: &rng)
            hlc = HLC(rawValue: hlc.rawValue + 1)
            for (field, value) in fields where value != .null {
                page.append(FieldChange(table: table, record: id, field: field, value: value, hlc: hlc, node: node, base: .zero))
            }
            records += 1
            if records % 5_000 == 0 {
                try replica.apply(remote: page)
                page.removeAll(keepingCapacity: true)
            }
            lastID = id
        }
        var lastID = ""
        let year = LocalDate(year: 2026, month: 1, day: 1)!
        func time(_ day: Int, _ minute: Int) -> Timestamp {
            (year + Int64(day)).start(offsetMinutes: 480).adding(minutes: minute)
        }
        for holiday in ["2026-01-01", "2026-05-01", "2026-05-04", "2026-10-01", "2026-10-02", "2026-10-05", "2026-10-06", "2026-10-07"] {
            try add(.calendarDay, [("date", .text(holiday)), ("kind", .text("holiday"))])
        }
        for branch in 0..<branches {
            for manager in 0..<managersPerBranch {
                let managerName = "manager \(branch)-\(manager)"
                for number in 0..<customersPerManager {
                    let vip = number % 5 == 0
                    try add(.customer, [("name", .text("Customer \(branch)-\(manager)-\(number)")), ("branch", .text("Branch \(branch)")),
                                        ("manager", .text(managerName)), ("level", .text(vip ? "vip" : "standard"))])
                    let customer = lastID
                    for visit in 0..<visitsPerCustomer {
                        let day = visit * 9 + Int(rng.next() % 7)
                        try add(.visit, [("customer", .text(customer)), ("manager", .text(managerName)), ("at", .text(time(day, 600 + Int(rng.next() % 480)).description)),
                                         ("kind", .text("routine")), ("summary", .text("routine visit \(visit)"))])
                    }
                    for _ in 0..<faultsPerCustomer {
                        let day = Int(rng.next() % 360), minute = Int(rng.next() % 1_400)
                        let reported = time(day, minute)
                        let open = rng.next() % 50 == 0
                        try add(.fault, [("customer", .text(customer)), ("symptom", .text("link down")), ("reported_at", .text(reported.description)),
                                         ("first_feedback_at", .text(reported.adding(minutes: 5 + Int(rng.next() % 70)).description)),
                                         ("restore_by", .text(reported.adding(minutes: 480).description)),
                                         ("restored_at", open ? .null : .text(reported.adding(minutes: 60 + Int(rng.next() % 600)).description)),
                                         ("status", .text(open ? "1:in-progress" : "1:restored")), ("level", .text(vip ? "vip" : "standard"))])
                    }
                    for complaint in 0..<complaintsPerCustomer {
                        let day = Int(rng.next() % 355), minute = 480 + Int(rng.next() % 600)
                        let received = time(day, minute)
                        let resolved = received.adding(minutes: 120 + Int(rng.next() % 7_000))
                        let closed = complaint % 6 != 5
                        try add(.complaint, [("customer", .text(customer)), ("channel", .text("phone")), ("content", .text("complaint")),
                                             ("received_at", .text(received.description)),
                                             ("first_feedback_at", .text(received.adding(minutes: 20 + Int(rng.next() % 150)).description)),
                                             ("resolved_at", .text(resolved.description)),
                                             ("closed_at", closed ? .text(resolved.adding(minutes: 60).description) : .null),
                                             ("status", .text(closed ? "1:closed" : "1:resolved")), ("level", .text(vip ? "vip" : "standard"))])
                        if closed {
                            let complaintID = lastID
                            try add(.visit, [("customer", .text(customer)), ("at", .text(resolved.adding(minutes: 1_440 + Int(rng.next() % 3_000)).description)),
                                             ("kind", .text("complaint-follow-up")), ("summary", .text("follow-up")), ("complaint", .text(complaintID))])
                        }
                    }
                }
            }
        }
        if !page.isEmpty { try replica.apply(remote: page) }
    }
}

extension Timestamp {
    func adding(minutes: Int) -> Timestamp { adding(seconds: Int64(minutes) * 60) }
}
