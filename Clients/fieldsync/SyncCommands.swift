import ArgumentParser
import FieldSyncLocalization
import FieldSyncClient
import FieldSyncModel
import FieldSyncProtocol
import FieldSyncStore
import Foundation

struct EnrollCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "enroll",
        abstract: t("cli.enroll.abstract"),
        discussion: """
            The server is verified against the CA file given here, now and at every sync. Records made before enrolment \
            are kept and pushed at the first sync. On a device without a replica, enrolling creates it, with the user's \
            name and branch as the server knows them.

            A device that was revoked, or enrolled with a server that was re-keyed, enrols again with a new code and \
            --new-node: the replica keeps every record, and what it has not sent yet is sent under a fresh node id \
            (a node id is enrolled once, for good). Work whose acknowledgement was lost before the revocation is \
            sent again under the new node: the records take it as the same values (the server's log holds it twice).
            """)

    @OptionGroup var options: CommonOptions
    @Argument(help: "The server's URL, e.g. https://fieldsync.example:8443") var url: String
    @Option(help: "The enrolment code from 'fieldsync-server user add'.") var code: String
    @Option(help: "The server's CA certificate (PEM), as printed by 'fieldsync-server init'.") var ca: String
    @Flag(name: .customLong("new-node"), help: "Enrol this replica under a fresh node id, keeping its records and re-issuing its unsent work (after a revocation or a server's new CA).")
    var newNode = false

    func run() async throws {
        guard let caPEM = try? String(contentsOfFile: ca, encoding: .utf8) else { throw InputError(t("cli.enroll.ca-unreadable", ["file": ca])) }
        // A new device gets its replica once the server has accepted it: a refused code leaves nothing behind.
        let exists = FileManager.default.fileExists(atPath: options.location.databasePath)
        var generator = SystemRandomNumberGenerator()
        let node: NodeID
        if exists && !newNode {
            guard let identity = try options.open().identity() else { throw StoreError.notInitialized(options.location.folder) }
            node = identity.node
        } else {
            node = NodeID.random(using: &generator)
        }
        let client = try SyncClient(url: url, caPEM: caPEM)
        let response: EnrollResponse
        do {
            response = try await client.enroll(code: code, node: node, deviceName: ProcessInfo.processInfo.hostName)
            try await client.shutdown()
        } catch {
            try? await client.shutdown()
            throw error
        }
        if !exists {
            let folder = options.location.folder
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            let replica = try Replica.open(path: options.location.databasePath)
            try replica.initialize(ReplicaIdentity(node: node, branch: response.user.branch, user: response.user.name,
                                                   createdAt: TimeInput.now().description))
            try replica.close()
            if !options.json { print(t("cli.enroll.created", ["folder": folder, "node": node.description])) }
        } else if newNode {
            // The server holds the new node now; the replica follows it before the binding names it,
            // while no sync of the old node runs (its acknowledgements name the old counters).
            let lock = try HomeOption.lockForSync(options.location.folder)
            defer { close(lock) }
            let replica = try options.open()
            let reissued = try replica.renode(to: node)
            try replica.close()
            if !options.json { print(t("cli.enroll.renoded", ["node": node.description, "count": String(reissued)])) }
        }
        let binding = ServerBinding(url: url, token: response.token, device: response.device, user: response.user, serverNode: response.serverNode)
        try binding.save(home: options.location.folder, caPEM: caPEM)
        if options.json {
            JSONValue.object(["server": .string(url), "device": .string(response.device), "node": .string(node.description), "user": .string(response.user.name),
                              "role": .string(response.user.role.rawValue), "branch": response.user.branch.map(JSONValue.string) ?? .null]).printed()
        } else {
            print(t("cli.enroll.done", ["url": url, "user": response.user.name,
                                        "role": t("role.\(response.user.role.rawValue)") + (response.user.branch.map { t("list.separator") + $0 } ?? ""),
                                        "device": String(response.device.prefix(8)), "node": node.description]))
            print(t("cli.enroll.next"))
        }
    }
}

