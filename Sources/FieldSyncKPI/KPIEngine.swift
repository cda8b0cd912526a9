import FieldSyncModel

/// Computes the KPIs. Pure: the same facts, period and report time give the
/// same report on a laptop, a branch server and the provincial server.
///
/// Rules (Protocol/KPI.md):
/// - a record belongs to the period of its starting event (reported, received,
///   resolved for the follow-up visit, the due day for an agreement) in the event's own UTC offset;
/// - the service level is the one recorded on the fault or complaint when it
///   was opened, else the customer's;
/// - done by the deadline is met, done later is missed; not done is missed once
///   the deadline has passed at `asOf`, pending before;
/// - an outcome is the responsible manager's: the case's owner (首问负责人), the
///   visiting manager, else whoever held the customer's file at the time (its
///   handovers, `KPIFacts.holder`); branches follow the customer.
public enum KPIEngine {
    public static func report(_ facts: KPIFacts, period: ReportingPeriod, grouping: KPIGrouping, asOf: Timestamp) -> KPIReport {
        // Outcomes are counted as they come: a year of a province is millions of them.
        var groups: [String: Tally] = [:]
        var total = Tally()
        func count(_ subject: Subject, _ kpi: KPI, _ outcome: Outcome) {
            groups[key(subject, grouping), default: Tally()].add(kpi, outcome)
            total.add(kpi, outcome)
        }
        evaluateRecords(facts, asOf: asOf, within: period) { subject, kpi, day, outcome in
            if period.contains(day) { count(subject, kpi, outcome) }
        }
        evaluateAgreements(facts, asOf: asOf) { subject, kpi, day, outcome in
            if period.contains(day) { count(subject, kpi, outcome) }
        }
        evaluateCoverage(facts, period: period, asOf: asOf) { subject, outcome in count(subject, .visitCoverage, outcome) }
        // An escalation (重点督办) stays open until the complaint is resolved.
        for complaint in facts.complaints where complaint.escalatedAt != nil && complaint.resolvedAt == nil {
            guard let customer = facts.customers[complaint.customer] else { continue }
            let subject = Subject(customer: customer, responsible: complaint.owner ?? facts.holder(of: customer, at: complaint.receivedAt))
            guard facts.responsible == nil || subject.responsible == facts.responsible else { continue }
            groups[key(subject, grouping), default: Tally()].openEscalations += 1
            total.openEscalations += 1
        }
        // Each tally leaves the dictionary as its group is made, so its misses are sorted in place, never copied.
        var finished: [KPIGroup] = []
        for name in groups.keys.sorted() {
            guard var tally = groups.removeValue(forKey: name) else { continue }
            finished.append(tally.group(name))
        }
        return KPIReport(period: period, grouping: grouping, asOf: asOf, groups: finished, total: total.group("total"))
    }

    /// Every fault and complaint still open past one of its limits at `asOf`,
    /// whatever the period, and every notice of an agreement not yet ended that
    /// is overdue: the supervisor's to-do list, most overdue first.
    public static func openPastLimit(_ facts: KPIFacts, asOf: Timestamp) -> [KPIMiss] {
        var misses: [KPIMiss] = []
        evaluateRecords(facts, asOf: asOf) { _, _, _, outcome in
            if case .missed(let miss) = outcome, miss.isOpen { misses.append(miss) }
        }
        evaluateAgreements(facts, asOf: asOf, endedToo: false) { _, _, _, outcome in
            if case .missed(let miss) = outcome, miss.isOpen { misses.append(miss) }
        }
        return misses.sorted { ($0.lateBySeconds, $0.record) > ($1.lateBySeconds, $1.record) }
    }

