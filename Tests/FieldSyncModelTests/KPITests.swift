import FieldSyncKPI
import FieldSyncModel
import Testing

/// Every KPI against figures worked out by hand.
@Suite struct KPITests {
    static func t(_ text: String) -> Timestamp { Timestamp(iso: text)! }
    static func d(_ text: String) -> LocalDate { LocalDate(iso: text)! }

    /// National Day 2026 as configured here: 1–7 October off, Saturday 10 October worked.
    static let calendar = WorkCalendar(holidays: Set((1...7).map { d("2026-10-0\($0)") }), makeUpDays: [d("2026-10-10")])

    static func facts(_ customers: [KPIFacts.Customer]) -> KPIFacts {
        var facts = KPIFacts()
        facts.calendar = calendar
        for customer in customers { facts.customers[customer.id] = customer }
        return facts
    }

    static let vip = KPIFacts.Customer(id: "c-vip", name: "Tower VIP", branch: "Hangzhou", manager: "Alice", level: "vip")
    static let standard = KPIFacts.Customer(id: "c-std", name: "Shop", branch: "Hangzhou", manager: "Bob", level: "standard")

    @Test func datesWeeksAndPeriods() throws {
        #expect(Self.d("2026-11-23").weekday == 1)
        #expect(Self.d("2026-11-22").weekday == 7)
        #expect(Self.d("2026-11-23").isoWeek == (2026, 48))
        #expect(Self.d("2027-01-01").isoWeek == (2026, 53), "2026 starts on a Thursday: it has 53 ISO weeks")
        #expect(Self.t("2026-12-01T00:10:00+08:00").localDay == Self.d("2026-12-01"), "the day where it was recorded, not in UTC")

        let week = try ReportingPeriod("2026-W47")
        #expect((week.start, week.end) == (Self.d("2026-11-16"), Self.d("2026-11-22")))
        let month = try ReportingPeriod("2026-02")
        #expect((month.start, month.end) == (Self.d("2026-02-01"), Self.d("2026-02-28")))
        let quarter = try ReportingPeriod("2026-Q4")
        #expect((quarter.start, quarter.end) == (Self.d("2026-10-01"), Self.d("2026-12-31")))
        let range = try ReportingPeriod("2026-11-03..2026-11-05")
        #expect(range.contains(Self.d("2026-11-05")) && !range.contains(Self.d("2026-11-06")))
        #expect(try ReportingPeriod("2026-01").trailing(3).map(\.description) == ["2025-11", "2025-12", "2026-01"])
        #expect(try ReportingPeriod("2026-W01").trailing(2).map(\.description) == ["2025-W52", "2026-W01"])
        for bad in ["2026-13", "2026-W54", "2025-W53", "2026-Q5", "November", "2026-11-05..2026-11-01", ""] {
            #expect(throws: ReportingPeriod.ParseError.self, "\(bad)") { try ReportingPeriod(bad) }
        }
    }

    @Test func workingDaysSkipHolidaysAndCountMakeUpDays() {
        let calendar = Self.calendar
        // Received Wednesday 30 September: the 1st–7th are off, Thu 8 and Fri 9 count, and so does Saturday 10 (调休).
        #expect(calendar.deadline(workingDays: 3, after: Self.t("2026-09-30T10:00:00+08:00")) == Self.t("2026-10-11T00:00:00+08:00"))
        // Without the make-up day the third working day is Monday 12.
        let plain = WorkCalendar(holidays: calendar.holidays)
        #expect(plain.deadline(workingDays: 3, after: Self.t("2026-09-30T10:00:00+08:00")) == Self.t("2026-10-13T00:00:00+08:00"))
        // Received on a Friday evening: Monday, Tuesday, Wednesday.
        #expect(calendar.deadline(workingDays: 3, after: Self.t("2026-11-20T19:00:00+08:00")) == Self.t("2026-11-26T00:00:00+08:00"))
        // A Saturday receipt counts from Monday.
        #expect(calendar.deadline(workingDays: 2, after: Self.t("2026-11-21T09:00:00+08:00")) == Self.t("2026-11-25T00:00:00+08:00"))
    }

