import FieldSyncTestSupport
import Foundation
import Testing

/// The cluster `scripts/test` starts for the PostgreSQL tests.
enum TestDatabase {
    static let url = ProcessInfo.processInfo.environment["FIELDSYNC_TEST_DATABASE_URL"].flatMap { $0.isEmpty ? nil : $0 }
}

/// The province on PostgreSQL with real processes, as the README tells it: the
/// administrator's commands and `serve` with `$FIELDSYNC_DATABASE_URL`, a laptop
/// enrolled and synced, a second one started from a snapshot, `store copy`
/// refusing a database that holds a server, SIGTERM.
@Suite(.enabled(if: TestDatabase.url != nil || ProcessInfo.processInfo.environment["CI"] == "true",
                "no PostgreSQL: set FIELDSYNC_TEST_DATABASE_URL (scripts/postgres start prints one)"))
struct PostgresProcessTests {

    /// Runs `psql` of the installed PostgreSQL on `url`.
    static func psql(_ url: String, _ command: String) throws -> CommandRunner.Result {
        let bins = (try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? []
        let psql = try #require(bins.sorted().last.map { "/usr/lib/postgresql/\($0)/bin/psql" }, "PostgreSQL's psql is not installed")
        return try CommandRunner(executable: URL(fileURLWithPath: psql)).run([url, "-qAtc", command])
    }

    @Test func theProvinceOnPostgreSQLThroughTheCommandLine() throws {
        let base = try #require(TestDatabase.url, "CI runs the PostgreSQL tests: FIELDSYNC_TEST_DATABASE_URL is not set (scripts/test sets it)")
        let name = "fieldsync_cli_\(UInt32.random(in: 0...UInt32.max))"
        #expect(try Self.psql(base, "CREATE DATABASE \(name)").status == 0)
        defer { _ = try? Self.psql(base, "DROP DATABASE IF EXISTS \(name) WITH (FORCE)") }
        let url = try #require(base.range(of: "/", options: .backwards).map { String(base[..<$0.lowerBound]) + "/" + name })

        let folder = try TemporaryFolder()
        let data = folder.path("province")
        let admin = try CommandRunner(product: "fieldsync-server", environment: ["FIELDSYNC_DATA": data, "FIELDSYNC_DATABASE_URL": url])
        func json(_ result: CommandRunner.Result) throws -> [String: Any] {
            #expect(result.status == 0, "\(result.stderr)")
            return try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        }
        #expect(try admin.run(["init"]).status == 0)
        #expect(try admin.run(["branch", "add", "Hangzhou"]).status == 0)
        let li = try json(admin.run(["user", "add", "--name", "Li Wei", "--role", "manager", "--branch", "Hangzhou", "--json"]))
        let sue = try json(admin.run(["user", "add", "--name", "Sue", "--role", "supervisor", "--branch", "Hangzhou", "--json"]))
        #expect(try admin.run(["calendar", "set", "2026-10-01..2026-10-03", "--holiday", "--name", "National Day"]).status == 0)
        let upstream = try admin.run(["upstream", "set", "https://127.0.0.1:1", "--code", "X", "--ca", folder.path("province/ca.pem")])
        #expect(upstream.status != 0 && upstream.stderr.contains("embedded SQLite store only"), "\(upstream.stderr)")

        let server = Process()
        server.executableURL = admin.executable
        server.arguments = ["serve", "--port", "0", "--metrics-port", "0"]
        server.environment = ProcessInfo.processInfo.environment.merging(["FIELDSYNC_DATA": data, "FIELDSYNC_DATABASE_URL": url]) { $1 }
        let output = Pipe()
        server.standardOutput = output
        server.standardError = FileHandle.nullDevice
        try server.run()
        defer { if server.isRunning { server.terminate() } }
        let port = try #require(try ServerProcessTests.waitForPort(output.fileHandleForReading))
        let address = "https://127.0.0.1:\(port)"
        let ca = folder.path("province/ca.pem")

        let laptop = try CommandRunner(product: "fieldsync", environment: ["FIELDSYNC_HOME": folder.path("li")])
        #expect(try laptop.run(["enroll", address, "--code", li["enrolment_code"] as! String, "--ca", ca]).status == 0)
        let customer = try laptop.run(["customer", "add", "--name", "Zhejiang Mobile", "--level", "vip", "--team", "Sue"]).stdout
            .trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(try laptop.run(["visit", "log", customer, "--kind", "routine", "--summary", "tower review"]).status == 0)
        let pushed = try json(laptop.run(["sync", "--json"]))
        #expect(pushed["pushed"] as? Int == 2 && (pushed["rejected"] as? [Any])?.isEmpty != false, "\(pushed)")

        let supervisor = try CommandRunner(product: "fieldsync", environment: ["FIELDSYNC_HOME": folder.path("sue")])
        #expect(try supervisor.run(["enroll", address, "--code", sue["enrolment_code"] as! String, "--ca", ca]).status == 0)
        let first = try supervisor.run(["sync"])
        #expect(first.status == 0 && first.stdout.contains("Installed a snapshot of"), "\(first.stdout) \(first.stderr)")
        let visits = try JSONSerialization.jsonObject(with: Data(try supervisor.run(["visit", "list", "--json"]).stdout.utf8)) as? [[String: Any]]
        #expect(visits?.first?["summary"] as? String == "tower review")

        let nodes = try JSONSerialization.jsonObject(with: Data(try admin.run(["nodes", "--json"]).stdout.utf8)) as? [[String: Any]]
        #expect(Set(nodes?.compactMap { $0["user"] as? String } ?? []) == ["Li Wei", "Sue"])
        #expect(try admin.run(["kpi", "--period", "2026-11"]).status == 0)
        #expect(try admin.run(["assign", String(customer.prefix(8)), "--manager", "Li Wei", "--team", "Sue"]).status == 0)

        // A SQLite server cannot be copied over a database that holds one.
        let branch = try CommandRunner(product: "fieldsync-server", environment: ["FIELDSYNC_DATA": folder.path("sqlite")])
        #expect(try branch.run(["init"]).status == 0)
        let copy = try branch.run(["store", "copy", "--to", url])
        #expect(copy.status != 0 && copy.stderr.contains("already holds a server's data"), "\(copy.stderr)")

        server.terminate()
        server.waitUntilExit()
        #expect(server.terminationStatus == 0)
        #expect(String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).contains("stopped"))
    }
}
