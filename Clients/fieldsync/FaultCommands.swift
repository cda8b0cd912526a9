import ArgumentParser
import FieldSyncKPI
import FieldSyncModel
import FieldSyncStore
import Foundation

struct FaultCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fault",
        abstract: t("cli.fault.abstract"),
        discussion: """
            Time limits: first progress feedback within \(ServiceLimits.faultFeedbackMinutes(vip: false)) minutes of the report \
            (\(ServiceLimits.faultFeedbackMinutes(vip: true)) for VIP customers); restoration by the time agreed with the customer: \
            the fault's --restore-by, else the restoration hours of the customer's agreement in force on the report day, \
            else the province's default ('fieldsync-server settings'), else \(ServiceLimits.faultRestorationHours(vip: false)) hours \
            (\(ServiceLimits.faultRestorationHours(vip: true)) for VIP). \
            Restoring tells the customer, so it is the first feedback when none was recorded. Status moves \
            reported → in-progress → restored → closed (the fault report delivered); a reopening starts a new round.
            """,
        subcommands: [Report.self, Edit.self, Note.self, Feedback.self, Restore.self, Close.self, Reopen.self, List.self, Show.self]
    )

    /// What is learnt about a fault, at the report or later (`edit`).
    struct Details: ParsableArguments {
        @Option(help: "Scope of impact (故障影响范围).") var scope: String?
        @Option(help: "When the fault occurred (ISO 8601 or now).") var occurredAt: String?
        @Option(help: ArgumentHelp("Restoration time agreed for this fault; overrides the agreement's limit ('none' removes it on edit).", valueName: "time"))
        var restoreBy: String?
        @Option(help: "Hotline or CRM ticket number (响应中心派单号).") var ticket: String?
        @Option(help: ArgumentHelp("Maintenance person dispatched (派单).", valueName: "name")) var dispatchedTo: String?
        @Option(help: "Dispatch state.") var dispatch: DispatchState?
        @Option(help: "Site affected (站址).") var site: String?

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
        static let configuration = CommandConfiguration(abstract: "Record a fault a customer reported.")

        @OptionGroup var options: CommonOptions
        @Argument(help: "Customer id or a unique prefix of it.") var customer: String
        @Option(help: "What is wrong, as the customer describes it.") var symptom: String
        @Option(help: "When it was reported to you (default: now).") var reportedAt = "now"
        @Option(help: "Who owns the follow-up (首问负责人; default: you).") var owner: String?
        @OptionGroup var details: Details

        func run() throws {
            let replica = try options.open()
            let customerRecord = try replica.require(.customer, customer)
            if let owner, try owner != replica.userName() {
                try options.refuseForManager("--owner: you record your own faults; a supervisor may give one to \(owner)")
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
            abstract: "Record what was learnt after the report; only the options given change.",
            discussion: "Times stay in order: occurred ≤ reported ≤ first feedback, occurred ≤ restored ≤ report delivered. The workflow times change through feedback, restore and close.")

        @OptionGroup var options: CommonOptions
        @Argument(help: "Fault id or a unique prefix of it.") var fault: String
        @Option(help: "What is wrong.") var symptom: String?
        @Option(help: "When it was reported to you.") var reportedAt: String?
        @Option(help: "Who owns the follow-up (首问负责人).") var owner: String?
        @OptionGroup var details: Details

        func run() throws {
            var fields: [(String, FieldValue)] = []
            if let symptom { fields.append(("symptom", .text(symptom))) }
            if let reportedAt { fields.append(("reported_at", .text(try TimeInput.parse(reportedAt, option: "--reported-at")))) }
            if let owner {
                let current = try options.open().require(.fault, fault)["owner"]
                if (owner.isEmpty ? FieldValue.null : .text(owner)) != current {
                    try options.refuseForManager("--owner: only a supervisor changes who answers for a fault")
                }
                fields.append(("owner", owner.isEmpty ? .null : .text(owner)))
            }
            try Cases.edit(.fault, fault, fields + details.fields(), options: options,
                           offered: "--symptom, --reported-at, --owner, --scope, --occurred-at, --restore-by, --ticket, --dispatched-to, --dispatch, --site")
        }
    }

    struct Note: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a progress note to a fault.")

        @OptionGroup var options: CommonOptions
        @Argument(help: "Fault id or a unique prefix of it.") var fault: String
        @Option(help: "The note.") var text: String
        @Option(help: "When (ISO 8601 or now).") var at = "now"

        func run() throws { try Cases.addNote(to: .fault, fault, text: text, at: at, options: options) }
    }

    struct Feedback: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Record progress feedback given to the customer.",
            discussion: "The earliest feedback is the one the time limit counts; a later one does not replace it.")

        @OptionGroup var options: ActionOptions
        @Argument(help: "Fault id or a unique prefix of it.") var fault: String

        func run() throws {
            let at = try options.time()
            try Cases.perform(.feedback(at: at), on: .fault, fault, note: options.note, at: at, options: options.common)
        }
    }

    struct Restore: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Record that service was restored and the customer told.",
            discussion: "Telling the customer is a feedback (guide §2.4.1(4)): it is the first feedback when none was recorded.")

        @OptionGroup var options: ActionOptions
        @Argument(help: "Fault id or a unique prefix of it.") var fault: String

        func run() throws {
            let at = try options.time()
            try Cases.perform(.resolve(at: at, result: nil), on: .fault, fault, note: options.note, at: at, options: options.common)
        }
    }

    struct Close: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Close a restored fault: the fault report was delivered to the customer.")

        @OptionGroup var options: ActionOptions
        @Argument(help: "Fault id or a unique prefix of it.") var fault: String

        func run() throws {
            let at = try options.time()
            try Cases.perform(.close(at: at, report: nil), on: .fault, fault, note: options.note, at: at, options: options.common)
        }
    }

    struct Reopen: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Reopen a restored or closed fault; a new round starts.")

        @OptionGroup var options: ActionOptions
        @Argument(help: "Fault id or a unique prefix of it.") var fault: String

        func run() throws {
            let at = try options.time()
            try Cases.perform(.reopen, on: .fault, fault, note: options.note, at: at, options: options.common)
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List fault reports, newest first.")

        @OptionGroup var options: CommonOptions
        @Flag(help: "Only faults not yet restored.") var open = false
        @Option(help: "Only this customer's faults.") var customer: String?

        func run() throws { try Cases.list(.fault, openOnly: open, customer: customer, options: options) }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a fault report with its progress notes.")

        @OptionGroup var options: CommonOptions
        @Argument(help: "Fault id or a unique prefix of it.") var fault: String

        func run() throws { try Cases.show(.fault, fault, options: options) }
    }
}

