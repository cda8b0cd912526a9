import FieldSyncLocalization
import FieldSyncModel

/// The handbook's documents about one case or agreement, built from a replica's
/// records and the same limits the KPIs judge by (so a document and the dashboard
/// never disagree about whether something was on time):
/// - 投诉处理报告单 (附表 3.17), handed over at the follow-up visit after a complaint is resolved;
/// - 故障处理报告 (guide 2.4.1 §3), delivered at the time agreed with the customer;
/// - 服务到期通知 (附表 3.12), given 3 months before an agreement ends.
public enum CaseDocuments {
    /// A fault's or complaint's note (处理记录), in the order they were written.
    public struct Note: Sendable, Equatable {
        public var at: Timestamp?
        public var author: String?
        public var text: String
        public init(at: Timestamp?, author: String?, text: String) {
            self.at = at
            self.author = author
            self.text = text
        }
    }

    /// The documents about one record.
    public enum Kind: String, Sendable, CaseIterable {
        case complaint, fault, expiry

        /// The record kind a document is about.
        public var recordKind: RecordKind {
            switch self {
            case .complaint: .complaint
            case .fault: .fault
            case .expiry: .agreement
            }
        }
    }

    /// Why a document cannot be made from what is held.
    public enum Failure: Error, Equatable, Sendable {
        /// No such record of the customer here.
        case notFound
        /// The record lacks the field the document starts from (a time received or reported, an end date).
        case missing(String)
    }

    /// A document about record `id` of `customer`, from the customer's records by kind
    /// (visits, faults, complaints, agreements and their notes: `documentKinds`) and the
    /// KPI facts (the calendar, the agreements' limits) the dashboard judges by.
    /// Both the command line and the server's dashboard make documents here.
    public static func document(_ kind: Kind, id: String, customer: String, facts: KPIFacts,
                                records: [RecordKind: [(id: String, fields: ServiceReport.Fields)]],
                                asOf: Timestamp, date: LocalDate? = nil, _ t: Strings) throws(Failure) -> HandbookDocument {
        guard let fields = records[kind.recordKind]?.first(where: { $0.id == id })?.fields, !(fields["removed"]?.bool ?? false),
              let holder = facts.customers[customer] else { throw .notFound }
        func notes(_ kind: RecordKind, parent: String) -> [Note] {
            (records[kind] ?? []).filter { $0.fields[parent]?.text == id }.map { note in
                Note(at: time(note.fields, "at"), author: text(note.fields, "author"), text: text(note.fields, "text") ?? "")
            }.sorted { ($0.at?.epochSeconds ?? 0, $0.text) < ($1.at?.epochSeconds ?? 0, $1.text) }
        }
        /// The customer's report over the case's first day: it holds the case with its limits judged as the KPIs judge them.
        func report(from field: String) throws(Failure) -> ServiceReport {
            guard let began = time(fields, field), let period = try? ReportingPeriod(start: began.localDay, days: 1),
                  let report = ServiceReport(customer: customer, facts: facts, records: records, period: period, asOf: asOf)
            else { throw .missing(field) }
            return report
        }
        switch kind {
        case .complaint:
            let report = try report(from: "received_at")
            guard let complaint = report.complaints.first(where: { $0.id == id }) else { throw .missing("received_at") }
            // The visit the KPIs counted: at its time, one linked to this complaint first, never a removed one.
            let followUp = complaint.followUpVisitAt.flatMap { at in
                (records[.visit] ?? []).filter { !($0.fields["removed"]?.bool ?? false) }
                    .sorted { ($0.fields["complaint"]?.text == id ? 0 : 1, $0.id) < ($1.fields["complaint"]?.text == id ? 0 : 1, $1.id) }
                    .lazy.compactMap { ServiceReport.Visit(id: $0.id, fields: $0.fields) }.first { $0.at == at }
            }
            return complaintReport(complaint, fields: fields, notes: notes(.complaintNote, parent: "complaint"), followUp: followUp,
                                   customer: holder, asOf: asOf, t)
        case .fault:
            let report = try report(from: "reported_at")
            guard let fault = report.faults.first(where: { $0.id == id }) else { throw .missing("reported_at") }
            return faultReport(fault, fields: fields, notes: notes(.faultNote, parent: "fault"), customer: holder, asOf: asOf, t)
        case .expiry:
            guard let notice = expiryNotice(agreement: fields, customer: holder, date: date ?? asOf.localDay, t) else { throw .missing("ends") }
            return notice
        }
    }

    /// The kinds `document(_:id:customer:facts:records:asOf:date:_:)` reads.
    public static let documentKinds: [RecordKind] = [.visit, .fault, .complaint, .agreement, .faultNote, .complaintNote]

