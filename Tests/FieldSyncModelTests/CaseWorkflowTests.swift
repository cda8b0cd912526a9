import FieldSyncKPI
@testable import FieldSyncModel
import Testing

/// The handbook's rules on a case's own times (issue 11, part 1).
@Suite struct CaseWorkflowTests {
    static let reported = "2026-11-18T09:00:00+08:00"

    /// Telling the customer the service is restored is a feedback (guide §2.4.1(4)):
    /// a restoration with no separate feedback sets the first feedback, and the
    /// first-feedback KPI is met or missed by the restoration time.
    @Test func restorationWithoutFeedbackIsTheFirstFeedback() throws {
        let fault: [String: FieldValue] = ["reported_at": .text(Self.reported), "status": .text("1:reported")]
        let restored = try CaseWorkflow.fields(for: .resolve(at: "2026-11-18T09:40:00+08:00", result: nil), on: .fault, current: fault)
        #expect(restored.contains { $0.0 == "first_feedback_at" && $0.1 == .text("2026-11-18T09:40:00+08:00") })
        // A feedback already given is not replaced.
        var answered = fault
        answered["first_feedback_at"] = .text("2026-11-18T09:10:00+08:00")
        let later = try CaseWorkflow.fields(for: .resolve(at: "2026-11-18T10:40:00+08:00", result: nil), on: .fault, current: answered)
        #expect(!later.contains { $0.0 == "first_feedback_at" })
        // The same for a complaint's resolution.
        let complaint: [String: FieldValue] = ["received_at": .text(Self.reported), "status": .text("1:received")]
        let resolved = try CaseWorkflow.fields(for: .resolve(at: "2026-11-18T10:30:00+08:00", result: "fixed"), on: .complaint, current: complaint)
        #expect(resolved.contains { $0.0 == "first_feedback_at" && $0.1 == .text("2026-11-18T10:30:00+08:00") })

        // Restored 40 minutes after the report, no other feedback, the fault built by the workflow:
        // met for a standard customer (60 min), missed for a VIP (30 min).
        func firstFeedback(level: String) throws -> KPIFigure {
            var facts = KPIFacts()
            facts.add(.customer, "c", ["name": .text("C"), "branch": .text("Hangzhou"), "manager": .text("Alice"), "level": .text(level)])
            var record = fault.merging(["customer": .text("c"), "level": .text(level)]) { $1 }
            for (field, value) in restored { record[field] = value }
            facts.add(.fault, "f", record)
            let asOf = Timestamp(iso: "2026-11-30T12:00:00+08:00")!
            return KPIEngine.report(facts, period: try ReportingPeriod("2026-11"), grouping: .province, asOf: asOf).total.figure(.faultFirstFeedback)
        }
        #expect(try firstFeedback(level: "standard").met == 1)
        #expect(try firstFeedback(level: "vip").missed == 1)
    }

    /// occurred ≤ reported ≤ first feedback; restored ≥ occurred; report delivered ≥ restored:
    /// each refused with a message naming both times.
    @Test func caseTimesMustBeInOrder() {
        let schema = RecordKind.fault.schema
        let base: [String: FieldValue] = ["customer": .text("c1000000-0000-4000-8000-000000000001"), "symptom": .text("link down"),
                                          "reported_at": .text(Self.reported), "status": .text("1:reported")]
        let wrong: [(String, String, String)] = [
            ("occurred_at", "2026-11-18T09:30:00+08:00", "reported_at"),
            ("first_feedback_at", "2026-11-18T08:30:00+08:00", "first_feedback_at"),
        ]
        for (field, value, named) in wrong {
            var record = base
            record[field] = .text(value)
            let error = #expect(throws: RecordValidationError.self) { try schema.check(record: record) }
            #expect(error?.message.contains(named) == true && error?.message.contains("2026-11-18") == true, "\(error?.message ?? "")")
        }
        var delivered = base
        delivered["restored_at"] = .text("2026-11-18T11:00:00+08:00")
        delivered["report_delivered_at"] = .text("2026-11-18T10:00:00+08:00")
        let error = #expect(throws: RecordValidationError.self) { try schema.check(record: delivered) }
        #expect(error?.message.contains("report_delivered_at (2026-11-18T10:00:00+08:00) is before restored_at (2026-11-18T11:00:00+08:00)") == true,
                "\(error?.message ?? "")")
    }
}