struct ComplaintCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "complaint",
        abstract: t("cli.complaint.abstract"),
        discussion: """
            Time limits: first feedback within \(ServiceLimits.complaintFeedbackHours(vip: false)) hours \
            (\(ServiceLimits.complaintFeedbackHours(vip: true)) for VIP); resolved within \(ServiceLimits.complaintResolutionWorkingDays) \
            working days, else escalate to the branch supervisor (重点督办); within \(ServiceLimits.followUpVisitWorkingDays) working days \
            of the resolution, a follow-up visit where the handling report is handed over (log it with 'fieldsync visit log \
            --kind complaint-follow-up --complaint ID'); closing comes after.
            """,
        subcommands: [Open.self, Note.self, Feedback.self, Resolve.self, Escalate.self, Close.self, Reopen.self, List.self, Show.self]
    )

    struct Open: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Record a complaint a customer made.")

        @OptionGroup var options: CommonOptions
        @Argument(help: "Customer id or a unique prefix of it.") var customer: String
        @Option(help: "How it came in.") var channel: ComplaintChannel
        @Option(help: "What the customer complains about.") var content: String
        @Option(help: "When it was received (default: now).") var receivedAt = "now"
        @Option(help: "Who owns the follow-up (default: you).") var owner: String?

        func run() throws {
            let replica = try options.open()
            let customerRecord = try replica.require(.customer, customer)
            if let owner, try owner != replica.userName() {
                try options.refuseForManager("--owner: you record your own complaints; a supervisor may give one to \(owner)")
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
        static let configuration = CommandConfiguration(abstract: "Add a progress note to a complaint.")

        @OptionGroup var options: CommonOptions
        @Argument(help: "Complaint id or a unique prefix of it.") var complaint: String
        @Option(help: "The note.") var text: String
        @Option(help: "When (ISO 8601 or now).") var at = "now"

        func run() throws { try Cases.addNote(to: .complaint, complaint, text: text, at: at, options: options) }
    }

    struct Feedback: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Record progress feedback given to the customer (the earliest counts).")

        @OptionGroup var options: ActionOptions
        @Argument(help: "Complaint id or a unique prefix of it.") var complaint: String

        func run() throws {
            let at = try options.time()
            try Cases.perform(.feedback(at: at), on: .complaint, complaint, note: options.note, at: at, options: options.common)
        }
    }

    struct Resolve: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Record that the complaint was resolved and what the customer was told.")

        @OptionGroup var options: ActionOptions
        @Argument(help: "Complaint id or a unique prefix of it.") var complaint: String
        @Option(help: "The result told to the customer.") var result: String?

        func run() throws {
            let at = try options.time()
            try Cases.perform(.resolve(at: at, result: result), on: .complaint, complaint, note: options.note, at: at, options: options.common)
        }
    }

    struct Escalate: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Escalate to the branch supervisor as a key item (重点督办).")

        @OptionGroup var options: ActionOptions
        @Argument(help: "Complaint id or a unique prefix of it.") var complaint: String
        @Option(help: "Why it is escalated.") var reason: String?

        func run() throws {
            let at = try options.time()
            try Cases.perform(.escalate(at: at, reason: reason), on: .complaint, complaint, note: options.note, at: at, options: options.common)
        }
    }

    struct Close: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Close a resolved complaint with its handling report (投诉处理报告单).")

        @OptionGroup var options: ActionOptions
        @Argument(help: "Complaint id or a unique prefix of it.") var complaint: String
        @Option(help: "The closing report.") var report: String?

        func run() throws {
            let at = try options.time()
            try Cases.perform(.close(at: at, report: report), on: .complaint, complaint, note: options.note, at: at, options: options.common)
        }
    }

    struct Reopen: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Reopen a resolved or closed complaint; a new round starts.")

        @OptionGroup var options: ActionOptions
        @Argument(help: "Complaint id or a unique prefix of it.") var complaint: String

        func run() throws {
            let at = try options.time()
            try Cases.perform(.reopen, on: .complaint, complaint, note: options.note, at: at, options: options.common)
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List complaints, newest first (⚑ marks escalated ones).")

        @OptionGroup var options: CommonOptions
        @Flag(help: "Only complaints not yet resolved.") var open = false
        @Option(help: "Only this customer's complaints.") var customer: String?

        func run() throws { try Cases.list(.complaint, openOnly: open, customer: customer, options: options) }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a complaint with its progress notes.")

        @OptionGroup var options: CommonOptions
        @Argument(help: "Complaint id or a unique prefix of it.") var complaint: String

        func run() throws { try Cases.show(.complaint, complaint, options: options) }
    }
}
