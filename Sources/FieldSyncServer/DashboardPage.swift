import FieldSyncKPI
import FieldSyncLocalization
import FieldSyncModel
import FieldSyncProtocol
import FieldSyncServerCore

/// The supervisors' dashboard: one self-contained HTML page with its charts
/// drawn as inline SVG on the server (no scripts, no external fonts or files,
/// so it works on an intranet and prints as it shows).
struct DashboardPage {
    /// The report for the chosen period, grouped as asked.
    var report: KPIReport
    /// Customer ids by their `by=customer` group name, for links to their monthly reports.
    var customers: [String: String] = [:]
    /// The same grouping over the last periods, oldest first, for the trend.
    var trend: [KPIReport]
    /// Open past a limit now.
    var todo: [KPIMiss]
    /// Met in the period as the times given, but typed after their limits.
    var recordedLate: [KPILateRecord] = []
    var viewer: UserInfo
    /// Up to when each branch's data is complete here.
    var freshness: [BranchFreshness] = []
    /// What needs a person (`Inbox`).
    var inbox = Inbox(entries: [])
    /// The page's language (`SyncHTTPServer.language(of:)`).
    var strings = Strings.load(.english)
    /// The language the person chose with `lang=`, carried on the page's links; nil when it follows the browser.
    var chosenLanguage: Language?

    private var t: Strings { strings }

    /// `&amp;lang=zh-Hans` on the page's own links when the person chose a language.
    private var langSuffix: String { chosenLanguage.map { "&amp;lang=\($0.rawValue)" } ?? "" }

    private func time(_ time: Timestamp) -> String { t.time(time) }

    /// "Data complete up to …" per branch, or what is still waiting.
    func freshnessLine() -> String {
        guard !freshness.isEmpty else { return "" }
        let parts = freshness.map { branch -> String in
            var parts: [String] = []
            if let complete = branch.completeUpTo {
                parts.append(t("dashboard.complete-up-to", ["time": time(Timestamp(epochSeconds: Int64(complete / 1000), offsetMinutes: report.asOf.offsetMinutes))]))
            } else {
                parts.append(t("dashboard.incomplete", ["count": String(branch.pending)]))
            }
            let zone = report.asOf.offsetMinutes
            if let identical = branch.identicalAt {
                parts.append(t("dashboard.identical-at", ["time": time(Timestamp(epochSeconds: Int64(identical / 1000), offsetMinutes: zone))]))
            } else if let differed = branch.differedAt {
                parts.append(t("dashboard.differed-at", ["time": time(Timestamp(epochSeconds: Int64(differed / 1000), offsetMinutes: zone))]))
            }
            if branch.identicalAt == nil, branch.notCompared > 0 {
                parts.append(t("dashboard.not-compared", ["count": String(branch.notCompared)]))
            }
            if branch.notSeenForThreeDays > 0 { parts.append(t("dashboard.not-seen", ["count": String(branch.notSeenForThreeDays)])) }
            if branch.notSyncedYet > 0 { parts.append(t("dashboard.not-synced", ["count": String(branch.notSyncedYet)])) }
            if branch.refused > 0 { parts.append(t("dashboard.refused", ["count": String(branch.refused)])) }
            return escape(t("dashboard.branch-data", ["branch": branch.branch, "state": parts.joined(separator: t("list.separator"))]))
        }
        return "<p class=\"meta\" id=\"freshness\">" + escape(t("dashboard.data")) + parts.joined(separator: escape(t("list.semicolon"))) + "</p>"
    }

    /// "1 device", "2 devices".

