import FieldSyncLocalization
import FieldSyncModel

// The text screens of the KPIs (`fieldsync kpi`, `kpi misses|todo|late`, the server's
// `kpi`) in the reader's language. English reads as it always has; CSV and JSON never
// change with the language.

extension ReportingPeriod {
    /// `2026-11` / 2026年11月, `2026-W47` / 2026年第47周, `2026-Q4` / 2026年第4季度, a range with its dates.
    public func text(_ t: Strings) -> String {
        let (year, month, _) = start.components
        switch kind {
        case .month: return t("format.month", ["year": String(year), "month": String(month), "mm": month < 10 ? "0\(month)" : String(month)])
        case .quarter: return t("format.quarter", ["year": String(year), "q": String((month - 1) / 3 + 1)])
        case .week:
            let (weekYear, week) = start.isoWeek
            return t("format.week", ["year": String(weekYear), "w": String(week), "ww": week < 10 ? "0\(week)" : String(week)])
        case .range: return t("format.range", ["start": t.date(start), "end": t.date(end)])
        }
    }
}

extension KPIText {
    /// `93.3% (14/15)` / `93.3%（14/15）`, or `—` when nothing counted.
    public static func rate(_ figure: KPIFigure, _ t: Strings) -> String {
        guard let rate = figure.rate else { return "—" }
        let tenths = Int((rate * 1000).rounded())
        return t("format.rate", ["percent": "\(tenths / 10).\(tenths % 10)", "met": String(figure.met), "total": String(figure.total)])
    }

    /// The summary a person reads: a heading, one row per group (and a total), and what was left out.
    public static func summary(_ report: KPIReport, _ t: Strings) -> String {
        var text = t("kpi.summary.heading", ["period": report.period.text(t), "start": t.date(report.period.start), "end": t.date(report.period.end),
                                             "by": t("grouping.\(report.grouping.rawValue)"), "time": t.instant(report.asOf)]) + "\n"
        var table = TextTable([t("grouping.\(report.grouping.rawValue)")] + KPI.allCases.map { t("kpi-short.\($0.rawValue)") } + [t("kpi.open-escalations")])
        for (index, group) in (report.groups + (report.groups.count > 1 ? [report.total] : [])).enumerated() {
            let name = index == report.groups.count ? t("dashboard.total")
                : report.grouping == .province ? t("grouping.province") : group.name
            table.rows.append([name] + KPI.allCases.map { rate(group.figure($0), t) } + [String(group.openEscalations)])
        }
        text += table.rendered(empty: t("dashboard.no-customers"))
        let pending = report.total.figures.reduce(0) { $0 + $1.pending }
        if pending > 0 { text += t("kpi.summary.pending", ["count": String(pending)]) + "\n" }
        if !report.total.misses.isEmpty {
            text += t("kpi.summary.missed", ["count": String(report.total.misses.count), "period": report.period.description]) + "\n"
        }
        return text
    }

    /// The to-do list as text, one table per section.
    public static func todo(_ misses: [KPIMiss], _ t: Strings) -> String {
        let sections = KPITodo(misses).sections
        guard !sections.isEmpty else { return t("report.customer.nothing-open") + "\n" }
        return sections.map {
            t("dashboard.section-count", ["title": t("todo.\($0.id)"), "count": String($0.misses.count)]) + "\n" + missesTable($0.misses, empty: "", t)
        }.joined(separator: "\n")
    }

    public static func missesTable(_ misses: [KPIMiss], empty: String, _ t: Strings) -> String {
        let typedLate = misses.contains { $0.recorded != nil }
        var table = TextTable(["kpi", "record", "customer", "manager", "limit", "deadline", "done", "late-by"].map { t("column.\($0)") }
                              + (typedLate ? [t("column.recorded-after")] : []))
        for miss in misses {
            table.rows.append([t("kpi-short.\(miss.kpi.rawValue)"), "\(t.kind(miss.table)) \(miss.record.prefix(8))", TextTable.clip(miss.customerName, to: 24),
                               miss.manager ?? "", KPILimitText.localized(miss.limit, t), t.instant(miss.deadline),
                               miss.actual.map { t.instant($0) } ?? t("report.open"), t.duration(seconds: miss.lateBySeconds)]
                              + (typedLate ? [recordedNote(miss, t)] : []))
        }
        return table.rendered(empty: empty)
    }

    /// "2 h 10 min after the time given", or empty when it was typed in time.
    public static func recordedNote(_ miss: KPIMiss, _ t: Strings) -> String {
        guard let recorded = miss.recorded, let actual = miss.actual else { return "" }
        return t("kpi.recorded-after", ["duration": t.duration(seconds: recorded.epochSeconds - actual.epochSeconds)])
    }

    /// The events met as given but typed after their limit (`kpi late`).
    public static func lateTable(_ records: [KPILateRecord], empty: String, _ t: Strings) -> String {
        // The server's receipt, where it is known (the server's answers; not a laptop's own).
        let received = records.contains { $0.received != nil }
        var table = TextTable(["kpi", "record", "customer", "manager", "limit", "deadline", "time-given", "typed", "typed-after"].map { t("column.\($0)") }
                              + (received ? [t("column.received")] : []))
        for late in records {
            let event = late.event
            table.rows.append([t("kpi-short.\(event.kpi.rawValue)"), "\(t.kind(event.table)) \(event.record.prefix(8))", TextTable.clip(event.customerName, to: 24),
                               event.manager ?? "", KPILimitText.localized(event.limit, t), t.instant(event.deadline), t.instant(late.claimed),
                               t.instant(late.recorded), t.duration(seconds: late.delaySeconds)]
                              + (received ? [late.received.map { t.instant($0) } ?? t("dashboard.before-receipts")] : []))
        }
        return table.rendered(empty: empty)
    }
}