    /// The events of the period met as the time given but typed after their
    /// limit had passed (beyond `ServiceLimits.recordingToleranceMinutes`),
    /// those typed longest after their deadline first: what a supervisor checks before trusting a rate.
    public static func recordedLate(_ facts: KPIFacts, period: ReportingPeriod, asOf: Timestamp) -> [KPILateRecord] {
        var found: [KPILateRecord] = []
        func keep(_ day: LocalDate, _ outcome: Outcome) {
            if period.contains(day), case .metRecordedLate(let late) = outcome { found.append(late) }
        }
        evaluateRecords(facts, asOf: asOf, within: period, collectLate: true) { _, _, day, outcome in keep(day, outcome) }
        evaluateAgreements(facts, asOf: asOf, collectLate: true) { _, _, day, outcome in keep(day, outcome) }
        evaluateCoverage(facts, period: period, asOf: asOf, collectLate: true) { _, outcome in
            if case .metRecordedLate(let late) = outcome { found.append(late) }
        }
        return found.sorted { ($0.afterDeadlineSeconds, $0.event.record, $0.event.kpi.index) > ($1.afterDeadlineSeconds, $1.event.record, $1.event.kpi.index) }
    }

    enum Outcome: Equatable {
        case met, pending
        case missed(KPIMiss)
        /// Met as the time given, but that time was typed after the limit had passed.
        case metRecordedLate(KPILateRecord)
    }

    /// Whose outcome it is: the customer (for the branch and the customer
    /// groups) and the manager responsible for the event.
    struct Subject {
        var customer: KPIFacts.Customer
        var responsible: String?

        func miss(_ kpi: KPI, _ table: RecordKind, _ record: String, _ limit: String, _ deadline: Timestamp,
                  _ actual: Timestamp?, _ late: Int64) -> KPIMiss {
            KPIMiss(kpi: kpi, table: table, record: record, customer: customer.id, customerName: customer.name,
                    manager: responsible, branch: customer.branch, limit: limit, deadline: deadline, actual: actual, lateBySeconds: late)
        }
    }

    static func key(_ subject: Subject, _ grouping: KPIGrouping) -> String {
        switch grouping {
        case .manager: subject.responsible ?? "(unassigned)"
        case .branch: subject.customer.branch ?? "(unassigned)"
        case .customer: groupName(of: subject.customer)
        case .province: "province"
        }
    }

    /// A customer's group name in `by=customer` reports: its name and id prefix.
    public static func groupName(of customer: KPIFacts.Customer) -> String { "\(customer.name) [\(customer.id.prefix(8))]" }

    /// One group's counts and misses, filled as outcomes arrive.
    struct Tally {
        var figures = KPI.allCases.map { KPIFigure(kpi: $0) }
        var misses: [KPIMiss] = []
        var openEscalations = 0

        mutating func add(_ kpi: KPI, _ outcome: Outcome) {
            let index = kpi.index
            switch outcome {
            case .met, .metRecordedLate: figures[index].met += 1
            case .pending: figures[index].pending += 1
            case .missed(let miss):
                figures[index].missed += 1
                misses.append(miss)
            }
        }

        mutating func group(_ name: String) -> KPIGroup {
            misses.sort { ($0.kpi.index, $0.deadline, $0.record) < ($1.kpi.index, $1.deadline, $1.record) }
            return KPIGroup(name: name, figures: figures, openEscalations: openEscalations, misses: misses)
        }
    }

    /// The restoration deadline of a fault and how it reads, naming which limit applied: the time
    /// agreed on the fault (an override), else the strictest agreement in force on the report day,
    /// else the province's default (`RestorationDefault`), else FieldSync's.
    static func restorationDeadline(_ fault: KPIFacts.Fault, vip: Bool, agreements: [KPIFacts.Agreement],
                                    default fallback: RestorationDefault = RestorationDefault()) -> (Timestamp, String) {
        if let agreed = fault.restoreBy { return (agreed, "agreed \(agreed)") }
        let day = fault.reportedAt.localDay
        let strictest = agreements
            .filter { $0.covers(day) }
            // Clamped to the schema's range: a stored value never reaches a trapping multiplication.
            .compactMap { agreement in agreement.restoreHours.map { (hours: min(max($0, 1), 8_760), number: agreement.number) } }
            .min { ($0.hours, $0.number) < ($1.hours, $1.number) }
        if let strictest {
            return (fault.reportedAt.adding(seconds: strictest.hours * 3_600), "\(strictest.hours) h (agreement \(strictest.number))")
        }
        let (hours, source) = fallback.limit(vip: vip)
        return (fault.reportedAt.adding(seconds: hours * 3_600), "\(hours) h\(vip ? " (VIP)" : "") \(source)")
    }

