import ArgumentParser
import FieldSyncCommandLine
import FieldSyncKPI
import FieldSyncLocalization
import FieldSyncModel
import FieldSyncStore
import Foundation

extension Language: ExpressibleByArgument {
    public init?(argument: String) { self.init(tag: argument) }
    public static var allValueStrings: [String] { ["en", "zh"] }
}

struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: t("cli.report.abstract"),
        discussion: """
            customer: the monthly service report for the service joint meeting (服务报告); complaint: the complaint \
            handling report (投诉处理报告单, 附表 3.17); fault: the fault processing report (故障处理报告); expiry: the \
            service expiry notice (服务到期通知, 附表 3.12). Markdown by default; --format html gives a page that prints \
            on A4 from a browser, --format pdf a PDF (printed with Chromium). The language: --lang en|zh if given, else the \
            customer's own (customer edit --language), else LC_ALL/LANG.
            """,
        subcommands: [Customer.self, Complaint.self, Fault.self, Expiry.self]
    )

    enum Format: String, ChoiceArgument {
        case md, html, pdf, json
    }

    /// What every document command shares: where to write, in which format and language, judged when.
    struct Output: ParsableArguments {
        @Option(help: "md, html, pdf (A4, printed with Chromium; needs --output) or json (the customer report only).") var format: Format = .md
        @Option(help: ArgumentHelp("Judge open records at this time (ISO 8601; default: now).", valueName: "time")) var asOf: String?
        @Option(help: ArgumentHelp("Write to this file instead of printing.", valueName: "file")) var output: String?

        /// The texts of a document for `customer`: `--lang`, else the customer's setting, else the environment's.
        func strings(for customer: KPIFacts.Customer) -> Strings {
            Strings.load(Language.ofDocument(asked: CommandLanguage.flag, customer: customer.language, reader: CommandLanguage.language))
        }

        func time() throws -> Timestamp {
            try asOf.map { Timestamp(iso: try TimeInput.parse($0, option: "--as-of"))! } ?? TimeInput.now()
        }

        func write(_ document: HandbookDocument) throws {
            switch format {
            case .md: try write(document.markdown, title: document.title)
            case .html: try write(document.html, title: document.title)
            case .pdf:
                guard let output else { throw InputError("--format pdf needs --output FILE (a PDF is not for the terminal)") }
                try PDFPrinter.print(html: document.html, to: output)
                print(t("cli.wrote", ["title": document.title, "file": output]))
            case .json: throw InputError("--format json is for 'report customer'; this document is md or html")
            }
        }

        func write(_ text: String, title: String) throws {
            guard let output else { return print(text, terminator: "") }
            do {
                try Data(text.utf8).write(to: URL(fileURLWithPath: output), options: .atomic)
            } catch {
                throw InputError(t("cli.error.cannot-write", ["file": output, "error": error.localizedDescription]))
            }
            print(t("cli.wrote", ["title": title, "file": output]))
        }
    }

    struct Customer: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "One customer's monthly service report (guide §2.4.3, reviewed at the monthly service joint meeting).",
            discussion: """
                In the guide's order: project status (agreements coming due), service capability (visits, faults with \
                their times and limits), service indicators (the service-level figures, what is open past a limit) and \
                complaints with their outcome and follow-up visit.
                """)

        @OptionGroup var location: HomeOption
        @Argument(help: "Customer id or a unique prefix of it.") var customer: String
        @Option(help: ArgumentHelp("The month (2026-11), or a week, quarter or range; default: the last full month.", valueName: "period"))
        var period: String?
        @OptionGroup var out: Output

        func run() throws {
            let asOf = try out.time()
            let reportingPeriod: ReportingPeriod
            if let period {
                do { reportingPeriod = try ReportingPeriod(period) } catch { throw InputError("--period: \(error.description)") }
            } else {
                reportingPeriod = ReportingPeriod.containing(asOf.localDay, kind: .month).trailing(2)[0]
            }
            let replica = try location.open()
            let record = try replica.require(.customer, customer)
            guard let report = try replica.serviceReport(customer: record.id, period: reportingPeriod, asOf: asOf) else {
                throw StoreError.notFound(.customer, customer)
            }
            if out.format == .json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                return try out.write(String(decoding: try encoder.encode(report), as: UTF8.self) + "\n", title: "the \(reportingPeriod) service report")
            }
            try out.write(report.document(out.strings(for: report.customer)))
        }
    }

    struct Complaint: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "A complaint handling report (投诉处理报告单, 附表 3.17), handed over at the follow-up visit.",
            discussion: "The complaint, its handling notes, first feedback and resolution against their limits, escalation, result, the follow-up visit and room for the customer's opinion and signatures.")

        @OptionGroup var location: HomeOption
        @Argument(help: "Complaint id or a unique prefix of it.") var complaint: String
        @OptionGroup var out: Output

        func run() throws {
            try out.write(try caseDocument(.complaint, complaint, location: location, asOf: out.time(), out: out))
        }
    }

    struct Fault: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "A fault processing report (故障处理报告), delivered at the time agreed with the customer.",
            discussion: "The fault, where and how long, the dispatch, the first feedback and the restoration against their limits, and the handling notes.")

        @OptionGroup var location: HomeOption
        @Argument(help: "Fault id or a unique prefix of it.") var fault: String
        @OptionGroup var out: Output

        func run() throws {
            try out.write(try caseDocument(.fault, fault, location: location, asOf: out.time(), out: out))
        }
    }

    struct Expiry: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "A service expiry notice (服务到期通知, 附表 3.12), due 3 months before an agreement ends.",
            discussion: "After handing it over, record it: 'fieldsync agreement edit ID --renewal-notice today'.")

        @OptionGroup var location: HomeOption
        @Argument(help: "Agreement id or a unique prefix of it.") var agreement: String
        @Option(help: ArgumentHelp("The notice's date (YYYY-MM-DD; default: today).", valueName: "date")) var date: String?
        @OptionGroup var out: Output

        func run() throws {
            let day: LocalDate
            if let date {
                guard let parsed = LocalDate(iso: date) else { throw InputError("--date: give a date as YYYY-MM-DD, not '\(date)'") }
                day = parsed
            } else {
                day = TimeInput.now().localDay
            }
            try out.write(try caseDocument(.expiry, agreement, location: location, asOf: out.time(), date: day, out: out))
        }
    }
}

