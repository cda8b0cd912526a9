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
        static let configuration = CommandConfiguration(abstract: t("help.add-a-customer-file.166d"))

        @OptionGroup var options: CommonOptions
        @Option(help: ArgumentHelp(t("help.customer-name.d6d7"))) var name: String
        @Option(help: ArgumentHelp(t("help.service-level-vip-halves-the.e193"))) var level: ServiceLevel = .standard
        @Option(help: ArgumentHelp(t("help.city-branch-default-this-device.dd6e"))) var branch: String?
        @Option(help: ArgumentHelp(t("help.assigned-account-manager-default-you.a971"))) var manager: String?
        @Option(help: ArgumentHelp(t("help.backup-or-joint-managers-who.98f3"), valueName: "names")) var team: String?
        @Option(help: ArgumentHelp(t("help.services-in-operation-free-text.b67b"))) var services: String?
        @Option(help: ArgumentHelp(t("help.notes.bd71"))) var note: String?
        @Option(help: ArgumentHelp(t("help.the-day-the-customer-was.5428"), valueName: "date"))
        var since: String?
        @Option(help: ArgumentHelp(t("help.the-language-of-the-documents.4530"), valueName: "en|zh"))
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
        static let configuration = CommandConfiguration(abstract: t("help.list-customer-files.c31a"))

        @OptionGroup var options: CommonOptions
        @Flag(help: ArgumentHelp(t("help.include-archived-customers.4196"))) var all = false

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
        static let configuration = CommandConfiguration(abstract: t("help.show-a-customer-file-with.f015"))

        @OptionGroup var options: CommonOptions
        @Argument(help: ArgumentHelp(t("help.customer-id-or-a-unique.3019"))) var customer: String

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
            var table = TextTable(columns("id", "person", "role", "phone", "email", "billing"))
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
        static let configuration = CommandConfiguration(abstract: t("help.change-fields-of-a-customer.7e84"))

        @OptionGroup var options: CommonOptions
        @Argument(help: ArgumentHelp(t("help.customer-id-or-a-unique.3019"))) var customer: String
        @Option(help: ArgumentHelp(t("help.customer-name.d6d7"))) var name: String?
        @Option(help: ArgumentHelp(t("help.service-level.03ec"))) var level: ServiceLevel?
        @Option(help: ArgumentHelp(t("help.city-branch.da66"))) var branch: String?
        @Option(help: ArgumentHelp(t("help.assigned-account-manager.e0bd"))) var manager: String?
        @Option(help: ArgumentHelp(t("help.backup-or-joint-managers-comma.848f"), valueName: "names")) var team: String?
        @Option(help: ArgumentHelp(t("help.services-in-operation.cab8"))) var services: String?
        @Option(help: ArgumentHelp(t("help.notes-replaces-the-notes.6e73"))) var note: String?
        @Option(help: ArgumentHelp(t("help.the-day-the-customer-was.09e7"), valueName: "date")) var since: String?
        @Option(help: ArgumentHelp(t("help.the-language-of-the-documents.1a1d"), valueName: "en|zh")) var language: Language?

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
                    try options.refuseForManager(t("cli.customer.manager-is-supervisors"))
                }
                fields.append(("manager", .text(manager)))
            }
            if let team {
                let members = team.split(separator: ",").map(String.init)
                let removed = Set(Team.members(record["team"])).subtracting(Team.members(Team.value(members)))
                if !removed.isEmpty {
                    try options.refuseForManager(t("cli.customer.team-is-supervisors", ["names": removed.sorted().joined(separator: t("list.separator"))]))
                }
                fields.append(("team", Team.value(members)))
            }
            if let services { fields.append(("services", .text(services))) }
            if let note { fields.append(("notes", .text(note))) }
            if let since { fields.append(("since", .text(try TimeInput.parseDate(since, option: "--since")))) }
            if let language { fields.append(("language", .text(language.rawValue))) }
            guard !fields.isEmpty else {
                throw InputError(t("cli.error.nothing-to-change", ["options": "--name, --level, --branch, --manager, --team, --services, --note, --since, --language"]))
            }
            try replica.write([RecordEdit(.customer, record.id, fields)])
            try printUpdated(replica.require(.customer, record.id), json: options.json)
        }
    }

    struct Assign: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: t("help.hand-a-customer-file-over.ac96"),
            discussion: t("help.at-the-next-sync-the.3076"))

        @OptionGroup var options: CommonOptions
        @Argument(help: ArgumentHelp(t("help.customer-id-or-a-unique.3019"))) var customer: String
        @Option(help: ArgumentHelp(t("help.the-new-account-manager.a816"))) var manager: String
        @Option(help: ArgumentHelp(t("help.backup-or-joint-managers-comma.1ac9"), valueName: "names")) var team: String?

        func run() throws {
            let replica = try options.open()
            if let role = try ServerBinding.load(home: options.location.folder)?.binding.user.role, role == .manager {
                throw InputError(t("cli.customer.assign-refused"))
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
            abstract: t("help.archive-a-customer-file-customers.2164"),
            discussion: t("help.an-archived-customer-is-hidden.5bcf"))

        @OptionGroup var options: CommonOptions
        @Argument(help: ArgumentHelp(t("help.customer-id-or-a-unique.3019"))) var customer: String
        @Flag(help: ArgumentHelp(t("help.bring-an-archived-customer-back.fd63"))) var undo = false

        func run() throws {
            let replica = try options.open()
            let record = try replica.require(.customer, customer)
            try replica.write([RecordEdit(.customer, record.id, [("archived", .int(undo ? 0 : 1))])])
            if options.json { return try replica.require(.customer, record.id).json.printed() }
            print(t(undo ? "cli.customer.unarchived" : "cli.customer.archived", ["id": record.shortID]))
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
        throw InputError(t("cli.customer.branch-close", ["branch": branch, "close": close, "registered": registered.sorted().joined(separator: ", ")]))
    }
    throw InputError(t("cli.customer.branch-unknown", ["branch": branch, "registered": registered.sorted().joined(separator: ", ")]))
}
