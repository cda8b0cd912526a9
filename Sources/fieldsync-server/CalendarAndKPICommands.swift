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
        discussion: "Monday to Friday are working days unless marked as holidays; a weekend day marked as a workday counts as one. The calendar replicates to every branch and laptop like any record, and working-day KPI limits are counted on it.",
        subcommands: [Set.self, Remove.self, List.self]
    )

    struct Set: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Mark days as holidays or make-up working days.")

        @OptionGroup var options: DataOptions
        @Argument(help: "Days (YYYY-MM-DD), or ranges FROM..TO.") var days: [String]
        @Flag(help: "The days are public holidays.") var holiday = false
        @Flag(help: "The days are make-up working days (调休).") var workday = false
        @Option(help: "The holiday's name, e.g. National Day.") var name: String?

        func run() async throws {
            guard holiday != workday else { throw ValidationError("give either --holiday or --workday") }
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
                print("Marked \(dates.count) day\(dates.count == 1 ? "" : "s") as \(holiday ? "holiday" : "make-up working day")\(dates.count == 1 ? "" : "s"): \(dates.map(\.description).joined(separator: ", ")).")
            }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Return days to the Monday-to-Friday rule.")

        @OptionGroup var options: DataOptions
        @Argument(help: "Days (YYYY-MM-DD), or ranges FROM..TO.") var days: [String]

        func run() async throws {
            let dates = try CalendarCommand.dates(days)
            let known = try await StorageEngine.with(options) { engine in
                let marked = Swift.Set(try await engine.records(.calendarDay).map(\.id))
                let known = dates.filter { marked.contains(CalendarCommand.id($0)) }
                try await engine.writeLocal(known.map { RecordEdit(.calendarDay, CalendarCommand.id($0), [("removed", .int(1))]) })
                return known
            }
            if options.json { return printJSON(["removed": known.map(\.description)]) }
            print(known.isEmpty ? "None of those days was marked." : "Unmarked \(known.map(\.description).joined(separator: ", ")).")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the marked days of a year.")

        @OptionGroup var options: DataOptions
        @Option(help: "The year (default: this year).") var year: Int?

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
            var table = TextTable("date", "weekday", "kind", "name")
            let weekdays = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
            for day in days {
                let date = day["date"]?.text.flatMap(LocalDate.init(iso:))
                table.add(day["date"]?.text ?? "", date.map { weekdays[$0.weekday - 1] } ?? "", day["kind"]?.text ?? "", day["name"]?.text ?? "")
            }
            print(table.rendered(empty: "No holidays or make-up days set for \(wanted): Monday to Friday are working days."), terminator: "")
        }
    }

    static func id(_ date: LocalDate) -> String { RecordID.calendarDay(date) }

    static func dates(_ arguments: [String]) throws -> [LocalDate] {
        guard !arguments.isEmpty else { throw ValidationError("give at least one day (YYYY-MM-DD) or range (FROM..TO)") }
        var dates: [LocalDate] = []
        for argument in arguments {
            let ends = argument.components(separatedBy: "..")
            guard (1...2).contains(ends.count), let first = LocalDate(iso: ends[0]), let last = LocalDate(iso: ends.last!) else {
                throw ValidationError("'\(argument)' is not a day (YYYY-MM-DD) or a range (2026-10-01..2026-10-07)")
            }
            guard first <= last, last.dayNumber - first.dayNumber < 366 else { throw ValidationError("'\(argument)': the range must run forwards and stay within a year") }
            dates += Array(first...last)
        }
        return dates
    }
}

