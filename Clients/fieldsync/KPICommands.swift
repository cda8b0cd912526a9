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
        discussion: t("cli.kpi.discussion", limitValues),
        subcommands: [Summary.self, Misses.self, Todo.self, Late.self],
        defaultSubcommand: Summary.self
    )

    struct Summary: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: t("help.each-kpi-as-met-counted.72ff"))

        @OptionGroup var options: CommonOptions
        @OptionGroup var selection: KPISelection
        @Option(help: ArgumentHelp(t("help.group-by-the-manager-responsible.3481"))) var by: KPIGrouping = .manager

        func run() throws {
            let (report, _) = try selection.report(options, grouping: by)
            if options.json { return try printJSON(report) }
            if selection.csv { return print(KPIText.csv(report), terminator: "") }
            print(KPIText.summary(report, texts), terminator: "")
        }
    }

    struct Misses: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: t("help.the-records-that-missed-their.8780"))

        @OptionGroup var options: CommonOptions
        @OptionGroup var selection: KPISelection
        @Option(help: ArgumentHelp(t("cli.kpi.only-kpi"), valueName: "kpi"))
        var kpi: KPI?

        func run() throws {
            let (report, _) = try selection.report(options, grouping: .province)
            let misses = report.total.misses.filter { kpi == nil || $0.kpi == kpi }
            try printMisses(misses, options: options, csv: selection.csv, empty: t("kpi.misses-none", ["period": report.period.text(texts)]))
        }
    }

    struct Todo: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: t("help.what-is-open-past-a.1640"),
            discussion: t("help.in-sections-complaints-past-3.1107"))

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
            abstract: t("help.events-of-the-period-met.ccac"),
            discussion: t("cli.kpi.late.discussion", limitValues))

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
    @Option(help: ArgumentHelp(t("help.a-month-2026-11-iso.6112"), valueName: "period"))
    var period: String?
    @Option(help: ArgumentHelp(t("help.only-customers-of-this-branch.cb54"))) var branch: String?
    @Option(help: ArgumentHelp(t("help.only-what-this-manager-answers.4c56"))) var manager: String?
    @Option(help: ArgumentHelp(t("help.judge-open-records-at-this.d910"), valueName: "time"))
    var asOf: String?
    @Flag(help: ArgumentHelp(t("help.print-csv-instead-of-a.a28d"))) var csv = false

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
                throw InputError(t("cli.kpi.bad-period", ["reason": t(error.key, error.values)]))
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
        discussion: t("help.the-link-is-valid-for.775f"))

    @OptionGroup var options: CommonOptions
    @Option(help: ArgumentHelp(t("help.open-the-dashboard-on-this.c366"), valueName: "period"))
    var period: String?

    func run() async throws {
        guard let (binding, caPEM) = try ServerBinding.load(home: options.location.folder) else {
            throw InputError(t("cli.sync.not-enrolled"))
        }
        if let period {
            do { _ = try ReportingPeriod(period) } catch { throw InputError(t("cli.kpi.bad-period", ["reason": t(error.key, error.values)])) }
        }
        let client = try SyncClient(url: binding.url, caPEM: caPEM)
        let link: DashboardLink
        do {
            link = try await client.dashboardLink(token: binding.token)
            try await client.shutdown()
        } catch let error as SyncError where error.code == ErrorCode.forbidden {
            try? await client.shutdown()
            throw SyncError(error.message, code: error.code, key: "cli.dashboard.forbidden", ["server": binding.url])
        } catch {
            try? await client.shutdown()
            throw error
        }
        let url = binding.url + link.path + (period.map { "&period=\($0)" } ?? "")
        if options.json {
            JSONValue.object(["url": .string(url), "expires_in_seconds": .int(Int64(link.expiresInSeconds))]).printed()
        } else {
            print(url)
            print(t("cli.dashboard.open-within", ["minutes": String(link.expiresInSeconds / 60)]))
        }
    }
}
