import FieldSyncModel

// The report as JSON (the server API and `--json`), CSV and a text table. One
// rendering for the CLI, the server command and the API, so they agree.

extension KPIFigure: Encodable {
    enum CodingKeys: String, CodingKey { case kpi, title, met, missed, pending, total, rate }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(kpi.rawValue, forKey: .kpi)
        try container.encode(kpi.title, forKey: .title)
        try container.encode(met, forKey: .met)
        try container.encode(missed, forKey: .missed)
        try container.encode(pending, forKey: .pending)
        try container.encode(total, forKey: .total)
        try container.encode(rate, forKey: .rate)
    }
}

extension KPIMiss: Encodable {
    enum CodingKeys: String, CodingKey {
        case kpi, table, record, customer, customerName = "customer_name", manager, branch, limit, deadline, actual, open
        case lateBySeconds = "late_by_seconds", escalatedAt = "escalated_at", recorded = "recorded_at"
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(kpi.rawValue, forKey: .kpi)
        try container.encode(table.rawValue, forKey: .table)
        try container.encode(record, forKey: .record)
        try container.encode(customer, forKey: .customer)
        try container.encode(customerName, forKey: .customerName)
        try container.encode(manager, forKey: .manager)
        try container.encode(branch, forKey: .branch)
        try container.encode(limit, forKey: .limit)
        try container.encode(deadline.description, forKey: .deadline)
        try container.encode(actual?.description, forKey: .actual)
        try container.encode(isOpen, forKey: .open)
        try container.encode(lateBySeconds, forKey: .lateBySeconds)
        try container.encode(escalatedAt?.description, forKey: .escalatedAt)
        try container.encode(recorded?.description, forKey: .recorded)
    }
}

extension KPILateRecord: Encodable {
    enum CodingKeys: String, CodingKey {
        case kpi, table, record, customer, customerName = "customer_name", manager, branch, limit, deadline, claimed, recorded
        case delaySeconds = "delay_seconds", afterDeadlineSeconds = "after_deadline_seconds", receivedAt = "received_at"
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(event.kpi.rawValue, forKey: .kpi)
        try container.encode(event.table.rawValue, forKey: .table)
        try container.encode(event.record, forKey: .record)
        try container.encode(event.customer, forKey: .customer)
        try container.encode(event.customerName, forKey: .customerName)
        try container.encode(event.manager, forKey: .manager)
        try container.encode(event.branch, forKey: .branch)
        try container.encode(event.limit, forKey: .limit)
        try container.encode(event.deadline.description, forKey: .deadline)
        try container.encode(claimed.description, forKey: .claimed)
        try container.encode(recorded.description, forKey: .recorded)
        try container.encode(delaySeconds, forKey: .delaySeconds)
        try container.encode(afterDeadlineSeconds, forKey: .afterDeadlineSeconds)
        try container.encodeIfPresent(received?.description, forKey: .receivedAt)
    }
}

extension KPIGroup: Encodable {
    enum CodingKeys: String, CodingKey { case name, figures, openEscalations = "open_escalations", misses }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(name, forKey: .name)
        try container.encode(figures, forKey: .figures)
        try container.encode(openEscalations, forKey: .openEscalations)
        try container.encode(misses, forKey: .misses)
    }
}

extension KPIReport: Encodable {
    enum CodingKeys: String, CodingKey { case period, start, end, grouping, asOf = "as_of", groups, total }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(period.description, forKey: .period)
        try container.encode(period.start.description, forKey: .start)
        try container.encode(period.end.description, forKey: .end)
        try container.encode(grouping.rawValue, forKey: .grouping)
        try container.encode(asOf.description, forKey: .asOf)
        try container.encode(groups, forKey: .groups)
        try container.encode(total, forKey: .total)
    }
}

/// The supervisor's to-do list in the handbook's order: complaints past
/// their 3 working days that nobody escalated (escalate them now, 重点督办),
/// escalated complaints still unresolved, agreement notices, then the rest.
public struct KPITodo: Sendable {
    public struct Section: Sendable {
        /// A stable name for links and tests: `escalate`, `escalated`, `agreements`, `other`.
        public var id: String
        public var title: String
        public var misses: [KPIMiss]
    }

    public var sections: [Section]

