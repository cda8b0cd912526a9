import FieldSyncModel

/// One customer's month, as reviewed at the monthly service joint meeting
/// (服务联席会议, guide §2.4.3): visits, faults with their times and limits,
/// complaints with outcome and follow-up, the SLA figures, agreements coming
/// due and what is still open. Pure: built from the customer's records and the
/// KPI facts, so a laptop offline and the server print the same report.
public struct ServiceReport: Sendable, Equatable {
    public struct Visit: Sendable, Equatable {
        public var id: String
        public var at: Timestamp
        public var kind: String
        public var manager: String?
        public var summary: String
        public var requests: String?
        public var actions: String?

        /// A stored visit's fields as the report shows them; nil without a time.
        public init?(id: String, fields: Fields) {
            func text(_ name: String) -> String? { fields[name]?.text.flatMap { $0.isEmpty ? nil : $0 } }
            guard let at = text("at").flatMap({ Timestamp(iso: $0) }) else { return nil }
            self.init(id: id, at: at, kind: text("kind") ?? "", manager: text("manager"), summary: text("summary") ?? "",
                      requests: text("requests"), actions: text("actions"))
        }

        init(id: String, at: Timestamp, kind: String, manager: String?, summary: String, requests: String?, actions: String?) {
            self.id = id
            self.at = at
            self.kind = kind
            self.manager = manager
            self.summary = summary
            self.requests = requests
            self.actions = actions
        }
    }

    public struct Fault: Sendable, Equatable {
        public var id: String
        public var symptom: String
        public var scope: String?
        public var status: String
        public var reportedAt: Timestamp
        public var firstFeedbackAt: Timestamp?
        public var feedbackDeadline: Timestamp
        public var restoredAt: Timestamp?
        public var restorationDeadline: Timestamp
        /// How the restoration limit was set: "agreed …", "2 h (agreement A-7)", "8 h default".
        public var restorationLimit: String
        public var reportDeliveredAt: Timestamp?
        /// When the first feedback and the restoration times were typed, where that was beyond the tolerance after them.
        public var firstFeedbackRecorded: Timestamp? = nil
        public var restoredRecorded: Timestamp? = nil
    }

    public struct Complaint: Sendable, Equatable {
        public var id: String
        public var content: String
        public var status: String
        public var receivedAt: Timestamp
        public var firstFeedbackAt: Timestamp?
        public var feedbackDeadline: Timestamp
        public var resolvedAt: Timestamp?
        public var resolutionDeadline: Timestamp
        public var result: String?
        public var escalatedAt: Timestamp?
        /// The first follow-up visit at or after the resolution, and when it was due.
        public var followUpVisitAt: Timestamp?
        public var followUpDeadline: Timestamp?
        public var closedAt: Timestamp?
        /// When the first feedback and the resolution times were typed, where that was beyond the tolerance after them.
        public var firstFeedbackRecorded: Timestamp? = nil
        public var resolvedRecorded: Timestamp? = nil
    }

    public struct Agreement: Sendable, Equatable {
        public var id: String
        public var number: String
        public var ends: LocalDate
        public var noticeDue: LocalDate
        public var noticeGiven: LocalDate?
        public var renewalDue: LocalDate
        public var renewedAt: LocalDate?
        public var terminationNoticeAt: LocalDate?
    }

    public var customer: KPIFacts.Customer
    public var period: ReportingPeriod
    public var asOf: Timestamp
    public var visits: [Visit]
    public var faults: [Fault]
    public var complaints: [Complaint]
    /// This customer's figures for the period (its KPI report's total).
    public var figures: [KPIFigure]
    /// Agreements ending from the period's start up to 6 months after its end.
    public var agreements: [Agreement]
    /// Open past a limit at `asOf`, whatever the period.
    public var openItems: [KPIMiss]
    /// Met in the period as the times given, but typed after their limits (`KPIEngine.recordedLate`).
    public var recordedLate: [KPILateRecord]

    /// One stored record's fields, as a replica holds them.
    public typealias Fields = [String: FieldValue]

