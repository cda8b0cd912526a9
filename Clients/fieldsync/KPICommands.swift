import ArgumentParser
import FieldSyncClient
import FieldSyncKPI
import FieldSyncModel
import FieldSyncProtocol
import FieldSyncStore
import Foundation

struct KPICommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kpi",
        abstract: t("cli.kpi.abstract"),
        discussion: """
            The figures of handbook chapter 4: \(ServiceLimits.summary); weekly routine-visit coverage (weeks without a working \
            day ask for none); and open escalations. Working days follow the calendar the province sets ('fieldsync-server calendar'). \
            A record belongs to the period of the day it happened; one still open counts as missed once its limit has passed. \
            Figures are the manager's who was responsible then: the case's owner, the visiting manager. The server computes \
            the same figures from the same records.
            """,
        subcommands: [Summary.self, Misses.self, Todo.self, Late.self],
        defaultSubcommand: Summary.self
    )

    struct Summary: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Each KPI as met / counted and a rate, per manager, branch or province.")

        @OptionGroup var options: CommonOptions
        @OptionGroup var selection: KPISelection
        @Option(help: "Group by the manager responsible, the customer's branch, the customer, or the province.") var by: KPIGrouping = .manager

        func run() throws {
            let (report, _) = try selection.report(options, grouping: by)
            if options.json { return try printJSON(report) }
            if selection.csv { return print(KPIText.csv(report), terminator: "") }
            print(KPIText.summary(report, texts), terminator: "")
        }
    }

    struct Misses: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The records that missed their limit in the period: id, customer, limit, actual, by how much.")

        @OptionGroup var options: CommonOptions
        @OptionGroup var selection: KPISelection
        @Option(help: ArgumentHelp("Only this KPI: \(KPI.allCases.map(\.rawValue).joined(separator: ", ")).", valueName: "kpi"))
        var kpi: KPI?

        func run() throws {
            let (report, _) = try selection.report(options, grouping: .province)
            let misses = report.total.misses.filter { kpi == nil || $0.kpi == kpi }
            try printMisses(misses, options: options, csv: selection.csv, empty: t("kpi.misses-none", ["period": report.period.text(texts)]))
        }
    }

    struct Todo: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "What is open past a limit, most overdue first (the supervisor's to-do list).",
            discussion: "In sections: complaints past 3 working days that nobody escalated (escalate them: 重点督办), escalated complaints not resolved, overdue agreement notices, and the other faults and complaints past a limit.")

        @OptionGroup var options: CommonOptions
        @OptionGroup var selection: KPISelection

        func run() throws {
            let (_, facts) = try selection.report(options, grouping: .province)
            let misses = KPIEngine.openPastLimit(facts, asOf: try selection.asOfTime())
            if options.json || selection.csv { return try printMisses(misses, options: options, csv: selection.csv, empty: "") }
            print(KPIText.todo(misses, texts), terminator: "")
        }
    }
}

extension KPICommand {
    struct Late: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Events of the period met as the time given, but typed after their limit had passed.",
            discussion: """
                The figures count the time given (the limits are about the customer); this lists where that time was typed \
                more than \(ServiceLimits.recordingToleranceMinutes) minutes after it and after the limit: what to check before \
                trusting a rate. 'Typed' is the change's stamp: this laptop's clock, corrected to the server's at each sync. \
                'kpi misses' notes the same for times given after their limit.
                """)

        @OptionGroup var options: CommonOptions
        @OptionGroup var selection: KPISelection

        func run() throws {
            let (report, facts) = try selection.report(options, grouping: .province)
            let late = KPIEngine.recordedLate(facts, period: report.period, asOf: report.asOf)
            if options.json { return try printJSON(late) }
            if selection.csv { return print(KPIText.lateCSV(late), terminator: "") }
            print(KPIText.lateTable(late, empty: t("kpi.late-none", ["period": report.period.text(texts)]), texts), terminator: "")
        }
    }
}

extension KPIGrouping: ExpressibleByArgument {}
extension KPI: ExpressibleByArgument {}

/// Which records and which period a KPI command looks at.
struct KPISelection: ParsableArguments {
    @Option(help: ArgumentHelp("A month (2026-11), ISO week (2026-W47), quarter (2026-Q4) or range (2026-11-01..2026-11-15); default: this month.", valueName: "period"))
    var period: String?
    @Option(help: "Only customers of this branch.") var branch: String?
    @Option(help: "Only what this manager answers for: the cases they own, the weeks they visited or, unvisited, their customers.") var manager: String?
    @Option(help: ArgumentHelp("Judge open records at this time (ISO 8601; default: now).", valueName: "time"))
    var asOf: String?
    @Flag(help: "Print CSV instead of a table.") var csv = false

    func asOfTime() throws -> Timestamp {
        guard let asOf else { return TimeInput.now() }
        return Timestamp(iso: try TimeInput.parse(asOf, option: "--as-of"))!
    }

    func report(_ options: CommonOptions, grouping: KPIGrouping) throws -> (KPIReport, KPIFacts) {
        let asOf = try asOfTime()
        var reportingPeriod = ReportingPeriod.containing(asOf.localDay, kind: .month)
        if let period {
            do {
                reportingPeriod = try ReportingPeriod(period)
            } catch {
                throw InputError("--period: \(error.description)")
            }
        }
        var facts = try options.open().kpiFacts()
        if let branch { facts = facts.restricted(toBranch: branch) }
        if let manager { facts = facts.restricted(toResponsible: manager) }
        return (KPIEngine.report(facts, period: reportingPeriod, grouping: grouping, asOf: asOf), facts)
    }
}

/// JSON as every command prints it: pretty, keys sorted, slashes as they are.
func printJSON(_ value: some Encodable) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    print(String(decoding: try encoder.encode(value), as: UTF8.self))
}

private func printMisses(_ misses: [KPIMiss], options: CommonOptions, csv: Bool, empty: String) throws {
    if options.json { return try printJSON(misses) }
    if csv { return print(KPIText.missesCSV(misses), terminator: "") }
    print(KPIText.missesTable(misses, empty: empty, texts), terminator: "")
}

struct DashboardCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dashboard",
        abstract: t("cli.dashboard.abstract"),
        discussion: "The link is valid for 10 minutes and works once; it opens a browser session of 8 hours. The page needs the server's CA, as the laptop does: import the CA file into the browser, or open the link on a machine that trusts it.")

    @OptionGroup var options: CommonOptions
    @Option(help: ArgumentHelp("Open the dashboard on this period (2026-11, 2026-W47, 2026-Q4).", valueName: "period"))
    var period: String?

    func run() async throws {
        guard let (binding, caPEM) = try ServerBinding.load(home: options.location.folder) else {
            throw InputError("this replica is not enrolled; run 'fieldsync enroll URL --code CODE --ca FILE' first")
        }
        if let period {
            do { _ = try ReportingPeriod(period) } catch { throw InputError("--period: \(error.description)") }
        }
        let client = try SyncClient(url: binding.url, caPEM: caPEM)
        let link: DashboardLink
        do {
            link = try await client.dashboardLink(token: binding.token)
            try await client.shutdown()
        } catch {
            try? await client.shutdown()
            throw error
        }
        let url = binding.url + link.path + (period.map { "&period=\($0)" } ?? "")
        if options.json {
            JSONValue.object(["url": .string(url), "expires_in_seconds": .int(Int64(link.expiresInSeconds))]).printed()
        } else {
            print(url)
            print("Open it within \(link.expiresInSeconds / 60) minutes; it works once.")
        }
    }
}