    /// 30 minutes for VIP, 60 otherwise; the level recorded on the fault wins
    /// over the customer's current one; a report just before midnight counts on its own day.
    @Test func faultFirstFeedbackVIPVersusStandardAcrossMidnight() {
        var facts = Self.facts([Self.vip, Self.standard])
        // Reported 23:50, feedback 00:25 the next day: 35 minutes.
        facts.faults = [
            KPIFacts.Fault(id: "f1", customer: "c-vip", reportedAt: Self.t("2026-11-16T23:50:00+08:00"),
                           firstFeedbackAt: Self.t("2026-11-17T00:25:00+08:00"), level: "vip"),
            KPIFacts.Fault(id: "f2", customer: "c-std", reportedAt: Self.t("2026-11-16T23:50:00+08:00"),
                           firstFeedbackAt: Self.t("2026-11-17T00:25:00+08:00"), level: "standard"),
            // The customer is VIP now, but was standard when this fault was reported: 60 minutes.
            KPIFacts.Fault(id: "f3", customer: "c-vip", reportedAt: Self.t("2026-11-18T09:00:00+08:00"),
                           firstFeedbackAt: Self.t("2026-11-18T09:45:00+08:00"), level: "standard"),
            // No level recorded (older data): the customer's, VIP.
            KPIFacts.Fault(id: "f4", customer: "c-vip", reportedAt: Self.t("2026-11-19T09:00:00+08:00"),
                           firstFeedbackAt: Self.t("2026-11-19T09:45:00+08:00")),
        ]
        let report = KPIEngine.report(facts, period: try! ReportingPeriod("2026-W47"), grouping: .province,
                                      asOf: Self.t("2026-11-23T09:00:00+08:00"))
        let figure = report.total.figure(.faultFirstFeedback)
        #expect((figure.met, figure.missed, figure.pending) == (2, 2, 0))
        #expect(figure.rate == 0.5)
        let misses = report.total.misses.filter { $0.kpi == .faultFirstFeedback }
        #expect(misses.map(\.record) == ["f1", "f4"])
        #expect(misses[0].lateBySeconds == 5 * 60 && misses[0].limit == "30 min (VIP)")
        #expect(misses[0].deadline == Self.t("2026-11-17T00:20:00+08:00"))
        #expect(misses[1].lateBySeconds == 15 * 60)
    }

    /// Open records are pending until their limit passes, then missed and on the to-do list.
    @Test func openRecordsCountAsMissedOnceTheirLimitHasPassed() {
        var facts = Self.facts([Self.standard])
        facts.faults = [KPIFacts.Fault(id: "f1", customer: "c-std", reportedAt: Self.t("2026-11-18T09:00:00+08:00"),
                                       restoreBy: Self.t("2026-11-18T18:00:00+08:00"), level: "standard")]
        let period = try! ReportingPeriod("2026-11")
        let early = KPIEngine.report(facts, period: period, grouping: .manager, asOf: Self.t("2026-11-18T09:30:00+08:00"))
        #expect(early.total.figure(.faultFirstFeedback).pending == 1)
        #expect(early.total.figure(.faultFirstFeedback).rate == nil)
        #expect(KPIEngine.openPastLimit(facts, asOf: Self.t("2026-11-18T09:30:00+08:00")).isEmpty)

        let late = KPIEngine.report(facts, period: period, grouping: .manager, asOf: Self.t("2026-11-18T18:30:00+08:00"))
        #expect(late.groups.map(\.name) == ["Bob"])
        #expect(late.total.figure(.faultFirstFeedback).missed == 1)
        #expect(late.total.figure(.faultRestoration).missed == 1)
        let todo = KPIEngine.openPastLimit(facts, asOf: Self.t("2026-11-18T18:30:00+08:00"))
        #expect(todo.map(\.kpi) == [.faultFirstFeedback, .faultRestoration], "most overdue first")
        #expect(todo[0].lateBySeconds == 8 * 3_600 + 30 * 60 && todo[0].isOpen)
        #expect(todo[1].lateBySeconds == 30 * 60)
    }

