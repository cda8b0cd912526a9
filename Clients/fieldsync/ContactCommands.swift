import ArgumentParser
import FieldSyncModel
import FieldSyncStore
import Foundation

struct ContactCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "contact",
        abstract: "A customer's contact book (通讯录): add, list, edit, remove.",
        subcommands: [Add.self, List.self, Edit.self, Remove.self]
    )

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a contact to a customer.")

        @OptionGroup var options: CommonOptions
        @Argument(help: "Customer id or a unique prefix of it.") var customer: String
        @Option(help: "Contact's name.") var name: String
        @Option(help: "Role or duty, e.g. 'network operations'.") var role: String?
        @Option var phone: String?
        @Option var email: String?
        @Flag(help: "This is the billing contact (收款对接人); the customer's previous billing contact is unmarked.") var billing = false

        func run() throws {
            let replica = try options.open()
            let owner = try replica.require(.customer, customer)
            let id = try replica.create(.contact, [
                ("customer", .text(owner.id)), ("name", .text(name)),
                ("role", role.fieldValue ?? .null), ("phone", phone.fieldValue ?? .null),
                ("email", email.fieldValue ?? .null), ("billing", .int(billing ? 1 : 0)),
            ], also: billing ? try unmarkBilling(owner.id, in: replica) : [])
            try printCreated(replica.require(.contact, id), json: options.json)
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List a customer's contacts.")

        @OptionGroup var options: CommonOptions
        @Argument(help: "Customer id or a unique prefix of it.") var customer: String

        func run() throws {
            let replica = try options.open()
            let owner = try replica.require(.customer, customer)
            let contacts = try replica.records(.contact, where: "customer", equals: .text(owner.id)).filter { !$0["removed"].bool }
            if options.json { return JSONValue.array(contacts.map(\.json)).printed() }
            var table = TextTable("id", "name", "role", "phone", "email", "billing")
            for contact in contacts {
                table.add(contact.shortID, contact["name"].description, contact["role"].description,
                          contact["phone"].description, contact["email"].description, contact["billing"].bool ? "yes" : "")
            }
            table.printed(empty: "No contacts for \(owner["name"]). Add one with: fieldsync contact add \(owner.shortID) --name NAME")
        }
    }

    struct Edit: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Change a contact; only the options given change.")

        @OptionGroup var options: CommonOptions
        @Argument(help: "Contact id or a unique prefix of it.") var contact: String
        @Option var name: String?
        @Option var role: String?
        @Option var phone: String?
        @Option var email: String?
        @Flag(help: "Make this the billing contact.") var billing = false
        @Flag(name: .customLong("no-billing"), help: "This is no longer the billing contact.") var noBilling = false

        func run() throws {
            let replica = try options.open()
            let record = try replica.require(.contact, contact)
            var fields: [(String, FieldValue)] = []
            if let name { fields.append(("name", .text(name))) }
            if let role { fields.append(("role", .text(role))) }
            if let phone { fields.append(("phone", .text(phone))) }
            if let email { fields.append(("email", .text(email))) }
            if billing && noBilling { throw InputError("--billing and --no-billing contradict each other; give one") }
            if billing || noBilling { fields.append(("billing", .int(billing ? 1 : 0))) }
            guard !fields.isEmpty else {
                throw InputError("nothing to change; give at least one of --name, --role, --phone, --email, --billing, --no-billing")
            }
            var edits = [RecordEdit(.contact, record.id, fields)]
            if billing, case .text(let owner) = record["customer"] {
                edits += try unmarkBilling(owner, in: replica).filter { $0.record != record.id }
            }
            try replica.write(edits)
            try printUpdated(replica.require(.contact, record.id), json: options.json)
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a contact (kept as a tombstone so the removal syncs).")

        @OptionGroup var options: CommonOptions
        @Argument(help: "Contact id or a unique prefix of it.") var contact: String

        func run() throws {
            let replica = try options.open()
            let record = try replica.require(.contact, contact)
            try replica.write([RecordEdit(.contact, record.id, [("removed", .int(1)), ("billing", .int(0))])])
            if options.json { try replica.require(.contact, record.id).json.printed() } else { print("Removed contact \(record.shortID).") }
        }
    }
}

/// Edits that unmark a customer's current billing contacts: one billing contact per customer.
func unmarkBilling(_ customer: String, in replica: Replica) throws -> [RecordEdit] {
    try replica.records(.contact, where: "customer", equals: .text(customer))
        .filter { $0["billing"].bool }
        .map { RecordEdit(.contact, $0.id, [("billing", .int(0))]) }
}

struct AgreementCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agreement",
        abstract: "Service agreements (单项服务协议): add, list, remove. Renewal notice is due 3 months before the end.",
        subcommands: [Add.self, List.self, Remove.self]
    )

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Record a service agreement of a customer.")

        @OptionGroup var options: CommonOptions
        @Argument(help: "Customer id or a unique prefix of it.") var customer: String
        @Option(help: "Agreement number.") var number: String
        @Option(help: "Start date, YYYY-MM-DD.") var start: String?
        @Option(help: "End date, YYYY-MM-DD.") var end: String?

        func run() throws {
            let replica = try options.open()
            let owner = try replica.require(.customer, customer)
            let id = try replica.create(.agreement, [
                ("customer", .text(owner.id)), ("number", .text(number)),
                ("starts", try start.map { FieldValue.text(try TimeInput.parseDate($0, option: "--start")) } ?? .null),
                ("ends", try end.map { FieldValue.text(try TimeInput.parseDate($0, option: "--end")) } ?? .null),
            ])
            try printCreated(replica.require(.agreement, id), json: options.json)
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List service agreements, soonest end first, with the renewal notice date.")

        @OptionGroup var options: CommonOptions
        @Argument(help: "Only this customer's agreements.") var customer: String?

        func run() throws {
            let replica = try options.open()
            let owner = try customer.map { try replica.require(.customer, $0) }
            let agreements = try (owner.map { try replica.records(.agreement, where: "customer", equals: .text($0.id)) } ?? replica.records(.agreement))
                .filter { !$0["removed"].bool }
                .sorted { $0["ends"].description < $1["ends"].description }
            if options.json {
                return JSONValue.array(agreements.map { $0.json.merging(["renewal_notice_due": renewalDue($0).map(JSONValue.string) ?? .null]) }).printed()
            }
            var table = TextTable("id", "customer", "number", "starts", "ends", "renewal notice")
            for agreement in agreements {
                let name = try replica.record(.customer, agreement["customer"].description)?["name"].description ?? "?"
                table.add(agreement.shortID, name, agreement["number"].description, agreement["starts"].description,
                          agreement["ends"].description, renewalDue(agreement) ?? "")
            }
            table.printed(empty: "No service agreements.")
        }

        /// Three months before the end date.
        func renewalDue(_ agreement: StoredRecord) -> String? {
            guard let end = agreement["ends"].text, let year = Int(end.prefix(4)), let month = Int(end.dropFirst(5).prefix(2)) else { return nil }
            let total = year * 12 + (month - 1) - 3
            let day = min(Int(end.suffix(2)) ?? 1, 28)
            return String(format: "%04d-%02d-%02d", total / 12, total % 12 + 1, day)
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a service agreement.")

        @OptionGroup var options: HomeOption
        @Argument(help: "Agreement id or a unique prefix of it.") var agreement: String

        func run() throws {
            let replica = try options.open()
            let record = try replica.require(.agreement, agreement)
            try replica.write([RecordEdit(.agreement, record.id, [("removed", .int(1))])])
            print("Removed service agreement \(record.shortID).")
        }
    }
}
