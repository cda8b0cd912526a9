import FieldSyncModel

/// Computes the KPIs. Pure: the same facts, period and report time give the
/// same report on a laptop, a branch server and the provincial server.
///
/// Rules (Protocol/KPI.md):
/// - a record belongs to the period of its starting event (reported, received,
///   closed for the follow-up visit) in the event's own UTC offset;
/// - the service level is the one recorded on the fault or complaint when it
///   was opened, else the customer's;
/// - done by the deadline is met, done later is missed; not done is missed once
///   the deadline has passed at `asOf`, pending before;
/// - groups follow the customer's manager or branch.
public enum KPIEngine {
    public static func report(_ facts: KPIFacts, period: ReportingPeriod, grouping: KPIGrouping, asOf: Timestamp) -> KPIReport {
        // Outcomes are counted as they come: a year of a province is millions of them.
        var groups: [String: Tally] = [:]
        var total = Tally()
        func count(_ customer: KPIFacts.Customer, _ kpi: KPI, _ outcome: Outcome) {
            groups[key(customer, grouping), default: Tally()].add(kpi, outcome)
            total.add(kpi, outcome)
        }
        evaluateRecords(facts, asOf: asOf) { customer, kpi, day, outcome in
            if period.contains(day) { count(customer, kpi, outcome) }
        }
        evaluateCoverage(facts, period: period, asOf: asOf) { customer, outcome in count(customer, .visitCoverage, outcome) }
        // An escalation (重点督办) stays open until the complaint is resolved.
        for complaint in facts.complaints where complaint.escalatedAt != nil && complaint.resolvedAt == nil {
            guard let customer = facts.customers[complaint.customer] else { continue }
            groups[key(customer, grouping), default: Tally()].openEscalations += 1
            total.openEscalations += 1
        }
        return KPIReport(period: period, grouping: grouping, asOf: asOf,
                         groups: groups.keys.sorted().map { groups[$0]!.group($0) }, total: total.group("total"))
    }

    /// Every fault and complaint still open past one of its limits at `asOf`,
    /// whatever the period: the supervisor's to-do list, most overdue first.
    public static func openPastLimit(_ facts: KPIFacts, asOf: Timestamp) -> [KPIMiss] {
        var misses: [KPIMiss] = []
        evaluateRecords(facts, asOf: asOf) { _, _, _, outcome in
            if case .missed(let miss) = outcome, miss.isOpen { misses.append(miss) }
        }
        return misses.sorted { ($0.lateBySeconds, $0.record) > ($1.lateBySeconds, $1.record) }
    }

    enum Outcome: Equatable {
        case met, pending
        case missed(KPIMiss)
    }

    static func key(_ customer: KPIFacts.Customer, _ grouping: KPIGrouping) -> String {
        switch grouping {
        case .manager: customer.manager ?? "(unassigned)"
        case .branch: customer.branch ?? "(unassigned)"
        case .province: "province"
        }
    }

    /// One group's counts and misses, filled as outcomes arrive.
    struct Tally {
        var figures = KPI.allCases.map { KPIFigure(kpi: $0) }
        var misses: [KPIMiss] = []
        var openEscalations = 0

        mutating func add(_ kpi: KPI, _ outcome: Outcome) {
            let index = KPI.allCases.firstIndex(of: kpi)!
            switch outcome {
            case .met: figures[index].met += 1
            case .pending: figures[index].pending += 1
            case .missed(let miss):
                figures[index].missed += 1
                misses.append(miss)
            }
        }

        func group(_ name: String) -> KPIGroup {
            let sorted = misses.sorted { ($0.kpi.rawValue, $0.deadline, $0.record) < ($1.kpi.rawValue, $1.deadline, $1.record) }
            return KPIGroup(name: name, figures: figures, openEscalations: openEscalations, misses: sorted)
        }
    }

