import FieldSyncModel

// The monthly service report as Markdown (to print or paste), a self-contained
// HTML page (to hand over or open from the dashboard) and JSON.

extension ServiceReport {
    /// Rows of the sections, shared by Markdown and HTML.
    struct Section {
        var title: String
        var headings: [String]
        var rows: [[String]]
        var empty: String
    }

    var heading: String { "Service report — \(customer.name), \(period)" }

    var subtitle: String {
        "\(period.start) to \(period.end) · level \(customer.level) · manager \(customer.manager ?? "—") · branch \(customer.branch ?? "—") · as of \(asOf)"
    }

    func sections() -> [Section] {
        func time(_ value: Timestamp?) -> String { value.map { String($0.description.prefix(16).map { $0 == "T" ? " " : $0 }) } ?? "—" }
        func onTime(_ done: Timestamp?, _ deadline: Timestamp) -> String {
            guard let done else { return asOf > deadline ? "open, late" : "open" }
            return done <= deadline ? "on time" : "late by \(KPIText.duration(done.epochSeconds - deadline.epochSeconds))"
        }
        /// ", recorded 2 h 10 min after the time given" when it was typed beyond the tolerance after it.
        func typed(_ recorded: Timestamp?, _ done: Timestamp?) -> String {
            guard let recorded, let done else { return "" }
            return ", recorded \(KPIText.duration(recorded.epochSeconds - done.epochSeconds)) after the time given"
        }
        return [
            Section(title: "Visits", headings: ["at", "kind", "manager", "summary", "requests", "actions"],
                    rows: visits.map { [time($0.at), $0.kind, $0.manager ?? "", $0.summary, $0.requests ?? "", $0.actions ?? ""] },
                    empty: "No visits in the period."),
            Section(title: "Faults", headings: ["reported", "symptom", "status", "first feedback", "restored", "restoration limit", "report delivered"],
                    rows: faults.map {
                        [time($0.reportedAt), $0.symptom + ($0.scope.map { " (\($0))" } ?? ""), $0.status,
                         "\(time($0.firstFeedbackAt)), \(onTime($0.firstFeedbackAt, $0.feedbackDeadline))\(typed($0.firstFeedbackRecorded, $0.firstFeedbackAt))",
                         "\(time($0.restoredAt)), \(onTime($0.restoredAt, $0.restorationDeadline))\(typed($0.restoredRecorded, $0.restoredAt))",
                         "\($0.restorationLimit): \(time($0.restorationDeadline))", time($0.reportDeliveredAt)]
                    },
                    empty: "No faults reported in the period."),
            Section(title: "Complaints", headings: ["received", "content", "status", "first feedback", "resolved", "result", "escalated", "follow-up visit", "closed"],
                    rows: complaints.map { complaint in
                        [time(complaint.receivedAt), complaint.content, complaint.status,
                         "\(time(complaint.firstFeedbackAt)), \(onTime(complaint.firstFeedbackAt, complaint.feedbackDeadline))"
                            + typed(complaint.firstFeedbackRecorded, complaint.firstFeedbackAt),
                         "\(time(complaint.resolvedAt)), \(onTime(complaint.resolvedAt, complaint.resolutionDeadline))"
                            + typed(complaint.resolvedRecorded, complaint.resolvedAt), complaint.result ?? "",
                         time(complaint.escalatedAt),
                         complaint.followUpDeadline.map { "\(time(complaint.followUpVisitAt)), \(onTime(complaint.followUpVisitAt, $0))" } ?? "—",
                         time(complaint.closedAt)]
                    },
                    empty: "No complaints in the period."),
            Section(title: "Service levels", headings: ["KPI", "met", "missed", "pending", "rate"],
                    rows: figures.filter { $0.total + $0.pending > 0 }.map {
                        [$0.kpi.title, String($0.met), String($0.missed), String($0.pending), KPIText.rate($0)]
                    },
                    empty: "Nothing was due in the period."),
            Section(title: "Agreements coming due", headings: ["number", "ends", "expiry notice due", "given", "renewal due", "renewed / terminated"],
                    rows: agreements.map {
                        [$0.number, $0.ends.description, $0.noticeDue.description, $0.noticeGiven?.description ?? "—", $0.renewalDue.description,
                         $0.renewedAt.map { "renewed \($0)" } ?? $0.terminationNoticeAt.map { "terminated \($0)" } ?? "—"]
                    },
                    empty: "No agreement ends within 6 months."),
            Section(title: "Open items past a limit", headings: ["item", "limit", "deadline", "late by"],
                    rows: openItems.map {
                        ["\($0.kpi.heading): \($0.table.noun) \($0.record.prefix(8))", $0.limit, time($0.deadline), KPIText.duration($0.lateBySeconds)]
                    },
                    empty: "Nothing is open past its limit."),
            Section(title: "Met as given, recorded after the limit", headings: ["item", "limit", "deadline", "time given", "recorded"],
                    rows: recordedLate.map {
                        ["\($0.event.kpi.heading): \($0.event.table.noun) \($0.event.record.prefix(8))", $0.event.limit, time($0.event.deadline),
                         time($0.claimed), "\(time($0.recorded)) (\(KPIText.duration($0.delaySeconds)) after the time given)"]
                    },
                    empty: "Every time given was recorded within its limit."),
        ]
    }

