import FieldSyncLocalization
import FieldSyncModel

// The monthly service report as a handbook document (Markdown to print or paste, a
// self-contained HTML page to hand over or open from the dashboard) and as JSON.

extension ServiceReport {
    /// The report in the structure of the guide (ch. 2 §4.3, 服务联席会议): project status,
    /// service capability, service indicators, complaints; in `strings`' language.
    public func document(_ t: Strings) -> HandbookDocument {
        func time(_ value: Timestamp?) -> String { t.time(value) }
        func onTime(_ done: Timestamp?, _ deadline: Timestamp) -> String {
            guard let done else { return asOf > deadline ? t("report.open-late") : t("report.open") }
            return done <= deadline ? t("report.on-time") : t("report.late-by", ["duration": t.duration(seconds: done.epochSeconds - deadline.epochSeconds)])
        }
        /// ", recorded 2 h 10 min after the time given" when it was typed beyond the tolerance after it.
        func typed(_ recorded: Timestamp?, _ done: Timestamp?) -> String {
            guard let recorded, let done else { return "" }
            return t("report.typed-after", ["duration": t.duration(seconds: recorded.epochSeconds - done.epochSeconds)])
        }
        func item(_ miss: KPIMiss) -> String {
            t("report.item", ["kpi": t("kpi.\(miss.kpi.rawValue)"), "kind": t.kind(miss.table), "id": String(miss.record.prefix(8))])
        }
        func judged(_ time: String, _ judgement: String) -> String { t("report.time-judged", ["time": time, "judgement": judgement]) }
        func limit(_ text: String) -> String { KPILimitText.localized(text, t) }
        let subtitle = t("report.customer.subtitle", [
            "start": t.date(period.start), "end": t.date(period.end), "level": t.choice(customer.level),
            "manager": customer.manager ?? "—", "branch": customer.branch ?? "—",
        ])
        var blocks: [HandbookDocument.Block] = []
        blocks.append(.heading(t("report.customer.project")))
        blocks.append(.table(headings: [t("field.agreements.number"), t("field.agreements.ends"), t("report.notice-due"), t("report.notice-given"),
                                        t("report.renewal-due"), t("report.renewed-or-terminated")],
                             rows: agreements.map {
                                 [$0.number, t.date($0.ends), t.date($0.noticeDue), $0.noticeGiven.map { t.date($0) } ?? "—", t.date($0.renewalDue),
                                  $0.renewedAt.map { t("report.renewed", ["date": t.date($0)]) }
                                    ?? $0.terminationNoticeAt.map { t("report.terminated", ["date": t.date($0)]) } ?? "—"]
                             },
                             empty: t("report.customer.no-agreements")))
        blocks.append(.heading(t("report.customer.capability")))
        blocks.append(.table(headings: [t("field.visits.at"), t("field.visits.kind"), t("field.customers.manager"), t("field.visits.summary"),
                                        t("field.visits.requests"), t("field.visits.actions")],
                             rows: visits.map { [time($0.at), t.choice($0.kind), $0.manager ?? "", $0.summary, $0.requests ?? "", $0.actions ?? ""] },
                             empty: t("report.customer.no-visits")))
        blocks.append(.table(headings: [t("field.faults.reported_at"), t("field.faults.symptom"), t("field.faults.status"),
                                        t("field.faults.first_feedback_at"), t("field.faults.restored_at"), t("field.faults.restore_by"),
                                        t("field.faults.report_delivered_at")],
                             rows: faults.map {
                                 [time($0.reportedAt), $0.symptom + ($0.scope.map { t("report.scope", ["scope": $0]) } ?? ""), t.state($0.status, of: .fault),
                                  judged(time($0.firstFeedbackAt), onTime($0.firstFeedbackAt, $0.feedbackDeadline)) + typed($0.firstFeedbackRecorded, $0.firstFeedbackAt),
                                  judged(time($0.restoredAt), onTime($0.restoredAt, $0.restorationDeadline)) + typed($0.restoredRecorded, $0.restoredAt),
                                  t("report.limit-deadline", ["limit": limit($0.restorationLimit), "deadline": time($0.restorationDeadline)]),
                                  time($0.reportDeliveredAt)]
                             },
                             empty: t("report.customer.no-faults")))
        blocks.append(.heading(t("report.customer.indicators")))
        blocks.append(.table(headings: [t("report.kpi"), t("report.met"), t("report.missed"), t("report.pending"), t("report.rate")],
                             rows: figures.filter { $0.total + $0.pending > 0 }.map {
                                 [t("kpi.\($0.kpi.rawValue)"), String($0.met), String($0.missed), String($0.pending), KPIText.rate($0, t)]
                             },
                             empty: t("report.customer.nothing-due")))
        blocks.append(.table(headings: [t("report.open-item"), t("report.limit"), t("report.deadline"), t("report.late-by-heading")],
                             rows: openItems.map { [item($0), limit($0.limit), time($0.deadline), t.duration(seconds: $0.lateBySeconds)] },
                             empty: t("report.customer.nothing-open")))
        if !recordedLate.isEmpty {
            blocks.append(.paragraph(t("report.customer.recorded-late")))
            blocks.append(.table(headings: [t("report.open-item"), t("report.limit"), t("report.deadline"), t("report.time-given"), t("report.recorded")],
                                 rows: recordedLate.map {
                                     [item($0.event), limit($0.event.limit), time($0.event.deadline), time($0.claimed),
                                      t("report.recorded-after", ["time": time($0.recorded), "duration": t.duration(seconds: $0.delaySeconds)])]
                                 },
                                 empty: ""))
        }
        blocks.append(.heading(t("report.customer.complaints")))
        blocks.append(.table(headings: [t("field.complaints.received_at"), t("field.complaints.content"), t("field.complaints.status"),
                                        t("field.complaints.first_feedback_at"), t("field.complaints.resolved_at"), t("field.complaints.result"),
                                        t("field.complaints.escalated_at"), t("report.follow-up-visit"), t("field.complaints.closed_at")],
                             rows: complaints.map { complaint in
                                 [time(complaint.receivedAt), complaint.content, t.state(complaint.status, of: .complaint),
                                  judged(time(complaint.firstFeedbackAt), onTime(complaint.firstFeedbackAt, complaint.feedbackDeadline))
                                     + typed(complaint.firstFeedbackRecorded, complaint.firstFeedbackAt),
                                  judged(time(complaint.resolvedAt), onTime(complaint.resolvedAt, complaint.resolutionDeadline))
                                     + typed(complaint.resolvedRecorded, complaint.resolvedAt), complaint.result ?? "",
                                  time(complaint.escalatedAt),
                                  complaint.followUpDeadline.map { judged(time(complaint.followUpVisitAt), onTime(complaint.followUpVisitAt, $0)) } ?? "—",
                                  time(complaint.closedAt)]
                             },
                             empty: t("report.customer.no-complaints")))
        blocks.append(.signatures([t("sign.customer"), t("sign.manager")]))
        return HandbookDocument(language: t.language,
                                title: t("report.customer.title", ["customer": customer.name, "period": period.text(t)]),
                                subtitle: subtitle, blocks: blocks,
                                footer: t("report.as-of", ["time": time(asOf)]), colon: t("punctuation.colon"))
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
