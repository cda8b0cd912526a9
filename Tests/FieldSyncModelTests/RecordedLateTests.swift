import FieldSyncKPI
import FieldSyncLocalization
import FieldSyncModel
import Testing

/// The times a manager gives against the times they were typed (KPI.md,
/// "Recorded late"), worked out by hand.
@Suite struct RecordedLateTests {
    static func t(_ text: String) -> Timestamp { Timestamp(iso: text)! }
    static let asOf = t("2026-11-30T09:00:00+08:00")
    static let november = try! ReportingPeriod("2026-11")

    static func facts() -> KPIFacts {
        var facts = KPIFacts()
        facts.customers["c-std"] = KPIFacts.Customer(id: "c-std", name: "Shop", branch: "Hangzhou", manager: "Bob", level: "standard")
        return facts
    }

    /// A feedback given as 10:20 against a 60-minute limit from 10:00, typed
    /// at 11:05: met, recorded 45 minutes after the time given and 5 after the limit.
    @Test func feedbackGivenInTimeButTypedAfterTheLimitIsMetAndListed() throws {
        var facts = Self.facts()
        facts.faults = [KPIFacts.Fault(id: "f-1", customer: "c-std", reportedAt: Self.t("2026-11-18T10:00:00+08:00"),
                                       firstFeedbackAt: Self.t("2026-11-18T10:20:00+08:00"), owner: "Bob",
                                       firstFeedbackRecorded: Self.t("2026-11-18T03:05:00Z"))]
        let report = KPIEngine.report(facts, period: Self.november, grouping: .province, asOf: Self.asOf)
        #expect(report.total.figure(.faultFirstFeedback).met == 1, "the figure counts the time given")
        let late = KPIEngine.recordedLate(facts, period: Self.november, asOf: Self.asOf)
        let entry = try #require(late.first)
        #expect(late.count == 1)
        #expect(entry.event.kpi == .faultFirstFeedback && entry.event.record == "f-1" && entry.event.manager == "Bob")
        #expect(entry.claimed == Self.t("2026-11-18T10:20:00+08:00"))
        #expect(entry.recorded.description == "2026-11-18T11:05:00+08:00", "shown in the offset of the time given")
        #expect(entry.delaySeconds == 45 * 60 && entry.afterDeadlineSeconds == 5 * 60)
        #expect(entry.event.deadline == Self.t("2026-11-18T11:00:00+08:00"))
        #expect(KPIText.lateTable(late, empty: "", Strings.load(.english)).contains("45 min"))
    }

    /// Typed after the time given but before the limit, or within the
    /// tolerance of the time given: nothing to list.
    @Test func typedBeforeTheLimitOrWithinTheToleranceIsNotListed() {
        var facts = Self.facts()
        facts.faults = [
            // Given 10:20, typed 10:50: 30 min later, but before the 11:00 limit.
            KPIFacts.Fault(id: "f-before", customer: "c-std", reportedAt: Self.t("2026-11-18T10:00:00+08:00"),
                           firstFeedbackAt: Self.t("2026-11-18T10:20:00+08:00"), firstFeedbackRecorded: Self.t("2026-11-18T10:50:00+08:00")),
            // Given 10:55, typed 11:04: after the limit, but within the 10-minute tolerance.
            KPIFacts.Fault(id: "f-tolerance", customer: "c-std", reportedAt: Self.t("2026-11-18T10:00:00+08:00"),
                           firstFeedbackAt: Self.t("2026-11-18T10:55:00+08:00"), firstFeedbackRecorded: Self.t("2026-11-18T11:04:00+08:00")),
        ]
        #expect(KPIEngine.recordedLate(facts, period: Self.november, asOf: Self.asOf).isEmpty)
        #expect(KPIEngine.report(facts, period: Self.november, grouping: .province, asOf: Self.asOf).total.figure(.faultFirstFeedback).met == 2)
    }

    /// A restoration given as 17:00 (8 h default limit: 18:00) but typed the next
    /// morning; a missed feedback typed 2 h 10 min after the time given says so in the miss.
    @Test func restorationTypedNextMorningAndAMissTypedLate() throws {
        var facts = Self.facts()
        facts.faults = [KPIFacts.Fault(id: "f-2", customer: "c-std", reportedAt: Self.t("2026-11-18T10:00:00+08:00"),
                                       firstFeedbackAt: Self.t("2026-11-18T11:30:00+08:00"), restoredAt: Self.t("2026-11-18T17:00:00+08:00"),
                                       firstFeedbackRecorded: Self.t("2026-11-18T13:40:00+08:00"),
                                       restoredRecorded: Self.t("2026-11-19T08:30:00+08:00"))]
        let late = KPIEngine.recordedLate(facts, period: Self.november, asOf: Self.asOf)
        #expect(late.map(\.event.kpi) == [.faultRestoration])
        #expect(late.first?.delaySeconds == Int64(15 * 3_600 + 30 * 60), "15 h 30 min")
        #expect(late.first?.event.limit == "8 h FieldSync default")
        let miss = try #require(KPIEngine.report(facts, period: Self.november, grouping: .province, asOf: Self.asOf).total.misses.first)
        #expect(miss.kpi == .faultFirstFeedback && miss.lateBySeconds == 30 * 60)
        #expect(miss.recorded == Self.t("2026-11-18T13:40:00+08:00"))
        #expect(KPIText.recordedNote(miss, Strings.load(.english)) == "2 h 10 min after the time given")
        #expect(KPIText.missesTable([miss], empty: "", Strings.load(.english)).contains("2 h 10 min after the time given"))
    }

