import ArgumentParser
import FieldSyncLocalization
import FieldSyncClient
import FieldSyncModel
import FieldSyncProtocol
import FieldSyncStore
import Foundation

struct InitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: t("cli.init.abstract"),
        discussion: t("cli.init.discussion")
    )

    @OptionGroup var options: CommonOptions

    @Option(help: ArgumentHelp(t("cli.init.branch-help")))
    var branch: String?

    @Option(help: ArgumentHelp(t("cli.init.user-help")))
    var user: String?

    func run() throws {
        let folder = options.location.folder
        if FileManager.default.fileExists(atPath: options.location.databasePath) {
            let node = (try? options.open().identity()?.node.description) ?? "unknown"
            throw StoreError.alreadyInitialized(folder, node: node)
        }
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        try HomeOption.makePrivate(folder)
        let replica = try Replica.open(path: options.location.databasePath)
        var generator = SystemRandomNumberGenerator()
        let identity = ReplicaIdentity(
            node: NodeID.random(using: &generator), branch: branch, user: user,
            createdAt: TimeInput.now().description)
        try replica.initialize(identity)
        if options.json {
            JSONValue.object([
                "home": .string(folder), "node": .string(identity.node.description),
                "branch": identity.branch.map(JSONValue.string) ?? .null,
                "user": identity.user.map(JSONValue.string) ?? .null,
            ]).printed()
        } else {
            print(t("cli.init.done", ["folder": folder, "node": identity.node.description]))
            print(t("cli.init.next"))
        }
    }
}

struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: t("cli.status.abstract")
    )

    @OptionGroup var options: CommonOptions

    func run() throws {
        let status = try options.open().status()
        let server = try ServerBinding.load(home: options.location.folder)?.binding
        if options.json {
            JSONValue.object([
                "home": .string(options.location.folder),
                "node": .string(status.identity.node.description),
                "device": server.map { .string($0.device) } ?? .null,
                "branch": status.identity.branch.map(JSONValue.string) ?? .null,
                "user": status.identity.user.map(JSONValue.string) ?? .null,
                "outbox_mutations": .int(Int64(status.outboxMutations)),
                "outbox_changes": .int(Int64(status.outboxChanges)),
                "unresolved_conflicts": .int(Int64(status.unresolvedConflicts)),
                "last_sync": status.lastSync.map(JSONValue.string) ?? .null,
                "server": server.map { .string($0.url) } ?? .null,
                "rejected": .array(try options.open().rejections().map {
                    .object(["counter": .int(Int64($0.counter)), "reason": .string($0.reason), "handed_back": $0.note.map(JSONValue.string) ?? .null])
                }),
                "handed_over": .array(try options.open().handedOver().map(JSONValue.string)),
                "not_known_here": .array(try options.open().unknownContent().map(JSONValue.string)),
            ]).printed()
        } else {
            let node = status.identity.node.description
            print(t("cli.status.replica", ["folder": options.location.folder]))
            // The server lists this laptop by its device id, conflicts and the change log by its node: both, together.
            print(server.map { t("cli.status.device", ["device": String($0.device.prefix(8)), "node": node]) } ?? t("cli.status.device-none", ["node": node]))
            if let user = status.identity.user { print(t("cli.status.user", ["user": user])) }
            if let branch = status.identity.branch { print(t("cli.status.branch", ["branch": branch])) }
            print(t("cli.status.outbox", ["actions": String(status.outboxMutations), "changes": String(status.outboxChanges)]))
            print(t(status.unresolvedConflicts > 0 ? "cli.status.conflicts-some" : "cli.status.conflicts", ["count": String(status.unresolvedConflicts)]))
            print(server.map { t("cli.status.server", ["url": $0.url, "user": $0.user.name, "role": t("role.\($0.user.role.rawValue)")]) }
                  ?? t("cli.status.server-none"))
            print(t("cli.status.last-sync", ["time": status.lastSync.flatMap { Timestamp(iso: $0) }.map { texts.time($0) } ?? status.lastSync ?? t("cli.never")]))
            let rejections = try options.open().rejections()
            if !rejections.isEmpty {
                print(t("cli.status.rejected", ["count": String(rejections.count)]))
                for rejection in rejections.prefix(10) {
                    print("  #\(rejection.counter): \(said(rejection))")
                    if let note = rejection.note { print(t("cli.status.handed-back", ["note": decided(note)])) }
                }
            }
            let handedOver = try options.open().handedOver()
            if !handedOver.isEmpty {
                print(t("cli.status.handed-over", ["count": String(handedOver.count)]))
            }
            let unknown = try options.open().unknownContent()
            if !unknown.isEmpty {
                print(t("cli.status.unknown", ["names": unknown.joined(separator: ", ")]))
            }
        }
    }
}