    public var markdown: String {
        func cell(_ text: String) -> String {
            var out = ""
            for character in text {
                switch character {
                case "|": out += "\\|"
                case "\n", "\r", "\r\n": out += " "
                default: out.append(character)
                }
            }
            return out
        }
        var text = "# \(heading)\n\n\(subtitle)\n"
        for section in sections() {
            text += "\n## \(section.title)\n\n"
            if section.rows.isEmpty {
                text += "\(section.empty)\n"
                continue
            }
            text += "| " + section.headings.map(cell).joined(separator: " | ") + " |\n"
            text += "|" + String(repeating: "---|", count: section.headings.count) + "\n"
            for row in section.rows { text += "| " + row.map(cell).joined(separator: " | ") + " |\n" }
        }
        return text
    }

    /// A page with no scripts and no external files, so it prints as it shows.
    public var html: String {
        let escape = HTMLText.escaped
        var page = """
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8"><title>\(escape(heading))</title>
            <style>
            body { font-family: sans-serif; margin: 2em; color: #1d2733; }
            table { border-collapse: collapse; margin-bottom: 1em; }
            th, td { border: 1px solid #d8dde3; padding: 4px 8px; text-align: left; vertical-align: top; }
            th { background: #f1f4f7; }
            .meta { color: #5b6775; }
            </style></head><body>
            <h1>\(escape(heading))</h1>
            <p class="meta">\(escape(subtitle))</p>

            """
        for section in sections() {
            page += "<h2>\(escape(section.title))</h2>\n"
            if section.rows.isEmpty {
                page += "<p class=\"meta\">\(escape(section.empty))</p>\n"
                continue
            }
            page += "<table><tr>" + section.headings.map { "<th>\(escape($0))</th>" }.joined() + "</tr>\n"
            for row in section.rows { page += "<tr>" + row.map { "<td>\(escape($0))</td>" }.joined() + "</tr>\n" }
            page += "</table>\n"
        }
        return page + "</body></html>\n"
    }
}

extension ServiceReport: Encodable {
    enum CodingKeys: String, CodingKey {
        case customer, customerName = "customer_name", level, manager, branch, period, start, end, asOf = "as_of"
        case visits, faults, complaints, figures, agreements, openItems = "open_items", recordedLate = "recorded_late"
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(customer.id, forKey: .customer)
        try container.encode(customer.name, forKey: .customerName)
        try container.encode(customer.level, forKey: .level)
        try container.encode(customer.manager, forKey: .manager)
        try container.encode(customer.branch, forKey: .branch)
        try container.encode(period.description, forKey: .period)
        try container.encode(period.start.description, forKey: .start)
        try container.encode(period.end.description, forKey: .end)
        try container.encode(asOf.description, forKey: .asOf)
        try container.encode(visits, forKey: .visits)
        try container.encode(faults, forKey: .faults)
        try container.encode(complaints, forKey: .complaints)
        try container.encode(figures, forKey: .figures)
        try container.encode(agreements, forKey: .agreements)
        try container.encode(openItems, forKey: .openItems)
        try container.encode(recordedLate, forKey: .recordedLate)
    }
}

/// Times as ISO 8601 text and dates as `YYYY-MM-DD`, keys in snake case, as everywhere else in the API.
private struct Keys: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

private func snake(_ name: String) -> String {
    var out = ""
    for character in name {
        if character.isUppercase { out += "_" + character.lowercased() } else { out.append(character) }
    }
    return out
}

private extension KeyedEncodingContainer where K == Keys {
    mutating func put(_ name: String, _ value: Any?) throws {
        let key = Keys(stringValue: snake(name))
        switch value {
        case let time as Timestamp: try encode(time.description, forKey: key)
        case let date as LocalDate: try encode(date.description, forKey: key)
        case let text as String: try encode(text, forKey: key)
        default: try encodeNil(forKey: key)
        }
    }
}

extension ServiceReport.Visit: Encodable {
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Keys.self)
        for (name, value) in [("id", id as Any?), ("at", at), ("kind", kind), ("manager", manager), ("summary", summary),
                              ("requests", requests), ("actions", actions)] { try container.put(name, value) }
    }
}

extension ServiceReport.Fault: Encodable {
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Keys.self)
        for (name, value) in [("id", id as Any?), ("symptom", symptom), ("scope", scope), ("status", status), ("reportedAt", reportedAt),
                              ("firstFeedbackAt", firstFeedbackAt), ("feedbackDeadline", feedbackDeadline), ("restoredAt", restoredAt),
                              ("restorationDeadline", restorationDeadline), ("restorationLimit", restorationLimit),
                              ("reportDeliveredAt", reportDeliveredAt), ("firstFeedbackRecorded", firstFeedbackRecorded),
                              ("restoredRecorded", restoredRecorded)] { try container.put(name, value) }
    }
}

extension ServiceReport.Complaint: Encodable {
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Keys.self)
        for (name, value) in [("id", id as Any?), ("content", content), ("status", status), ("receivedAt", receivedAt),
                              ("firstFeedbackAt", firstFeedbackAt), ("feedbackDeadline", feedbackDeadline), ("resolvedAt", resolvedAt),
                              ("resolutionDeadline", resolutionDeadline), ("result", result), ("escalatedAt", escalatedAt),
                              ("followUpVisitAt", followUpVisitAt), ("followUpDeadline", followUpDeadline),
                              ("closedAt", closedAt), ("firstFeedbackRecorded", firstFeedbackRecorded),
                              ("resolvedRecorded", resolvedRecorded)] { try container.put(name, value) }
    }
}

extension ServiceReport.Agreement: Encodable {
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Keys.self)
        for (name, value) in [("id", id as Any?), ("number", number), ("ends", ends), ("noticeDue", noticeDue), ("noticeGiven", noticeGiven),
                              ("renewalDue", renewalDue), ("renewedAt", renewedAt), ("terminationNoticeAt", terminationNoticeAt)] {
            try container.put(name, value)
        }
    }
}
