import FieldSyncKPI
import FieldSyncModel
import Testing

/// The handbook rules of issue 11 against figures worked out by hand: where
/// the restoration limit comes from, the agreement notices (§2.3.3), weeks
/// without a working day, and attribution to the manager responsible.
@Suite struct KPIHandbookTests {
    static func t(_ text: String) -> Timestamp { Timestamp(iso: text)! }
    static func d(_ text: String) -> LocalDate { LocalDate(iso: text)! }

    static let vip = KPIFacts.Customer(id: "c-vip", name: "Tower VIP", branch: "Hangzhou", manager: "Alice", level: "vip")
    static let standard = KPIFacts.Customer(id: "c-std", name: "Shop", branch: "Hangzhou", manager: "Bob", level: "standard")

    static func facts(_ customers: [KPIFacts.Customer] = [vip, standard]) -> KPIFacts {
        var facts = KPIFacts()
        for customer in customers { facts.customers[customer.id] = customer }
        return facts
    }

    /// Met or missed, with the deadline and the limit text, for one fault.
    static func judged(_ facts: KPIFacts, _ id: String) -> (met: Bool, deadline: Timestamp?, limit: String?) {
        let misses = KPIEngine.report(facts, period: try! ReportingPeriod("2026-11"), grouping: .province, asOf: t("2026-11-30T09:00:00+08:00"))
            .total.misses.filter { $0.kpi == .faultRestoration && $0.record == id }
        return (misses.isEmpty, misses.first?.deadline, misses.first?.limit)
    }

    @Test func monthsBackClampToTheMonthsLastDay() {
        #expect(Self.d("2027-05-31").adding(months: -3) == Self.d("2027-02-28"))
        #expect(Self.d("2028-05-31").adding(months: -3) == Self.d("2028-02-29"))
        #expect(Self.d("2027-01-31").adding(months: -1) == Self.d("2026-12-31"))
        #expect(Self.d("2026-12-15").adding(months: 2) == Self.d("2027-02-15"))
    }

    /// No `--restore-by` and no agreement: the level's default (VIP 4 h,
    /// standard 8 h); a fault no longer drops out of the restoration KPI.
    @Test func restorationDefaultsToTheServiceLevel() {
        var facts = Self.facts()
        facts.faults = [
            // VIP reported 09:00: due 13:00.
            KPIFacts.Fault(id: "v-in", customer: "c-vip", reportedAt: Self.t("2026-11-17T09:00:00+08:00"), restoredAt: Self.t("2026-11-17T12:59:00+08:00")),
            KPIFacts.Fault(id: "v-out", customer: "c-vip", reportedAt: Self.t("2026-11-17T09:00:00+08:00"), restoredAt: Self.t("2026-11-17T13:01:00+08:00")),
            // Standard reported 09:00: due 17:00.
            KPIFacts.Fault(id: "s-in", customer: "c-std", reportedAt: Self.t("2026-11-17T09:00:00+08:00"), restoredAt: Self.t("2026-11-17T16:00:00+08:00")),
            KPIFacts.Fault(id: "s-out", customer: "c-std", reportedAt: Self.t("2026-11-17T09:00:00+08:00"), restoredAt: Self.t("2026-11-17T17:30:00+08:00")),
            // Reported at 23:50 by a VIP: due 03:50 the next day, counted on the day of the report.
            KPIFacts.Fault(id: "late-night", customer: "c-vip", reportedAt: Self.t("2026-11-30T23:50:00+08:00")),
        ]
        #expect(Self.judged(facts, "v-in").met)
        #expect(Self.judged(facts, "v-out") == (false, Self.t("2026-11-17T13:00:00+08:00"), "4 h (VIP) FieldSync default"))
        #expect(Self.judged(facts, "s-in").met)
        #expect(Self.judged(facts, "s-out") == (false, Self.t("2026-11-17T17:00:00+08:00"), "8 h FieldSync default"))
        let november = KPIEngine.report(facts, period: try! ReportingPeriod("2026-11"), grouping: .province, asOf: Self.t("2026-12-01T03:51:00+08:00"))
        #expect(november.total.figure(.faultRestoration) == KPIFigure(kpi: .faultRestoration, met: 2, missed: 3))
        let lateNight = november.total.misses.first { $0.record == "late-night" && $0.kpi == .faultRestoration }
        #expect(lateNight?.deadline == Self.t("2026-12-01T03:50:00+08:00") && lateNight?.lateBySeconds == 60)
    }

