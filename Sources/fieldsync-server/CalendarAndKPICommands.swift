import ArgumentParser
import FieldSyncClient
import FieldSyncCommandLine
import FieldSyncKPI
import FieldSyncLocalization
import FieldSyncModel
import FieldSyncProtocol
import FieldSyncServer
import FieldSyncServerCore
import FieldSyncSQLiteServer
import FieldSyncStore
import Foundation

struct CalendarCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "calendar",
        abstract: CommandLanguage.strings("srv.calendar.abstract"),
        discussion: t("srv.monday-to-friday-are.a94a"),
        subcommands: [Set.self, Remove.self, List.self]
    )

    struct Set: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: t("srv.mark-days-as-holidays.e7c2"))

        @OptionGroup var options: DataOptions
        @Argument(help: ArgumentHelp(t("srv.days-yyyy-mm-dd.6d69"))) var days: [String]
        @Flag(help: ArgumentHelp(t("srv.the-days-are-public.7951"))) var holiday = false
        @Flag(help: ArgumentHelp(t("srv.the-days-are-make.c1af"))) var workday = false
        @Option(help: ArgumentHelp(t("srv.the-holiday-s-name.3fa7"))) var name: String?

        func run() async throws {
            guard holiday != workday else { throw ValidationError(t("srv.give-either-holiday-or.cbb7")) }
            let dates = try CalendarCommand.dates(days)
            let kind = holiday ? "holiday" : "workday"
            let edits = dates.map { date in
                RecordEdit(.calendarDay, CalendarCommand.id(date), [
                    ("date", .text(date.description)), ("kind", .text(kind)), ("name", name.map(FieldValue.text) ?? .null), ("removed", .int(0)),
                ])
            }
            try await StorageEngine.with(options) { try await $0.writeLocal(edits) }
            if options.json {
                printJSON(["kind": kind, "days": dates.map(\.description)])
            } else {
                print(t(holiday ? "srv.calendar.marked-holidays" : "srv.calendar.marked-workdays", ["days": count(dates.count, "day"), "dates": dates.map(\.description).joined(separator: ", ")]))
            }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: t("srv.return-days-to-the.04b7"))

        @OptionGroup var options: DataOptions
        @Argument(help: ArgumentHelp(t("srv.days-yyyy-mm-dd.6d69"))) var days: [String]

        func run() async throws {
            let dates = try CalendarCommand.dates(days)
            let known = try await StorageEngine.with(options) { engine in
                let marked = Swift.Set(try await engine.records(.calendarDay).map(\.id))
                let known = dates.filter { marked.contains(CalendarCommand.id($0)) }
                try await engine.writeLocal(known.map { RecordEdit(.calendarDay, CalendarCommand.id($0), [("removed", .int(1))]) })
                return known
            }
            if options.json { return printJSON(["removed": known.map(\.description)]) }
            print(known.isEmpty ? t("srv.calendar.none-marked") : t("srv.calendar.unmarked", ["dates": known.map(\.description).joined(separator: ", ")]))
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: t("srv.list-the-marked-days.ab7a"))

        @OptionGroup var options: DataOptions
        @Option(help: ArgumentHelp(t("srv.the-year-default-this.898c"))) var year: Int?

        func run() async throws {
            let wanted = year ?? Timestamp(epochSeconds: Int64(Date().timeIntervalSince1970), offsetMinutes: 0).localDay.components.year
            let schema = RecordKind.calendarDay.schema
            let marked = try await StorageEngine.with(options) { try await $0.records(.calendarDay) }
            let days: [[String: FieldValue]] = marked.map { $0.state.dictionary(in: schema) }
                .filter { ($0["removed"] ?? .null).bool == false && ($0["date"]?.text?.hasPrefix("\(wanted)-") ?? false) }
                .sorted { ($0["date"]?.text ?? "") < ($1["date"]?.text ?? "") }
            if options.json {
                let rows: [[String: Any]] = days.map { day in
                    ["date": day["date"]?.text ?? "", "kind": day["kind"]?.text ?? "", "name": day["name"]?.text as Any? ?? NSNull()]
                }
                return printJSON(["year": wanted, "days": rows])
            }
            var table = TextTable(t("column.date"), t("column.weekday"), t("column.kind"), t("column.name"))
            let strings = CommandLanguage.strings
            for day in days {
                let date = day["date"]?.text.flatMap(LocalDate.init(iso:))
                table.add(date.map { strings.date($0) } ?? day["date"]?.text ?? "", date.map { strings.weekday($0) } ?? "",
                          day["kind"]?.text.map { strings.choice($0) } ?? "", day["name"]?.text ?? "")
            }
            print(table.rendered(empty: t("srv.calendar.none-set", ["year": "\(wanted)"])), terminator: "")
        }
    }

    static func id(_ date: LocalDate) -> String { RecordID.calendarDay(date) }

    static func dates(_ arguments: [String]) throws -> [LocalDate] {
        guard !arguments.isEmpty else { throw ValidationError(t("srv.give-at-least-one.55f0")) }
        var dates: [LocalDate] = []
        for argument in arguments {
            let ends = argument.components(separatedBy: "..")
            guard (1...2).contains(ends.count), let first = LocalDate(iso: ends[0]), let last = LocalDate(iso: ends.last!) else {
                throw ValidationError(t("srv.argument-is-not-a.8908", ["argument": "\(argument)"]))
            }
            guard first <= last, last.dayNumber - first.dayNumber < 366 else { throw ValidationError(t("srv.argument-the-range-must.5f22", ["argument": "\(argument)"])) }
            dates += Array(first...last)
        }
        return dates
    }
}