    /// Judges every fault and complaint against each of its limits; `emit`
    /// gets whose outcome it is, the KPI, the day that places it in a period, and the outcome.
    /// `within` skips, before any work, the records none of whose limits is placed in that period.
    static func evaluateRecords(_ facts: KPIFacts, asOf: Timestamp, within period: ReportingPeriod? = nil, collectLate: Bool = false,
                                _ emit: (Subject, KPI, LocalDate, Outcome) -> Void) {
        func placed(_ time: Timestamp?) -> Bool { period == nil || time.map { period!.contains($0.localDay) } == true }
        func keep(_ subject: Subject) -> Bool { facts.responsible == nil || subject.responsible == facts.responsible }
        let index = facts.currentIndex
        for fault in facts.faults where placed(fault.reportedAt) {
            guard let customer = facts.customers[fault.customer] else { continue }
            let subject = Subject(customer: customer, responsible: fault.owner ?? facts.holder(of: customer, at: fault.reportedAt))
            guard keep(subject) else { continue }
            let vip = (fault.level ?? customer.level) == "vip"
            let feedbackLimit = ServiceLimits.faultFeedbackMinutes(vip: vip)
            let feedbackDeadline = fault.reportedAt.adding(seconds: feedbackLimit * 60)
            emit(subject, .faultFirstFeedback, fault.reportedAt.localDay,
                 judge(feedbackDeadline, fault.firstFeedbackAt, recorded: fault.firstFeedbackRecorded, asOf, collectLate: collectLate) { actual, late in
                     subject.miss(.faultFirstFeedback, .fault, fault.id, "\(feedbackLimit) min\(vip ? " (VIP)" : "")", feedbackDeadline, actual, late)
                 })
            let (restoreBy, limit) = restorationDeadline(fault, vip: vip, agreements: index.restorationAgreements[fault.customer] ?? [],
                                                         default: facts.restorationDefault)
            emit(subject, .faultRestoration, fault.reportedAt.localDay,
                 judge(restoreBy, fault.restoredAt, recorded: fault.restoredRecorded, asOf, collectLate: collectLate) { actual, late in
                     subject.miss(.faultRestoration, .fault, fault.id, limit, restoreBy, actual, late)
                 })
        }
        for complaint in facts.complaints where placed(complaint.receivedAt) || placed(complaint.resolvedAt) {
            guard let customer = facts.customers[complaint.customer] else { continue }
            let subject = Subject(customer: customer, responsible: complaint.owner ?? facts.holder(of: customer, at: complaint.receivedAt))
            guard keep(subject) else { continue }
            let vip = (complaint.level ?? customer.level) == "vip"
            func miss(_ kpi: KPI, _ limit: String, _ deadline: Timestamp, _ actual: Timestamp?, _ late: Int64) -> KPIMiss {
                var miss = subject.miss(kpi, .complaint, complaint.id, limit, deadline, actual, late)
                miss.escalatedAt = complaint.escalatedAt
                return miss
            }
            let feedbackHours = ServiceLimits.complaintFeedbackHours(vip: vip)
            let feedbackDeadline = complaint.receivedAt.adding(seconds: feedbackHours * 3_600)
            emit(subject, .complaintFirstFeedback, complaint.receivedAt.localDay,
                 judge(feedbackDeadline, complaint.firstFeedbackAt, recorded: complaint.firstFeedbackRecorded, asOf, collectLate: collectLate) { actual, late in
                     miss(.complaintFirstFeedback, "\(feedbackHours) h\(vip ? " (VIP)" : "")", feedbackDeadline, actual, late)
                 })
            let resolutionDays = ServiceLimits.complaintResolutionWorkingDays
            let resolveDeadline = facts.calendar.deadline(workingDays: resolutionDays, after: complaint.receivedAt)
            emit(subject, .complaintResolution, complaint.receivedAt.localDay,
                 judge(resolveDeadline, complaint.resolvedAt, recorded: complaint.resolvedRecorded, asOf, collectLate: collectLate) { actual, late in
                     miss(.complaintResolution, "\(resolutionDays) working days", resolveDeadline, actual, late)
                 })
            // The follow-up visit is due within 2 working days of the resolution (办结, guide
            // §2.4.2(6)); the handling report is handed over at it, and closing comes after.
            if let resolved = complaint.resolvedAt {
                let visitDays = ServiceLimits.followUpVisitWorkingDays
                let visitDeadline = facts.calendar.deadline(workingDays: visitDays, after: resolved)
                // The visit linked to the complaint, or else any follow-up visit to the customer; before the resolution none counts.
                let linked = (index.followUpsByComplaint[complaint.id] ?? index.followUpsByCustomer[complaint.customer] ?? []).filter { $0.at >= resolved }
                let first = linked.min { $0.at.epochSeconds < $1.at.epochSeconds }
                // Recorded when the first-typed of those visits was: any of them shows the visit was made.
                let typed = linked.compactMap(\.recorded).min()
                emit(subject, .complaintFollowUpVisit, resolved.localDay,
                     judge(visitDeadline, first?.at, recorded: typed, asOf, collectLate: collectLate) { actual, late in
                         miss(.complaintFollowUpVisit, "\(visitDays) working days after resolution", visitDeadline, actual, late)
                     })
            }
        }
    }

