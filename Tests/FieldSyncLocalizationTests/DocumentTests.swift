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

    /// The builder the command line and the dashboard share: the follow-up visit the KPIs counted (never a
    /// removed one; the visit linked to the complaint first), and no document about a removed agreement.
    @Test func documentsReadTheRecordsTheKPIsRead() throws {
        let fixture = try Self.fixture()
        var facts = KPIFacts()
        facts.customers["c-1"] = fixture.report.customer
        facts.complaints = [KPIFacts.Complaint(id: "k-1", customer: "c-1", receivedAt: Self.t("2026-11-19T14:00:00+08:00"),
                                               resolvedAt: Self.t("2026-11-23T11:00:00+08:00"))]
        facts.visits = [KPIFacts.Visit(customer: "c-1", at: Self.t("2026-11-24T10:00:00+08:00"), kind: "complaint-follow-up", complaint: "k-1")]
        var removed = fixture.visit
        removed["removed"] = .int(1)
        removed["requests"] = .text("REMOVED VISIT")
        var other = fixture.visit
        other["complaint"] = nil
        other["requests"] = .text("ANOTHER COMPLAINT'S VISIT")
        let records: [RecordKind: [(id: String, fields: ServiceReport.Fields)]] = [
            .complaint: [("k-1", fixture.complaint)], .visit: [("v-0", removed), ("v-1", other), ("v-2", fixture.visit)],
            .agreement: [("a-1", fixture.agreement.merging(["removed": .int(1)]) { _, new in new })],
        ]
        let english = Strings.load(.english)
        let handling = try CaseDocuments.document(.complaint, id: "k-1", customer: "c-1", facts: facts, records: records, asOf: Self.asOf, english).markdown
        #expect(handling.contains("客户对处理结果满意") && !handling.contains("REMOVED VISIT") && !handling.contains("ANOTHER COMPLAINT"), "\(handling)")
        #expect(throws: CaseDocuments.Failure.notFound) {
            try CaseDocuments.document(.expiry, id: "a-1", customer: "c-1", facts: facts, records: records, asOf: Self.asOf, english)
        }
        #expect(throws: CaseDocuments.Failure.notFound) {
            try CaseDocuments.document(.complaint, id: "k-1", customer: "c-2", facts: facts, records: records, asOf: Self.asOf, english)
        }
        #expect(throws: CaseDocuments.Failure.missing("reported_at")) {
            try CaseDocuments.document(.fault, id: "f-9", customer: "c-1", facts: facts, records: [.fault: [("f-9", ["customer": .text("c-1")])]],
                                       asOf: Self.asOf, english)
        }
    }

    /// What people typed reads as text in Markdown: no heading, list, table cell, link or HTML of its own.
    @Test func markdownShowsTypedTextAsText() {
        #expect(HandbookDocument.markdownText("## Result: paid\n- item | [x](http://e) <b>") == "\\#\\# Result: paid - item \\| \\[x\\](http://e) \\<b\\>", "on one line, a dash is not a list")
        #expect(HandbookDocument.markdownText("line one\n1. two\n  - three", singleLine: false) == "line one  \n1\\. two  \n  \\- three")
        #expect(HandbookDocument.markdownText("1. first", standalone: true) == "1\\. first" && HandbookDocument.markdownText("20.0% (1/5)") == "20.0% (1/5)",
                "a paragraph cannot open a list; a cell needs no escape for it")
        #expect(HandbookDocument.markdownText("HZ-2024-017, 100.0% (1/1)") == "HZ-2024-017, 100.0% (1/1)", "ordinary text unchanged")
        var document = HandbookDocument(language: .english, title: "T", subtitle: "S", blocks: [.paragraph("# not a heading\n| not | a table |")], footer: "F")
        #expect(!document.markdown.contains("\n# not") && !document.markdown.contains("\n| not"))
        document.blocks = [.table(headings: ["a"], rows: [["x | y"]], empty: "")]
        #expect(document.markdown.contains("| x \\| y |"))
    }

    /// A quote with a combining mark is one Swift character but still a quote to a browser: it is escaped.
    @Test func htmlEscapesEveryQuoteWhateverFollowsIt() {
        #expect(HTMLText.escaped("a\"\u{301} onmouseover=x") == "a&quot;\u{301} onmouseover=x")
        #expect(HTMLText.escaped("<\u{338}>&'") == "&lt;\u{338}&gt;&amp;&#39;")
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
