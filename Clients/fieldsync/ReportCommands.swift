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
        discussion: t("help.customer-the-monthly-service-report.fbd1"),
        subcommands: [Customer.self, Complaint.self, Fault.self, Expiry.self]
    )

    enum Format: String, ChoiceArgument {
        case md, html, pdf, json
    }

    /// What every document command shares: where to write, in which format and language, judged when.
    struct Output: ParsableArguments {
        @Option(help: ArgumentHelp(t("help.md-html-pdf-a4-printed.8c3d"))) var format: Format = .md
        @Option(help: ArgumentHelp(t("help.judge-open-records-at-this.d910"), valueName: "time")) var asOf: String?
        @Option(help: ArgumentHelp(t("help.write-to-this-file-instead.2ca9"), valueName: "file")) var output: String?

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
                guard let output else { throw InputError(t("cli.report.pdf-needs-output")) }
                try PDFPrinter.print(html: document.html, to: output)
                print(t("cli.wrote", ["title": document.title, "file": output]))
            case .json: throw InputError(t("cli.report.json-only-customer"))
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
            abstract: t("help.one-customer-s-monthly-service.bdd3"),
            discussion: t("help.in-the-guide-s-order.bf8c"))

        @OptionGroup var location: HomeOption
        @Argument(help: ArgumentHelp(t("help.customer-id-or-a-unique.3019"))) var customer: String
        @Option(help: ArgumentHelp(t("help.the-month-2026-11-or.c883"), valueName: "period"))
        var period: String?
        @OptionGroup var out: Output

        func run() throws {
            let asOf = try out.time()
            let reportingPeriod: ReportingPeriod
            if let period {
                do { reportingPeriod = try ReportingPeriod(period) } catch { throw InputError(t("cli.kpi.bad-period", ["reason": t(error.key, error.values)])) }
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
                return try out.write(String(decoding: try encoder.encode(report), as: UTF8.self) + "\n", title: t("cli.report.json-title", ["period": reportingPeriod.text(texts)]))
            }
            try out.write(report.document(out.strings(for: report.customer)))
        }
    }

    struct Complaint: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: t("help.a-complaint-handling-report-3.98e6"),
            discussion: t("help.the-complaint-its-handling-notes.c30e"))

        @OptionGroup var location: HomeOption
        @Argument(help: ArgumentHelp(t("help.complaint-id-or-a-unique.f3f7"))) var complaint: String
        @OptionGroup var out: Output

        func run() throws {
            try out.write(try caseDocument(.complaint, complaint, location: location, asOf: out.time(), out: out))
        }
    }

    struct Fault: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: t("help.a-fault-processing-report-delivered.cd0f"),
            discussion: t("help.the-fault-where-and-how.2cd5"))

        @OptionGroup var location: HomeOption
        @Argument(help: ArgumentHelp(t("help.fault-id-or-a-unique.da37"))) var fault: String
        @OptionGroup var out: Output

        func run() throws {
            try out.write(try caseDocument(.fault, fault, location: location, asOf: out.time(), out: out))
        }
    }

    struct Expiry: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: t("help.a-service-expiry-notice-3.569e"),
            discussion: t("help.after-handing-it-over-record.115c"))

        @OptionGroup var location: HomeOption
        @Argument(help: ArgumentHelp(t("help.agreement-id-or-a-unique.1199"))) var agreement: String
        @Option(help: ArgumentHelp(t("help.the-notice-s-date-yyyy.9b20"), valueName: "date")) var date: String?
        @OptionGroup var out: Output

        func run() throws {
            let day: LocalDate
            if let date {
                guard let parsed = LocalDate(iso: date) else { throw InputError(t("cli.report.bad-date", ["date": date])) }
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
        throw InputError(t("cli.report.no-customer", ["kind": texts.kind(record.table), "id": String(record.id.prefix(8))]))
    }
    do {
        return try CaseDocuments.document(kind, id: record.id, customer: customerID, facts: facts, records: replica.documentRecords(customer: customerID),
                                          asOf: asOf, date: date, out.strings(for: customer))
    } catch let failure as CaseDocuments.Failure {
        switch failure {
        case .notFound: throw StoreError.notFound(kind.recordKind, prefix)
        case .missing("ends"):
            throw InputError(t("cli.report.no-end", ["prefix": prefix, "id": String(record.id.prefix(8))]))
        case .missing(let field):
            throw InputError(t("cli.report.missing", ["kind": texts.kind(record.table), "id": String(record.id.prefix(8)), "field": texts.field(field, of: record.table)]))
        }
    }
}