    /// Judges each agreement with an end date (guide §2.3.3): the expiry notice
    /// 3 months before the end, and the re-signing or the customer's termination
    /// notice 1 month before. A limit is placed in the period of its due day. `endedToo: false` leaves out
    /// agreements that have ended at `asOf` (nothing is left to do for them).
    static func evaluateAgreements(_ facts: KPIFacts, asOf: Timestamp, endedToo: Bool = true, collectLate: Bool = false,
                                   _ emit: (Subject, KPI, LocalDate, Outcome) -> Void) {
        for agreement in facts.agreements {
            guard let ends = agreement.ends, let customer = facts.customers[agreement.customer], !customer.archived else { continue }
            if !endedToo, asOf.localDay > ends { continue }
            let offset = asOf.offsetMinutes
            func check(_ kpi: KPI, months: Int, done: LocalDate?, recorded: Timestamp?) {
                let due = ends.adding(months: -months)
                let deadline = (due + 1).start(offsetMinutes: offset).adding(seconds: -1)
                // The notice was due from whoever held the file on its due day.
                let subject = Subject(customer: customer, responsible: facts.holder(of: customer, at: deadline))
                guard facts.responsible == nil || subject.responsible == facts.responsible else { return }
                // A date counts as the end of its day: a notice on the due day is on time, one a day later is a day late.
                let doneAt = done.map { ($0 + 1).start(offsetMinutes: offset).adding(seconds: -1) }
                emit(subject, kpi, due, judge(deadline, doneAt, recorded: recorded, asOf, collectLate: collectLate) { actual, late in
                    subject.miss(kpi, .agreement, agreement.id, "due \(due) (\(agreement.number) ends \(ends))", deadline, actual, late)
                })
            }
            check(.agreementRenewalNotice, months: ServiceLimits.renewalNoticeMonths, done: agreement.renewalNoticeAt,
                  recorded: agreement.renewalNoticeRecorded)
            let settled = [(agreement.renewedAt, agreement.renewedRecorded), (agreement.terminationNoticeAt, agreement.terminationNoticeRecorded)]
                .compactMap { day, recorded in day.map { ($0, recorded) } }
                .min { $0.0 < $1.0 }
            check(.agreementRenewal, months: ServiceLimits.renewalMonths, done: settled?.0, recorded: settled?.1)
        }
    }