    /// A file handed over mid-month: each unvisited week is missed by whoever held the file when it
    /// ended, a fault without an owner is whoever held it when reported (KPIFacts.holder).
    @Test func attributionFollowsWhoHeldTheFileAtTheTime() {
        var facts = Self.facts()
        facts.customers["c-std"]?.manager = "Bob"
        facts.customers["c-std"]?.since = Self.d("2026-11-01")
        facts.handovers["c-std"] = [KPIFacts.Handover(at: Self.t("2026-11-18T10:00:00+08:00"), previous: "Alice", manager: "Bob")]
        facts.faults = [KPIFacts.Fault(id: "f-early", customer: "c-std", reportedAt: Self.t("2026-11-10T09:00:00+08:00")),
                        KPIFacts.Fault(id: "f-late", customer: "c-std", reportedAt: Self.t("2026-11-20T09:00:00+08:00"))]
        facts.customers.removeValue(forKey: "c-vip")
        let report = KPIEngine.report(facts, period: try! ReportingPeriod("2026-11"), grouping: .manager, asOf: Self.t("2026-12-08T09:00:00+08:00"))
        let alice = report.groups.first { $0.name == "Alice" }, bob = report.groups.first { $0.name == "Bob" }
        #expect(alice?.figure(.visitCoverage).missed == 2, "weeks 45 and 46 ended before the handover")
        #expect(bob?.figure(.visitCoverage).missed == 3, "weeks 47 (handed over on its Wednesday), 48 and 49")
        #expect(alice?.misses.contains { $0.record == "f-early" } == true && bob?.misses.contains { $0.record == "f-late" } == true)
        // Without handover records (files from before they were kept): the customer's manager now, as before.
        facts.handovers = [:]
        let now = KPIEngine.report(facts, period: try! ReportingPeriod("2026-11"), grouping: .manager, asOf: Self.t("2026-12-08T09:00:00+08:00"))
        #expect(now.groups.map(\.name) == ["Bob"])
    }

    /// The province's default (a replicated setting) replaces FieldSync's where no
    /// agreement states a limit; an agreement and the fault's own time still win over it.
    @Test func theProvincesRestorationDefaultAppliesWhereNoAgreementStatesOne() {
        var facts = Self.facts()
        facts.restorationDefault = RestorationDefault(hours: 6, vipHours: 3)
        facts.faults = [
            KPIFacts.Fault(id: "s-out", customer: "c-std", reportedAt: Self.t("2026-11-17T09:00:00+08:00"), restoredAt: Self.t("2026-11-17T15:30:00+08:00")),
            KPIFacts.Fault(id: "v-in", customer: "c-vip", reportedAt: Self.t("2026-11-17T09:00:00+08:00"), restoredAt: Self.t("2026-11-17T11:30:00+08:00")),
            KPIFacts.Fault(id: "override", customer: "c-std", reportedAt: Self.t("2026-11-17T09:00:00+08:00"),
                           restoreBy: Self.t("2026-11-17T20:00:00+08:00"), restoredAt: Self.t("2026-11-17T19:00:00+08:00")),
        ]
        #expect(Self.judged(facts, "s-out") == (false, Self.t("2026-11-17T15:00:00+08:00"), "6 h province default"))
        #expect(Self.judged(facts, "v-in").met)
        #expect(Self.judged(facts, "override").met)
        // Only one limit set: the other level keeps FieldSync's figure.
        facts.restorationDefault = RestorationDefault(hours: 6)
        facts.faults = [KPIFacts.Fault(id: "v-out", customer: "c-vip", reportedAt: Self.t("2026-11-17T09:00:00+08:00"), restoredAt: Self.t("2026-11-17T13:30:00+08:00"))]
        #expect(Self.judged(facts, "v-out") == (false, Self.t("2026-11-17T13:00:00+08:00"), "4 h (VIP) FieldSync default"))
    }