    /// The judgement of a time against its limit, as the reports word it.
    static func judged(_ done: Timestamp?, _ deadline: Timestamp, asOf: Timestamp, _ t: Strings) -> String {
        guard let done else { return asOf > deadline ? t("report.open-late") : t("report.open") }
        return done <= deadline ? t("report.on-time") : t("report.late-by", ["duration": t.duration(seconds: done.epochSeconds - deadline.epochSeconds)])
    }

    static func notesTable(_ notes: [Note], _ t: Strings) -> HandbookDocument.Block {
        .table(headings: [t("field.notes.at"), t("field.notes.author"), t("field.notes.text")],
               rows: notes.map { [t.time($0.at), $0.author ?? "", $0.text] },
               empty: t("document.no-notes"))
    }

    static func text(_ fields: ServiceReport.Fields, _ name: String) -> String? {
        fields[name]?.text.flatMap { $0.isEmpty ? nil : $0 }
    }

    static func time(_ fields: ServiceReport.Fields, _ name: String) -> Timestamp? {
        fields[name]?.text.flatMap { Timestamp(iso: $0) }
    }

    /// 投诉处理报告单: the complaint, how it was handled, its result, whether it was escalated,
    /// and the customer's opinion at the follow-up visit (the visit's requests and opinions).
    public static func complaintReport(_ complaint: ServiceReport.Complaint, fields: ServiceReport.Fields, notes: [Note],
                                       followUp: ServiceReport.Visit?, customer: KPIFacts.Customer, asOf: Timestamp,
                                       _ t: Strings) -> HandbookDocument {
        let dash = "—"
        var blocks: [HandbookDocument.Block] = [
            .fields([
                .init(t("field.customers.name"), customer.name),
                .init(t("document.number"), String(complaint.id.prefix(8))),
                .init(t("field.complaints.received_at"), t.time(complaint.receivedAt)),
                .init(t("field.complaints.channel"), text(fields, "channel").map { t.choice($0) } ?? dash),
                .init(t("field.complaints.owner"), text(fields, "owner") ?? customer.manager ?? dash),
                .init(t("field.customers.level"), t.choice(text(fields, "level") ?? customer.level)),
            ]),
            .heading(t("field.complaints.content")),
            .paragraph(complaint.content.isEmpty ? dash : complaint.content),
            .heading(t("document.handling")),
            .fields([
                .init(t("field.complaints.first_feedback_at"),
                      t("report.time-with-judgement", ["time": t.time(complaint.firstFeedbackAt), "judgement": judged(complaint.firstFeedbackAt, complaint.feedbackDeadline, asOf: asOf, t)])),
                .init(t("field.complaints.resolved_at"),
                      t("report.time-with-judgement", ["time": t.time(complaint.resolvedAt), "judgement": judged(complaint.resolvedAt, complaint.resolutionDeadline, asOf: asOf, t)])),
                .init(t("field.complaints.escalated_at"),
                      complaint.escalatedAt.map { at in
                          text(fields, "escalation_reason").map { t("document.escalated", ["time": t.time(at), "reason": $0]) } ?? t.time(at)
                      } ?? t("document.not-escalated")),
                .init(t("field.complaints.status"), t.state(complaint.status, of: .complaint)),
            ]),
            notesTable(notes, t),
            .heading(t("field.complaints.result")),
            .paragraph(complaint.result ?? dash),
            .heading(t("document.follow-up")),
        ]
        // What the manager wrote to hand over at the follow-up visit (`visit log --report`).
        if let report = text(fields, "report") { blocks.insert(.fields([.init(t("document.report-text"), report)]), at: blocks.count - 1) }
        if let followUp {
            blocks.append(.fields([
                .init(t("field.visits.at"), t.time(followUp.at)),
                .init(t("field.customers.manager"), followUp.manager ?? customer.manager ?? dash),
                .init(t("field.visits.requests"), followUp.requests ?? dash),
            ]))
        } else {
            blocks.append(.paragraph(complaint.followUpDeadline.map { t("document.follow-up-due", ["time": t.time($0)]) } ?? t("document.follow-up-none")))
        }
        blocks.append(.heading(t("document.customer-opinion")))
        blocks.append(.paragraph(t("document.opinion-prompt")))
        blocks.append(.signatures([t("sign.customer"), t("sign.manager")]))
        return HandbookDocument(language: t.language, title: t("document.complaint.title"),
                                subtitle: t("document.complaint.subtitle", ["customer": customer.name, "received": t.date(complaint.receivedAt.localDay)]),
                                blocks: blocks, footer: t("report.as-of", ["time": t.time(asOf)]), colon: t("punctuation.colon"))
    }

