import ArgumentParser
import FieldSyncClient
import FieldSyncModel
import FieldSyncProtocol
import FieldSyncStore
import Foundation

struct InitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Create the replica on this device.",
        discussion: "A device can be initialised before it is enrolled with a server, so work can start offline; the records are pushed at the first sync."
    )

    @OptionGroup var options: CommonOptions

    @Option(help: "City branch this device works for (becomes the default branch of new customers).")
    var branch: String?

    @Option(help: "Your name, recorded as manager, owner or author of what you write.")
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
            print("Initialised a replica in \(folder) (node \(identity.node)).")
            print("Record work offline now; enrol with a server later to sync.")
        }
    }
}

struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show this laptop's device and node ids, the changes waiting to sync, open conflicts and the last sync."
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
            print("Replica:   \(options.location.folder)")
            // The server lists this laptop by its device id, conflicts and the change log by its node: both, together.
            print("Device:    \(server.map { "\($0.device.prefix(8)), node \(status.identity.node)" } ?? "not enrolled yet, node \(status.identity.node)")")
            if let user = status.identity.user { print("User:      \(user)") }
            if let branch = status.identity.branch { print("Branch:    \(branch)") }
            print("Outbox:    \(status.outboxMutations) actions (\(status.outboxChanges) field changes) waiting to sync")
            print("Conflicts: \(status.unresolvedConflicts) unresolved\(status.unresolvedConflicts > 0 ? " (fieldsync conflicts list)" : "")")
            print("Server:    \(server.map { "\($0.url) as \($0.user.name) (\($0.user.role.rawValue))" } ?? "not enrolled (fieldsync enroll URL --code CODE --ca FILE)")")
            print("Last sync: \(status.lastSync ?? "never")")
            let rejections = try options.open().rejections()
            if !rejections.isEmpty {
                print("Rejected:  \(rejections.count) actions refused by the server (kept in the outbox):")
                for rejection in rejections.prefix(10) {
                    print("  #\(rejection.counter): \(Wording.printable(rejection.reason))")
                    if let note = rejection.note { print("      handed back by \(note)") }
                }
            }
            let handedOver = try options.open().handedOver()
            if !handedOver.isEmpty {
                print("Handed over: \(handedOver.count) customer files now someone else's; removed once your unsent work on them is sent")
            }
            let unknown = try options.open().unknownContent()
            if !unknown.isEmpty {
                print("Not known here: \(unknown.joined(separator: ", ")) (sent by a newer server); upgrade fieldsync to see it, it is read again then")
            }
        }
    }
}