struct KPIServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kpi",
        abstract: CommandLanguage.strings("srv.kpi.abstract"),
        discussion: t("srv.the-same-engine-and.f6f0"),
        subcommands: [Summary.self, Misses.self, Todo.self, Late.self],
        defaultSubcommand: Summary.self
    )

    struct Selection: ParsableArguments {
        @OptionGroup var options: DataOptions
        @Option(help: ArgumentHelp(t("srv.a-month-iso-week.238c"), valueName: "period"))
        var period: String?
        @Option(help: ArgumentHelp(t("srv.group-by-manager-branch.ed23"))) var by: String?
        @Option(help: ArgumentHelp(t("srv.only-customers-of-this.f94e"))) var branch: String?
        @Option(help: ArgumentHelp(t("srv.only-customers-assigned-to.6a64"))) var manager: String?
        @Option(help: ArgumentHelp(t("srv.judge-open-records-at.5236"), valueName: "time"))
        var asOf: String?
        @Flag(help: ArgumentHelp(t("srv.print-csv-instead-of.8449"))) var csv = false

        func run() async throws -> (KPIQuery, KPIFacts) {
            try await StorageEngine.with(options) { engine in
                let query = try self.query(engine)
                return (query, query.select(try await engine.kpi.loadKPIFacts()))
            }
        }

        func query(_ engine: StorageEngine) throws -> KPIQuery {
            do {
                return try KPIQuery(period: period, by: by, branch: branch, manager: manager, asOf: asOf, now: engine.kpi.localNow)
            } catch {
                throw ValidationError(error.text.map { rendered($0) }.map { error.body.message.hasPrefix("period: ") ? "--period: \($0)" : $0 } ?? error.body.message)
            }
        }

        /// The events recorded late, with when this server received each (`KPIStorage.recordedLate`).
        func runLate() async throws -> (KPIQuery, [KPILateRecord]) {
            try await StorageEngine.with(options) { engine in
                let query = try self.query(engine)
                let late = KPIEngine.recordedLate(query.select(try await engine.kpi.loadKPIFacts()), period: query.period, asOf: query.asOf)
                return (query, try await engine.kpi.withReceipts(late, cacheKey: "cli-late", for: InboxServerCommand.administrator))
            }
        }
    }

    struct Summary: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: t("srv.each-kpi-as-met.3a4d"))
        @OptionGroup var selection: Selection

        func run() async throws {
            let (query, facts) = try await selection.run()
            let report = KPIEngine.report(facts, period: query.period, grouping: query.grouping, asOf: query.asOf)
            if selection.options.json { return try printEncoded(report) }
            print(selection.csv ? KPIText.csv(report) : KPIText.summary(report, CommandLanguage.strings), terminator: "")
        }
    }

    struct Misses: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: t("srv.the-records-that-missed.d6f8"))
        @OptionGroup var selection: Selection

        func run() async throws {
            let (query, facts) = try await selection.run()
            let misses = KPIEngine.report(facts, period: query.period, grouping: .province, asOf: query.asOf).total.misses
            if selection.options.json { return try printEncoded(misses) }
            print(selection.csv ? KPIText.missesCSV(misses) : KPIText.missesTable(misses, empty: CommandLanguage.strings("kpi.misses-none", ["period": query.period.text(CommandLanguage.strings)]), CommandLanguage.strings), terminator: "")
        }
    }

    struct Todo: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: t("srv.faults-complaints-and-agreement.c62c"))
        @OptionGroup var selection: Selection

        func run() async throws {
            let (query, facts) = try await selection.run()
            let misses = KPIEngine.openPastLimit(facts, asOf: query.asOf)
            if selection.options.json { return try printEncoded(misses) }
            print(selection.csv ? KPIText.missesCSV(misses) : KPIText.todo(misses, CommandLanguage.strings), terminator: "")
        }
    }
}