    /// A routine visit given in week 47 but typed after that week ended; an
    /// agreement's expiry notice dated on its due day but typed three days later.
    @Test func routineVisitAndAgreementNoticeTypedAfterTheirLimits() {
        var facts = Self.facts()
        facts.visits = [KPIFacts.Visit(customer: "c-std", at: Self.t("2026-11-20T15:00:00+08:00"), kind: "routine", manager: "Bob",
                                       recorded: Self.t("2026-11-23T09:00:00+08:00"))]
        facts.agreements = [KPIFacts.Agreement(id: "a-1", customer: "c-std", number: "A-1", ends: LocalDate(iso: "2027-02-28"),
                                               renewalNoticeAt: LocalDate(iso: "2026-11-28"),
                                               renewalNoticeRecorded: Self.t("2026-12-01T10:00:00+08:00"))]
        let week = try! ReportingPeriod("2026-W47")
        let report = KPIEngine.report(facts, period: week, grouping: .province, asOf: Self.asOf)
        #expect(report.total.figure(.visitCoverage).met == 1)
        #expect(KPIEngine.recordedLate(facts, period: week, asOf: Self.asOf).map(\.event.kpi) == [.visitCoverage])
        let late = KPIEngine.recordedLate(facts, period: Self.november, asOf: Self.asOf)
        #expect(Set(late.map(\.event.kpi)) == [.visitCoverage, .agreementRenewalNotice])
        #expect(late.first?.event.kpi == .agreementRenewalNotice, "latest-typed after its deadline first")
    }

    /// The service report notes each time recorded late and lists what was met as given but typed after the limit.
    @Test func serviceReportShowsTimesRecordedLate() throws {
        var facts = Self.facts()
        let fault = KPIFacts.Fault(id: "f-1", customer: "c-std", reportedAt: Self.t("2026-11-18T10:00:00+08:00"),
                                   firstFeedbackAt: Self.t("2026-11-18T10:20:00+08:00"), owner: "Bob",
                                   firstFeedbackRecorded: Self.t("2026-11-18T11:05:00+08:00"))
        facts.faults = [fault]
        let fields: ServiceReport.Fields = ["customer": .text("c-std"), "symptom": .text("no signal"), "status": .text("1:in-progress"),
                                            "reported_at": .text("2026-11-18T10:00:00+08:00"), "first_feedback_at": .text("2026-11-18T10:20:00+08:00")]
        let report = try #require(ServiceReport(customer: "c-std", facts: facts, records: [.fault: [("f-1", fields)]], period: Self.november, asOf: Self.asOf))
        #expect(report.faults.first?.firstFeedbackRecorded == Self.t("2026-11-18T11:05:00+08:00"))
        #expect(report.recordedLate.count == 1)
        let markdown = report.document(Strings.load(.english)).markdown
        #expect(markdown.contains("recorded 45 min after the time given"))
        #expect(markdown.contains("Met as given, recorded after the limit"))
    }

    /// A visit placed in its week by its own offset is met whatever the report's offset; a week
    /// whose earliest visit was typed late but another was typed in time is not listed.
    @Test func weeksFollowTheVisitsOffsetAndTheirFirstTypedVisit() {
        var facts = Self.facts()
        // Sunday 22 November 20:00 UTC is Monday 04:00 in +08:00, but the visit gave its time in UTC.
        facts.visits = [KPIFacts.Visit(customer: "c-std", at: Self.t("2026-11-22T20:00:00+00:00"), kind: "routine", manager: "Bob")]
        let week = try! ReportingPeriod("2026-W47")
        #expect(KPIEngine.report(facts, period: week, grouping: .province, asOf: Self.asOf).total.figure(.visitCoverage).met == 1)
        facts.visits = [
            KPIFacts.Visit(customer: "c-std", at: Self.t("2026-11-17T10:00:00+08:00"), kind: "routine", manager: "Bob",
                           recorded: Self.t("2026-11-25T10:00:00+08:00")),
            KPIFacts.Visit(customer: "c-std", at: Self.t("2026-11-19T10:00:00+08:00"), kind: "routine", manager: "Bob",
                           recorded: Self.t("2026-11-19T11:00:00+08:00")),
        ]
        #expect(KPIEngine.recordedLate(facts, period: week, asOf: Self.asOf).isEmpty)
    }
}