    public init(_ misses: [KPIMiss]) {
        let resolution = misses.filter { $0.kpi == .complaintResolution }
        let escalated = Set(misses.filter { $0.escalatedAt != nil && $0.table == .complaint }.map(\.record))
        let candidates: [Section] = [
            Section(id: "escalate", title: "Complaints past \(ServiceLimits.complaintResolutionWorkingDays) working days, neither resolved nor escalated: escalate to the branch supervisor (重点督办)",
                    misses: resolution.filter { $0.escalatedAt == nil }),
            Section(id: "escalated", title: "Escalated complaints (重点督办) not resolved yet",
                    misses: misses.filter { $0.table == .complaint && escalated.contains($0.record) }),
            Section(id: "agreements", title: "Agreement notices overdue (guide §2.3.3)", misses: misses.filter { $0.table == .agreement }),
            Section(id: "other", title: "Other records open past a limit",
                    misses: misses.filter { !($0.kpi == .complaintResolution && $0.escalatedAt == nil) && !($0.table == .complaint && escalated.contains($0.record)) && $0.table != .agreement }),
        ]
        sections = candidates.filter { !$0.misses.isEmpty }
    }
}

public enum KPIText {
    /// `93.3% (14/15)`, or `—` when nothing counted.
    public static func rate(_ figure: KPIFigure) -> String {
        guard let rate = figure.rate else { return "—" }
        let tenths = Int((rate * 1000).rounded())
        return "\(tenths / 10).\(tenths % 10)% (\(figure.met)/\(figure.total))"
    }

    /// "2 d 3 h", "45 min".
    public static func duration(_ seconds: Int64) -> String {
        let minutes = max(0, seconds) / 60
        if minutes < 60 { return "\(minutes) min" }
        let hours = minutes / 60
        if hours < 48 { return "\(hours) h \(minutes % 60) min" }
        return "\(hours / 24) d \(hours % 24) h"
    }

    public static func lateCSV(_ records: [KPILateRecord]) -> String {
        var lines = ["kpi,table,record,customer,customer_name,manager,branch,limit,deadline,claimed,recorded,delay_seconds,after_deadline_seconds,received_at"]
        for late in records {
            let event = late.event
            lines.append([event.kpi.rawValue, event.table.rawValue, event.record, event.customer, field(event.customerName), field(event.manager ?? ""),
                          field(event.branch ?? ""), field(event.limit), event.deadline.description, late.claimed.description,
                          late.recorded.description, String(late.delaySeconds), String(late.afterDeadlineSeconds),
                          late.received?.description ?? ""].joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// One row per group and a total row; one column per KPI, plus open escalations.
    public static func csv(_ report: KPIReport) -> String {
        var lines = [(["period", report.grouping.rawValue] + KPI.allCases.flatMap { ["\($0.rawValue)_met", "\($0.rawValue)_total", "\($0.rawValue)_rate"] } + ["open_escalations"]).joined(separator: ",")]
        for group in report.groups + [report.total] {
            var cells = [report.period.description, field(group.name)]
            for kpi in KPI.allCases {
                let figure = group.figure(kpi)
                cells += [String(figure.met), String(figure.total), figure.rate.map { String(($0 * 10_000).rounded() / 10_000) } ?? ""]
            }
            cells.append(String(group.openEscalations))
            lines.append(cells.joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    public static func missesCSV(_ misses: [KPIMiss]) -> String {
        var lines = ["kpi,table,record,customer,customer_name,manager,branch,limit,deadline,actual,open,late_by_seconds,escalated_at,recorded_at"]
        for miss in misses {
            lines.append([miss.kpi.rawValue, miss.table.rawValue, miss.record, miss.customer, field(miss.customerName), field(miss.manager ?? ""),
                          field(miss.branch ?? ""), field(miss.limit), miss.deadline.description, miss.actual?.description ?? "",
                          miss.isOpen ? "true" : "false", String(miss.lateBySeconds), miss.escalatedAt?.description ?? "",
                          miss.recorded?.description ?? ""].joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// RFC 4180 quoting where needed, and OWASP's rule against CSV injection:
    /// a cell of typed text that a spreadsheet would read as a formula (it
    /// starts with `=`, `+`, `-`, `@`, a tab or a carriage return) is prefixed
    /// with `'` and quoted, so `=HYPERLINK(…)` in a customer's name stays text.
    public static func field(_ text: String) -> String {
        var text = text
        if let first = text.unicodeScalars.first, "=+-@\t\r".unicodeScalars.contains(first) { text = "'" + text }
        guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" || $0 == "'" }) else { return text }
        return "\"" + text.split(separator: "\"", omittingEmptySubsequences: false).joined(separator: "\"\"") + "\""
    }
}
