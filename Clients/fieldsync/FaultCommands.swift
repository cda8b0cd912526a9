import ArgumentParser
import FieldSyncModel
import FieldSyncStore
import Foundation

struct FaultCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fault",
        abstract: "Fault reports (故障申告): report, note, feedback, restore, close, reopen, list, show.",
        discussion: "Time limit: first progress feedback within 60 minutes of the report (30 for VIP customers). Status moves reported → in-progress → restored → closed; a reopening starts a new round.",
        subcommands: [Report.self, Note.self, Feedback.self, Restore.self, Close.self, Reopen.self, List.self, Show.self]
    )

    struct Report: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Record a fault a customer reported.")

        @OptionGroup var options: CommonOptions
        @Argument(help: "Customer id or a unique prefix of it.") var customer: String
        @Option(help: "What is wrong, as the customer describes it.") var symptom: String
        @Option(help: "Scope of impact (故障影响范围).") var scope: String?
        @Option(help: "When the fault occurred (ISO 8601 or now).") var occurredAt: String?
        @Option(help: "When it was reported to you (default: now).") var reportedAt = "now"
        @Option(help: "Restoration time agreed with the customer.") var restoreBy: String?
        @Option(help: "Who owns the follow-up (首问负责人; default: you).") var owner: String?

        func run() throws {
            let replica = try options.open()
            let customerRecord = try replica.require(.customer, customer)
            let id = try replica.create(.fault, [
                ("customer", .text(customerRecord.id)),
                ("symptom", .text(symptom)),
                ("scope", scope.fieldValue ?? .null),
                ("occurred_at", try occurredAt.map { .text(try TimeInput.parse($0, option: "--occurred-at")) } ?? .null),
                ("reported_at", .text(try TimeInput.parse(reportedAt, option: "--reported-at"))),
                ("restore_by", try restoreBy.map { .text(try TimeInput.parse($0, option: "--restore-by")) } ?? .null),
                ("owner", (owner ?? replica.userName()).fieldValue ?? .null),
                ("status", .text(WorkflowStatus.opened.text(for: .fault))),
                // The time limits that apply are those of the level in force now.
                ("level", customerRecord["level"]),
            ])
            try printCreated(replica.require(.fault, id), json: options.json)
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
            try Cases.perform({ _ in .feedback(at: at) }, on: .fault, fault, note: options.note, at: at, options: options.common)
        }
    }

    struct Restore: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Record that service was restored.")

        @OptionGroup var options: ActionOptions
        @Argument(help: "Fault id or a unique prefix of it.") var fault: String

        func run() throws {
            let at = try options.time()
            try Cases.perform({ _ in .resolve(at: at, result: nil) }, on: .fault, fault, note: options.note, at: at, options: options.common)
        }
    }

    struct Close: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Close a restored fault: the fault report was delivered to the customer.")

        @OptionGroup var options: ActionOptions
        @Argument(help: "Fault id or a unique prefix of it.") var fault: String

        func run() throws {
            let at = try options.time()
            try Cases.perform({ _ in .close(at: at, report: nil) }, on: .fault, fault, note: options.note, at: at, options: options.common)
        }
    }

    struct Reopen: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Reopen a restored or closed fault; a new round starts.")

        @OptionGroup var options: ActionOptions
        @Argument(help: "Fault id or a unique prefix of it.") var fault: String

        func run() throws {
            let at = try options.time()
            try Cases.perform({ _ in .reopen }, on: .fault, fault, note: options.note, at: at, options: options.common)
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
        abstract: "Complaints (投诉): open, note, feedback, resolve, escalate, close, reopen, list, show.",
        discussion: "Time limits: first feedback within 2 hours (1 hour for VIP); resolved within 3 working days, else escalate to the branch supervisor; within 2 working days of the resolution, a follow-up visit where the handling report is handed over; closing comes after.",
        subcommands: [Open.self, Note.self, Feedback.self, Resolve.self, Escalate.self, Close.self, Reopen.self, List.self, Show.self]
    )

    struct Open: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Record a complaint a customer made.")

        @OptionGroup var options: CommonOptions
        @Argument(help: "Customer id or a unique prefix of it.") var customer: String
        @Option(help: "phone, in-person, email or hotline.") var channel: String
        @Option(help: "What the customer complains about.") var content: String
        @Option(help: "When it was received (default: now).") var receivedAt = "now"
        @Option(help: "Who owns the follow-up (default: you).") var owner: String?

        func run() throws {
            let replica = try options.open()
            let customerRecord = try replica.require(.customer, customer)
            let id = try replica.create(.complaint, [
                ("customer", .text(customerRecord.id)),
                ("channel", .text(try choice(channel, option: "--channel", allowed: RecordSchema.complaintChannels))),
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
            try Cases.perform({ _ in .feedback(at: at) }, on: .complaint, complaint, note: options.note, at: at, options: options.common)
        }
    }

    struct Resolve: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Record that the complaint was resolved and what the customer was told.")

        @OptionGroup var options: ActionOptions
        @Argument(help: "Complaint id or a unique prefix of it.") var complaint: String
        @Option(help: "The result told to the customer.") var result: String?

        func run() throws {
            let at = try options.time()
            try Cases.perform({ _ in .resolve(at: at, result: result) }, on: .complaint, complaint, note: options.note, at: at, options: options.common)
        }
    }

    struct Escalate: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Escalate to the branch supervisor as a key item (重点督办).")

        @OptionGroup var options: ActionOptions
        @Argument(help: "Complaint id or a unique prefix of it.") var complaint: String
        @Option(help: "Why it is escalated.") var reason: String?

        func run() throws {
            let at = try options.time()
            try Cases.perform({ _ in .escalate(at: at, reason: reason) }, on: .complaint, complaint, note: options.note, at: at, options: options.common)
        }
    }

    struct Close: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Close a resolved complaint with its handling report (投诉处理报告单).")

        @OptionGroup var options: ActionOptions
        @Argument(help: "Complaint id or a unique prefix of it.") var complaint: String
        @Option(help: "The closing report.") var report: String?

        func run() throws {
            let at = try options.time()
            try Cases.perform({ _ in .close(at: at, report: report) }, on: .complaint, complaint, note: options.note, at: at, options: options.common)
        }
    }

    struct Reopen: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Reopen a resolved or closed complaint; a new round starts.")

        @OptionGroup var options: ActionOptions
        @Argument(help: "Complaint id or a unique prefix of it.") var complaint: String

        func run() throws {
            let at = try options.time()
            try Cases.perform({ _ in .reopen }, on: .complaint, complaint, note: options.note, at: at, options: options.common)
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
