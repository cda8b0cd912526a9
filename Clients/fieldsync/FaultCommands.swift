import ArgumentParser
import FieldSyncKPI
import FieldSyncLocalization
import FieldSyncModel
import FieldSyncStore
import Foundation

struct FaultCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fault",
        abstract: t("cli.fault.abstract"),
        discussion: t("cli.fault.discussion", limitValues),
        subcommands: [Report.self, Edit.self, Note.self, Feedback.self, Restore.self, Close.self, Reopen.self, List.self, Show.self]
    )

    /// What is learnt about a fault, at the report or later (`edit`).
    struct Details: ParsableArguments {
        @Option(help: ArgumentHelp(t("help.scope-of-impact.b96f"))) var scope: String?
        @Option(help: ArgumentHelp(t("help.when-the-fault-occurred-iso.c6b7"))) var occurredAt: String?
        @Option(help: ArgumentHelp(t("help.restoration-time-agreed-for-this.385a"), valueName: "time"))
        var restoreBy: String?
        @Option(help: ArgumentHelp(t("help.hotline-or-crm-ticket-number.e578"))) var ticket: String?
        @Option(help: ArgumentHelp(t("help.maintenance-person-dispatched.37fe"), valueName: "name")) var dispatchedTo: String?
        @Option(help: ArgumentHelp(t("help.dispatch-state.5705"))) var dispatch: DispatchState?
        @Option(help: ArgumentHelp(t("help.site-affected.c401"))) var site: String?

        /// The fields given; an empty text clears an optional one.
        func fields() throws -> [(String, FieldValue)] {
            var fields: [(String, FieldValue)] = []
            func text(_ name: String, _ value: String?) { if let value { fields.append((name, value.isEmpty ? .null : .text(value))) } }
            text("scope", scope)
            if let occurredAt { fields.append(("occurred_at", .text(try TimeInput.parse(occurredAt, option: "--occurred-at")))) }
            if let restoreBy {
                fields.append(("restore_by", restoreBy.lowercased() == "none" ? .null : .text(try TimeInput.parse(restoreBy, option: "--restore-by"))))
            }
            text("ticket", ticket)
            text("dispatched_to", dispatchedTo)
            if let dispatch { fields.append(("dispatch", .text(dispatch.rawValue))) }
            text("site", site)
            return fields
        }
    }

    struct Report: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: t("help.record-a-fault-a-customer.abcd"))

        @OptionGroup var options: CommonOptions
        @Argument(help: ArgumentHelp(t("help.customer-id-or-a-unique.3019"))) var customer: String
        @Option(help: ArgumentHelp(t("help.what-is-wrong-as-the.09f5"))) var symptom: String
        @Option(help: ArgumentHelp(t("help.when-it-was-reported-to.8065"))) var reportedAt = "now"
        @Option(help: ArgumentHelp(t("help.who-owns-the-follow-up.2469"))) var owner: String?
        @OptionGroup var details: Details

        func run() throws {
            let replica = try options.open()
            let customerRecord = try replica.require(.customer, customer)
            if let owner, try owner != replica.userName() {
                try options.refuseForManager(t("cli.fault.owner-is-supervisors", ["owner": owner]))
            }
            let id = try replica.create(.fault, [
                ("customer", .text(customerRecord.id)),
                ("symptom", .text(symptom)),
                ("reported_at", .text(try TimeInput.parse(reportedAt, option: "--reported-at"))),
                ("owner", (owner ?? replica.userName()).fieldValue ?? .null),
                ("status", .text(WorkflowStatus.opened.text(for: .fault))),
                // The time limits that apply are those of the level in force now.
                ("level", customerRecord["level"]),
            ] + details.fields().filter { $0.1 != .null })
            try printCreated(replica.require(.fault, id), json: options.json)
        }
    }

    struct Edit: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: t("help.record-what-was-learnt-after.4bca"),
            discussion: t("help.times-stay-in-order-occurred.779f"))

        @OptionGroup var options: CommonOptions
        @Argument(help: ArgumentHelp(t("help.fault-id-or-a-unique.da37"))) var fault: String
        @Option(help: ArgumentHelp(t("help.what-is-wrong.e677"))) var symptom: String?
        @Option(help: ArgumentHelp(t("help.when-it-was-reported-to.65da"))) var reportedAt: String?
        @Option(help: ArgumentHelp(t("help.who-owns-the-follow-up.548a"))) var owner: String?
        @OptionGroup var details: Details

        func run() throws {
            var fields: [(String, FieldValue)] = []
            if let symptom { fields.append(("symptom", .text(symptom))) }
            if let reportedAt { fields.append(("reported_at", .text(try TimeInput.parse(reportedAt, option: "--reported-at")))) }
            if let owner {
                let current = try options.open().require(.fault, fault)["owner"]
                if (owner.isEmpty ? FieldValue.null : .text(owner)) != current {
                    try options.refuseForManager(t("cli.fault.owner-change-is-supervisors"))
                }
                fields.append(("owner", owner.isEmpty ? .null : .text(owner)))
            }
            try Cases.edit(.fault, fault, fields + details.fields(), options: options,
                           offered: "--symptom, --reported-at, --owner, --scope, --occurred-at, --restore-by, --ticket, --dispatched-to, --dispatch, --site")
        }
    }

    struct Note: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: t("help.add-a-progress-note-to.b8e1"))

        @OptionGroup var options: CommonOptions
        @Argument(help: ArgumentHelp(t("help.fault-id-or-a-unique.da37"))) var fault: String
        @Option(help: ArgumentHelp(t("help.the-note.6539"))) var text: String
        @Option(help: ArgumentHelp(t("help.when-iso-8601-or-now.8098"))) var at = "now"

        func run() throws { try Cases.addNote(to: .fault, fault, text: text, at: at, options: options) }
    }

    struct Feedback: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: t("help.record-progress-feedback-given-to.a1a4"),
            discussion: t("help.the-earliest-feedback-is-the.2004"))

        @OptionGroup var options: ActionOptions
        @Argument(help: ArgumentHelp(t("help.fault-id-or-a-unique.da37"))) var fault: String

        func run() throws {
            let at = try options.time()
            try Cases.perform(.feedback(at: at), on: .fault, fault, note: options.note, at: at, options: options.common)
        }
    }

    struct Restore: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: t("help.record-that-service-was-restored.d352"),
            discussion: t("help.telling-the-customer-is-a.9d90"))

        @OptionGroup var options: ActionOptions
        @Argument(help: ArgumentHelp(t("help.fault-id-or-a-unique.da37"))) var fault: String

        func run() throws {
            let at = try options.time()
            try Cases.perform(.resolve(at: at, result: nil), on: .fault, fault, note: options.note, at: at, options: options.common)
        }
    }

    struct Close: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: t("help.close-a-restored-fault-the.9c32"))

        @OptionGroup var options: ActionOptions
        @Argument(help: ArgumentHelp(t("help.fault-id-or-a-unique.da37"))) var fault: String

        func run() throws {
            let at = try options.time()
            try Cases.perform(.close(at: at, report: nil), on: .fault, fault, note: options.note, at: at, options: options.common)
        }
    }

    struct Reopen: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: t("help.reopen-a-restored-or-closed.66d1"))

        @OptionGroup var options: ActionOptions
        @Argument(help: ArgumentHelp(t("help.fault-id-or-a-unique.da37"))) var fault: String

        func run() throws {
            let at = try options.time()
            try Cases.perform(.reopen, on: .fault, fault, note: options.note, at: at, options: options.common)
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: t("help.list-fault-reports-newest-first.4fc9"))

        @OptionGroup var options: CommonOptions
        @Flag(help: ArgumentHelp(t("help.only-faults-not-yet-restored.f501"))) var open = false
        @Option(help: ArgumentHelp(t("help.only-this-customer-s-faults.00dc"))) var customer: String?

        func run() throws { try Cases.list(.fault, openOnly: open, customer: customer, options: options) }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: t("help.show-a-fault-report-with.796a"))

        @OptionGroup var options: CommonOptions
        @Argument(help: ArgumentHelp(t("help.fault-id-or-a-unique.da37"))) var fault: String

        func run() throws { try Cases.show(.fault, fault, options: options) }
    }
}