    func html() -> String {
        let period = report.period
        let previous = period.trailing(2)[0]
        let next = ReportingPeriod.containing(period.end + 1, kind: period.kind == .range ? .month : period.kind)
        let grouping = t("grouping.\(report.grouping.rawValue)")
        var page = """
            <!DOCTYPE html>
            <html lang="\(t.language.htmlTag)"><head><meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>\(escape(t("dashboard.title", ["period": period.text(t)])))</title>
            <style>
            body { font-family: \(HandbookDocument.fontStack); margin: 24px; color: #1d2733; background: #f7f8fa; }
            h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 28px 0 8px; }
            .meta { color: #5b6775; font-size: 13px; } nav a { margin-right: 14px; font-size: 14px; }
            table { border-collapse: collapse; background: #fff; font-size: 13px; }
            th, td { border: 1px solid #d8dde3; padding: 5px 9px; text-align: right; } th:first-child, td:first-child { text-align: left; }
            .todo td { text-align: left; }
            th { background: #eef1f4; } td.good { background: #e3f4e6; } td.warn { background: #fff3d6; } td.bad { background: #fbe1e1; }
            .small { color: #5b6775; font-size: 11px; } svg { background: #fff; border: 1px solid #d8dde3; }
            </style></head><body>
            <h1>\(escape(t("dashboard.heading", ["period": period.text(t)])))</h1>
            <p class="meta">\(escape(t("dashboard.subtitle", ["start": t.date(period.start), "end": t.date(period.end), "by": grouping,
                                                               "time": time(report.asOf), "viewer": viewer.name,
                                                               "role": t("role.\(viewer.role.rawValue)") + (viewer.branch.map { t("list.separator") + $0 } ?? "")])))</p>
            \(freshnessLine())
            <nav><a href="/dashboard?\(escape(previous.query))&amp;by=\(report.grouping.rawValue)\(langSuffix)">← \(escape(previous.description))</a>\
            <a href="/dashboard?\(escape(next.query))&amp;by=\(report.grouping.rawValue)\(langSuffix)">\(escape(next.description)) →</a>\
            <a href="/dashboard?\(escape(period.query))&amp;by=branch\(langSuffix)">\(escape(t("dashboard.by-branch")))</a>\
            <a href="/dashboard?\(escape(period.query))&amp;by=manager\(langSuffix)">\(escape(t("dashboard.by-manager")))</a>\
            <a href="/dashboard?\(escape(period.query))&amp;by=customer\(langSuffix)">\(escape(t("dashboard.by-customer")))</a>\
            <a href="/dashboard?\(escape(period.query))&amp;by=\(report.grouping.rawValue)&amp;lang=zh-Hans" lang="zh-CN">中文</a>\
            <a href="/dashboard?\(escape(period.query))&amp;by=\(report.grouping.rawValue)&amp;lang=en" lang="en">English</a></nav>

            """
        page += "<h2>\(escape(t("dashboard.compliance-by", ["by": grouping])))</h2>\n" + figuresTable()
        page += "<h2>\(escape(t("dashboard.compliance-chart", ["by": grouping])))</h2>\n" + groupChart()
        page += "<h2>\(escape(t("dashboard.trend", ["count": String(trend.count)])))</h2>\n" + trendChart()
        page += "<h2>\(escape(t("dashboard.open-past-limit", ["count": String(todo.count)])))</h2>\n" + todoSections()
        page += "<h2>\(escape(t("dashboard.recorded-late", ["count": String(recordedLate.count)])))</h2>\n" + recordedLateTable()
        page += "<h2>\(escape(t("dashboard.inbox", ["count": String(inbox.entries.count)])))</h2>\n" + inboxTable()
        page += "\n</body></html>\n"
        return page
    }

    private func figuresTable() -> String {
        var html = "<table id=\"figures\"><tr><th>\(escape(t("grouping.\(report.grouping.rawValue)")))</th>"
        html += KPI.allCases.map { "<th title=\"\(escape(t("kpi.\($0.rawValue)")))\">\(escape(t("kpi-short.\($0.rawValue)")))</th>" }.joined()
            + "<th>\(escape(t("kpi.open-escalations")))</th></tr>\n"
        for (index, group) in (report.groups + [report.total]).enumerated() {
            let isTotal = index == report.groups.count
            html += "<tr data-group=\"\(escape(group.name))\"><td>\(isTotal ? escape(t("dashboard.total")) : reportLink(group.name, customer: customers[group.name]))</td>"
            for kpi in KPI.allCases {
                let figure = group.figure(kpi)
                let style = figure.rate.map { $0 >= 0.95 ? "good" : $0 >= 0.8 ? "warn" : "bad" } ?? ""
                html += "<td class=\"\(style)\" data-kpi=\"\(kpi.rawValue)\" data-met=\"\(figure.met)\" data-total=\"\(figure.total)\">\(escape(KPIText.rate(figure, t)))</td>"
            }
            html += "<td data-kpi=\"open_escalations\">\(group.openEscalations)</td></tr>\n"
        }
        return html + "</table>\n"
    }