    /// A fault restored in time and then reopened is open again: missed once past the agreed time.
    @Test func reopenedFaultIsJudgedOnItsCurrentRound() throws {
        var record: [String: FieldValue] = [
            "customer": .text("c-std"), "reported_at": .text("2026-11-18T09:00:00+08:00"),
            "restore_by": .text("2026-11-20T18:00:00+08:00"), "status": .text("1:reported"), "level": .text("standard"),
        ]
        func perform(_ action: CaseAction) throws {
            for (field, value) in try CaseWorkflow.fields(for: action, on: .fault, current: record) { record[field] = value }
        }
        try perform(.feedback(at: "2026-11-18T09:20:00+08:00"))
        try perform(.resolve(at: "2026-11-20T17:00:00+08:00", result: nil))
        var restored = Self.facts([Self.standard])
        restored.add(.fault, "f1", record)
        let period = try ReportingPeriod("2026-11")
        let asOf = Self.t("2026-11-23T09:00:00+08:00")
        #expect(KPIEngine.report(restored, period: period, grouping: .province, asOf: asOf).total.figure(.faultRestoration).met == 1)

        try perform(.reopen)
        var reopened = Self.facts([Self.standard])
        reopened.add(.fault, "f1", record)
        let report = KPIEngine.report(reopened, period: period, grouping: .province, asOf: asOf)
        #expect(report.total.figure(.faultRestoration).missed == 1)
        #expect(report.total.figure(.faultFirstFeedback).met == 1, "the first feedback stays the earliest one")
        #expect(report.total.misses.first?.isOpen == true)
    }

    /// A record belongs to the period of the day it happened where it was recorded.
    @Test func monthBoundaryFollowsTheLocalDay() throws {
        var facts = Self.facts([Self.standard])
        // 00:10 on 1 December in +08:00 is still 30 November in UTC.
        facts.faults = [KPIFacts.Fault(id: "f1", customer: "c-std", reportedAt: Self.t("2026-12-01T00:10:00+08:00"),
                                       firstFeedbackAt: Self.t("2026-12-01T00:40:00+08:00"))]
        let asOf = Self.t("2026-12-05T00:00:00+08:00")
        #expect(KPIEngine.report(facts, period: try ReportingPeriod("2026-11"), grouping: .province, asOf: asOf).total.figure(.faultFirstFeedback).total == 0)
        #expect(KPIEngine.report(facts, period: try ReportingPeriod("2026-12"), grouping: .province, asOf: asOf).total.figure(.faultFirstFeedback).met == 1)
    }

    @Test func complaintLimitsWithHolidayAndMakeUpDay() throws {
        var facts = Self.facts([Self.vip, Self.standard])
        facts.complaints = [
            // VIP: 1 h feedback (given after 70 min: missed); received before the holiday,
            // resolved on the make-up Saturday, the third working day: met.
            KPIFacts.Complaint(id: "k1", customer: "c-vip", receivedAt: Self.t("2026-09-30T10:00:00+08:00"),
                               firstFeedbackAt: Self.t("2026-09-30T11:10:00+08:00"), resolvedAt: Self.t("2026-10-10T17:00:00+08:00"),
                               level: "vip"),
            // Standard: 2 h feedback (after 70 min: met); resolved Monday 12th: missed by 1 day 10 h.
            KPIFacts.Complaint(id: "k2", customer: "c-std", receivedAt: Self.t("2026-09-30T10:00:00+08:00"),
                               firstFeedbackAt: Self.t("2026-09-30T11:10:00+08:00"), resolvedAt: Self.t("2026-10-12T10:00:00+08:00"),
                               escalatedAt: Self.t("2026-10-11T09:00:00+08:00"), level: "standard"),
        ]
        let report = KPIEngine.report(facts, period: try ReportingPeriod("2026-Q3"), grouping: .manager, asOf: Self.t("2026-10-20T00:00:00+08:00"))
        let alice = try #require(report.groups.first { $0.name == "Alice" })
        let bob = try #require(report.groups.first { $0.name == "Bob" })
        #expect(alice.figure(.complaintFirstFeedback).missed == 1 && alice.figure(.complaintResolution).met == 1)
        #expect(bob.figure(.complaintFirstFeedback).met == 1 && bob.figure(.complaintResolution).missed == 1)
        let resolution = try #require(bob.misses.first { $0.kpi == .complaintResolution })
        #expect(resolution.lateBySeconds == 34 * 3_600, "due by the end of Saturday 10th, resolved Monday 12th 10:00")
        #expect(bob.openEscalations == 0 && report.total.openEscalations == 0, "resolved on the 12th: no longer an open escalation")
        #expect(report.total.figure(.complaintResolution).rate == 0.5)
    }

