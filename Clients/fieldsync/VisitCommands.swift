import ArgumentParser
import FieldSyncLocalization
import FieldSyncModel
import FieldSyncStore
import Foundation

struct VisitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "visit",
        abstract: t("cli.visit.abstract"),
        subcommands: [Log.self, Edit.self, Remove.self, List.self, Show.self]
    )

    struct Log: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: t("help.record-a-visit-to-a.0b45"),
            discussion: t("help.kinds-routine-on-site-visit.57c8"))

        @OptionGroup var options: CommonOptions
        @Argument(help: ArgumentHelp(t("help.customer-id-or-a-unique.3019"))) var customer: String
        @Option(help: ArgumentHelp(t("help.what-kind-of-visit.719d"))) var kind: VisitKind
        @Option(help: ArgumentHelp(t("help.what-was-discussed.0915"))) var summary: String
        @Option(help: ArgumentHelp(t("help.when-the-visit-took-place.8c46"))) var at = "now"
        @Option(help: ArgumentHelp(t("help.who-took-part.9d9f"))) var participants: String?
        @Option(help: ArgumentHelp(t("help.the-customer-s-requests-and.bd0b"))) var requests: String?
        @Option(help: ArgumentHelp(t("help.follow-up-actions-agreed.c9e8"))) var actions: String?
        @Option(help: ArgumentHelp(t("help.the-complaint-this-visit-follows.92e9"))) var complaint: String?
        @Option(help: ArgumentHelp(t("help.the-complaint-handling-report-handed.dcdc"), valueName: "text"))
        var report: String?

        func validate() throws {
            if report != nil, kind != .complaintFollowUp || complaint == nil {
                throw ValidationError(t("cli.visit.report-needs-follow-up"))
            }
        }

        func run() throws {
            let replica = try options.open()
            let owner = try replica.require(.customer, customer)
            let followedRecord = try complaint.map { try replica.require(.complaint, $0) }
            let followed = followedRecord?.id
            let time = try TimeInput.parse(at, option: "--at")
            if let followedRecord, followedRecord["customer"] != .text(owner.id) {
                throw InputError(t("cli.visit.other-customer", ["id": followedRecord.shortID]))
            }
            let id = try replica.create(.visit, [
                ("customer", .text(owner.id)),
                ("manager", try replica.userName().fieldValue ?? .null),
                ("at", .text(time)),
                ("kind", .text(kind.rawValue)),
                ("summary", .text(summary)),
                ("participants", participants.fieldValue ?? .null),
                ("requests", requests.fieldValue ?? .null),
                ("actions", actions.fieldValue ?? .null),
                ("complaint", followed.fieldValue ?? .null),
            ], also: try handover(of: report, to: followedRecord, at: time, in: replica))
            try printCreated(replica.require(.visit, id), json: options.json)
        }

        /// The complaint's report and a progress note saying it was handed over, written with the visit.
        func handover(of report: String?, to complaint: StoredRecord?, at: String, in replica: Replica) throws -> [RecordEdit] {
            guard let report, let complaint else { return [] }
            var generator = SystemRandomNumberGenerator()
            return [
                RecordEdit(.complaint, complaint.id, [("report", .text(report))]),
                RecordEdit(.complaintNote, RecordID.make(using: &generator), [
                    ("complaint", .text(complaint.id)), ("at", .text(at)), ("author", try replica.userName().fieldValue ?? .null),
                    ("text", .text("Handling report handed over at the follow-up visit.")),
                ]),
            ]
        }
    }

    struct Edit: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: t("help.correct-a-visit-log-only.827b"))

        @OptionGroup var options: CommonOptions
        @Argument(help: ArgumentHelp(t("help.visit-id-or-a-unique.cfd0"))) var visit: String
        @Option(help: ArgumentHelp(t("help.what-kind-of-visit.719d"))) var kind: VisitKind?
        @Option(help: ArgumentHelp(t("help.what-was-discussed.0915"))) var summary: String?
        @Option(help: ArgumentHelp(t("help.when-the-visit-took-place.8c46"))) var at: String?
        @Option(help: ArgumentHelp(t("help.who-visited.0e76"))) var manager: String?
        @Option(help: ArgumentHelp(t("help.who-took-part.9d9f"))) var participants: String?
        @Option(help: ArgumentHelp(t("help.the-customer-s-requests-and.bd0b"))) var requests: String?
        @Option(help: ArgumentHelp(t("help.follow-up-actions-agreed.c9e8"))) var actions: String?
        @Option(help: ArgumentHelp(t("help.the-complaint-this-visit-follows.b5a0"), valueName: "complaint"))
        var complaint: String?

        func run() throws {
            let replica = try options.open()
            let record = try replica.require(.visit, visit)
            guard !record["removed"].bool else { throw InputError(t("cli.visit.was-removed", ["id": record.shortID])) }
            var fields: [(String, FieldValue)] = []
            func text(_ name: String, _ value: String?) { if let value { fields.append((name, value.isEmpty ? .null : .text(value))) } }
            if let kind { fields.append(("kind", .text(kind.rawValue))) }
            if let summary { fields.append(("summary", .text(summary))) }
            if let at { fields.append(("at", .text(try TimeInput.parse(at, option: "--at")))) }
            text("manager", manager)
            text("participants", participants)
            text("requests", requests)
            text("actions", actions)
            if let complaint {
                fields.append(("complaint", complaint.lowercased() == "none" ? .null : .text(try replica.require(.complaint, complaint).id)))
            }
            guard !fields.isEmpty else {
                throw InputError(t("cli.error.nothing-to-change", ["options": "--kind, --summary, --at, --manager, --participants, --requests, --actions, --complaint"]))
            }
            try replica.write([RecordEdit(.visit, record.id, fields)])
            try printUpdated(replica.require(.visit, record.id), json: options.json)
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: t("help.remove-a-visit-logged-by.dbbf"))

        @OptionGroup var options: CommonOptions
        @Argument(help: ArgumentHelp(t("help.visit-id-or-a-unique.cfd0"))) var visit: String

        func run() throws {
            let replica = try options.open()
            let record = try replica.require(.visit, visit)
            try replica.write([RecordEdit(.visit, record.id, [("removed", .int(1))])])
            if options.json { try replica.require(.visit, record.id).json.printed() } else { print(t("cli.visit.removed", ["id": record.shortID])) }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: t("help.list-visits-newest-first.2860"))

        @OptionGroup var options: CommonOptions
        @Option(help: ArgumentHelp(t("help.only-this-customer-s-visits.d412"))) var customer: String?

        func run() throws {
            let replica = try options.open()
            let owner = try customer.map { try replica.require(.customer, $0) }
            let visits = try (owner.map { try replica.records(.visit, where: "customer", equals: .text($0.id)) } ?? replica.records(.visit))
                .filter { !$0["removed"].bool }
                .sorted { sortKey($0["at"]) > sortKey($1["at"]) }
            if options.json { return JSONValue.array(visits.map(\.json)).printed() }
            let names = try customerNames(replica)
            var table = TextTable(columns("id", "at", "customer", "kind", "manager", "summary"))
            for visit in visits {
                table.add(visit.shortID, shortTime(visit["at"]), names[visit["customer"].description] ?? "?",
                          visit["kind"].text.map { texts.choice($0) } ?? "", visit["manager"].description, visit["summary"].description)
            }
            table.printed(empty: t("cli.visit.none"))
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: t("help.show-a-visit-log.b4ff"))

        @OptionGroup var options: CommonOptions
        @Argument(help: ArgumentHelp(t("help.visit-id-or-a-unique.cfd0"))) var visit: String

        func run() throws {
            let record = try options.open().require(.visit, visit)
            if options.json { return record.json.printed() }
            printDetails(record, title: texts.kind(.visit))
        }
    }
}

/// Orders time fields as instants (times may carry different offsets).
func sortKey(_ value: FieldValue) -> Int64 {
    value.text.flatMap { Timestamp(iso: $0) }?.epochSeconds ?? .min
}

func customerNames(_ replica: Replica) throws -> [String: String] {
    Dictionary(uniqueKeysWithValues: try replica.records(.customer).map { ($0.id, $0["name"].description) })
}