    /// One outcome per (customer, ISO week starting in the period that has a
    /// working day): met with a routine visit that week, missed once the week
    /// is over without one. A week with no working day (Spring Festival,
    /// National Day) asks for no visit; weeks before the customer was taken on do not count.
    static func evaluateCoverage(_ facts: KPIFacts, period: ReportingPeriod, asOf: Timestamp, collectLate: Bool = false,
                                 _ emit: (Subject, Outcome) -> Void) {
        var firstMonday = period.start + Int64((8 - period.start.weekday) % 7)
        if period.start.weekday == 1 { firstMonday = period.start }
        let mondays = stride(from: firstMonday, through: period.end, by: 7).filter { monday in
            (0..<7).contains { facts.calendar.isWorkingDay(monday + Int64($0)) }
        }
        guard !mondays.isEmpty else { return }
        let visited = facts.currentIndex.routineWeeks
        // One limit text per week, shared by that week's misses.
        let labels = Dictionary(uniqueKeysWithValues: mondays.map { monday -> (Int64, String) in
            let (year, week) = monday.isoWeek
            return (monday.dayNumber, "week \(year)-W\(week < 10 ? "0" : "")\(week)")
        })
        // Outcomes come in customer order so misses list the same way everywhere.
        for customer in facts.customers.values.sorted(by: { $0.id < $1.id }) where !customer.archived {
            let weeks = visited[customer.id]
            for monday in mondays {
                // A visit shows the customer was served that week, even if its file was entered later.
                if let visit = weeks?[monday.dayNumber] {
                    let subject = Subject(customer: customer, responsible: visit.manager ?? facts.holder(of: customer, at: visit.at))
                    guard facts.responsible == nil || subject.responsible == facts.responsible else { continue }
                    // Placed in its week by its own time, a visit always meets it; only when it was typed is left to ask.
                    guard collectLate else { emit(subject, .met); continue }
                    // The week ends where the visit placed it in that week: in the visit's own offset.
                    let deadline = (monday + 7).start(offsetMinutes: visit.at.offsetMinutes)
                    let recorded = visit.recorded.map { Timestamp(epochSeconds: $0, offsetMinutes: visit.at.offsetMinutes) }
                    emit(subject, judge(deadline, visit.at, recorded: recorded, asOf, collectLate: collectLate) { actual, late in
                        subject.miss(.visitCoverage, .customer, customer.id, labels[monday.dayNumber] ?? "", deadline, actual, late)
                    })
                    continue
                }
                if let since = customer.since, since > monday + 6 { continue }
                let deadline = (monday + 7).start(offsetMinutes: asOf.offsetMinutes)
                // An unvisited week is missed by whoever held the file when it ended (a handover mid-week
                // leaves the rest of the week to the new manager).
                let subject = Subject(customer: customer, responsible: facts.holder(of: customer, at: deadline.adding(seconds: -1)))
                guard facts.responsible == nil || subject.responsible == facts.responsible else { continue }
                if asOf.epochSeconds < deadline.epochSeconds {
                    emit(subject, .pending)
                } else {
                    emit(subject, .missed(subject.miss(.visitCoverage, .customer, customer.id, labels[monday.dayNumber] ?? "",
                                                       deadline, nil, asOf.epochSeconds - deadline.epochSeconds)))
                }
            }
        }
    }

    /// `recorded` is when `actual` was typed: a time met as given but typed after the deadline
    /// (beyond the tolerance) is `.metRecordedLate`, counted as met; a miss notes it too.
    /// `collectLate: false` (the reports) counts such an event as plainly met, building nothing for it.
    static func judge(_ deadline: Timestamp, _ actual: Timestamp?, recorded: Timestamp? = nil, _ asOf: Timestamp, collectLate: Bool = false,
                      _ miss: (Timestamp?, Int64) -> KPIMiss) -> Outcome {
        if let actual {
            let typedLate = recorded.flatMap { ServiceLimits.isRecordedLate($0, claimed: actual) ? $0.inOffset(actual.offsetMinutes) : nil }
            if actual.epochSeconds <= deadline.epochSeconds {
                guard collectLate, let typedLate, typedLate.epochSeconds > deadline.epochSeconds else { return .met }
                var event = miss(actual, 0)
                event.recorded = typedLate
                return .metRecordedLate(KPILateRecord(event: event, claimed: actual, recorded: typedLate))
            }
            var event = miss(actual, actual.epochSeconds - deadline.epochSeconds)
            event.recorded = typedLate
            return .missed(event)
        }
        return asOf.epochSeconds > deadline.epochSeconds ? .missed(miss(nil, asOf.epochSeconds - deadline.epochSeconds)) : .pending
    }
}