    /// The agreement in force on the report day sets the limit (the strictest
    /// of several); one that ended before does not; the fault's own time wins over both.
    @Test func restorationLimitFromTheAgreementWithAPerFaultOverride() {
        var facts = Self.facts()
        facts.agreements = [
            KPIFacts.Agreement(id: "a1", customer: "c-std", number: "A-1", starts: Self.d("2026-01-01"), ends: Self.d("2026-12-31"), restoreHours: 6),
            KPIFacts.Agreement(id: "a2", customer: "c-std", number: "A-2", starts: Self.d("2026-06-01"), ends: Self.d("2027-05-31"), restoreHours: 2),
            // Ended the day before the VIP's fault: not in force.
            KPIFacts.Agreement(id: "a3", customer: "c-vip", number: "V-1", starts: Self.d("2025-01-01"), ends: Self.d("2026-11-16"), restoreHours: 1),
        ]
        facts.faults = [
            KPIFacts.Fault(id: "s-in", customer: "c-std", reportedAt: Self.t("2026-11-17T09:00:00+08:00"), restoredAt: Self.t("2026-11-17T11:00:00+08:00")),
            KPIFacts.Fault(id: "s-out", customer: "c-std", reportedAt: Self.t("2026-11-17T09:00:00+08:00"), restoredAt: Self.t("2026-11-17T11:00:01+08:00")),
            // Agreed with the customer on this fault: the next morning.
            KPIFacts.Fault(id: "s-agreed", customer: "c-std", reportedAt: Self.t("2026-11-17T09:00:00+08:00"),
                           restoreBy: Self.t("2026-11-18T09:00:00+08:00"), restoredAt: Self.t("2026-11-18T08:00:00+08:00")),
            KPIFacts.Fault(id: "v-ended", customer: "c-vip", reportedAt: Self.t("2026-11-17T09:00:00+08:00"), restoredAt: Self.t("2026-11-17T12:00:00+08:00")),
        ]
        #expect(Self.judged(facts, "s-in").met)
        #expect(Self.judged(facts, "s-out") == (false, Self.t("2026-11-17T11:00:00+08:00"), "2 h (agreement A-2)"))
        #expect(Self.judged(facts, "s-agreed").met, "restored 08:00 against an agreed 09:00 the next day, although A-2 says 2 h")
        #expect(Self.judged(facts, "v-ended").met, "V-1 ended on 16 November: the VIP default of 4 h applies, restored in 3 h")
    }

    /// §2.3.3: the expiry notice 3 months before the end, re-signed or a
    /// termination notice 1 month before; each is placed in the period of its due day.
    @Test func agreementNoticesAreDueThreeAndOneMonthBeforeTheEnd() throws {
        var facts = Self.facts()
        facts.agreements = [
            // Ends 31 May 2027: notice due 28 Feb, renewal due 30 April.
            KPIFacts.Agreement(id: "open", customer: "c-std", number: "A-open", ends: Self.d("2027-05-31")),
            KPIFacts.Agreement(id: "late", customer: "c-std", number: "A-late", ends: Self.d("2027-05-31"),
                               renewalNoticeAt: Self.d("2027-02-28"), renewedAt: Self.d("2027-05-02")),
            KPIFacts.Agreement(id: "ended", customer: "c-vip", number: "V-ended", ends: Self.d("2027-01-31"),
                               terminationNoticeAt: Self.d("2026-12-31")),
        ]
        let todo = KPIEngine.openPastLimit(facts, asOf: Self.t("2027-03-01T09:00:00+08:00"))
        #expect(todo.count == 1)
        let notice = try #require(todo.first)
        #expect(notice.kpi == .agreementRenewalNotice && notice.record == "open" && notice.table == .agreement && notice.manager == "Bob")
        #expect(notice.deadline == Self.t("2027-02-28T23:59:59+08:00") && notice.lateBySeconds == 9 * 3_600 + 1)
        #expect(notice.limit == "due 2027-02-28 (A-open ends 2027-05-31)")

        let february = KPIEngine.report(facts, period: try ReportingPeriod("2027-02"), grouping: .province, asOf: Self.t("2027-06-01T09:00:00+08:00"))
        #expect(february.total.figure(.agreementRenewalNotice) == KPIFigure(kpi: .agreementRenewalNotice, met: 1, missed: 1))
        let april = KPIEngine.report(facts, period: try ReportingPeriod("2027-04"), grouping: .province, asOf: Self.t("2027-06-01T09:00:00+08:00"))
        #expect(april.total.figure(.agreementRenewal) == KPIFigure(kpi: .agreementRenewal, met: 0, missed: 2))
        let lateRenewal = try #require(april.total.misses.first { $0.record == "late" })
        #expect(lateRenewal.lateBySeconds == 2 * 86_400, "re-signed on 2 May against 30 April")
        let december = KPIEngine.report(facts, period: try ReportingPeriod("2026-12"), grouping: .province, asOf: Self.t("2027-06-01T09:00:00+08:00"))
        #expect(december.total.figure(.agreementRenewal) == KPIFigure(kpi: .agreementRenewal, met: 1, missed: 0), "terminated on the due day")
        // Once an agreement has ended there is nothing left to do: it leaves the to-do list, its figures stay.
        #expect(KPIEngine.openPastLimit(facts, asOf: Self.t("2027-06-01T09:00:00+08:00")).isEmpty)
    }