struct ComplaintCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "complaint",
        abstract: t("cli.complaint.abstract"),
        discussion: t("cli.complaint.discussion", limitValues),
        subcommands: [Open.self, Note.self, Feedback.self, Resolve.self, Escalate.self, Close.self, Reopen.self, List.self, Show.self]
    )

    struct Open: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: t("help.record-a-complaint-a-customer.e012"))

        @OptionGroup var options: CommonOptions
        @Argument(help: ArgumentHelp(t("help.customer-id-or-a-unique.3019"))) var customer: String
        @Option(help: ArgumentHelp(t("help.how-it-came-in.e155"))) var channel: ComplaintChannel
        @Option(help: ArgumentHelp(t("help.what-the-customer-complains-about.ac6b"))) var content: String
        @Option(help: ArgumentHelp(t("help.when-it-was-received-default.53d9"))) var receivedAt = "now"
        @Option(help: ArgumentHelp(t("help.who-owns-the-follow-up.0826"))) var owner: String?

        func run() throws {
            let replica = try options.open()
            let customerRecord = try replica.require(.customer, customer)
            if let owner, try owner != replica.userName() {
                try options.refuseForManager(t("cli.complaint.owner-is-supervisors", ["owner": owner]))
            }
            let id = try replica.create(.complaint, [
                ("customer", .text(customerRecord.id)),
                ("channel", .text(channel.rawValue)),
                ("content", .text(content)),
                ("received_at", .text(try TimeInput.parse(receivedAt, option: "--received-at"))),
                ("owner", (owner ?? replica.userName()).fieldValue ?? .null),
                ("status", .text(WorkflowStatus.opened.text(for: .complaint))),
                ("level", customerRecord["level"]),
            ])
            try printCreated(replica.require(.complaint, id), json: options.json)
        }
    }

    struct Note: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: t("help.add-a-progress-note-to.9aa6"))

        @OptionGroup var options: CommonOptions
        @Argument(help: ArgumentHelp(t("help.complaint-id-or-a-unique.f3f7"))) var complaint: String
        @Option(help: ArgumentHelp(t("help.the-note.6539"))) var text: String
        @Option(help: ArgumentHelp(t("help.when-iso-8601-or-now.8098"))) var at = "now"

        func run() throws { try Cases.addNote(to: .complaint, complaint, text: text, at: at, options: options) }
    }

    struct Feedback: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: t("help.record-progress-feedback-given-to.c0a4"))

        @OptionGroup var options: ActionOptions
        @Argument(help: ArgumentHelp(t("help.complaint-id-or-a-unique.f3f7"))) var complaint: String

        func run() throws {
            let at = try options.time()
            try Cases.perform(.feedback(at: at), on: .complaint, complaint, note: options.note, at: at, options: options.common)
        }
    }

    struct Resolve: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: t("help.record-that-the-complaint-was.b14c"))

        @OptionGroup var options: ActionOptions
        @Argument(help: ArgumentHelp(t("help.complaint-id-or-a-unique.f3f7"))) var complaint: String
        @Option(help: ArgumentHelp(t("help.the-result-told-to-the.fc1f"))) var result: String?

        func run() throws {
            let at = try options.time()
            try Cases.perform(.resolve(at: at, result: result), on: .complaint, complaint, note: options.note, at: at, options: options.common)
        }
    }

    struct Escalate: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: t("help.escalate-to-the-branch-supervisor.c852"))

        @OptionGroup var options: ActionOptions
        @Argument(help: ArgumentHelp(t("help.complaint-id-or-a-unique.f3f7"))) var complaint: String
        @Option(help: ArgumentHelp(t("help.why-it-is-escalated.507a"))) var reason: String?

        func run() throws {
            let at = try options.time()
            try Cases.perform(.escalate(at: at, reason: reason), on: .complaint, complaint, note: options.note, at: at, options: options.common)
        }
    }

    struct Close: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: t("help.close-a-resolved-complaint-with.7906"))

        @OptionGroup var options: ActionOptions
        @Argument(help: ArgumentHelp(t("help.complaint-id-or-a-unique.f3f7"))) var complaint: String
        @Option(help: ArgumentHelp(t("help.the-closing-report.6a29"))) var report: String?

        func run() throws {
            let at = try options.time()
            try Cases.perform(.close(at: at, report: report), on: .complaint, complaint, note: options.note, at: at, options: options.common)
        }
    }

    struct Reopen: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: t("help.reopen-a-resolved-or-closed.b8d8"))

        @OptionGroup var options: ActionOptions
        @Argument(help: ArgumentHelp(t("help.complaint-id-or-a-unique.f3f7"))) var complaint: String

        func run() throws {
            let at = try options.time()
            try Cases.perform(.reopen, on: .complaint, complaint, note: options.note, at: at, options: options.common)
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: t("help.list-complaints-newest-first-marks.a054"))

        @OptionGroup var options: CommonOptions
        @Flag(help: ArgumentHelp(t("help.only-complaints-not-yet-resolved.4a0e"))) var open = false
        @Option(help: ArgumentHelp(t("help.only-this-customer-s-complaints.2fc4"))) var customer: String?

        func run() throws { try Cases.list(.complaint, openOnly: open, customer: customer, options: options) }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: t("help.show-a-complaint-with-its.f095"))

        @OptionGroup var options: CommonOptions
        @Argument(help: ArgumentHelp(t("help.complaint-id-or-a-unique.f3f7"))) var complaint: String

        func run() throws { try Cases.show(.complaint, complaint, options: options) }
    }
}
