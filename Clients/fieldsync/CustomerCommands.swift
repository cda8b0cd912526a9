import ArgumentParser
import FieldSyncClient
import FieldSyncLocalization
import FieldSyncProtocol
import FieldSyncModel
import FieldSyncStore
import Foundation

struct CustomerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "customer",
        abstract: t("cli.customer.abstract"),
        subcommands: [Add.self, List.self, Show.self, Edit.self, Assign.self, Archive.self]
    )

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a customer file.")

        @OptionGroup var options: CommonOptions
        @Option(help: "Customer name.") var name: String
        @Option(help: "Service level (VIP halves the feedback time limits).") var level: ServiceLevel = .standard
        @Option(help: "City branch (default: this device's branch).") var branch: String?
        @Option(help: "Assigned account manager (default: you).") var manager: String?
        @Option(help: ArgumentHelp("Backup or joint managers who share the file, comma-separated.", valueName: "names")) var team: String?
        @Option(help: "Services in operation (已起租产品), free text.") var services: String?
        @Option(help: "Notes.") var note: String?
        @Option(help: ArgumentHelp("The day the customer was taken on, YYYY-MM-DD (default: today); weekly visit coverage counts from its week.", valueName: "date"))
        var since: String?
        @Option(help: ArgumentHelp("The language of the documents handed to the customer: en or zh (default: the reader's).", valueName: "en|zh"))
        var language: Language?

        func run() throws {
            let replica = try options.open()
            let identity = try replica.identity()
            let taken = try since.map { try TimeInput.parseDate($0, option: "--since") } ?? TimeInput.now().localDate
            try checkRegistered(branch ?? identity?.branch, in: replica)
            let id = try replica.create(.customer, [
                ("name", .text(name)),
                ("level", .text(level.rawValue)),
                ("branch", (branch ?? identity?.branch).fieldValue ?? .null),
                ("manager", (manager ?? identity?.user).fieldValue ?? .null),
                ("team", Team.value(team.map { $0.split(separator: ",").map(String.init) } ?? [])),
                ("services", services.fieldValue ?? .null),
                ("notes", note.fieldValue ?? .null),
                ("since", .text(taken)),
                ("language", language.map { .text($0.rawValue) } ?? .null),
            ])
            try printCreated(replica.require(.customer, id), json: options.json)
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List customer files.")

        @OptionGroup var options: CommonOptions
        @Flag(help: "Include archived customers.") var all = false

        func run() throws {
            let customers = try options.open().records(.customer)
                .filter { all || !$0["archived"].bool }
                .sorted { $0["name"].description.localizedStandardCompare($1["name"].description) == .orderedAscending }
            if options.json { return JSONValue.array(customers.map(\.json)).printed() }
            var table = TextTable(columns("id", "name", "level", "branch", "manager", "archived"))
            for customer in customers {
                table.add(customer.shortID, customer["name"].description, customer["level"].text.map { texts.choice($0) } ?? "",
                          customer["branch"].description, customer["manager"].description, customer["archived"].bool ? t("cli.yes") : "")
            }
            table.printed(empty: t("cli.customer.none"))
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a customer file with its contacts, agreements and open cases.")

        @OptionGroup var options: CommonOptions
        @Argument(help: "Customer id or a unique prefix of it.") var customer: String

        func run() throws {
            let replica = try options.open()
            let record = try replica.require(.customer, customer)
            let contacts = try replica.records(.contact, where: "customer", equals: .text(record.id)).filter { !$0["removed"].bool }
            let agreements = try replica.records(.agreement, where: "customer", equals: .text(record.id)).filter { !$0["removed"].bool }
            let faults = try replica.records(.fault, where: "customer", equals: .text(record.id))
            let complaints = try replica.records(.complaint, where: "customer", equals: .text(record.id))
            let visits = try replica.records(.visit, where: "customer", equals: .text(record.id)).filter { !$0["removed"].bool }
            if options.json {
                return record.json.merging([
                    "contacts": .array(contacts.map(\.json)),
                    "agreements": .array(agreements.map(\.json)),
                    "faults": .array(faults.map(\.json)),
                    "complaints": .array(complaints.map(\.json)),
                    "visits": .array(visits.map(\.json)),
                ]).printed()
            }
            printDetails(record, title: t("cli.customer.title"))
            print("\n" + t("cli.customer.contacts"))
            var table = TextTable(columns("id", "name", "role", "phone", "email", "billing"))
            for contact in contacts {
                table.add(contact.shortID, contact["name"].description, contact["role"].description,
                          contact["phone"].description, contact["email"].description, contact["billing"].bool ? t("cli.yes") : "")
            }
            table.printed(empty: t("cli.none"))
            print("\n" + t("cli.customer.agreements"))
            var agreementTable = TextTable(columns("id", "number", "starts", "ends"))
            for agreement in agreements {
                func date(_ field: String) -> String { agreement[field].text.flatMap { LocalDate(iso: $0) }.map { texts.date($0) } ?? "" }
                agreementTable.add(agreement.shortID, agreement["number"].description, date("starts"), date("ends"))
            }
            agreementTable.printed(empty: t("cli.none"))
            let open = faults.filter { WorkflowStatus($0["status"].description, kind: .fault)?.isOpen ?? false }.count
                + complaints.filter { WorkflowStatus($0["status"].description, kind: .complaint)?.isOpen ?? false }.count
            print("\n" + t("cli.customer.counts", ["visits": String(visits.count), "faults": String(faults.count),
                                                  "complaints": String(complaints.count), "open": String(open)]))
        }
    }

    struct Edit: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Change fields of a customer file; only the options given change.")

        @OptionGroup var options: CommonOptions
        @Argument(help: "Customer id or a unique prefix of it.") var customer: String
        @Option(help: "Customer name.") var name: String?
        @Option(help: "Service level.") var level: ServiceLevel?
        @Option(help: "City branch.") var branch: String?
        @Option(help: "Assigned account manager.") var manager: String?
        @Option(help: ArgumentHelp("Backup or joint managers, comma-separated (replaces the team; \"\" clears it).", valueName: "names")) var team: String?
        @Option(help: "Services in operation.") var services: String?
        @Option(help: "Notes (replaces the notes).") var note: String?
        @Option(help: ArgumentHelp("The day the customer was taken on, YYYY-MM-DD.", valueName: "date")) var since: String?
        @Option(help: ArgumentHelp("The language of the documents handed to the customer: en or zh.", valueName: "en|zh")) var language: Language?

        func run() throws {
            let replica = try options.open()
            let record = try replica.require(.customer, customer)
            var fields: [(String, FieldValue)] = []
            if let name { fields.append(("name", .text(name))) }
            if let level { fields.append(("level", .text(level.rawValue))) }
            if let branch {
                try checkRegistered(branch, in: replica)
                fields.append(("branch", .text(branch)))
            }
            if let manager {
                if FieldValue.text(manager) != record["manager"] {
                    try options.refuseForManager("--manager: handing a file to another manager is a supervisor's act; ask yours to run 'fieldsync customer assign'")
                }
                fields.append(("manager", .text(manager)))
            }
            if let team {
                let members = team.split(separator: ",").map(String.init)
                let removed = Set(Team.members(record["team"])).subtracting(Team.members(Team.value(members)))
                if !removed.isEmpty {
                    try options.refuseForManager("--team: taking someone off a file's team (\(removed.sorted().joined(separator: ", "))) is a supervisor's act")
                }
                fields.append(("team", Team.value(members)))
            }
            if let services { fields.append(("services", .text(services))) }
            if let note { fields.append(("notes", .text(note))) }
            if let since { fields.append(("since", .text(try TimeInput.parseDate(since, option: "--since")))) }
            if let language { fields.append(("language", .text(language.rawValue))) }
            guard !fields.isEmpty else {
                throw InputError("nothing to change; give at least one of --name, --level, --branch, --manager, --team, --services, --note, --since, --language")
            }
            try replica.write([RecordEdit(.customer, record.id, fields)])
            try printUpdated(replica.require(.customer, record.id), json: options.json)
        }
    }

    struct Assign: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Hand a customer file over to another manager (客户交接): for a supervisor's or the province's laptop.",
            discussion: """
                At the next sync the new manager receives the whole file, its history included; the old manager's \
                laptop drops it once everything typed on it has been sent (work stamped before the handover is kept, \
                later work is refused and listed by 'fieldsync status'). A manager cannot hand over their own files.
                """)

        @OptionGroup var options: CommonOptions
        @Argument(help: "Customer id or a unique prefix of it.") var customer: String
        @Option(help: "The new account manager.") var manager: String
        @Option(help: ArgumentHelp("Backup or joint managers, comma-separated (replaces the team).", valueName: "names")) var team: String?

        func run() throws {
            let replica = try options.open()
            if let role = try ServerBinding.load(home: options.location.folder)?.binding.user.role, role == .manager {
                throw InputError("handing a file over is for a supervisor or the province; ask yours to run 'fieldsync customer assign'")
            }
            let record = try replica.require(.customer, customer)
            var fields: [(String, FieldValue)] = [("manager", .text(manager))]
            if let team { fields.append(("team", Team.value(team.split(separator: ",").map(String.init)))) }
            try replica.write([RecordEdit(.customer, record.id, fields)])
            try printUpdated(replica.require(.customer, record.id), json: options.json)
        }
    }

    struct Archive: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Archive a customer file (customers are never erased).",
            discussion: "An archived customer is hidden from 'customer list' unless --all is given; --undo brings it back.")

        @OptionGroup var options: CommonOptions
        @Argument(help: "Customer id or a unique prefix of it.") var customer: String
        @Flag(help: "Bring an archived customer back.") var undo = false

        func run() throws {
            let replica = try options.open()
            let record = try replica.require(.customer, customer)
            try replica.write([RecordEdit(.customer, record.id, [("archived", .int(undo ? 0 : 1))])])
            try printUpdated(replica.require(.customer, record.id), json: options.json)
        }
    }
}

/// Prints a record just created: its id alone (easy to capture in a script), or JSON.
func printCreated(_ record: StoredRecord, json: Bool) {
    if json { record.json.printed() } else { print(record.id) }
}

func printUpdated(_ record: StoredRecord, json: Bool) {
    if json { record.json.printed() } else { print(t("cli.updated", ["kind": texts.kind(record.table), "id": record.shortID])) }
}

/// A customer's branch must be one the province registered. A replica that has
/// not received the list yet (never synced) lets the server decide.
func checkRegistered(_ branch: String?, in replica: Replica) throws {
    let registered = try replica.registeredBranches()
    guard !registered.isEmpty, let branch, !registered.contains(branch) else { return }
    if let close = ClosestName.to(branch, among: registered.sorted()) {
        throw InputError("--branch: '\(branch)' is not a registered branch; did you mean '\(close)'? (registered: \(registered.sorted().joined(separator: ", ")))")
    }
    throw InputError("--branch: '\(branch)' is not a registered branch; use one of: \(registered.sorted().joined(separator: ", "))")
}
