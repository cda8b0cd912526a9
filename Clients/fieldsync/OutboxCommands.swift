import ArgumentParser
import FieldSyncClient
import FieldSyncLocalization
import FieldSyncModel
import FieldSyncStore
import Foundation

/// `fieldsync outbox`: what waits to be sent, and what a server refused and why.
struct OutboxCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "outbox",
        abstract: t("cli.outbox.abstract"),
        discussion: t("cli.outbox.discussion", ["syncs": String(RejectedMutation.stuckAfter)]),
        subcommands: [List.self, Show.self, Retry.self, Discard.self, Discarded.self],
        defaultSubcommand: List.self
    )

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: t("help.list-the-waiting-actions-oldest.8244"))

        @OptionGroup var options: CommonOptions

        func run() throws {
            let replica = try options.open()
            let entries = try replica.outbox()
            let refusals = Dictionary(try replica.rejections().map { ($0.counter, $0) }) { first, _ in first }
            if options.json {
                return JSONValue.array(entries.map { Self.json($0, refusal: refusals[$0.counter]) }).printed()
            }
            var table = TextTable(columns("counter", "typed-at", "changes", "state"))
            for mutation in entries {
                table.add(String(mutation.counter), OutboxCommand.typedAtShown(mutation), OutboxCommand.summary(mutation),
                          refusals[mutation.counter].map(OutboxCommand.state) ?? t("cli.outbox.waiting"))
            }
            table.printed(empty: t("cli.outbox.empty"))
            if !refusals.isEmpty {
                print(t("cli.outbox.refused", ["actions": count(refusals.count, "action")]))
            }
        }

        static func json(_ mutation: Mutation, refusal: RejectedMutation?) -> JSONValue {
            .object([
                "number": .int(Int64(clamping: mutation.counter)), "typed_at": .string(OutboxCommand.typedAt(mutation)),
                "records": .int(Int64(Set(mutation.changes.map { RecordKey(table: $0.table, record: $0.record) }).count)),
                "field_changes": .int(Int64(mutation.changes.count)), "summary": .string(OutboxCommand.summary(mutation, Strings.load(.english))),
                "refused": refusal.map { .string($0.reason) } ?? .null,
                "refused_times": refusal.map { .int(Int64($0.times)) } ?? .null,
                "refused_since": refusal?.since.map(JSONValue.string) ?? .null,
                "handed_back": refusal?.note.map(JSONValue.string) ?? .null,
            ])
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: t("help.show-one-waiting-action-every.ba89"))

        @OptionGroup var options: CommonOptions
        @Argument(help: ArgumentHelp(t("help.the-action-s-number-as.c0f7"))) var number: UInt64

        func run() throws {
            let replica = try options.open()
            guard let mutation = try replica.outbox().first(where: { $0.counter == number }) else {
                throw StoreError.notFound(t("cli.outbox.no-such", ["number": String(number)]))
            }
            let refused = try replica.rejections().first { $0.counter == number }
            if options.json {
                var object = List.json(mutation, refusal: refused)
                if case .object(var fields) = object {
                    fields["changes"] = .array(mutation.changes.map { change in
                        .object(["table": .string(change.table.rawValue), "record": .string(change.record), "field": .string(change.field),
                                 "value": JSONValue(change.value)])
                    })
                    object = .object(fields)
                }
                return object.printed()
            }
            print(t(mutation.user == nil ? "cli.outbox.action" : "cli.outbox.action-by",
                    ["number": String(mutation.counter), "time": OutboxCommand.typedAtShown(mutation), "user": mutation.user ?? ""]))
            print(refused.map { "  " + OutboxCommand.state($0, t("cli.outbox.refused-by-server")) } ?? "  " + t("cli.outbox.waiting-long"))
            var table = TextTable(columns("record", "field", "value"))
            for change in mutation.changes {
                let label = texts.has("field.\(change.table.rawValue).\(change.field)") ? texts.field(change.field, of: change.table) : change.field
                let value = change.value == .null ? change.value.description
                    : change.table.schema.spec(change.field).map { shown(change.value, as: $0.type) } ?? change.value.description
                table.add("\(texts.kind(change.table)) \(change.record.prefix(8))", label, value)
            }
            table.printed(empty: "")
        }
    }

    /// A refused action's state, in a person's words.
    /// In a table: short, so that the reason shows.
    static func state(_ refusal: RejectedMutation) -> String {
        t(refusal.times > 1 ? "cli.outbox.state-times" : "cli.outbox.state", ["times": String(refusal.times), "reason": said(refusal)])
            + (refusal.note.map { t("cli.outbox.state-note", ["note": decided($0)]) } ?? "")
    }

    static func state(_ refusal: RejectedMutation, _ word: String) -> String {
        let times = refusal.times > 1
            ? t("cli.outbox.times", ["times": String(refusal.times), "since": refusal.since.map { t("cli.outbox.times-since", ["time": Timestamp(iso: $0).map { texts.time($0) } ?? $0]) } ?? ""]) : ""
        return word + times + t("punctuation.colon") + said(refusal)
            + (refusal.note.map { "\n" + t("cli.status.handed-back", ["note": decided($0)]).dropFirst(4) } ?? "")
    }

    struct Retry: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: t("help.send-refused-actions-again-now.7aa4"),
            discussion: t("help.without-a-number-every-refused.04f5"))

        @OptionGroup var options: CommonOptions
        @Argument(help: ArgumentHelp(t("help.the-action-s-number-as.b81e"))) var number: UInt64?

        func run() async throws {
            let replica = try options.open()
            let refused = try replica.rejections().filter { number == nil || $0.counter == number }
            if let number, refused.isEmpty {
                let waiting = try replica.outbox().contains { $0.counter == number }
                try replica.close()
                throw StoreError.notFound(t(waiting ? "cli.outbox.not-refused" : "cli.outbox.no-such", ["number": String(number)]))
            }
            try replica.close()
            let outcome = try await SyncCommand.perform(options) { try $0.restartRefusalCounts(refused.map(\.counter)) }
            let after = try options.open()
            let still = Dictionary(try after.rejections().map { ($0.counter, $0) }) { first, _ in first }
            try after.close()
            if options.json {
                return JSONValue.object([
                    "synced": .bool(true), "pushed": .int(Int64(outcome.summary.pushed)),
                    "actions": .array(refused.map { entry in
                        .object(["number": .int(Int64(clamping: entry.counter)), "accepted": .bool(still[entry.counter] == nil),
                                 "refused": still[entry.counter].map { .string($0.reason) } ?? .null])
                    }),
                ]).printed()
            }
            SyncCommand.report(outcome, json: false)
            if refused.isEmpty { print(t("cli.outbox.none-refused")) }
            for entry in refused {
                if let again = still[entry.counter] {
                    print(t("cli.outbox.refused-again", ["number": String(entry.counter), "reason": said(again)]))
                } else {
                    print(t("cli.outbox.accepted", ["number": String(entry.counter)]))
                }
            }
        }
    }

    struct Discard: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: t("help.give-up-a-waiting-action.d0dc"),
            discussion: t("help.the-fields-that-still-hold.6fa8"))

        @OptionGroup var options: CommonOptions
        @Argument(help: ArgumentHelp(t("help.the-action-s-number-as.c0f7"))) var number: UInt64
        @Flag(name: .customLong("offline"), help: ArgumentHelp(t("help.do-not-contact-the-server.88d4"))) var offline = false

        func run() async throws {
            // Not while a sync runs: it may be sending this very action.
            let lock = try HomeOption.lockForSync(options.location.folder)
            defer { close(lock) }
            let replica = try options.open()
            let report: DiscardReport
            do {
                report = try replica.discard(counter: number, at: TimeInput.now().description)
                try replica.close()
            } catch {
                try? replica.close()
                throw error
            }
            var note: String?
            var verification: ServerVerification?
            var serverHadIt = false
            if report.wasOffer {
                // Work this laptop holds, offered back: its values stay, nothing to take back.
            } else if !offline, let (binding, caPEM) = try ServerBinding.load(home: options.location.folder) {
                let synced = try options.open(checkpointInBackground: true)
                let client = try SyncClient(url: binding.url, caPEM: caPEM)
                do {
                    // Only the records the action wrote: the server's copy of them comes back, nothing else is touched.
                    verification = try await ServerVerifier.run(synced, replicaPath: options.location.databasePath, binding: binding, client: client,
                                                                repair: true, only: Set(report.records))
                    // A server that had taken the action already (its acknowledgement lost) gave it back: it stays.
                    serverHadIt = try discardedChanges(number, in: synced).contains { change in
                        try synced.record(change.table, change.record)?.stamp(change.field)?.isSameWrite(as: change.stamp) == true
                    }
                } catch {
                    note = t("cli.outbox.unreachable", ["error": "\(error)"])
                }
                try? await client.shutdown()
                try? synced.close()
            } else if !offline {
                note = t("cli.outbox.not-enrolled")
            }
            if options.json {
                return JSONValue.object([
                    "discarded": .int(Int64(clamping: number)), "fields_emptied": .int(Int64(report.fieldsEmptied)),
                    "fields_restored": .int(Int64(report.fieldsRestored)), "records_removed": .int(Int64(report.recordsRemoved)),
                    "was_offer": .bool(report.wasOffer), "server_had_it": .bool(serverHadIt),
                    "taken_from_server": verification.map { .int(Int64($0.repair?.taken ?? 0)) } ?? .null,
                    "note": note.map(JSONValue.string) ?? .null,
                ]).printed()
            }
            if report.wasOffer {
                print(t("cli.outbox.discarded-offer", ["number": String(number)]))
            } else if report.fieldsEmptied + report.fieldsRestored == 0 {
                print(t("cli.outbox.discarded-nothing", ["number": String(number)]))
            } else {
                var parts: [String] = []
                if report.fieldsEmptied > 0 { parts.append(t("cli.outbox.fields-emptied", ["fields": count(report.fieldsEmptied, "field")])) }
                if report.fieldsRestored > 0 { parts.append(t("cli.outbox.fields-restored", ["fields": count(report.fieldsRestored, "field")])) }
                if report.recordsRemoved > 0 { parts.append(t("cli.outbox.records-removed", ["records": count(report.recordsRemoved, "record")])) }
                print(t("cli.outbox.discarded-parts", ["number": String(number), "parts": parts.joined(separator: t("list.separator"))]))
            }
            if serverHadIt {
                print(t("cli.outbox.server-had-it"))
            } else if let taken = verification?.repair?.taken, taken > 0 {
                print(t("cli.outbox.took-back", ["records": count(taken, "record")]))
            }
            if let note { print(t("cli.note", ["note": note])) }
        }

        private func discardedChanges(_ number: UInt64, in replica: Replica) throws -> [FieldChange] {
            try replica.discarded().last { $0.counter == number }?.mutation.changes ?? []
        }
    }

    struct Discarded: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: t("help.list-the-actions-discarded-on.cb11"))

        @OptionGroup var options: CommonOptions

        func run() throws {
            let replica = try options.open()
            let entries = try replica.discarded()
            try replica.close()
            if options.json {
                return JSONValue.array(entries.map { entry in
                    .object(["number": .int(Int64(clamping: entry.counter)), "discarded_at": .string(entry.discardedAt),
                             "typed_at": .string(OutboxCommand.typedAt(entry.mutation)), "summary": .string(OutboxCommand.summary(entry.mutation, Strings.load(.english))),
                             "refused": entry.refusal.map(JSONValue.string) ?? .null,
                             "decided": entry.decided.map(JSONValue.string) ?? .null,
                             "changes": .array(entry.mutation.changes.map { change in
                                 .object(["table": .string(change.table.rawValue), "record": .string(change.record), "field": .string(change.field),
                                          "value": JSONValue(change.value)])
                             })])
                }).printed()
            }
            var table = TextTable(columns("counter", "typed-at", "discarded-at", "changes", "refused", "decided-by"))
            for entry in entries {
                table.add(String(entry.counter), OutboxCommand.typedAtShown(entry.mutation), Timestamp(iso: entry.discardedAt).map { texts.instant($0) } ?? entry.discardedAt,
                          OutboxCommand.summary(entry.mutation),
                          entry.refusal.map { texts.message(entry.refusalKey, entry.refusalValues, otherwise: Wording.printable($0)) } ?? "-",
                          entry.decided.map(decided) ?? t("cli.outbox.this-laptop"))
            }
            table.printed(empty: t("cli.outbox.none-discarded"))
        }
    }

    /// When the action was typed, in local time (its newest stamp).
    static func typedAt(_ mutation: Mutation) -> String {
        let newest = mutation.changes.map(\.hlc).max() ?? .zero
        return Timestamp(epochSeconds: Int64(clamping: newest.milliseconds / 1000), offsetMinutes: TimeInput.localOffsetMinutes).description
    }

    /// `typedAt` as the reader's language writes an instant (ISO 8601 in English, as `--json` has it).
    static func typedAtShown(_ mutation: Mutation) -> String {
        Timestamp(iso: typedAt(mutation)).map { texts.instant($0) } ?? typedAt(mutation)
    }

    /// What the action changes, in a person's words: "visit 3f2a9c1e (4 fields)", at most three records named.
    /// In `texts`' language on screen; `--json` passes English, which never changes.
    static func summary(_ mutation: Mutation, _ texts: Strings = texts) -> String {
        func t(_ key: String, _ values: [String: String]) -> String { texts(key, values) }
        func count(_ number: Int, _ noun: String) -> String { texts.count(number, noun) }
        var order: [RecordKey] = [], fields: [RecordKey: Int] = [:]
        for change in mutation.changes {
            let key = RecordKey(table: change.table, record: change.record)
            if fields[key] == nil { order.append(key) }
            fields[key, default: 0] += 1
        }
        let named = order.prefix(3).map {
            t("cli.outbox.summary-record", ["kind": texts.kind($0.table), "id": String($0.record.prefix(8)), "fields": count(fields[$0] ?? 0, "field")])
        }
        let more = order.count > 3 ? t("cli.outbox.summary-more", ["records": count(order.count - 3, "record")]) : ""
        return named.joined(separator: texts("list.separator")) + more
    }
}