struct SyncCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sync",
        abstract: t("cli.sync.abstract"),
        discussion: "Safe to interrupt and repeat: nothing is lost or applied twice. Without a network it fails fast; keep working offline and sync later. A new device's first sync downloads its records as one snapshot file (checked by SHA-256), then fetches what changed since; if that fails it pulls page by page.")

    @OptionGroup var options: CommonOptions

    func run() async throws {
        let outcome = try await Self.perform(options)
        Self.report(outcome, json: options.json)
    }

    /// What one `fieldsync sync` did.
    struct Outcome {
        var url: String
        var summary: SyncSummary
        var snapshot: SnapshotInfo?
        /// The oldest action refused at `RejectedMutation.stuckAfter` syncs or more: what holds the outbox up.
        var stuck: RejectedMutation?
    }

    /// One sync, as `fieldsync sync` runs it (also after `outbox retry`).
    /// `beforeSync` runs under the sync lock, on the open replica.
    static func perform(_ options: CommonOptions, beforeSync: (Replica) throws -> Void = { _ in }) async throws -> Outcome {
        // One sync at a time on a replica (and none while `enroll --new-node` renumbers its outbox).
        let lock = try HomeOption.lockForSync(options.location.folder)
        defer { close(lock) }
        var replica = try options.open(checkpointInBackground: true)
        do {
            try beforeSync(replica)
        } catch {
            try? replica.close()
            throw error
        }
        guard let (binding, caPEM) = try ServerBinding.load(home: options.location.folder) else {
            try? replica.close()
            throw InputError(t("cli.sync.not-enrolled"))
        }
        let client = try SyncClient(url: binding.url, caPEM: caPEM)
        let terminal = isatty(STDERR_FILENO) == 1 && !options.json
        // A new device starts from a snapshot of its scope; any failure falls back to paging.
        var snapshot: SnapshotInfo?
        if try replica.isEmptyForSnapshot(), let identity = try replica.identity() {
            try replica.close()
            do {
                snapshot = try await SnapshotBootstrap.run(replicaPath: options.location.databasePath, identity: identity, token: binding.token,
                                                           client: client) { received, total in
                    guard terminal else { return }
                    let done = total.map { " (\(min(100, received * 100 / max($0, 1)))% of \($0 >> 20) MiB)" } ?? ""
                    FileHandle.standardError.write(Data("\rdownloading a snapshot of your records… \(received >> 20) MiB\(done)".utf8))
                }
                if terminal { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
                if !options.json { print(t("cli.sync.snapshot", ["records": count(snapshot?.records ?? 0, "record"), "url": binding.url])) }
            } catch {
                if terminal { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
                FileHandle.standardError.write(Data("note: no snapshot (\(error)); syncing page by page\n".utf8))
            }
            replica = try options.open(checkpointInBackground: true)
        }
        let summary: SyncSummary
        let stuck: RejectedMutation?
        do {
            summary = try await Synchronizer().sync(replica, binding: binding, client: client) { progress in
                guard terminal else { return }
                FileHandle.standardError.write(Data("\rsyncing… pushed \(Wording.count(progress.pushed, "action")), pulled \(Wording.count(progress.pulledRecords, "record"))".utf8))
            }
            // Conflicts name the person and laptop behind a node: learn the ones not met yet. Best effort:
            // a server without the directory (an older version) or a cut connection leaves node ids shown.
            if (try? replica.conflictNodesWithoutNames().isEmpty) == false, let directory = try? await client.directory(token: binding.token) {
                try? replica.rememberNodeNames(Dictionary(directory.nodes.map { ($0.node, NodeName(user: $0.user, device: $0.device)) }) { first, _ in first })
            }
            stuck = try replica.rejections().first { $0.times >= RejectedMutation.stuckAfter && !$0.awaitsServerUpgrade }
            try await client.shutdown()
            try replica.close()
        } catch {
            try? await client.shutdown()
            try? replica.close()
            if terminal { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
            throw error
        }
        if terminal { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
        return Outcome(url: binding.url, summary: summary, snapshot: snapshot, stuck: stuck)
    }

    static func report(_ outcome: Outcome, json: Bool) {
        let summary = outcome.summary
        if json {
            JSONValue.object([
                "server": .string(outcome.url), "pushed": .int(Int64(summary.pushed)), "pulled": .int(Int64(summary.pulled)),
                "pulled_records": .int(Int64(summary.pulledRecords)), "pulled_field_changes": .int(Int64(summary.pulled)),
                "conflicts": .int(Int64(summary.conflicts)), "rejected": .int(Int64(summary.rejected.count)),
                "round_trips": .int(Int64(summary.roundTrips)),
                "snapshot_records": outcome.snapshot.map { .int(Int64($0.records)) } ?? .null,
                "files_dropped": .array(summary.filesDropped.map(JSONValue.string)),
                "server_restored": .bool(summary.serverRestored), "reoffered_records": .int(Int64(summary.reoffered)),
                "unknown_content": .array(summary.unknownContent.map(JSONValue.string)), "read_again": .array(summary.readAgain.map(JSONValue.string)),
                "decisions": .array(summary.decisions.map { decision in
                    .object(["number": .int(Int64(clamping: decision.counter)), "action": .string(decision.discard ? "discard" : "note"),
                             "note": .string(decision.note), "by": .string(decision.by), "at": .string(decision.at)])
                }),
                "stuck": outcome.stuck.map { stuck in
                    .object(["number": .int(Int64(clamping: stuck.counter)), "reason": .string(stuck.reason), "refused_times": .int(Int64(stuck.times)),
                             "since": stuck.since.map(JSONValue.string) ?? .null])
                } ?? .null,
            ]).printed()
        } else {
            if summary.serverRestored {
                print(t("cli.sync.restored", ["records": count(summary.reoffered, "record")]))
            }
            print(t("cli.sync.done", ["url": outcome.url, "pushed": count(summary.pushed, "action"), "pulled": count(summary.pulledRecords, "record"),
                                      "changes": count(summary.pulled, "field-change"), "conflicts": count(summary.conflicts, "conflict"),
                                      "rejected": String(summary.rejected.count)]))
            for rejection in summary.rejected.prefix(5) {
                print(t("cli.sync.rejected", ["number": String(rejection.counter), "reason": Wording.printable(rejection.reason)]))
            }
            for decision in summary.decisions {
                print(t(decision.discard ? "cli.sync.discarded" : "cli.sync.handed-back", ["number": String(decision.counter), "who": decision.text]))
            }
            if !summary.filesDropped.isEmpty {
                print(t("cli.sync.files-dropped", ["count": String(summary.filesDropped.count),
                                                   "ids": summary.filesDropped.map { String($0.prefix(8)) }.joined(separator: ", ")]))
            }
            if !summary.readAgain.isEmpty {
                print(t("cli.sync.read-again", ["names": summary.readAgain.joined(separator: ", ")]))
            }
            if !summary.unknownContent.isEmpty {
                print(t("cli.sync.unknown", ["names": summary.unknownContent.joined(separator: ", ")]))
            }
            if let stuck = outcome.stuck {
                print(t("cli.sync.stuck", ["number": String(stuck.counter), "times": String(stuck.times),
                                           "since": stuck.since.map { t("cli.sync.stuck-since", ["time": $0]) } ?? "",
                                           "reason": Wording.printable(stuck.reason)]))
            }
        }
    }
}
