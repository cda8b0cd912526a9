import ArgumentParser
import FieldSyncModel
import FieldSyncStore
import Foundation

/// `fieldsync outbox`: what waits to be sent, and what a server refused and why.
struct OutboxCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "outbox",
        abstract: "The actions waiting to be sent, and those a server refused with its reason: list, show.",
        discussion: """
            Every action typed on this laptop waits here until a server acknowledges it. One a server refuses \
            stays, with the reason, and is sent again at every sync (a refusal for something not synced yet, \
            such as a customer created on another laptop, passes once that arrives); it never holds back the \
            actions after it. 'fieldsync status' counts them.
            """,
        subcommands: [List.self, Show.self],
        defaultSubcommand: List.self
    )

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the waiting actions, oldest first, with what each changes and any refusal.")

        @OptionGroup var options: CommonOptions

        func run() throws {
            let replica = try options.open()
            let entries = try replica.outbox()
            let refusals = Dictionary(try replica.rejections().map { ($0.counter, $0.reason) }) { first, _ in first }
            if options.json {
                return JSONValue.array(entries.map { Self.json($0, refusal: refusals[$0.counter]) }).printed()
            }
            var table = TextTable("#", "typed at", "changes", "state")
            for mutation in entries {
                table.add(String(mutation.counter), OutboxCommand.typedAt(mutation), OutboxCommand.summary(mutation),
                          refusals[mutation.counter].map { "refused: \($0)" } ?? "waiting")
            }
            table.printed(empty: "Nothing waits to be sent.")
            if !refusals.isEmpty {
                print("\(Wording.count(refusals.count, "action")) refused by the server, sent again at every sync; 'fieldsync outbox show N' shows one.")
            }
        }

        static func json(_ mutation: Mutation, refusal: String?) -> JSONValue {
            .object([
                "number": .int(Int64(clamping: mutation.counter)), "typed_at": .string(OutboxCommand.typedAt(mutation)),
                "records": .int(Int64(Set(mutation.changes.map { RecordKey(table: $0.table, record: $0.record) }).count)),
                "field_changes": .int(Int64(mutation.changes.count)), "summary": .string(OutboxCommand.summary(mutation)),
                "refused": refusal.map(JSONValue.string) ?? .null,
            ])
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one waiting action: every field it sets, and the server's reason if it refused it.")

        @OptionGroup var options: CommonOptions
        @Argument(help: "The action's number, as 'fieldsync outbox' lists it.") var number: UInt64

        func run() throws {
            let replica = try options.open()
            guard let mutation = try replica.outbox().first(where: { $0.counter == number }) else {
                throw StoreError.notFound("no action #\(number) waits to be sent; list them with 'fieldsync outbox'")
            }
            let refusal = try replica.rejections().first { $0.counter == number }?.reason
            if options.json {
                var object = List.json(mutation, refusal: refusal)
                if case .object(var fields) = object {
                    fields["changes"] = .array(mutation.changes.map { change in
                        .object(["table": .string(change.table.rawValue), "record": .string(change.record), "field": .string(change.field),
                                 "value": JSONValue(change.value)])
                    })
                    object = .object(fields)
                }
                return object.printed()
            }
            print("Action #\(mutation.counter), typed at \(OutboxCommand.typedAt(mutation))\(mutation.user.map { " by \($0)" } ?? "")")
            print(refusal.map { "  refused by the server: \($0)" } ?? "  waiting to be sent")
            var table = TextTable("record", "field", "value")
            for change in mutation.changes {
                table.add("\(change.table.noun) \(change.record.prefix(8))", change.field, change.value.description)
            }
            table.printed(empty: "")
        }
    }

    /// When the action was typed, in local time (its newest stamp).
    static func typedAt(_ mutation: Mutation) -> String {
        let newest = mutation.changes.map(\.hlc).max() ?? .zero
        return Timestamp(epochSeconds: Int64(clamping: newest.milliseconds / 1000), offsetMinutes: TimeInput.localOffsetMinutes).description
    }

    /// What the action changes, in a person's words: "visit 3f2a9c1e (4 fields)", at most three records named.
    static func summary(_ mutation: Mutation) -> String {
        var order: [RecordKey] = [], fields: [RecordKey: Int] = [:]
        for change in mutation.changes {
            let key = RecordKey(table: change.table, record: change.record)
            if fields[key] == nil { order.append(key) }
            fields[key, default: 0] += 1
        }
        let named = order.prefix(3).map { "\($0.table.noun) \($0.record.prefix(8)) (\(Wording.count(fields[$0] ?? 0, "field")))" }
        let more = order.count > 3 ? ", and \(Wording.count(order.count - 3, "record")) more" : ""
        return named.joined(separator: ", ") + more
    }
}
