import ArgumentParser
import FieldSyncKPI
import FieldSyncModel
import FieldSyncStore
import Foundation

struct ContactCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "contact",
        abstract: t("cli.contact.abstract"),
        subcommands: [Add.self, List.self, Edit.self, Remove.self]
    )

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: t("help.add-a-contact-to-a.084a"))

        @OptionGroup var options: CommonOptions
        @Argument(help: ArgumentHelp(t("help.customer-id-or-a-unique.3019"))) var customer: String
        @Option(help: ArgumentHelp(t("help.contact-s-name.d508"))) var name: String
        @Option(help: ArgumentHelp(t("help.role-or-duty-e-g.bf0f"))) var role: String?
        @Option var phone: String?
        @Option var email: String?
        @Flag(help: ArgumentHelp(t("help.this-is-the-billing-contact.865e"))) var billing = false

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
        static let configuration = CommandConfiguration(abstract: t("help.list-a-customer-s-contacts.fa3a"))

        @OptionGroup var options: CommonOptions
        @Argument(help: ArgumentHelp(t("help.customer-id-or-a-unique.3019"))) var customer: String

        func run() throws {
            let replica = try options.open()
            let owner = try replica.require(.customer, customer)
            let contacts = try replica.records(.contact, where: "customer", equals: .text(owner.id)).filter { !$0["removed"].bool }
            if options.json { return JSONValue.array(contacts.map(\.json)).printed() }
            var table = TextTable(columns("id", "person", "role", "phone", "email", "billing"))
            for contact in contacts {
                table.add(contact.shortID, contact["name"].description, contact["role"].description,
                          contact["phone"].description, contact["email"].description, contact["billing"].bool ? t("cli.yes") : "")
            }
            table.printed(empty: t("cli.contact.none", ["customer": owner["name"].description, "id": owner.shortID]))
        }
    }

    struct Edit: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: t("help.change-a-contact-only-the.7ccb"))

        @OptionGroup var options: CommonOptions
        @Argument(help: ArgumentHelp(t("help.contact-id-or-a-unique.96b8"))) var contact: String
        @Option var name: String?
        @Option var role: String?
        @Option var phone: String?
        @Option var email: String?
        @Flag(inversion: .prefixedNo, exclusivity: .exclusive, help: ArgumentHelp(t("help.make-this-the-billing-contact.c400"))) var billing: Bool?

        func run() throws {
            let replica = try options.open()
            let record = try replica.require(.contact, contact)
            var fields: [(String, FieldValue)] = []
            if let name { fields.append(("name", .text(name))) }
            if let role { fields.append(("role", .text(role))) }
            if let phone { fields.append(("phone", .text(phone))) }
            if let email { fields.append(("email", .text(email))) }
            if let billing { fields.append(("billing", .int(billing ? 1 : 0))) }
            guard !fields.isEmpty else {
                throw InputError(t("cli.error.nothing-to-change", ["options": "--name, --role, --phone, --email, --billing, --no-billing"]))
            }
            var edits = [RecordEdit(.contact, record.id, fields)]
            if billing == true, case .text(let owner) = record["customer"] {
                edits += try unmarkBilling(owner, in: replica).filter { $0.record != record.id }
            }
            try replica.write(edits)
            try printUpdated(replica.require(.contact, record.id), json: options.json)
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: t("help.remove-a-contact-kept-as.9f42"))

        @OptionGroup var options: CommonOptions
        @Argument(help: ArgumentHelp(t("help.contact-id-or-a-unique.96b8"))) var contact: String

        func run() throws {
            let replica = try options.open()
            let record = try replica.require(.contact, contact)
            try replica.write([RecordEdit(.contact, record.id, [("removed", .int(1)), ("billing", .int(0))])])
            if options.json { try replica.require(.contact, record.id).json.printed() } else { print(t("cli.contact.removed", ["id": record.shortID])) }
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
        abstract: t("cli.agreement.abstract"),
        discussion: t("cli.agreement.discussion", limitValues),
        subcommands: [Add.self, Edit.self, List.self, Remove.self]
    )

    /// The dates and limit an agreement carries besides its number.
    struct Terms: ParsableArguments {
        @Option(help: ArgumentHelp(t("help.start-date-yyyy-mm-dd.3a12"), valueName: "date")) var start: String?
        @Option(help: ArgumentHelp(t("help.end-date-yyyy-mm-dd.33e2"), valueName: "date")) var end: String?
        @Option(help: ArgumentHelp(t("help.fault-restoration-limit-agreed-in.0ce2"), valueName: "hours"))
        var restoreHours: Int64?

        func validate() throws {
            if let restoreHours, !(1...8_760).contains(restoreHours) {
                throw ValidationError(t("cli.agreement.bad-hours", ["value": String(restoreHours)]))
            }
        }

        func fields() throws -> [(String, FieldValue)] {
            var fields: [(String, FieldValue)] = []
            if let start { fields.append(("starts", .text(try TimeInput.parseDate(start, option: "--start")))) }
            if let end { fields.append(("ends", .text(try TimeInput.parseDate(end, option: "--end")))) }
            if let restoreHours { fields.append(("restore_hours", .int(restoreHours))) }
            return fields
        }
    }

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: t("help.record-a-service-agreement-of.1195"))

        @OptionGroup var options: CommonOptions
        @Argument(help: ArgumentHelp(t("help.customer-id-or-a-unique.3019"))) var customer: String
        @Option(help: ArgumentHelp(t("help.agreement-number.0332"))) var number: String
        @OptionGroup var terms: Terms

        func run() throws {
            let replica = try options.open()
            let owner = try replica.require(.customer, customer)
            let id = try replica.create(.agreement, [("customer", .text(owner.id)), ("number", .text(number))] + terms.fields())
            try printCreated(replica.require(.agreement, id), json: options.json)
        }
    }

    struct Edit: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: t("help.change-an-agreement-or-record.c446"),
            discussion: t("help.a-date-option-takes-yyyy.5999"))

        @OptionGroup var options: CommonOptions
        @Argument(help: ArgumentHelp(t("help.agreement-id-or-a-unique.1199"))) var agreement: String
        @Option(help: ArgumentHelp(t("help.agreement-number.0332"))) var number: String?
        @OptionGroup var terms: Terms
        @Option(help: ArgumentHelp(t("help.the-expiry-notice-was-handed.dced"), valueName: "date")) var renewalNotice: String?
        @Option(help: ArgumentHelp(t("help.the-agreement-was-signed-again.ecb0"), valueName: "date")) var renewed: String?
        @Option(help: ArgumentHelp(t("help.the-customer-s-termination-notice.019d"), valueName: "date")) var terminationNotice: String?

        func run() throws {
            func day(_ text: String, _ option: String) throws -> FieldValue {
                switch text.lowercased() {
                case "none": .null
                case "today": .text(TimeInput.now().localDate)
                default: .text(try TimeInput.parseDate(text, option: option))
                }
            }
            var fields = try terms.fields()
            if let number { fields.append(("number", .text(number))) }
            if let renewalNotice { fields.append(("renewal_notice_at", try day(renewalNotice, "--renewal-notice"))) }
            if let renewed { fields.append(("renewed_at", try day(renewed, "--renewed"))) }
            if let terminationNotice { fields.append(("termination_notice_at", try day(terminationNotice, "--termination-notice"))) }
            guard !fields.isEmpty else {
                throw InputError(t("cli.error.nothing-to-change", ["options": "--number, --start, --end, --restore-hours, --renewal-notice, --renewed, --termination-notice"]))
            }
            let replica = try options.open()
            let record = try replica.require(.agreement, agreement)
            guard !record["removed"].bool else { throw InputError(t("cli.agreement.was-removed", ["id": record.shortID])) }
            try replica.write([RecordEdit(.agreement, record.id, fields)])
            try printUpdated(replica.require(.agreement, record.id), json: options.json)
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: t("help.list-service-agreements-soonest-end.e620"))

        @OptionGroup var options: CommonOptions
        @Argument(help: ArgumentHelp(t("help.only-this-customer-s-agreements.83bc"))) var customer: String?

        func run() throws {
            let replica = try options.open()
            let owner = try customer.map { try replica.require(.customer, $0) }
            let agreements = try (owner.map { try replica.records(.agreement, where: "customer", equals: .text($0.id)) } ?? replica.records(.agreement))
                .filter { !$0["removed"].bool }
                .sorted { $0["ends"].description < $1["ends"].description }
            func due(_ agreement: StoredRecord, months: Int) -> String? {
                agreement["ends"].text.flatMap(LocalDate.init(iso:)).map { $0.adding(months: -months).description }
            }
            if options.json {
                return JSONValue.array(agreements.map {
                    $0.json.merging([
                        "renewal_notice_due": due($0, months: ServiceLimits.renewalNoticeMonths).map(JSONValue.string) ?? .null,
                        "renewal_due": due($0, months: ServiceLimits.renewalMonths).map(JSONValue.string) ?? .null,
                    ])
                }).printed()
            }
            var table = TextTable(columns("id", "customer", "number", "starts", "ends", "restore", "notice-due", "notice-given", "renewal-due",
                                          "renewed-or-terminated"))
            for agreement in agreements {
                let name = try replica.record(.customer, agreement["customer"].description)?["name"].description ?? "?"
                let settled = agreement["renewed_at"].text.map { t("report.renewed", ["date": $0]) }
                    ?? agreement["termination_notice_at"].text.map { t("report.terminated", ["date": $0]) } ?? ""
                table.add(agreement.shortID, name, agreement["number"].description, agreement["starts"].description,
                          agreement["ends"].description, agreement["restore_hours"].int.map { t("limit.hours", ["n": String($0)]) } ?? "",
                          due(agreement, months: ServiceLimits.renewalNoticeMonths) ?? "", agreement["renewal_notice_at"].description,
                          due(agreement, months: ServiceLimits.renewalMonths) ?? "", settled)
            }
            table.printed(empty: t("cli.agreement.none"))
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: t("help.remove-a-service-agreement.b0de"))

        @OptionGroup var options: HomeOption
        @Argument(help: ArgumentHelp(t("help.agreement-id-or-a-unique.1199"))) var agreement: String

        func run() throws {
            let replica = try options.open()
            let record = try replica.require(.agreement, agreement)
            try replica.write([RecordEdit(.agreement, record.id, [("removed", .int(1))])])
            print(t("cli.agreement.removed", ["id": record.shortID]))
        }
    }
}