    /// 故障处理报告: what failed, where and for how long, the dispatch, the first feedback and
    /// the restoration against their limits, and the handling notes.
    public static func faultReport(_ fault: ServiceReport.Fault, fields: ServiceReport.Fields, notes: [Note],
                                   customer: KPIFacts.Customer, asOf: Timestamp, _ t: Strings) -> HandbookDocument {
        let dash = "—"
        let occurred = time(fields, "occurred_at")
        let outage = fault.restoredAt.map { restored in t.duration(seconds: restored.epochSeconds - (occurred ?? fault.reportedAt).epochSeconds) }
        let blocks: [HandbookDocument.Block] = [
            .fields([
                .init(t("field.customers.name"), customer.name),
                .init(t("document.number"), String(fault.id.prefix(8))),
                .init(t("field.faults.site"), text(fields, "site") ?? dash),
                .init(t("field.faults.ticket"), text(fields, "ticket") ?? dash),
                .init(t("field.customers.level"), t.choice(text(fields, "level") ?? customer.level)),
            ]),
            .heading(t("document.fault.what")),
            .fields([
                .init(t("field.faults.symptom"), fault.symptom.isEmpty ? dash : fault.symptom),
                .init(t("field.faults.scope"), fault.scope ?? dash),
                .init(t("field.faults.occurred_at"), t.time(occurred)),
                .init(t("field.faults.reported_at"), t.time(fault.reportedAt)),
            ]),
            .heading(t("document.handling")),
            .fields([
                .init(t("field.faults.owner"), text(fields, "owner") ?? customer.manager ?? dash),
                .init(t("field.faults.dispatch"), text(fields, "dispatch").map { t.choice($0) } ?? dash),
                .init(t("field.faults.dispatched_to"), text(fields, "dispatched_to") ?? dash),
                .init(t("field.faults.first_feedback_at"),
                      t("report.time-with-judgement", ["time": t.time(fault.firstFeedbackAt), "judgement": judged(fault.firstFeedbackAt, fault.feedbackDeadline, asOf: asOf, t)])),
                .init(t("field.faults.restore_by"), t.time(fault.restorationDeadline)),
                .init(t("field.faults.restored_at"),
                      t("report.time-with-judgement", ["time": t.time(fault.restoredAt), "judgement": judged(fault.restoredAt, fault.restorationDeadline, asOf: asOf, t)])),
                .init(t("document.fault.outage"), outage ?? dash),
                .init(t("field.faults.status"), t.state(fault.status, of: .fault)),
            ]),
            notesTable(notes, t),
            .signatures([t("sign.customer"), t("sign.manager")]),
        ]
        return HandbookDocument(language: t.language, title: t("document.fault.title"),
                                subtitle: t("document.fault.subtitle", ["customer": customer.name, "reported": t.date(fault.reportedAt.localDay)]),
                                blocks: blocks, footer: t("report.as-of", ["time": t.time(asOf)]), colon: t("punctuation.colon"))
    }

    /// 服务到期通知: the agreement, its end, by when to re-sign or send a termination notice,
    /// and whom to call. `date` is the notice's date (today, or as given).
    public static func expiryNotice(agreement fields: ServiceReport.Fields, customer: KPIFacts.Customer,
                                    date: LocalDate, _ t: Strings) -> HandbookDocument? {
        guard let number = text(fields, "number"), let ends = text(fields, "ends").flatMap(LocalDate.init(iso:)) else { return nil }
        let starts = text(fields, "starts").flatMap(LocalDate.init(iso:))
        let renewBy = ends.adding(months: -ServiceLimits.renewalMonths)
        let values = [
            "customer": customer.name, "number": number, "ends": t.date(ends), "starts": starts.map { t.date($0) } ?? "—",
            "renew_by": t.dateWithWeekday(renewBy), "manager": customer.manager ?? "—",
        ]
        let blocks: [HandbookDocument.Block] = [
            .paragraph(t("document.expiry.to", values)),
            .paragraph(t(starts == nil ? "document.expiry.body-no-start" : "document.expiry.body", values)),
            .paragraph(t("document.expiry.renew", values)),
            .paragraph(t("document.expiry.terminate", values)),
            .fields([
                .init(t("field.agreements.number"), number),
                .init(t("field.agreements.starts"), starts.map { t.date($0) } ?? "—"),
                .init(t("field.agreements.ends"), t.date(ends)),
                .init(t("document.expiry.renew-by"), t.dateWithWeekday(renewBy)),
                .init(t("field.customers.manager"), customer.manager ?? "—"),
            ]),
            .signatures([t("sign.company"), t("sign.received")]),
        ]
        return HandbookDocument(language: t.language, title: t("document.expiry.title"),
                                subtitle: t("document.expiry.subtitle", ["customer": customer.name, "number": number]),
                                blocks: blocks, footer: t("document.expiry.dated", ["date": t.date(date)]), colon: t("punctuation.colon"))
    }
}