    /// Horizontal bars: for each group, one bar per KPI, 0–100 %.
    private func groupChart() -> String {
        let groups = report.groups
        guard !groups.isEmpty else { return "<p class=\"meta\">\(escape(t("dashboard.no-customers")))</p>\n" }
        let rowHeight = 12, gap = 10, left = 150, width = 420
        let blockHeight = KPI.allCases.count * rowHeight + gap
        let height = groups.count * blockHeight + 40
        var svg = "<svg id=\"group-chart\" xmlns=\"http://www.w3.org/2000/svg\" width=\"\(left + width + 200)\" height=\(quote(height)) role=\"img\" aria-label=\"compliance by group\">\n"
        for (index, kpi) in KPI.allCases.enumerated() {
            svg += "<rect x=\"\(left + width + 20)\" y=\"\(10 + index * 16)\" width=\"10\" height=\"10\" fill=\"\(Self.color(index))\"/><text x=\"\(left + width + 36)\" y=\"\(19 + index * 16)\" font-size=\"11\">\(escape(t("kpi-short.\(kpi.rawValue)")))</text>\n"
        }
        for (row, group) in groups.enumerated() {
            let top = 10 + row * blockHeight
            svg += "<text x=\"4\" y=\"\(top + blockHeight / 2)\" font-size=\"12\">\(escape(TextTable.clip(group.name, to: 20)))</text>\n"
            for (index, kpi) in KPI.allCases.enumerated() {
                let y = top + index * rowHeight
                guard let rate = group.figure(kpi).rate else {
                    svg += "<text x=\"\(left + 2)\" y=\"\(y + 9)\" font-size=\"9\" fill=\"#8a949e\">\(escape(t("dashboard.no-records")))</text>\n"
                    continue
                }
                svg += "<rect x=\"\(left)\" y=\"\(y)\" width=\"\(Int((rate * Double(width)).rounded()))\" height=\"\(rowHeight - 2)\" fill=\"\(Self.color(index))\"><title>\(escape(group.name)): \(escape(t("kpi-short.\(kpi.rawValue)"))) \(escape(KPIText.rate(group.figure(kpi), t)))</title></rect>\n"
            }
        }
        let axis = 10 + groups.count * blockHeight
        svg += "<line x1=\"\(left)\" y1=\"\(axis)\" x2=\"\(left + width)\" y2=\"\(axis)\" stroke=\"#5b6775\"/>\n"
        for percent in stride(from: 0, through: 100, by: 25) {
            let x = left + width * percent / 100
            svg += "<line x1=\"\(x)\" y1=\"10\" x2=\"\(x)\" y2=\"\(axis)\" stroke=\"#d8dde3\" stroke-dasharray=\"2,3\"/><text x=\"\(x - 8)\" y=\"\(axis + 14)\" font-size=\"10\">\(percent)%</text>\n"
        }
        return svg + "</svg>\n"
    }