    /// Due within 2 working days of the resolution (办结), not of the closing that
    /// comes after the visit; a visit before the resolution does not count.
    @Test func followUpVisitWithinTwoWorkingDaysOfResolution() throws {
        var facts = Self.facts([Self.standard])
        let received = Self.t("2026-11-16T09:00:00+08:00")
        facts.complaints = [
            // Resolved Friday, closed the next Friday: the visit on Tuesday is in time.
            KPIFacts.Complaint(id: "k1", customer: "c-std", receivedAt: received, resolvedAt: Self.t("2026-11-20T16:00:00+08:00"),
                               closedAt: Self.t("2026-11-27T16:00:00+08:00")),
            // Resolved Friday: the visit on Thursday is 1 day 10 h late, however soon it was closed after.
            KPIFacts.Complaint(id: "k2", customer: "c-std", receivedAt: received, resolvedAt: Self.t("2026-11-20T16:30:00+08:00"),
                               closedAt: Self.t("2026-11-26T11:00:00+08:00")),
            // A visit the day before the resolution does not count: missed once the deadline passed.
            KPIFacts.Complaint(id: "k3", customer: "c-std", receivedAt: received, resolvedAt: Self.t("2026-11-18T10:00:00+08:00")),
        ]
        facts.visits = [KPIFacts.Visit(customer: "c-std", at: Self.t("2026-11-24T15:00:00+08:00"), kind: "complaint-follow-up", complaint: "k1"),
                        KPIFacts.Visit(customer: "c-std", at: Self.t("2026-11-26T10:00:00+08:00"), kind: "complaint-follow-up", complaint: "k2"),
                        KPIFacts.Visit(customer: "c-std", at: Self.t("2026-11-17T10:00:00+08:00"), kind: "complaint-follow-up", complaint: "k3")]
        let report = KPIEngine.report(facts, period: try ReportingPeriod("2026-11"), grouping: .province, asOf: Self.t("2026-11-30T00:00:00+08:00"))
        let figure = report.total.figure(.complaintFollowUpVisit)
        #expect((figure.met, figure.missed) == (1, 2))
        let late = try #require(report.total.misses.first { $0.kpi == .complaintFollowUpVisit && $0.record == "k2" })
        #expect(late.deadline == Self.t("2026-11-25T00:00:00+08:00") && late.lateBySeconds == 34 * 3_600 && late.limit == "2 working days after resolution")
        let early = try #require(report.total.misses.first { $0.kpi == .complaintFollowUpVisit && $0.record == "k3" })
        #expect(early.actual == nil && early.deadline == Self.t("2026-11-21T00:00:00+08:00"))
    }

    @Test func weeklyVisitCoverage() throws {
        var archived = Self.standard
        archived.id = "c-old"; archived.archived = true
        var newcomer = Self.standard
        newcomer.id = "c-new"; newcomer.since = LocalDate(iso: "2026-11-25")
        var facts = Self.facts([Self.vip, Self.standard, archived, newcomer])
        facts.visits = [
            KPIFacts.Visit(customer: "c-vip", at: Self.t("2026-11-18T10:00:00+08:00"), kind: "routine"),
            // A joint meeting is not a routine on-site visit.
            KPIFacts.Visit(customer: "c-std", at: Self.t("2026-11-18T10:00:00+08:00"), kind: "joint-meeting"),
        ]
        let week = try ReportingPeriod("2026-W47")
        let during = KPIEngine.report(facts, period: week, grouping: .province, asOf: Self.t("2026-11-20T12:00:00+08:00"))
        #expect(during.total.figure(.visitCoverage) == KPIFigure(kpi: .visitCoverage, met: 1, missed: 0, pending: 1))
        let after = KPIEngine.report(facts, period: week, grouping: .manager, asOf: Self.t("2026-11-23T08:00:00+08:00"))
        #expect(after.total.figure(.visitCoverage) == KPIFigure(kpi: .visitCoverage, met: 1, missed: 1, pending: 0))
        #expect(after.groups.first { $0.name == "Bob" }?.misses.first?.limit == "week 2026-W47")
        // November holds the weeks starting 2, 9, 16, 23 and 30 November.
        let month = KPIEngine.report(facts, period: try ReportingPeriod("2026-11"), grouping: .province, asOf: Self.t("2026-12-08T00:00:00+08:00"))
        #expect(month.total.figure(.visitCoverage).total == 2 * 5 + 2, "the newcomer counts from its first week, 23 November")
    }
}
