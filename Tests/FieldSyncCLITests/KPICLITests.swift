import FieldSyncTestSupport
import Foundation
import Testing

/// `fieldsync kpi` and `fieldsync-server calendar`/`kpi` run as a person would.
@Suite struct KPICLITests {
    let folder: TemporaryFolder
    let cli: CommandRunner
    let server: CommandRunner

    init() throws {
        folder = try TemporaryFolder()
        cli = try CommandRunner(product: "fieldsync", environment: [
            "FIELDSYNC_HOME": folder.path("home"), "FIELDSYNC_NOW": "2026-11-23T10:00:00+08:00",
        ])
        server = try CommandRunner(product: "fieldsync-server", environment: ["FIELDSYNC_DATA": folder.path("server")])
    }

    @discardableResult
    func ok(_ runner: CommandRunner, _ arguments: String...) throws -> String {
        let result = try runner.run(arguments)
        #expect(result.status == 0, "\(arguments.joined(separator: " ")) failed: \(result.stderr)")
        return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// A VIP fault answered in 40 minutes misses its 30-minute limit; the summary,
    /// the misses, the CSV and the JSON all say so; the stored level is the one in force.
    @Test func kpiFromTheLocalReplica() throws {
        try ok(cli, "init", "--branch", "Hangzhou", "--user", "Li Wei")
        let customer = try ok(cli, "customer", "add", "--name", "Tower Co", "--level", "vip")
        let fault = try ok(cli, "fault", "report", customer, "--symptom", "alarm", "--reported-at", "2026-11-17T09:00+08:00")
        try ok(cli, "fault", "feedback", fault, "--at", "2026-11-17T09:40+08:00")
        // Downgraded later: the fault keeps the VIP limit it was reported under.
        try ok(cli, "customer", "edit", customer, "--level", "standard")

        let summary = try ok(cli, "kpi", "--period", "2026-W47")
        #expect(summary.contains("KPIs for 2026-W47 (2026-11-16 to 2026-11-22), by manager"))
        #expect(summary.contains("Li Wei") && summary.contains("0.0% (0/1)"))
        let misses = try ok(cli, "kpi", "misses", "--period", "2026-W47", "--kpi", "fault_first_feedback")
        #expect(misses.contains("30 min (VIP)") && misses.contains("10 min"))

        let report = try #require(try JSONSerialization.jsonObject(with: Data(ok(cli, "kpi", "--period", "2026-W47", "--json").utf8)) as? [String: Any])
        let total = try #require(report["total"] as? [String: Any])
        let feedback = try #require((total["figures"] as? [[String: Any]])?.first { $0["kpi"] as? String == "fault_first_feedback" })
        #expect(feedback["missed"] as? Int == 1 && feedback["met"] as? Int == 0)

        let csv = try ok(cli, "kpi", "--period", "2026-W47", "--csv").split(separator: "\n")
        #expect(csv.first?.hasPrefix("period,manager,fault_first_feedback_met,fault_first_feedback_total") == true)
        #expect(csv.dropFirst().first?.hasPrefix("2026-W47,Li Wei,0,1,0.0,") == true)

        let bad = try cli.run(["kpi", "--period", "2026-W60"])
        #expect(bad.status == 64 && bad.stderr.contains("--period: '2026-W60': 2026 has no ISO week 60"))
        // Nobody typed a restoration time and no agreement states one: the VIP default applies, not nothing.
        let todo = try ok(cli, "kpi", "todo")
        #expect(todo.contains("fault restored") && todo.contains("4 h (VIP) default") && todo.contains("2026-11-17T13:00:00+08:00"))
        try ok(cli, "fault", "restore", fault, "--at", "2026-11-17T12:00+08:00")
        #expect(try ok(cli, "kpi", "todo").contains("Nothing is open past its limit."))
    }

    @Test func serverCalendarAndKPI() throws {
        try ok(server, "init")
        #expect(try ok(server, "calendar", "set", "2026-10-01..2026-10-03", "--holiday", "--name", "National Day")
            .contains("Marked 3 days as holidays"))
        try ok(server, "calendar", "set", "2026-10-10", "--workday")
        let list = try ok(server, "calendar", "list", "--year", "2026")
        #expect(list.contains("2026-10-01  Thu      holiday  National Day"))
        #expect(list.contains("2026-10-10  Sat      workday"))
        try ok(server, "calendar", "remove", "2026-10-03")
        let days = try #require(try JSONSerialization.jsonObject(with: Data(ok(server, "calendar", "list", "--year", "2026", "--json").utf8)) as? [String: Any])
        #expect((days["days"] as? [[String: Any]])?.count == 3)
        let wrong = try server.run(["calendar", "set", "2026-02-30", "--holiday"])
        #expect(wrong.status != 0 && wrong.stderr.contains("'2026-02-30' is not a day"))
        #expect(try ok(server, "kpi", "--period", "2026-10").contains("No customers in scope."))
        let badBy = try server.run(["kpi", "--by", "team"])
        #expect(badBy.status != 0 && badBy.stderr.contains("by: 'team' is not one of manager, branch, customer, province"))
    }
}