    /// One line per KPI over the trailing periods, the whole scope.
    private func trendChart() -> String {
        let left = 40, width = 560, top = 10, height = 180
        let step = trend.count > 1 ? width / (trend.count - 1) : 0
        var svg = "<svg id=\"trend-chart\" xmlns=\"http://www.w3.org/2000/svg\" width=\"\(left + width + 200)\" height=\"\(top + height + 40)\" role=\"img\" aria-label=\"compliance trend\">\n"
        for percent in stride(from: 0, through: 100, by: 25) {
            let y = top + height - height * percent / 100
            svg += "<line x1=\"\(left)\" y1=\"\(y)\" x2=\"\(left + width)\" y2=\"\(y)\" stroke=\"#d8dde3\"/><text x=\"4\" y=\"\(y + 4)\" font-size=\"10\">\(percent)%</text>\n"
        }
        for (index, report) in trend.enumerated() {
            svg += "<text x=\"\(left + index * step - 20)\" y=\"\(top + height + 16)\" font-size=\"10\">\(escape(report.period.description))</text>\n"
        }
        for (index, kpi) in KPI.allCases.enumerated() {
            let points = trend.enumerated().compactMap { position, report -> String? in
                report.total.figure(kpi).rate.map { "\(left + position * step),\(top + height - Int(($0 * Double(height)).rounded()))" }
            }
            if points.count > 1 {
                svg += "<polyline fill=\"none\" stroke=\"\(Self.color(index))\" stroke-width=\"2\" points=\"\(points.joined(separator: " "))\"/>\n"
            }
            for point in points {
                let xy = point.split(separator: ",")
                svg += "<circle cx=\"\(xy[0])\" cy=\"\(xy[1])\" r=\"3\" fill=\"\(Self.color(index))\"/>\n"
            }
            svg += "<rect x=\"\(left + width + 20)\" y=\"\(top + index * 16)\" width=\"10\" height=\"10\" fill=\"\(Self.color(index))\"/><text x=\"\(left + width + 36)\" y=\"\(top + 9 + index * 16)\" font-size=\"11\">\(escape(t("kpi-short.\(kpi.rawValue)")))</text>\n"
        }
        return svg + "</svg>\n"
    }

    /// The to-do list in its sections: complaints to escalate now, escalated ones, then the rest.
    private func todoSections() -> String {
        guard !todo.isEmpty else { return "<p class=\"meta\">\(escape(t("report.customer.nothing-open")))</p>\n" }
        return KPITodo(todo).sections.map { section in
            "<h3>\(escape(t("dashboard.section-count", ["title": t("todo.\(section.id)"), "count": String(section.misses.count)])))</h3>\n" + todoTable(section.misses, id: section.id)
        }.joined()
    }

    /// What needs a person, with who acts and how ('fieldsync inbox' prints the same).
    private func inboxTable() -> String {
        guard !inbox.entries.isEmpty else {
            return "<p class=\"meta\">\(escape(t("dashboard.inbox-empty")))</p>\n"
        }
        var html = "<table id=\"inbox\" class=\"todo\"><tr>" + ["kind", "branch", "about", "who", "what", "since", "to-act"]
            .map { "<th>\(escape(t("inbox.\($0)")))</th>" }.joined() + "</tr>\n"
        for entry in inbox.entries.prefix(300) {
            let since = entry.since.map { time(Timestamp(epochSeconds: Int64(clamping: $0 / 1_000), offsetMinutes: report.asOf.offsetMinutes)) } ?? ""
            let who = entry.person.map { person in entry.device.map { "\(person) (\($0))" } ?? person } ?? ""
            let subject = t.message(entry.subjectText?.key, entry.subjectText?.values ?? [:], otherwise: entry.subject)
            let detail = t.message(entry.detailText?.key, entry.detailText?.values ?? [:], otherwise: entry.detail)
            let action = t.message(entry.actionText?.key, entry.actionText?.values ?? [:], otherwise: entry.action)
            html += "<tr data-kind=\"\(escape(entry.kind.rawValue))\"><td>\(escape(t("inbox.kind.\(entry.kind.rawValue)")))</td><td>\(escape(entry.branch ?? ""))</td><td>\(escape(subject))</td><td>\(escape(who))</td><td>\(escape(detail))</td><td>\(escape(since))</td><td>\(escape(action))</td></tr>\n"
        }
        if inbox.entries.count > 300 {
            html += "<tr><td colspan=\"7\" class=\"small\">\(escape(t("dashboard.more", ["count": String(inbox.entries.count - 300), "command": "fieldsync inbox"])))</td></tr>\n"
        }
        return html + "</table>\n"
    }

