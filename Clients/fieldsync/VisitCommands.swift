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
            abstract: "Record a visit to a customer.",
            discussion: "Kinds: routine (on-site visit, at least one per customer per week), complaint-follow-up (within 2 working days of a complaint's resolution, where the handling report is handed over; give --complaint, and --report to record the report on the complaint), joint-meeting (monthly service joint meeting), other.")

        @OptionGroup var options: CommonOptions
        @Argument(help: "Customer id or a unique prefix of it.") var customer: String
        @Option(help: "What kind of visit.") var kind: VisitKind
        @Option(help: "What was discussed.") var summary: String
        @Option(help: "When the visit took place (ISO 8601 or now).") var at = "now"
        @Option(help: "Who took part.") var participants: String?
        @Option(help: "The customer's requests and opinions.") var requests: String?
        @Option(help: "Follow-up actions agreed.") var actions: String?
        @Option(help: "The complaint this visit follows up (id or prefix).") var complaint: String?
        @Option(help: ArgumentHelp("The complaint handling report (投诉处理报告单) handed over at this follow-up visit; recorded on the complaint.", valueName: "text"))
        var report: String?

        func validate() throws {
            if report != nil, kind != .complaintFollowUp || complaint == nil {
                throw ValidationError("--report is the complaint handling report handed over at a follow-up visit: give it with --kind complaint-follow-up --complaint ID")
            }
        }

        func run() throws {
            let replica = try options.open()
            let owner = try replica.require(.customer, customer)
            let followedRecord = try complaint.map { try replica.require(.complaint, $0) }
            let followed = followedRecord?.id
            let time = try TimeInput.parse(at, option: "--at")
            if let followedRecord, followedRecord["customer"] != .text(owner.id) {
                throw InputError("--complaint: complaint \(followedRecord.shortID) is another customer's")
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
        static let configuration = CommandConfiguration(abstract: "Correct a visit log; only the options given change (an empty text clears an optional field).")

        @OptionGroup var options: CommonOptions
        @Argument(help: "Visit id or a unique prefix of it.") var visit: String
        @Option(help: "What kind of visit.") var kind: VisitKind?
        @Option(help: "What was discussed.") var summary: String?
        @Option(help: "When the visit took place (ISO 8601 or now).") var at: String?
        @Option(help: "Who visited.") var manager: String?
        @Option(help: "Who took part.") var participants: String?
        @Option(help: "The customer's requests and opinions.") var requests: String?
        @Option(help: "Follow-up actions agreed.") var actions: String?
        @Option(help: ArgumentHelp("The complaint this visit follows up (id or prefix; 'none' unlinks it).", valueName: "complaint"))
        var complaint: String?

        func run() throws {
            let replica = try options.open()
            let record = try replica.require(.visit, visit)
            guard !record["removed"].bool else { throw InputError("visit \(record.shortID) was removed; log a new one instead") }
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
                throw InputError("nothing to change; give at least one of --kind, --summary, --at, --manager, --participants, --requests, --actions, --complaint")
            }
            try replica.write([RecordEdit(.visit, record.id, fields)])
            try printUpdated(replica.require(.visit, record.id), json: options.json)
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a visit logged by mistake (kept as a tombstone so the removal syncs; it no longer counts for any KPI).")

        @OptionGroup var options: CommonOptions
        @Argument(help: "Visit id or a unique prefix of it.") var visit: String

        func run() throws {
            let replica = try options.open()
            let record = try replica.require(.visit, visit)
            try replica.write([RecordEdit(.visit, record.id, [("removed", .int(1))])])
            if options.json { try replica.require(.visit, record.id).json.printed() } else { print(t("cli.visit.removed", ["id": record.shortID])) }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List visits, newest first.")

        @OptionGroup var options: CommonOptions
        @Option(help: "Only this customer's visits.") var customer: String?

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
        static let configuration = CommandConfiguration(abstract: "Show a visit log.")

        @OptionGroup var options: CommonOptions
        @Argument(help: "Visit id or a unique prefix of it.") var visit: String

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