    /// Builds the report of `customer` from `facts` (the whole replica's, for
    /// the calendar and the agreements) and the customer's own records by kind.
    public init?(customer id: String, facts: KPIFacts, records: [RecordKind: [(id: String, fields: Fields)]],
                 period: ReportingPeriod, asOf: Timestamp) {
        guard let customer = facts.customers[id] else { return nil }
        self.customer = customer
        self.period = period
        self.asOf = asOf
        let mine = facts.restricted { $0.id == id }
        /// `recorded` when it is beyond the tolerance after `claimed`, in `claimed`'s offset.
        func late(_ recorded: Timestamp?, _ claimed: Timestamp?) -> Timestamp? {
            guard let recorded, let claimed, ServiceLimits.isRecordedLate(recorded, claimed: claimed) else { return nil }
            return recorded.inOffset(claimed.offsetMinutes)
        }
        let faultFacts = Dictionary(mine.faults.filter { $0.customer == id }.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        let complaintFacts = Dictionary(mine.complaints.filter { $0.customer == id }.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        func time(_ fields: Fields, _ name: String) -> Timestamp? { fields[name]?.text.flatMap { Timestamp(iso: $0) } }
        func text(_ fields: Fields, _ name: String) -> String? { fields[name]?.text.flatMap { $0.isEmpty ? nil : $0 } }
        func inPeriod(_ time: Timestamp?) -> Bool { time.map { period.contains($0.localDay) } ?? false }

        visits = (records[.visit] ?? []).compactMap { record in
            guard !(record.fields["removed"]?.bool ?? false), let at = time(record.fields, "at"), inPeriod(at) else { return nil }
            return Visit(id: record.id, at: at, kind: text(record.fields, "kind") ?? "", manager: text(record.fields, "manager"),
                         summary: text(record.fields, "summary") ?? "", requests: text(record.fields, "requests"), actions: text(record.fields, "actions"))
        }.sorted { ($0.at, $0.id) < ($1.at, $1.id) }

        let agreementFacts = mine.agreements.filter { $0.customer == id }
        let isOpen: (Fields, RecordKind) -> Bool = { fields, kind in
            fields["status"]?.text.flatMap { WorkflowStatus($0, kind: kind) }?.isOpen ?? true
        }
        // A case belongs to the month if it began in it, or began before its end and was still open at its end:
        // a report for a closed month shows what was true in it (not a case that began after it, nor one long done).
        func openAtEnd(began: Timestamp, done: Timestamp?, fields: Fields, kind: RecordKind) -> Bool {
            guard began.localDay <= period.end else { return false }
            if let done { return done.localDay > period.end }
            return isOpen(fields, kind)
        }
        faults = (records[.fault] ?? []).compactMap { record in
            let fields = record.fields
            guard let reported = time(fields, "reported_at") else { return nil }
            let done = time(fields, "restored_at") ?? time(fields, "closed_at")
            guard inPeriod(reported) || openAtEnd(began: reported, done: done, fields: fields, kind: .fault) else { return nil }
            let vip = (text(fields, "level") ?? customer.level) == "vip"
            let fact = KPIFacts.Fault(id: record.id, customer: id, reportedAt: reported, restoreBy: time(fields, "restore_by"))
            let (deadline, limit) = KPIEngine.restorationDeadline(fact, vip: vip, agreements: agreementFacts, default: facts.restorationDefault)
            let feedback = time(fields, "first_feedback_at"), restored = time(fields, "restored_at")
            return Fault(id: record.id, symptom: text(fields, "symptom") ?? "", scope: text(fields, "scope"),
                         status: fields["status"]?.text.flatMap { WorkflowStatus($0, kind: .fault)?.state(for: .fault) } ?? "",
                         reportedAt: reported, firstFeedbackAt: feedback,
                         feedbackDeadline: reported.adding(seconds: ServiceLimits.faultFeedbackMinutes(vip: vip) * 60),
                         restoredAt: restored, restorationDeadline: deadline, restorationLimit: limit,
                         reportDeliveredAt: time(fields, "report_delivered_at"),
                         firstFeedbackRecorded: late(faultFacts[record.id]?.firstFeedbackRecorded, feedback),
                         restoredRecorded: late(faultFacts[record.id]?.restoredRecorded, restored))
        }.sorted { ($0.reportedAt, $0.id) < ($1.reportedAt, $1.id) }

        let followUps = mine.visits.filter { $0.customer == id && $0.kind == VisitKind.complaintFollowUp.rawValue }
        complaints = (records[.complaint] ?? []).compactMap { record in
            let fields = record.fields
            guard let received = time(fields, "received_at") else { return nil }
            let resolved = time(fields, "resolved_at")
            guard inPeriod(received) || inPeriod(resolved)
                || openAtEnd(began: received, done: resolved ?? time(fields, "closed_at"), fields: fields, kind: .complaint) else { return nil }
            let linked = followUps.filter { $0.complaint == record.id }
            let candidates = resolved.map { resolved in (linked.isEmpty ? followUps : linked).map(\.at).filter { $0 >= resolved } } ?? []
            let vip = (text(fields, "level") ?? customer.level) == "vip"
            return Complaint(id: record.id, content: text(fields, "content") ?? "",
                             status: fields["status"]?.text.flatMap { WorkflowStatus($0, kind: .complaint)?.state(for: .complaint) } ?? "",
                             receivedAt: received, firstFeedbackAt: time(fields, "first_feedback_at"),
                             feedbackDeadline: received.adding(seconds: ServiceLimits.complaintFeedbackHours(vip: vip) * 3_600), resolvedAt: resolved,
                             resolutionDeadline: facts.calendar.deadline(workingDays: ServiceLimits.complaintResolutionWorkingDays, after: received),
                             result: text(fields, "result"), escalatedAt: time(fields, "escalated_at"),
                             followUpVisitAt: candidates.min(),
                             followUpDeadline: resolved.map { facts.calendar.deadline(workingDays: ServiceLimits.followUpVisitWorkingDays, after: $0) },
                             closedAt: time(fields, "closed_at"),
                             firstFeedbackRecorded: late(complaintFacts[record.id]?.firstFeedbackRecorded, time(fields, "first_feedback_at")),
                             resolvedRecorded: late(complaintFacts[record.id]?.resolvedRecorded, resolved))
        }.sorted { ($0.receivedAt, $0.id) < ($1.receivedAt, $1.id) }

        figures = KPIEngine.report(mine, period: period, grouping: .province, asOf: asOf).total.figures
        agreements = agreementFacts.compactMap { agreement in
            guard let ends = agreement.ends, ends >= period.start, ends <= period.end.adding(months: 6) else { return nil }
            return Agreement(id: agreement.id, number: agreement.number, ends: ends,
                             noticeDue: ends.adding(months: -ServiceLimits.renewalNoticeMonths), noticeGiven: agreement.renewalNoticeAt,
                             renewalDue: ends.adding(months: -ServiceLimits.renewalMonths), renewedAt: agreement.renewedAt,
                             terminationNoticeAt: agreement.terminationNoticeAt)
        }.sorted { ($0.ends, $0.number) < ($1.ends, $1.number) }
        openItems = KPIEngine.openPastLimit(mine, asOf: asOf)
        recordedLate = KPIEngine.recordedLate(mine, period: period, asOf: asOf)
    }
}