extension KPIServerCommand {
    struct Late: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: t("srv.events-of-the-period.4c1c"),
            discussion: t("srv.the-figures-count-the.17d2", ["recording-tolerance-minutes": "\(ServiceLimits.recordingToleranceMinutes)"]))
        @OptionGroup var selection: Selection

        func run() async throws {
            let (query, late) = try await selection.runLate()
            if selection.options.json { return try printEncoded(late) }
            print(selection.csv ? KPIText.lateCSV(late) : KPIText.lateTable(late, empty: CommandLanguage.strings("kpi.late-none", ["period": query.period.text(CommandLanguage.strings)]), CommandLanguage.strings),
                  terminator: "")
        }
    }
}

func printEncoded(_ value: some Encodable) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    print(String(decoding: try encoder.encode(value), as: UTF8.self))
}

struct HistoryServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "history",
        abstract: CommandLanguage.strings("srv.history.abstract"),
        discussion: t("srv.read-from-the-change.8718"))

    @OptionGroup var options: DataOptions
    @Argument(help: ArgumentHelp(t("srv.the-record-s-full.a64d"))) var id: String
    @Option(help: ArgumentHelp(t("srv.which-kind-of-record.5130"), valueName: "table")) var table: String?
    @Option(help: ArgumentHelp(t("srv.only-this-field.a9f2"))) var field: String?

    func run() async throws {
        guard RecordID.isValid(id) else { throw ValidationError(t("srv.id-is-not-a.0e7c", ["id": "\(id)"])) }
        var kinds = RecordKind.allCases
        if let table {
            guard let kind = RecordKind(rawValue: table) else {
                throw ValidationError(t("srv.table-table-is-not.c456", ["table": "\(table)", "value": "\(RecordKind.allCases.map(\.rawValue).joined(separator: ", "))"]))
            }
            kinds = [kind]
        }
        // The server's own reading: every branch, every device named.
        let everyone = UserInfo(name: "fieldsync-server", role: .admin, branch: nil)
        let history: RecordHistory? = try await StorageEngine.with(options) { engine in
            for kind in kinds {
                guard var found = try await engine.kpi.history(of: RecordKey(table: kind, record: id), for: everyone) else { continue }
                let directory = try await engine.accounts.directory(for: everyone)
                found.name(Dictionary(directory.nodes.map { ($0.node, (person: $0.user, device: $0.device)) }, uniquingKeysWith: { first, _ in first }))
                return found
            }
            return nil
        }
        guard var history else {
            throw ValidationError(table.map { t("srv.history.none-in", ["id": id, "kind": RecordKind(rawValue: $0).map { CommandLanguage.strings.kind($0) } ?? $0]) } ?? t("srv.history.none", ["id": id]))
        }
        if let field {
            guard history.table.schema.index(of: field) != nil else {
                throw ValidationError(t("srv.field-table-has-no.fabe", ["table": "\(history.table.rawValue)", "field": "\(field)"]))
            }
            history = history.only(field: field)
        }
        if options.json { return try printEncoded(history) }
        print(history.text(offsetMinutes: TimeZone.current.secondsFromGMT() / 60, CommandLanguage.strings), terminator: "")
    }
}