    /// The period's events counted as met whose time was typed after the limit (KPI.md, Recorded late).
    private func recordedLateTable() -> String {
        guard !recordedLate.isEmpty else {
            return "<p class=\"meta\">\(escape(t("dashboard.late-none", ["minutes": String(ServiceLimits.recordingToleranceMinutes)])))</p>\n"
        }
        var html = "<p class=\"meta\">\(escape(t("dashboard.late-explained", ["minutes": String(ServiceLimits.recordingToleranceMinutes)])))</p>\n"
        html += "<table id=\"recorded-late\" class=\"todo\"><tr>" + ["record", "customer", "manager", "limit", "deadline", "time-given", "typed", "typed-after", "received"]
            .map { "<th>\(escape(t("column.\($0)")))</th>" }.joined() + "</tr>\n"
        for late in recordedLate.prefix(200) {
            let event = late.event
            html += "<tr data-record=\"\(escape(event.record))\"><td>\(documentLink(event))</td><td>\(reportLink(event.customerName, customer: event.customer))</td><td>\(escape(event.manager ?? ""))</td><td>\(escape(limit(event)))</td><td>\(escape(time(event.deadline)))</td><td>\(escape(time(late.claimed)))</td><td>\(escape(time(late.recorded)))</td><td>\(escape(t.duration(seconds: late.delaySeconds)))</td><td>\(escape(late.received.map { time($0) } ?? t("dashboard.before-receipts")))</td></tr>\n"
        }
        if recordedLate.count > 200 {
            html += "<tr><td colspan=\"9\" class=\"small\">\(escape(t("dashboard.more", ["count": String(recordedLate.count - 200), "command": "fieldsync-server kpi late"])))</td></tr>\n"
        }
        return html + "</table>\n"
    }

    private func todoTable(_ misses: [KPIMiss], id: String) -> String {
        var html = "<table id=\"todo-\(id)\" class=\"todo\"><tr>" + ["record", "customer", "manager", "limit", "deadline", "late-by"]
            .map { "<th>\(escape(t("column.\($0)")))</th>" }.joined() + "</tr>\n"
        for miss in misses.prefix(200) {
            html += "<tr data-record=\"\(escape(miss.record))\"><td>\(documentLink(miss))</td><td>\(reportLink(miss.customerName, customer: miss.customer))</td><td>\(escape(miss.manager ?? ""))</td><td>\(escape(limit(miss)))</td><td>\(escape(time(miss.deadline)))</td><td>\(escape(t.duration(seconds: miss.lateBySeconds)))</td></tr>\n"
        }
        if misses.count > 200 {
            html += "<tr><td colspan=\"6\" class=\"small\">\(escape(t("dashboard.more", ["count": String(misses.count - 200), "command": "fieldsync kpi todo"])))</td></tr>\n"
        }
        return html + "</table>\n"
    }

    /// "fault restored: 3 h (agreement A-7)" / "故障恢复：3小时（协议A-7）".
    private func limit(_ miss: KPIMiss) -> String {
        t("report.limit-deadline", ["limit": t("kpi-short.\(miss.kpi.rawValue)"), "deadline": KPILimitText.localized(miss.limit, t)])
    }

    /// "complaint f01dba8f", linked to the record's handbook document where it has one
    /// (a complaint's handling report, a fault's processing report, an agreement's expiry notice).
    private func documentLink(_ miss: KPIMiss) -> String {
        let text = escape(t.kind(miss.table)) + " " + escape(String(miss.record.prefix(8)))
        guard let kind = CaseDocuments.Kind.allCases.first(where: { $0.recordKind == miss.table }) else { return text }
        return "<a href=\"/dashboard/document?kind=\(kind.rawValue)&amp;customer=\(escape(miss.customer))&amp;id=\(escape(miss.record))\(langSuffix)\">\(text)</a>"
    }

    /// `text`, linked to the customer's monthly service report for the month of the page's period.
    private func reportLink(_ text: String, customer: String?) -> String {
        guard let customer else { return escape(text) }
        let month = ReportingPeriod.containing(report.period.start, kind: .month)
        return "<a href=\"/dashboard/report?customer=\(escape(customer))&amp;\(escape(month.query))\(langSuffix)\">\(escape(text))</a>"
    }

    static let colors = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]

    static func color(_ index: Int) -> String { colors[index % colors.count] }

    private func quote(_ value: Int) -> String { "\"\(value)\"" }
}

/// HTML text and attribute escaping (`HTMLText`), under the short name the pages use.
func escape(_ text: String) -> String { HTMLText.escaped(text) }