@Suite struct ClosestNameTests {
    @Test func aSlipPointsAtTheNameMeantAndNothingElseDoes() {
        let branches = ["Hangzhou", "Ningbo", "Wenzhou"]
        #expect(ClosestName.to("Hangzou", among: branches) == "Hangzhou")
        #expect(ClosestName.to("ningbo", among: branches) == "Ningbo")
        #expect(ClosestName.to("Wenzou", among: branches) == "Wenzhou")
        #expect(ClosestName.to("Shanghai", among: branches) == nil, "another word is no slip")
        #expect(ClosestName.to("", among: branches) == nil && ClosestName.to("X", among: []) == nil)
        #expect(ClosestName.editDistance(Array("kitten"), Array("sitting")) == 3)
    }
}

/// Issue 25, item 3: the monthly service report for 2026-11 listed a
/// complaint received on 2026-12-06 (open cases were included with no check
/// that they began before the month ended). A month's report shows what was
/// true in it: cases that began in it, and those begun before its end and
/// still open at its end.
@Suite struct ServiceReportPeriodTests {
    @Test func aMonthsReportShowsWhatWasTrueInIt() throws {
        var facts = KPIFacts()
        facts.add(.customer, "c", ["name": .text("C"), "branch": .text("Hangzhou"), "manager": .text("Alice"), "level": .text("standard")])
        func complaint(_ received: String, resolved: String? = nil, status: String) -> ServiceReport.Fields {
            var fields: ServiceReport.Fields = ["customer": .text("c"), "content": .text("x"), "channel": .text("phone"),
                                                "received_at": .text(received + "T09:00:00+08:00"), "status": .text(status)]
            if let resolved { fields["resolved_at"] = .text(resolved + "T09:00:00+08:00") }
            return fields
        }
        func fault(_ reported: String, restored: String? = nil, status: String) -> ServiceReport.Fields {
            var fields: ServiceReport.Fields = ["customer": .text("c"), "symptom": .text("x"), "reported_at": .text(reported + "T09:00:00+08:00"),
                                                "status": .text(status)]
            if let restored { fields["restored_at"] = .text(restored + "T10:00:00+08:00") }
            return fields
        }
        let records: [RecordKind: [(id: String, fields: ServiceReport.Fields)]] = [
            .complaint: [
                ("after", complaint("2026-12-06", status: "1:received")),
                ("done-before", complaint("2026-10-20", resolved: "2026-10-25", status: "1:resolved")),
                ("resolved-in", complaint("2026-10-28", resolved: "2026-11-03", status: "1:resolved")),
                ("still-open", complaint("2026-10-30", status: "1:in-progress")),
                ("open-at-end", complaint("2026-10-15", resolved: "2026-12-02", status: "1:resolved")),
            ],
            .fault: [
                ("after", fault("2026-12-01", status: "1:reported")),
                ("open-at-end", fault("2026-11-30", restored: "2026-12-01", status: "1:restored")),
                ("done-before", fault("2026-10-30", restored: "2026-10-31", status: "1:restored")),
            ],
        ]
        let asOf = try #require(Timestamp(iso: "2026-12-07T09:00:00+08:00"))
        let period = try ReportingPeriod("2026-11")
        let report = try #require(ServiceReport(customer: "c", facts: facts, records: records, period: period, asOf: asOf))
        #expect(report.complaints.map(\.id) == ["open-at-end", "resolved-in", "still-open"])
        #expect(report.faults.map(\.id) == ["open-at-end"])
    }
}
