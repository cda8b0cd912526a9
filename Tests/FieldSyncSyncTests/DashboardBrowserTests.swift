import FieldSyncClient
import FieldSyncKPI
import FieldSyncLocalization
import FieldSyncModel
import FieldSyncProtocol
import FieldSyncSQLiteServer
import FieldSyncServer
import FieldSyncStore
import FieldSyncTestSupport
import Foundation
import Testing

/// The dashboard in a real headless browser (Debian's chromium): the page
/// shows the figures the API returns, and a screenshot is saved.
@Suite struct DashboardBrowserTests {
    static let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first { FileManager.default.isExecutableFile(atPath: $0) }
    /// CI installs chromium (.ci/run); elsewhere the test runs when it is there.
    static let enabled = chromium != nil || ProcessInfo.processInfo.environment["CI"] == "true"
    static let asOf = "2026-11-23T09:00:00+08:00"

    @Test(.enabled(if: enabled, "chromium is not installed (apt-get install chromium)"))
    func dashboardShowsTheAPIFiguresInABrowser() async throws {
        let browser = CommandRunner(executable: URL(fileURLWithPath: try #require(Self.chromium, "chromium is not installed")))
        let clock = TestClock()
        let server = try await TestServer.start(clock: clock.now)
        let folder = try TemporaryFolder()
        try Self.seed(server.store)
        let pat = try await Laptop.enrol("Pat", server: server, folder: folder, role: .province, branch: nil, clock: clock.now)
        let query = [("period", "2026-11"), ("by", "branch"), ("as_of", Self.asOf)]

        // What the API says.
        let api = try JSONSerialization.jsonObject(with: Data(try await pat.client.get("/v1/kpi", query: query, token: pat.binding.token))) as? [String: Any]
        let groups = try #require(api?["groups"] as? [[String: Any]])
        #expect(groups.compactMap { $0["name"] as? String } == ["Hangzhou", "Ningbo"])

        // What the browser shows, after following a one-time login link.
        let arguments = ["--headless", "--no-sandbox", "--disable-gpu", "--ignore-certificate-errors",
                         "--user-data-dir=\(folder.path("chromium"))", "--window-size=1280,1700"]
        func link() async throws -> String {
            server.url + (try await pat.client.dashboardLink(token: pat.binding.token)).path + "&period=2026-11&by=branch&as_of=" + Self.asOf.replacingOccurrences(of: "+", with: "%2B")
        }
        let dom = try await browser.runDetached(arguments + ["--dump-dom", try await link()])
        #expect(dom.status == 0, "\(dom.stderr)")
        #expect(dom.stdout.contains("Service-level compliance — 2026-11"), "\(dom.stdout.prefix(600))")
        for group in groups {
            let name = try #require(group["name"] as? String)
            let row = try #require(Self.row(named: name, in: dom.stdout), "no row for \(name)")
            for figure in try #require(group["figures"] as? [[String: Any]]) {
                let kpi = try #require(figure["kpi"] as? String)
                let met = try #require(figure["met"] as? Int), total = try #require(figure["total"] as? Int)
                let shown = KPIText.rate(KPIFigure(kpi: KPI(rawValue: kpi)!, met: met, missed: total - met), Strings.load(.english))
                #expect(row.contains("data-kpi=\"\(kpi)\" data-met=\"\(met)\" data-total=\"\(total)\">\(shown)<"), "\(name) \(kpi): \(shown)")
            }
        }
        #expect(dom.stdout.contains("<svg id=\"group-chart\"") && dom.stdout.contains("<svg id=\"trend-chart\""))
        #expect(!dom.stdout.contains("<script"), "no scripts: the page works on an intranet")

        // A used link does not open a second session; a fresh one gives the screenshot.
        let reused = try await browser.runDetached(arguments + ["--dump-dom", server.url + "/dashboard/login?token=unknown"])
        #expect(reused.stdout.contains("unknown, already used or expired"))
        let screenshot = folder.path("dashboard.png")
        let shot = try await browser.runDetached(arguments + ["--screenshot=\(screenshot)", try await link()])
        #expect(shot.status == 0, "\(shot.stderr)")
        let png = try Data(contentsOf: URL(fileURLWithPath: screenshot))
        #expect(png.starts(with: [0x89, 0x50, 0x4E, 0x47]) && png.count > 20_000, "a real rendering, \(png.count) bytes")
        if let keep = ProcessInfo.processInfo.environment["FIELDSYNC_SCREENSHOT"] {
            try? FileManager.default.removeItem(atPath: keep)
            try FileManager.default.copyItem(atPath: screenshot, toPath: keep)
        }

        // The browser asks for Chinese: the page is in Chinese, set in a CJK font (printed to PDF, whose fonts
        // say so: a missing font would leave empty boxes in a fallback one); lang=en on the link overrides it.
        let chinese = try await browser.runDetached(arguments + ["--accept-lang=zh-CN,zh", "--dump-dom", try await link()])
        #expect(chinese.stdout.contains("<html lang=\"zh-CN\">") && chinese.stdout.contains("服务指标达标情况（2026年11月）"), "\(chinese.stdout.prefix(600))")
        #expect(chinese.stdout.contains("按分公司统计的达标率") && chinese.stdout.contains("故障首次反馈"))
        let pdf = folder.path("dashboard-zh.pdf")
        let printed = try await browser.runDetached(arguments + ["--accept-lang=zh-CN,zh", "--no-pdf-header-footer", "--print-to-pdf=\(pdf)", try await link()])
        #expect(printed.status == 0, "\(printed.stderr)")
        let printedPDF = try Data(contentsOf: URL(fileURLWithPath: pdf))
        #expect(PDFFonts.hasCJK(printedPDF), "fonts: \(PDFFonts.names(in: printedPDF))")
        let english = try await browser.runDetached(arguments + ["--accept-lang=zh-CN,zh", "--dump-dom", try await link() + "&lang=en"])
        #expect(english.stdout.contains("Service-level compliance — 2026-11") && english.stdout.contains("lang=en"), "a chosen language sticks to the links")
        let chineseShot = folder.path("dashboard-zh.png")
        _ = try await browser.runDetached(arguments + ["--accept-lang=zh-CN,zh", "--screenshot=\(chineseShot)", try await link()])
        #expect(try Data(contentsOf: URL(fileURLWithPath: chineseShot)).count > 20_000)
        if let keep = ProcessInfo.processInfo.environment["FIELDSYNC_SCREENSHOT_ZH"] {
            try? FileManager.default.removeItem(atPath: keep)
            try FileManager.default.copyItem(atPath: chineseShot, toPath: keep)
        }

        await pat.close()
        await server.stop()
    }


    /// `<tr data-group="NAME">…</tr>` of the figures table.
    static func row(named name: String, in html: String) -> String? {
        guard let start = html.range(of: "<tr data-group=\"\(name)\">") else { return nil }
        guard let end = html.range(of: "</tr>", range: start.upperBound..<html.endIndex) else { return nil }
        return String(html[start.lowerBound..<end.upperBound])
    }

    /// Two branches, four customers, a month of faults, complaints and visits, written on the server.
    static func seed(_ store: ServerStore) throws {
        var generator = SplitMix64(seed: 11)
        var edits: [[RecordEdit]] = []
        for (branch, managers) in [("Hangzhou", ["Alice", "Bob"]), ("Ningbo", ["Eve"])] {
            for manager in managers {
                for number in 0..<2 {
                    let customer = RecordID.make(using: &generator)
                    let vip = number == 0
                    edits.append([RecordEdit(.customer, customer, [("name", .text("\(manager)'s customer \(number)")), ("level", .text(vip ? "vip" : "standard")),
                                                                   ("branch", .text(branch)), ("manager", .text(manager))])])
                    for day in stride(from: 2, through: 20, by: 3) {
                        let date = "2026-11-\(day < 10 ? "0" : "")\(day)"
                        let minutes = (day * 7 + number * 13) % 50 + 10
                        edits.append([RecordEdit(.fault, RecordID.make(using: &generator), [
                            ("customer", .text(customer)), ("symptom", .text("alarm")), ("reported_at", .text("\(date)T09:00:00+08:00")),
                            ("first_feedback_at", .text("\(date)T09:\(minutes):00+08:00")), ("restore_by", .text("\(date)T18:00:00+08:00")),
                            ("restored_at", .text("\(date)T\(day % 4 == 0 ? 19 : 16):00:00+08:00")), ("status", .text("1:restored")),
                            ("level", .text(vip ? "vip" : "standard")),
                        ])])
                        edits.append([RecordEdit(.visit, RecordID.make(using: &generator), [
                            ("customer", .text(customer)), ("at", .text("\(date)T14:00:00+08:00")), ("kind", .text("routine")), ("summary", .text("routine")),
                        ])])
                    }
                    edits.append([RecordEdit(.complaint, RecordID.make(using: &generator), [
                        ("customer", .text(customer)), ("channel", .text("phone")), ("content", .text("billing")),
                        ("received_at", .text("2026-11-13T10:00:00+08:00")), ("first_feedback_at", .text("2026-11-13T11:30:00+08:00")),
                        ("escalated_at", .text("2026-11-19T09:00:00+08:00")), ("status", .text("1:in-progress")),
                    ])])
                }
            }
        }
        for edit in edits { try store.writeLocal(edit) }
    }
}