/// A document about the record `prefix` names, made as the dashboard makes it (`CaseDocuments.document`).
func caseDocument(_ kind: CaseDocuments.Kind, _ prefix: String, location: HomeOption, asOf: Timestamp, date: LocalDate? = nil,
                  out: ReportCommand.Output) throws -> HandbookDocument {
    let replica = try location.open()
    let record = try replica.require(kind.recordKind, prefix)
    let facts = try replica.kpiFacts()
    guard let customerID = record["customer"].text, let customer = facts.customers[customerID] else {
        throw InputError("\(record.table.noun) \(record.id.prefix(8)): its customer is not on this replica")
    }
    do {
        return try CaseDocuments.document(kind, id: record.id, customer: customerID, facts: facts, records: replica.documentRecords(customer: customerID),
                                          asOf: asOf, date: date, out.strings(for: customer))
    } catch let failure as CaseDocuments.Failure {
        switch failure {
        case .notFound: throw StoreError.notFound(kind.recordKind, prefix)
        case .missing("ends"):
            throw InputError("agreement \(prefix) has no end date; set it first: fieldsync agreement edit \(record.id.prefix(8)) --end YYYY-MM-DD")
        case .missing(let field): throw InputError("\(record.table.noun) \(record.id.prefix(8)) has no \(field.replacingOccurrences(of: "_", with: " "))")
        }
    }
}
