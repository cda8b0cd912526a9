import ArgumentParser
import FieldSyncClient
import FieldSyncCommandLine
import FieldSyncLocalization
import FieldSyncModel
import FieldSyncProtocol
import FieldSyncStore
import Foundation

struct InboxCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inbox",
        abstract: t("cli.inbox.abstract"),
        discussion: t("cli.inbox.discussion", ["days": String(Inbox.silentAfter / 86_400_000)]),
        subcommands: [List.self, Discard.self, HandBack.self],
        defaultSubcommand: List.self)

    struct Discard: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: RefusedActionArguments.discardAbstract)
        @OptionGroup var options: CommonOptions
        @OptionGroup var refused: RefusedActionArguments

        func run() async throws { try await InboxCommand.decide(options, refused, action: .discard) }
    }

    struct HandBack: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "hand-back", abstract: RefusedActionArguments.handBackAbstract)
        @OptionGroup var options: CommonOptions
        @OptionGroup var refused: RefusedActionArguments

        func run() async throws { try await InboxCommand.decide(options, refused, action: .note) }
    }

    static func decide(_ options: CommonOptions, _ refused: RefusedActionArguments, action: SyncResponse.Instruction.Action) async throws {
        let (node, counter, note) = (try refused.nodeID(inbox: "fieldsync inbox"), refused.counter, refused.note)
        guard let (binding, caPEM) = try ServerBinding.load(home: options.location.folder) else {
            throw ValidationError(t("cli.inbox.not-enrolled"))
        }
        let client = try SyncClient(url: binding.url, caPEM: caPEM)
        let answer: RefusedActionAnswer
        do {
            answer = try await client.decideRefused(RefusedActionDecision(node: node, counter: counter, action: action, note: note), token: binding.token)
            try await client.shutdown()
        } catch let error as SyncError where error.code == ErrorCode.notFound || error.code == ErrorCode.forbidden {
            try? await client.shutdown()
            throw SyncError(error.message, code: error.code, key: error.code == ErrorCode.notFound ? "cli.inbox.not-kept" : "cli.inbox.forbidden",
                            ["server": binding.url, "node": node.description, "number": String(counter)])
        } catch {
            try? await client.shutdown()
            throw error
        }
        if options.json { return try printJSON(answer) }
        print(t(action == .discard ? "cli.inbox.discarded" : "cli.inbox.handed-back",
                ["number": String(counter), "about": answer.about.isEmpty ? Wording.printable(answer.reason) : texts.about(answer.about)]))
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: t("cli.inbox.list.abstract"))

    @OptionGroup var options: CommonOptions
    @Flag(help: ArgumentHelp(t("cli.offline-help"))) var offline = false

    func run() async throws {
        let replica = try options.open()
        var inbox = try InboxCommand.local(replica)
        var note: String?
        if let (binding, caPEM) = try ServerBinding.load(home: options.location.folder), !offline, binding.user.role != .manager {
            let client = try SyncClient(url: binding.url, caPEM: caPEM)
            do {
                let bytes = try await client.get("/v1/inbox", token: binding.token)
                try await client.shutdown()
                var answer = try JSONDecoder().decode(Inbox.self, from: Data(bytes))
                // This laptop's own refused work, which the server has not seen refused yet, comes from here.
                answer.entries += inbox.entries.filter { $0.kind == .refused }
                inbox = answer
            } catch let error as SyncError {
                try? await client.shutdown()
                note = t("cli.local.server-unreachable", ["reason": said(error)])
            } catch {
                try? await client.shutdown()
                throw error
            }
        }
        if options.json {
            return try printJSON(inbox)
        }
        if let note { print(note) }
        print(inbox.text(offsetMinutes: TimeInput.localOffsetMinutes, texts), terminator: "")
    }
    }

    /// What this laptop holds: its open conflicts and its own work the server refused.
    static func local(_ replica: Replica) throws -> Inbox {
        let names = try replica.nodeNames()
        var entries = try replica.records(.conflict).filter { !$0["resolved"].bool }.map { conflict in
            Inbox.conflictEntry(conflict.id, conflict.state, branch: nil) { node in names[node].map { ($0.user, $0.device) } }
        }
        entries += try replica.rejections().map { rejected in
            Inbox.Entry(kind: .refused, branch: nil, subject: t("cli.inbox.own-action", ["number": String(rejected.counter)]), person: nil, device: nil,
                        detail: t("cli.inbox.own-refused", ["times": count(rejected.times, "time"), "reason": said(rejected)])
                            + (rejected.note.map { t("cli.inbox.own-handed-back", ["note": decided($0)]) } ?? ""), since: nil,
                        action: t("cli.inbox.own-action-to-take", ["number": String(rejected.counter)]))
        }
        return Inbox(entries: entries)
    }
}
