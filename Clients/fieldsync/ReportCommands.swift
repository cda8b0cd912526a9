import ArgumentParser
import FieldSyncKPI
import FieldSyncModel
import FieldSyncStore
import Foundation

struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Reports to hand to a customer, made offline from this replica.",
        subcommands: [Customer.self]
    )

    enum Format: String, ChoiceArgument {
        case md, html, json
    }

    struct Customer: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "One customer's monthly service report (guide §2.4.3, reviewed at the monthly service joint meeting).",
            discussion: """
                Visits, faults with their times and limits, complaints with their outcome and follow-up visit, the \
                service-level figures, agreements ending within 6 months with their notices, and what is open past a limit. \
                Markdown by default; --format html gives a page to print or hand over.
                """)

        @OptionGroup var location: HomeOption
        @Argument(help: "Customer id or a unique prefix of it.") var customer: String
        @Option(help: ArgumentHelp("The month (2026-11), or a week, quarter or range; default: the last full month.", valueName: "period"))
        var period: String?
        @Option(help: "md, html or json.") var format: Format = .md
        @Option(help: ArgumentHelp("Judge open records at this time (ISO 8601; default: now).", valueName: "time")) var asOf: String?
        @Option(help: ArgumentHelp("Write to this file instead of printing.", valueName: "file")) var output: String?

        func run() throws {
            let asOf = try asOf.map { Timestamp(iso: try TimeInput.parse($0, option: "--as-of"))! } ?? TimeInput.now()
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
            let text: String
            switch format {
            case .md: text = report.markdown
            case .html: text = report.html
            case .json:
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                text = String(decoding: try encoder.encode(report), as: UTF8.self) + "\n"
            }
            guard let output else { return print(text, terminator: "") }
            do {
                try Data(text.utf8).write(to: URL(fileURLWithPath: output), options: .atomic)
            } catch {
                throw InputError("--output: cannot write '\(output)': \(error.localizedDescription)")
            }
            print("Wrote the \(reportingPeriod) service report of \(record["name"]) to \(output).")
        }
    }
}
