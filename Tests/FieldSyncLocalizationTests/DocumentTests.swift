import FieldSyncKPI
import FieldSyncLocalization
import FieldSyncModel
import Foundation
import Testing

/// The handbook's documents in both languages against reviewed expectations
/// (`Expected/*.md`): a change of wording or layout shows in the diff and is reviewed
/// again. `FIELDSYNC_RECORD_EXPECTATIONS=1 swift test --filter DocumentTests` writes
/// them anew.
@Suite struct DocumentTests {
    static func t(_ text: String) -> Timestamp { Timestamp(iso: text)! }
    static let asOf = t("2026-12-01T09:00:00+08:00")
    static let expected = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Expected")

    /// A standard customer with a fault (restored late, an agreed 4-hour limit), a complaint
    /// (resolved in time, visited after) and an agreement ending in February.
    static func fixture() throws -> (report: ServiceReport, fault: ServiceReport.Fields, complaint: ServiceReport.Fields,
                                     visit: ServiceReport.Fields, agreement: ServiceReport.Fields) {
        var facts = KPIFacts()
        facts.customers["c-1"] = KPIFacts.Customer(id: "c-1", name: "西湖铁塔 Xihu Tower", branch: "杭州", manager: "王芳", level: "standard")
        facts.agreements = [KPIFacts.Agreement(id: "a-1", customer: "c-1", number: "HZ-2024-017", starts: LocalDate(iso: "2024-03-01"),
                                               ends: LocalDate(iso: "2027-02-28"), restoreHours: 4)]
        facts.faults = [KPIFacts.Fault(id: "f-1", customer: "c-1", reportedAt: t("2026-11-18T10:00:00+08:00"),
                                       firstFeedbackAt: t("2026-11-18T10:40:00+08:00"), restoredAt: t("2026-11-18T15:10:00+08:00"), owner: "王芳")]
        facts.complaints = [KPIFacts.Complaint(id: "k-1", customer: "c-1", receivedAt: t("2026-11-19T14:00:00+08:00"),
                                               firstFeedbackAt: t("2026-11-19T15:00:00+08:00"), resolvedAt: t("2026-11-23T11:00:00+08:00"), owner: "王芳")]
        facts.visits = [KPIFacts.Visit(customer: "c-1", at: t("2026-11-24T10:00:00+08:00"), kind: "complaint-follow-up", complaint: "k-1", manager: "王芳")]
        let fault: ServiceReport.Fields = [
            "customer": .text("c-1"), "symptom": .text("基站断电 power cut at the site"), "scope": .text("3个站址"), "site": .text("西湖区文三路12号"),
            "ticket": .text("ZJ-20261118-0042"), "occurred_at": .text("2026-11-18T09:45:00+08:00"), "reported_at": .text("2026-11-18T10:00:00+08:00"),
            "owner": .text("王芳"), "dispatch": .text("done"), "dispatched_to": .text("李强"),
            "first_feedback_at": .text("2026-11-18T10:40:00+08:00"), "restored_at": .text("2026-11-18T15:10:00+08:00"), "status": .text("1:restored"),
        ]
        let complaint: ServiceReport.Fields = [
            "customer": .text("c-1"), "channel": .text("phone"), "content": .text("账单金额与合同不符 The invoice does not match the agreement"),
            "received_at": .text("2026-11-19T14:00:00+08:00"), "owner": .text("王芳"), "first_feedback_at": .text("2026-11-19T15:00:00+08:00"),
            "resolved_at": .text("2026-11-23T11:00:00+08:00"), "result": .text("已更正账单 Invoice corrected"), "status": .text("1:resolved"),
        ]
        let visit: ServiceReport.Fields = [
            "customer": .text("c-1"), "at": .text("2026-11-24T10:00:00+08:00"), "kind": .text("complaint-follow-up"), "manager": .text("王芳"),
            "summary": .text("回访投诉处理"), "requests": .text("客户对处理结果满意"), "complaint": .text("k-1"),
        ]
        let agreement: ServiceReport.Fields = [
            "customer": .text("c-1"), "number": .text("HZ-2024-017"), "starts": .text("2024-03-01"), "ends": .text("2027-02-28"), "restore_hours": .int(4),
        ]
        let report = try #require(ServiceReport(customer: "c-1", facts: facts,
                                                records: [.fault: [("f-1", fault)], .complaint: [("k-1", complaint)], .visit: [("v-1", visit)]],
                                                period: try ReportingPeriod("2026-11"), asOf: asOf))
        return (report, fault, complaint, visit, agreement)
    }

    static func documents(_ language: Language) throws -> [String: HandbookDocument] {
        let strings = Strings.load(language)
        let fixture = try fixture()
        let report = fixture.report
        let notes = [CaseDocuments.Note(at: t("2026-11-18T10:40:00+08:00"), author: "王芳", text: "已通知客户，维护人员在途"),
                     CaseDocuments.Note(at: t("2026-11-18T15:10:00+08:00"), author: "李强", text: "更换电源模块，恢复供电")]
        let fault = try #require(report.faults.first)
        let complaint = try #require(report.complaints.first)
        return [
            "service-report": report.document(strings),
            "fault-report": CaseDocuments.faultReport(fault, fields: fixture.fault, notes: notes, customer: report.customer, asOf: asOf, strings),
            "complaint-report": CaseDocuments.complaintReport(complaint, fields: fixture.complaint, notes: [],
                                                              followUp: ServiceReport.Visit(id: "v-1", fields: fixture.visit),
                                                              customer: report.customer, asOf: asOf, strings),
            "expiry-notice": try #require(CaseDocuments.expiryNotice(agreement: fixture.agreement, customer: report.customer,
                                                                     date: LocalDate(year: 2026, month: 11, day: 28)!, strings)),
        ]
    }

    @Test(arguments: Language.allCases)
    func documentsMatchTheirReviewedExpectations(language: Language) throws {
        let record = ProcessInfo.processInfo.environment["FIELDSYNC_RECORD_EXPECTATIONS"] != nil
        for (name, document) in try Self.documents(language) {
            let file = Self.expected.appendingPathComponent("\(name).\(language.rawValue).md")
            if record {
                try FileManager.default.createDirectory(at: Self.expected, withIntermediateDirectories: true)
                try Data(document.markdown.utf8).write(to: file)
                continue
            }
            let reviewed = try String(contentsOf: file, encoding: .utf8)
            #expect(document.markdown == reviewed, "\(file.lastPathComponent) differs; review and re-record if intended")
        }
    }

    /// Chinese documents carry no English of FieldSync's own: every word outside the
    /// records' own values, ids and numbers is from the Chinese table.
    @Test func chineseDocumentsHaveNoEnglishOfTheirOwn() throws {
        let fixture = try Self.fixture()
        var typed = Set<String>()
        for fields in [fixture.fault, fixture.complaint, fixture.visit, fixture.agreement] {
            for value in fields.values { if let text = value.text { typed.formUnion(Self.words(in: text)) } }
        }
        typed.formUnion(Self.words(in: fixture.report.customer.name))
        for (name, document) in try Self.documents(.chinese) {
            let english = Self.words(in: document.markdown).subtracting(typed).subtracting(["FieldSync", "VIP"])
            #expect(english.isEmpty, "\(name): \(english.sorted())")
        }
    }

    static func words(in text: String) -> Set<String> {
        Set(text.split(whereSeparator: { !($0.isASCII && $0.isLetter) }).map(String.init).filter { $0.count > 1 })
    }

    @Test func htmlPrintsOnA4WithTheChineseFontsAndEscapesWhatPeopleTyped() throws {
        var documents = try Self.documents(.chinese)
        let page = try #require(documents["complaint-report"]).html
        #expect(page.contains("<html lang=\"zh-CN\">") && page.contains("@page { size: A4;") && page.contains("Noto Sans CJK SC"))
        #expect(page.contains("<h1>投诉处理报告单</h1>") && !page.contains("<script"))
        documents["complaint-report"]?.title = "<script>alert(1)</script>"
        #expect(try #require(documents["complaint-report"]).html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"))
        #expect(try #require(Self.documents(.english)["fault-report"]).html.contains("<html lang=\"en\">"))
    }
}