    /// Judges every fault and complaint against each of its limits; `emit`
    /// gets the customer, the KPI, the day that places it in a period, and the outcome.
    static func evaluateRecords(_ facts: KPIFacts, asOf: Timestamp,
                                _ emit: (KPIFacts.Customer, KPI, LocalDate, Outcome) -> Void) {
        for fault in facts.faults {
            guard let customer = facts.customers[fault.customer] else { continue }
            let vip = (fault.level ?? customer.level) == "vip"
            let feedbackLimit: Int64 = vip ? 30 : 60
            func miss(_ kpi: KPI, _ limit: String, _ deadline: Timestamp, _ actual: Timestamp?, _ late: Int64) -> KPIMiss {
                KPIMiss(kpi: kpi, table: .fault, record: fault.id, customer: customer.id, customerName: customer.name,
                        manager: customer.manager, branch: customer.branch, limit: limit, deadline: deadline, actual: actual, lateBySeconds: late)
            }
            let feedbackDeadline = fault.reportedAt.adding(seconds: feedbackLimit * 60)
            emit(customer, .faultFirstFeedback, fault.reportedAt.localDay,
                 judge(feedbackDeadline, fault.firstFeedbackAt, asOf) { actual, late in
                     miss(.faultFirstFeedback, "\(feedbackLimit) min\(vip ? " (VIP)" : "")", feedbackDeadline, actual, late)
                 })
            if let restoreBy = fault.restoreBy {
                emit(customer, .faultRestoration, fault.reportedAt.localDay,
                     judge(restoreBy, fault.restoredAt, asOf) { actual, late in
                         miss(.faultRestoration, "agreed \(restoreBy)", restoreBy, actual, late)
                     })
            }
        }
        var followUps: [String: [Timestamp]] = [:]
        var followUpsByCustomer: [String: [Timestamp]] = [:]
        for visit in facts.visits where visit.kind == "complaint-follow-up" {
            if let complaint = visit.complaint { followUps[complaint, default: []].append(visit.at) }
            followUpsByCustomer[visit.customer, default: []].append(visit.at)
        }
        for complaint in facts.complaints {
            guard let customer = facts.customers[complaint.customer] else { continue }
            let vip = (complaint.level ?? customer.level) == "vip"
            func miss(_ kpi: KPI, _ limit: String, _ deadline: Timestamp, _ actual: Timestamp?, _ late: Int64) -> KPIMiss {
                KPIMiss(kpi: kpi, table: .complaint, record: complaint.id, customer: customer.id, customerName: customer.name,
                        manager: customer.manager, branch: customer.branch, limit: limit, deadline: deadline, actual: actual, lateBySeconds: late)
            }
            let feedbackHours: Int64 = vip ? 1 : 2
            let feedbackDeadline = complaint.receivedAt.adding(seconds: feedbackHours * 3_600)
            emit(customer, .complaintFirstFeedback, complaint.receivedAt.localDay,
                 judge(feedbackDeadline, complaint.firstFeedbackAt, asOf) { actual, late in
                     miss(.complaintFirstFeedback, "\(feedbackHours) h\(vip ? " (VIP)" : "")", feedbackDeadline, actual, late)
                 })
            let resolveDeadline = facts.calendar.deadline(workingDays: 3, after: complaint.receivedAt)
            emit(customer, .complaintResolution, complaint.receivedAt.localDay,
                 judge(resolveDeadline, complaint.resolvedAt, asOf) { actual, late in
                     miss(.complaintResolution, "3 working days", resolveDeadline, actual, late)
                 })
            // The follow-up visit is due within 2 working days of the resolution (办结, guide
            // §2.4.2(6)); the handling report is handed over at it, and closing comes after.
            if let resolved = complaint.resolvedAt {
                let visitDeadline = facts.calendar.deadline(workingDays: 2, after: resolved)
                // The visit linked to the complaint, or else any follow-up visit to the customer; before the resolution none counts.
                let linked = (followUps[complaint.id] ?? followUpsByCustomer[complaint.customer, default: []]).filter { $0 >= resolved }
                let first = linked.min { $0.epochSeconds < $1.epochSeconds }
                emit(customer, .complaintFollowUpVisit, resolved.localDay,
                     judge(visitDeadline, first, asOf) { actual, late in
                         miss(.complaintFollowUpVisit, "2 working days after resolution", visitDeadline, actual, late)
                     })
            }
        }
    }

    /// One outcome per (customer, ISO week starting in the period): met with a
    /// routine visit that week, missed once the week is over without one.
    static func evaluateCoverage(_ facts: KPIFacts, period: ReportingPeriod, asOf: Timestamp,
                                 _ emit: (KPIFacts.Customer, Outcome) -> Void) {
        var firstMonday = period.start + Int64((8 - period.start.weekday) % 7)
        if period.start.weekday == 1 { firstMonday = period.start }
        let mondays = Array(stride(from: firstMonday, through: period.end, by: 7))
        guard !mondays.isEmpty else { return }
        var visited: [String: Set<Int64>] = [:]
        for visit in facts.visits where visit.kind == "routine" {
            let day = visit.at.localDay
            visited[visit.customer, default: []].insert((day + Int64(1 - day.weekday)).dayNumber)
        }
        for customer in facts.customers.values.sorted(by: { $0.id < $1.id }) where !customer.archived {
            for monday in mondays {
                // A visit shows the customer was served that week, even if its file was entered later.
                if visited[customer.id]?.contains(monday.dayNumber) == true {
                    emit(customer, .met)
                    continue
                }
                if let since = customer.since, since.localDay > monday + 6 { continue }
                let deadline = (monday + 7).start(offsetMinutes: asOf.offsetMinutes)
                if asOf.epochSeconds < deadline.epochSeconds {
                    emit(customer, .pending)
                } else {
                    let (year, week) = monday.isoWeek
                    emit(customer, .missed(KPIMiss(
                        kpi: .visitCoverage, table: .customer, record: customer.id, customer: customer.id, customerName: customer.name,
                        manager: customer.manager, branch: customer.branch, limit: "week \(year)-W\(week < 10 ? "0" : "")\(week)",
                        deadline: deadline, actual: nil, lateBySeconds: asOf.epochSeconds - deadline.epochSeconds)))
                }
            }
        }
    }

    static func judge(_ deadline: Timestamp, _ actual: Timestamp?, _ asOf: Timestamp,
                      _ miss: (Timestamp?, Int64) -> KPIMiss) -> Outcome {
        if let actual {
            return actual.epochSeconds <= deadline.epochSeconds ? .met : .missed(miss(actual, actual.epochSeconds - deadline.epochSeconds))
        }
        return asOf.epochSeconds > deadline.epochSeconds ? .missed(miss(nil, asOf.epochSeconds - deadline.epochSeconds)) : .pending
    }
}