struct SettingsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "settings",
        abstract: CommandLanguage.strings("srv.settings.abstract"),
        discussion: t("srv.a-fault-is-restored.06a3", ["value": "\(ServiceLimits.faultRestorationHours(vip: false))", "value2": "\(ServiceLimits.faultRestorationHours(vip: true))"]),
        subcommands: [Show.self, Set.self],
        defaultSubcommand: Show.self
    )

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: t("srv.print-the-settings-in.71b3"))
        @OptionGroup var options: DataOptions

        func run() async throws { try await Self.show(options) }

        static func show(_ options: DataOptions) async throws {
            let stored = try await StorageEngine.with(options) { engine in
                try await engine.records(.setting).first { $0.id == ProvinceSettings.id }?.state
            }
            let schema = RecordKind.setting.schema
            let current = RestorationDefault(hours: stored?.value("restoration_hours", in: schema).int,
                                             vipHours: stored?.value("restoration_hours_vip", in: schema).int)
            if options.json {
                struct Shown: Encodable {
                    var restorationHours: Int64?, restorationHoursVip: Int64?
                    enum CodingKeys: String, CodingKey { case restorationHours = "restoration_hours", restorationHoursVip = "restoration_hours_vip" }
                    func encode(to encoder: any Encoder) throws {
                        var container = encoder.container(keyedBy: CodingKeys.self)
                        try container.encode(restorationHours, forKey: .restorationHours)
                        try container.encode(restorationHoursVip, forKey: .restorationHoursVip)
                    }
                }
                return try printEncoded(Shown(restorationHours: current.hours, restorationHoursVip: current.vipHours))
            }
            for vip in [false, true] {
                let (hours, source) = current.limit(vip: vip)
                print(t(vip ? "srv.settings.limit-vip" : "srv.settings.limit", ["hours": "\(hours)", "source": source == "province default" ? t("srv.settings.province-default") : t("srv.settings.fieldsync-default")]))
            }
        }
    }

    struct Set: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: t("srv.set-the-default-restoration.7a41"))
        @OptionGroup var options: DataOptions
        @Option(help: ArgumentHelp(t("srv.hours-for-standard-customers.c034"))) var restorationHours: Int64?
        @Option(help: ArgumentHelp(t("srv.hours-for-vip-customers.a0fd"))) var restorationHoursVip: Int64?
        @Flag(help: ArgumentHelp(t("srv.go-back-to-fieldsync.4231"))) var clear = false

        func run() async throws {
            guard clear != (restorationHours != nil || restorationHoursVip != nil) else {
                throw ValidationError(t("srv.give-restoration-hours-and.1c99"))
            }
            // A branch server's own change would be refused by the province and leave its laptops on another figure.
            if options.databaseURL == nil, let (binding, _) = try ServerBinding.load(home: options.folder.upstreamFolder) {
                throw ValidationError(t("srv.this-is-a-branch.7510", ["url": "\(binding.url)"]))
            }
            for (name, value) in [("--restoration-hours", restorationHours), ("--restoration-hours-vip", restorationHoursVip)] {
                if let value, !(1...8_760).contains(value) { throw ValidationError(t("srv.name-value-is-not.9052", ["name": "\(name)", "value": "\(value)"])) }
            }
            var fields: [(String, FieldValue)] = []
            if clear {
                fields = [("restoration_hours", .null), ("restoration_hours_vip", .null)]
            } else {
                if let restorationHours { fields.append(("restoration_hours", .int(restorationHours))) }
                if let restorationHoursVip { fields.append(("restoration_hours_vip", .int(restorationHoursVip))) }
            }
            try await StorageEngine.with(options) { try await $0.writeLocal([RecordEdit(.setting, ProvinceSettings.id, fields)]) }
            try await Show.show(options)
        }
    }
}

struct InboxServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inbox",
        abstract: CommandLanguage.strings("srv.inbox.abstract"),
        discussion: t("srv.one-list-for-every.bdfc", ["value": "\(Inbox.silentAfter / 86_400_000)"]),
        subcommands: [List.self, Discard.self, HandBack.self],
        defaultSubcommand: List.self
    )

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: t("srv.print-the-inbox-of.b2c2"))
        @OptionGroup var options: DataOptions
        @Option(help: ArgumentHelp(t("srv.only-this-branch.51d7"))) var branch: String?

        func run() async throws {
            let inbox = try await StorageEngine.with(options) { engine in
                try await engine.kpi.inbox(for: InboxServerCommand.administrator, branch: branch, refused: engine.accounts.refusedActions)
            }
            if options.json { return try printEncoded(inbox) }
            print(inbox.text(offsetMinutes: TimeZone.current.secondsFromGMT() / 60, CommandLanguage.strings), terminator: "")
        }
    }

    struct Discard: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: RefusedActionArguments.discardAbstract)
        @OptionGroup var options: DataOptions
        @OptionGroup var refused: RefusedActionArguments

        func run() async throws { try await InboxServerCommand.decide(options, refused, action: .discard) }
    }

    struct HandBack: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "hand-back", abstract: RefusedActionArguments.handBackAbstract)
        @OptionGroup var options: DataOptions
        @OptionGroup var refused: RefusedActionArguments

        func run() async throws { try await InboxServerCommand.decide(options, refused, action: .note) }
    }

    /// Who decides from this command line.
    static let administrator = UserInfo(name: "fieldsync-server", role: .admin, branch: nil)

    static func decide(_ options: DataOptions, _ refused: RefusedActionArguments, action: SyncResponse.Instruction.Action) async throws {
        let (node, counter, note) = (try refused.nodeID(inbox: "fieldsync-server inbox"), refused.counter, refused.note)
        let decided = try await StorageEngine.with(options) { engine in
            try await engine.accounts.decide(RefusedActionDecision(node: node, counter: counter, action: action, note: note),
                                             by: administrator, now: engine.kpi.now)
        }
        if options.json { return try printEncoded(RefusedActionAnswer(decided)) }
        print(t(action == .discard ? "srv.inbox.discarded" : "srv.inbox.handed-back",
                ["counter": "\(counter)", "node": "\(node)", "about": decided.about.isEmpty ? t("srv.inbox.refused") : CommandLanguage.strings.about(decided.about)]))
    }
}
