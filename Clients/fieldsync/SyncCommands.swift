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
        discussion: t("cli.enroll.discussion"))

    @OptionGroup var options: CommonOptions
    @Argument(help: ArgumentHelp(t("cli.enroll.url-help"))) var url: String
    @Option(help: ArgumentHelp(t("cli.enroll.code-help"))) var code: String
    @Option(help: ArgumentHelp(t("cli.enroll.ca-help"))) var ca: String
    @Flag(name: .customLong("new-node"), help: ArgumentHelp(t("cli.enroll.new-node-help")))
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
        var binding = ServerBinding(url: url, token: response.token, device: response.device, user: response.user, serverNode: response.serverNode)
        binding.deviceName = ProcessInfo.processInfo.hostName
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
        discussion: t("cli.sync.discussion"))

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
                    let line = total.map { t("cli.sync.snapshot-progress-of", ["mib": String(received >> 20), "percent": String(min(100, received * 100 / max($0, 1))),
                                                                                "total": String($0 >> 20)]) }
                        ?? t("cli.sync.snapshot-progress", ["mib": String(received >> 20)])
                    FileHandle.standardError.write(Data("\r\(line)".utf8))
                }
                if terminal { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
                if !options.json { print(t("cli.sync.snapshot", ["records": count(snapshot?.records ?? 0, "record"), "url": binding.url])) }
            } catch {
                if terminal { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
                FileHandle.standardError.write(Data((t("cli.sync.no-snapshot", ["reason": (error as? SyncError).map(said) ?? String(describing: error)]) + "\n").utf8))
            }
            replica = try options.open(checkpointInBackground: true)
        }
        let summary: SyncSummary
        let stuck: RejectedMutation?
        do {
            summary = try await Synchronizer().sync(replica, binding: binding, client: client) { progress in
                guard terminal else { return }
                FileHandle.standardError.write(Data(("\r" + t("cli.sync.progress", ["pushed": count(progress.pushed, "action"), "pulled": count(progress.pulledRecords, "record")])).utf8))
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
                "taken_back_records": .int(Int64(summary.takenBack)), "server_copy_pending": .bool(summary.serverCopyPending),
                "comparison": summary.comparison.map { comparison -> JSONValue in
                    switch comparison {
                    case .identical: return .object(["identical": .bool(true)])
                    case .notNarrowed: return .object(["identical": .null])
                    case .repaired(let taken, let offered):
                        return .object(["identical": .bool(false), "taken_records": .int(Int64(taken)), "offered_records": .int(Int64(offered))])
                    }
                } ?? .null,
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
                print(t("cli.sync.rejected", ["number": String(rejection.counter), "reason": said(rejection)]))
            }
            for decision in summary.decisions {
                print(t(decision.discard ? "cli.sync.discarded" : "cli.sync.handed-back",
                        ["number": String(decision.counter), "decision": decided(by: decision.by, at: decision.at, note: decision.note)]))
            }
            if summary.takenBack > 0 { print(t("cli.sync.taken-back", ["records": count(summary.takenBack, "record")])) }
            if summary.serverCopyPending { print(t("cli.sync.copy-pending")) }
            switch summary.comparison {
            case .identical: print(t("cli.sync.compared-identical"))
            case .notNarrowed: print(t("cli.sync.compared-not-narrowed"))
            case .repaired(let taken, let offered):
                print(t("cli.sync.compared-repaired", ["taken": count(taken, "record"), "offered": count(offered, "record")]))
            case nil: break
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
                                           "since": stuck.since.map { t("cli.sync.stuck-since", ["time": Timestamp(iso: $0).map { texts.time($0) } ?? $0]) } ?? "",
                                           "reason": said(stuck)]))
            }
        }
    }
}