struct KPIServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kpi",
        abstract: CommandLanguage.strings("srv.kpi.abstract"),
        discussion: "The same engine and figures as 'fieldsync kpi' and GET /v1/kpi.",
        subcommands: [Summary.self, Misses.self, Todo.self, Late.self],
        defaultSubcommand: Summary.self
    )

    struct Selection: ParsableArguments {
        @OptionGroup var options: DataOptions
        @Option(help: ArgumentHelp("A month (2026-11), ISO week (2026-W47), quarter (2026-Q4) or range (2026-11-01..2026-11-15); default: this month.", valueName: "period"))
        var period: String?
        @Option(help: "Group by manager, branch or province.") var by: String?
        @Option(help: "Only customers of this branch.") var branch: String?
        @Option(help: "Only customers assigned to this manager.") var manager: String?
        @Option(help: ArgumentHelp("Judge open records at this time (ISO 8601; default: now).", valueName: "time"))
        var asOf: String?
        @Flag(help: "Print CSV instead of a table.") var csv = false

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
                throw ValidationError(error.body.message)
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
        static let configuration = CommandConfiguration(abstract: "Each KPI as met / counted and a rate, per manager, branch or province.")
        @OptionGroup var selection: Selection

        func run() async throws {
            let (query, facts) = try await selection.run()
            let report = KPIEngine.report(facts, period: query.period, grouping: query.grouping, asOf: query.asOf)
            if selection.options.json { return try printEncoded(report) }
            print(selection.csv ? KPIText.csv(report) : KPIText.summary(report, CommandLanguage.strings), terminator: "")
        }
    }

    struct Misses: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The records that missed their limit in the period.")
        @OptionGroup var selection: Selection

        func run() async throws {
            let (query, facts) = try await selection.run()
            let misses = KPIEngine.report(facts, period: query.period, grouping: .province, asOf: query.asOf).total.misses
            if selection.options.json { return try printEncoded(misses) }
            print(selection.csv ? KPIText.missesCSV(misses) : KPIText.missesTable(misses, empty: CommandLanguage.strings("kpi.misses-none", ["period": query.period.text(CommandLanguage.strings)]), CommandLanguage.strings), terminator: "")
        }
    }

    struct Todo: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Faults, complaints and agreement notices open past a limit, most overdue first, in sections: complaints to escalate, escalated complaints, agreements, the rest.")
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
            abstract: "Events of the period met as the time given, but typed after their limit had passed.",
            discussion: """
                The figures count the time a manager gives (the limits are about the customer); this lists where that time \
                was typed more than \(ServiceLimits.recordingToleranceMinutes) minutes after it and after the limit: what to check \
                before trusting a rate. 'Typed' is the change's stamp (the device's clock, corrected to the server's at each sync); \
                'received by the server' is when this server first received that write (its log receipt; 'fieldsync-server \
                history ID' shows every write).
                """)
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
        discussion: """
            Read from the change log, which this server keeps for good: every write it received, each counted once \
            (a file moved to another manager or relayed through a branch server repeats its writes), named by person \
            and device where this server enrolled them (a province names the branch servers' devices by node), with \
            what became of it: current, replaced, lost a conflict (kept as a conflict record). Writes logged before \
            this version have no receipt time. Devices ask the same with 'fieldsync history' (GET /v1/history).
            """)

    @OptionGroup var options: DataOptions
    @Argument(help: "The record's full id.") var id: String
    @Option(help: ArgumentHelp("Which kind of record (default: whichever holds the id).", valueName: "table")) var table: String?
    @Option(help: "Only this field.") var field: String?

    func run() async throws {
        guard RecordID.isValid(id) else { throw ValidationError("'\(id)' is not a record id (36 characters, 8-4-4-4-12 lowercase hexadecimal)") }
        var kinds = RecordKind.allCases
        if let table {
            guard let kind = RecordKind(rawValue: table) else {
                throw ValidationError("--table: '\(table)' is not one of \(RecordKind.allCases.map(\.rawValue).joined(separator: ", "))")
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
        guard var history else { throw ValidationError("this server holds no record \(id)\(table.map { " in \($0)" } ?? "")") }
        if let field {
            guard history.table.schema.index(of: field) != nil else {
                throw ValidationError("--field: \(history.table.rawValue) has no field '\(field)'")
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
        discussion: """
            A fault is restored by the time agreed with the customer: the fault's own --restore-by, else the restoration hours \
            of an agreement in force, else the province's default set here, else FieldSync's own (\(ServiceLimits.faultRestorationHours(vip: false)) h, \
            VIP \(ServiceLimits.faultRestorationHours(vip: true)) h). The settings replicate to every branch and laptop like the calendar; \
            set them on the provincial server (a branch server's own change is refused by the province). Reports name which limit \
            applied to each fault.
            """,
        subcommands: [Show.self, Set.self],
        defaultSubcommand: Show.self
    )

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the settings in force.")
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
                print("Restoration limit\(vip ? " (VIP)" : ""), where neither the fault nor an agreement states one: \(hours) h (\(source)).")
            }
        }
    }

    struct Set: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Set the default restoration limit, in hours from the report (1 to 8760).")
        @OptionGroup var options: DataOptions
        @Option(help: "Hours for standard customers.") var restorationHours: Int64?
        @Option(help: "Hours for VIP customers.") var restorationHoursVip: Int64?
        @Flag(help: "Go back to FieldSync's own figures.") var clear = false

        func run() async throws {
            guard clear != (restorationHours != nil || restorationHoursVip != nil) else {
                throw ValidationError("give --restoration-hours and/or --restoration-hours-vip, or --clear")
            }
            // A branch server's own change would be refused by the province and leave its laptops on another figure.
            if options.databaseURL == nil, let (binding, _) = try ServerBinding.load(home: options.folder.upstreamFolder) {
                throw ValidationError("this is a branch server (its upstream is \(binding.url)): the province sets these on the provincial server, and they reach this branch with its next exchange")
            }
            for (name, value) in [("--restoration-hours", restorationHours), ("--restoration-hours-vip", restorationHoursVip)] {
                if let value, !(1...8_760).contains(value) { throw ValidationError("\(name): \(value) is not from 1 to 8760 hours") }
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
        discussion: """
            One list for every branch this server holds (a supervisor sees their branch's with 'fieldsync inbox', or on the \
            dashboard): conflicts not resolved yet; each action this server refused from a device, with the reason and what it \
            wrote; work the province refused after this branch server had accepted it (handed back to the writer's outbox); \
            devices not seen for \(Inbox.silentAfter / 86_400_000) days with work waiting. Each entry says who acts and how. \
            A refused action can be discarded, or handed back to its writer with a note, from here: the decision reaches the \
            writer's laptop at its next sync (the laptop sends a refused action again at every sync).
            """,
        subcommands: [List.self, Discard.self, HandBack.self],
        defaultSubcommand: List.self
    )

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the inbox of every branch (or one).")
        @OptionGroup var options: DataOptions
        @Option(help: "Only this branch.") var branch: String?

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
        print("\(action == .discard ? "Discarded" : "Handed back") action \(counter) of node \(node) (\(decided.about.isEmpty ? "refused" : decided.about)): "
              + "it reaches the writer's laptop at its next sync.")
    }
}