    /// A week with no working day (Spring Festival) asks for no visit; a
    /// make-up Saturday inside it brings the week back.
    @Test func coverageSkipsWeeksWithoutAWorkingDay() throws {
        var facts = Self.facts([Self.standard])
        // Monday 16 to Friday 20 February 2026 off.
        facts.calendar = WorkCalendar(holidays: Set((16...20).map { Self.d("2026-02-\($0)") }), makeUpDays: [])
        let february = try ReportingPeriod("2026-02")
        let asOf = Self.t("2026-03-02T09:00:00+08:00")
        let skipped = KPIEngine.report(facts, period: february, grouping: .province, asOf: asOf).total
        #expect(skipped.figure(.visitCoverage) == KPIFigure(kpi: .visitCoverage, met: 0, missed: 3), "weeks of 2, 9 and 23 February; not 16")
        #expect(!skipped.misses.contains { $0.limit == "week 2026-W08" })
        facts.calendar.makeUpDays = [Self.d("2026-02-21")]
        #expect(KPIEngine.report(facts, period: february, grouping: .province, asOf: asOf).total.figure(.visitCoverage).missed == 4)
    }

    /// Figures follow the manager responsible when it happened: the case's
    /// owner and the visiting manager, not whoever holds the file now.
    @Test func attributionFollowsTheOwnerAndTheVisitingManager() throws {
        // Bob holds the file now; Alice held it last week.
        var facts = Self.facts([Self.standard])
        facts.faults = [KPIFacts.Fault(id: "f", customer: "c-std", reportedAt: Self.t("2026-11-17T09:00:00+08:00"),
                                       firstFeedbackAt: Self.t("2026-11-17T09:30:00+08:00"), restoredAt: Self.t("2026-11-17T10:00:00+08:00"), owner: "Alice")]
        facts.complaints = [KPIFacts.Complaint(id: "k", customer: "c-std", receivedAt: Self.t("2026-11-16T09:00:00+08:00"),
                                               escalatedAt: Self.t("2026-11-20T09:00:00+08:00"), owner: "Alice")]
        facts.visits = [KPIFacts.Visit(customer: "c-std", at: Self.t("2026-11-18T10:00:00+08:00"), kind: "routine", manager: "Alice")]
        let period = try ReportingPeriod("2026-11-16..2026-11-29")
        let asOf = Self.t("2026-11-30T09:00:00+08:00")
        let report = KPIEngine.report(facts, period: period, grouping: .manager, asOf: asOf)
        #expect(report.groups.map(\.name) == ["Alice", "Bob"])
        let alice = try #require(report.groups.first { $0.name == "Alice" })
        let bob = try #require(report.groups.first { $0.name == "Bob" })
        #expect(alice.figure(.faultFirstFeedback).met == 1 && alice.figure(.faultRestoration).met == 1)
        #expect(alice.figure(.visitCoverage).met == 1 && alice.openEscalations == 1 && alice.figure(.complaintResolution).missed == 1)
        #expect(bob.figure(.visitCoverage) == KPIFigure(kpi: .visitCoverage, met: 0, missed: 1), "week 48 unvisited: the current manager's")
        #expect(bob.figure(.faultFirstFeedback).total == 0)

        let onlyAlice = KPIEngine.report(facts.restricted(toResponsible: "Alice"), period: period, grouping: .province, asOf: asOf).total
        #expect(onlyAlice.figure(.visitCoverage) == KPIFigure(kpi: .visitCoverage, met: 1) && onlyAlice.openEscalations == 1)
        let byCustomer = KPIEngine.report(facts, period: period, grouping: .customer, asOf: asOf)
        #expect(byCustomer.groups.map(\.name) == ["Shop [c-std]"])

        // The to-do list tells an escalated complaint from one nobody escalated.
        let todo = KPIEngine.openPastLimit(facts, asOf: asOf).filter { $0.kpi == .complaintResolution }
        #expect(todo.count == 1 && todo.first?.escalatedAt == Self.t("2026-11-20T09:00:00+08:00") && todo.first?.manager == "Alice")
    }
}
