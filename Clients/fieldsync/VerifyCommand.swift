import ArgumentParser
import FieldSyncClient
import FieldSyncLocalization
import FieldSyncModel
import FieldSyncStore
import Foundation

/// `fieldsync verify [--server]`: the replica checked on its own, or against the server's copy.
struct VerifyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: t("cli.verify.abstract"),
        discussion: t("help.without-server-exits-0-when.b57b"))

    @OptionGroup var options: CommonOptions
    @Flag(name: .long, help: ArgumentHelp(t("help.compare-with-the-server-s.0651")))
    var server = false
    @Flag(name: .customLong("dry-run"), help: ArgumentHelp(t("help.with-server-report-what-differs.f588")))
    var dryRun = false

    func validate() throws {
        if dryRun && !server { throw ValidationError(t("cli.verify.dry-run-alone")) }
    }

    func run() async throws {
        let replica = try options.open()
        let problems = try replica.verify()
        guard server else {
            try replica.close()
            if options.json {
                JSONValue.object(["ok": .bool(problems.isEmpty), "problems": .array(problems.map(JSONValue.string))]).printed()
            } else if problems.isEmpty {
                print(t("cli.verify.ok"))
            }
            guard problems.isEmpty else {
                if !options.json { for problem in problems { FileHandle.standardError.write(Data("\(problem)\n".utf8)) } }
                throw ExitCode.failure
            }
            return
        }
        guard problems.isEmpty else {
            try replica.close()
            for problem in problems { FileHandle.standardError.write(Data("\(problem)\n".utf8)) }
            throw InputError(t("cli.verify.replica-fails"))
        }
        try replica.close()
        let lock = try HomeOption.lockForSync(options.location.folder)
        defer { close(lock) }
        guard let (binding, caPEM) = try ServerBinding.load(home: options.location.folder) else {
            throw InputError(t("cli.sync.not-enrolled"))
        }
        let synced = try options.open(checkpointInBackground: true)
        let client = try SyncClient(url: binding.url, caPEM: caPEM)
        let verification: ServerVerification
        do {
            verification = try await ServerVerifier.run(synced, replicaPath: options.location.databasePath, binding: binding, client: client,
                                                        repair: !dryRun)
            try await client.shutdown()
            try synced.close()
        } catch {
            try? await client.shutdown()
            try? synced.close()
            throw error
        }
        let refused = verification.after?.rejected ?? []
        if options.json {
            printJSON(verification, url: binding.url, refused: refused)
        } else {
            describe(verification, url: binding.url, refused: refused)
        }
        if !refused.isEmpty || (dryRun && !verification.drift.isIdentical) { throw ExitCode.failure }
    }

    private func describe(_ verification: ServerVerification, url: String, refused: [RejectedMutation]) {
        let drift = verification.drift
        if verification.before.pushed > 0 { print(t("cli.verify.sent-first", ["actions": count(verification.before.pushed, "action")])) }
        if drift.isIdentical {
            print(t("cli.verify.identical", ["server": url, "records": count(drift.compared, "record")]))
        } else {
            print(t("cli.verify.differed", ["n": String(drift.records.count), "records": count(drift.compared, "record"), "server": url]))
            for record in drift.records.prefix(20) {
                print(t("cli.verify.difference", ["kind": texts.kind(record.key.table), "id": String(record.key.record.prefix(8)), "what": Self.describe(record)]))
            }
            if drift.records.count > 20 { print(t("cli.verify.more", ["records": count(drift.records.count - 20, "record")])) }
        }
        if let digest = drift.digest, digest.differing > 0 {
            print(t("cli.verify.by-digest", ["groups": String(digest.differing), "records": count(digest.recordsRead, "record")]))
        }
        if !drift.notCompared.isEmpty {
            print(t("cli.verify.not-compared", ["kinds": drift.notCompared.map { texts.kind($0) }.joined(separator: t("list.separator"))]))
        }
        if drift.waiting > 0 {
            print(t("cli.verify.waiting", ["actions": count(drift.waiting, "action")]))
        }
        if let repair = verification.repair {
            var parts = [t("cli.verify.repaired", ["taken": count(repair.taken, "record"), "offered": count(repair.offered, "record")])]
            if repair.notOffered > 0 { parts.append(t("cli.verify.not-offered", ["records": count(repair.notOffered, "record")])) }
            if repair.conflicts > 0 { parts.append(t("cli.verify.conflicts", ["conflicts": count(repair.conflicts, "conflict")])) }
            print(parts.joined(separator: t("list.semicolon")) + t("list.end"))
            for rejection in refused.prefix(5) {
                print(t("cli.verify.refused", ["number": String(rejection.counter), "reason": said(rejection)]))
            }
        } else if dryRun && !drift.isIdentical {
            print(t("cli.verify.dry-run"))
        }
    }

    /// What differs in one record, in a person's words.
    static func describe(_ record: RecordDrift) -> String {
        if record.here == nil { return t("cli.verify.missing-here") }
        if record.server == nil { return t("cli.verify.missing-on-server") }
        let schema = record.key.table.schema
        func named(_ drift: FieldDrift) -> String {
            record.fields.filter { $0.drift == drift }.map { texts.field(schema.fields[$0.index].name, of: record.key.table) }
                .joined(separator: t("list.separator"))
        }
        var parts: [String] = []
        for (drift, key) in [(FieldDrift.replicaLacks, "cli.verify.newer-on-server"), (.serverLacks, "cli.verify.newer-here"),
                             (.sameWriteDiffers, "cli.verify.changed-outside")] {
            let fields = named(drift)
            if !fields.isEmpty { parts.append(t(key, ["fields": fields])) }
        }
        return parts.joined(separator: t("list.semicolon"))
    }

    private func printJSON(_ verification: ServerVerification, url: String, refused: [RejectedMutation]) {
        let drift = verification.drift
        let records = drift.records.map { record -> JSONValue in
            let schema = record.key.table.schema
            let state = record.here == nil ? "missing_here" : record.server == nil ? "missing_on_server" : "differs"
            return .object([
                "table": .string(record.key.table.rawValue), "record": .string(record.key.record), "state": .string(state),
                "fields": .array(record.fields.map { .object(["field": .string(schema.fields[$0.index].name), "drift": .string($0.drift.rawValue)]) }),
            ])
        }
        JSONValue.object([
            "server": .string(url), "identical": .bool(drift.isIdentical), "compared": .int(Int64(drift.compared)),
            "sent_first": .int(Int64(verification.before.pushed)), "waiting": .int(Int64(drift.waiting)), "differences": .array(records),
            "not_compared": .array(drift.notCompared.map { .string($0.rawValue) }),
            "by_digest": drift.digest.map { .object(["differing_buckets": .int(Int64($0.differing)), "records_read": .int(Int64($0.recordsRead))]) } ?? .null,
            "repair": verification.repair.map { repair in
                .object(["taken": .int(Int64(repair.taken)), "offered": .int(Int64(repair.offered)), "not_offered": .int(Int64(repair.notOffered)),
                         "conflicts": .int(Int64(repair.conflicts)),
                         "refused": .array(refused.map { .object(["number": .int(Int64(clamping: $0.counter)), "reason": .string($0.reason)]) })])
            } ?? .null,
        ]).printed()
    }
}
