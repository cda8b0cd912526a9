import ArgumentParser
import FieldSyncClient
import FieldSyncLocalization
import FieldSyncModel
import FieldSyncStore
import Foundation

struct ConflictsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "conflicts",
        abstract: t("cli.conflicts.abstract"),
        discussion: t("help.when-two-people-change-the.2f3c"),
        subcommands: [List.self, Show.self, Resolve.self],
        defaultSubcommand: List.self
    )

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: t("help.list-unresolved-conflicts.4786"))

        @OptionGroup var options: CommonOptions
        @Flag(help: ArgumentHelp(t("help.include-resolved-conflicts.70de"))) var all = false

        func run() throws {
            let replica = try options.open()
            let conflicts = try replica.records(.conflict)
                .filter { all || !$0["resolved"].bool }
                .sorted { $0["lost_hlc"].int ?? 0 < $1["lost_hlc"].int ?? 0 }
            let writers = try Writers(replica, home: options.location.folder)
            if options.json { return JSONValue.array(conflicts.map { writers.annotated($0) }).printed() }
            var table = TextTable(columns("id", "record", "field", "current-value", "lost-value", "lost-by", "lost-at", "resolved"))
            for conflict in conflicts {
                let current = try currentValue(of: conflict, in: replica)
                let kind = RecordKind(rawValue: conflict["table"].description)
                table.add(conflict.shortID, "\(kind.map { texts.kind($0) } ?? conflict["table"].description) \(conflict["record"].description.prefix(8))",
                          conflictFieldName(conflict), current.description, conflict["lost_value"].description,
                          writers.name(conflict["lost_node"].description), Writers.localTime(conflict["lost_hlc"]),
                          conflict["resolved"].bool ? t("cli.yes") : "")
            }
            table.printed(empty: t(all ? "cli.conflicts.none-all" : "cli.conflicts.none"))
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: t("help.show-a-conflict-the-value.b7cc"))

        @OptionGroup var options: CommonOptions
        @Argument(help: ArgumentHelp(t("help.conflict-id-or-a-unique.daa4"))) var conflict: String

        func run() throws {
            let replica = try options.open()
            let record = try replica.require(.conflict, conflict)
            let current = try currentValue(of: record, in: replica)
            let writers = try Writers(replica, home: options.location.folder)
            if options.json { return writers.annotated(record).merging(["current_value": JSONValue(current)]).printed() }
            let kind = RecordKind(rawValue: record["table"].description)
            print(t("cli.conflicts.title", ["id": record.id]))
            print(t("cli.conflicts.record", ["record": "\(kind.map { texts.kind($0) } ?? record["table"].description) \(record["record"].description)"]))
            print(t("cli.conflicts.field", ["field": conflictFieldName(record)]))
            print(t("cli.conflicts.current", ["value": current.description]))
            print(t("cli.conflicts.lost", ["value": record["lost_value"].description, "who": writers.name(record["lost_node"].description),
                                           "time": Writers.localTime(record["lost_hlc"])]))
            if record["kept_node"] != .null {
                print(t("cli.conflicts.kept", ["value": record["kept_value"].description, "who": writers.name(record["kept_node"].description),
                                               "time": Writers.localTime(record["kept_hlc"])]))
            }
            print(record["resolved"].bool
                  ? t(record["resolution"] == .null ? "cli.conflicts.resolved" : "cli.conflicts.resolved-as", ["resolution": record["resolution"].description])
                  : t("cli.conflicts.open", ["id": record.shortID]))
        }
    }

    struct Resolve: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: t("help.settle-a-conflict-keep-mine.e459"),
            discussion: t("help.mine-theirs-are-relative-to.cbdc"))

        @OptionGroup var options: CommonOptions
        @Argument(help: ArgumentHelp(t("help.conflict-id-or-a-unique.daa4"))) var conflict: String
        @Option(help: ArgumentHelp(t("help.mine-theirs-lost-or-kept.e0c0"))) var keep: String?
        @Option(help: ArgumentHelp(t("help.a-new-value-for-the.5da2"))) var value: String?

        func run() throws {
            let replica = try options.open()
            let record = try replica.require(.conflict, conflict)
            guard let table = RecordKind(rawValue: record["table"].description),
                  let spec = table.schema.spec(record["field"].description) else {
                throw InputError(t("cli.conflicts.unknown-field"))
            }
            let chosen: FieldValue
            let resolution: String
            switch (keep, value) {
            case (nil, nil), (.some, .some):
                throw InputError(t("cli.conflicts.keep-or-value"))
            case (nil, let text?):
                chosen = try parse(text, for: spec)
                resolution = "new value"
            case (let side?, nil):
                let me = try replica.identity()?.node.description
                let lostIsMine = record["lost_node"].description == me
                let keptIsMine = record["kept_node"].description == me
                switch try choice(side, option: "--keep", allowed: ["mine", "theirs", "lost", "kept"]) {
                case "lost": chosen = record["lost_value"]
                case "kept": chosen = record["kept_value"]
                case let mineOrTheirs:
                    guard lostIsMine != keptIsMine else {
                        throw InputError(t("cli.conflicts.not-mine"))
                    }
                    chosen = (mineOrTheirs == "mine") == lostIsMine ? record["lost_value"] : record["kept_value"]
                }
                resolution = "kept \(side)"
            }
            let siblings = try replica.records(.conflict, where: "record", equals: record["record"])
                .filter { $0["field"] == record["field"] && !$0["resolved"].bool }
            var edits = [RecordEdit(table, record["record"].description, [(spec.name, chosen)])]
            for sibling in Set(siblings.map(\.id)).union([record.id]).sorted() {
                edits.append(RecordEdit(.conflict, sibling, [("resolved", .int(1)), ("resolution", .text(resolution))]))
            }
            try replica.write(edits)
            if options.json { return try replica.require(.conflict, record.id).json.printed() }
            print(t("cli.conflicts.done", ["record": "\(texts.kind(table)) \(record["record"].description.prefix(8))", "field": conflictFieldName(record),
                                           "value": chosen.description]))
        }

        func parse(_ text: String, for spec: FieldSpec) throws -> FieldValue {
            switch spec.type {
            case .time: return .text(try TimeInput.parse(text, option: "--value"))
            case .date: return .text(try TimeInput.parseDate(text, option: "--value"))
            case .choice(let allowed): return .text(try choice(text, option: "--value", allowed: allowed))
            case .bool: return .int(try choice(text, option: "--value", allowed: ["yes", "no"]) == "yes" ? 1 : 0)
            case .int, .hours:
                guard let number = Int64(text) else { throw InputError(t("cli.conflicts.not-a-number", ["text": text])) }
                return .int(number)
            default: return .text(text)
            }
        }
    }
}

/// The field a conflict is about, by the glossary's name where it has one.
func conflictFieldName(_ conflict: StoredRecord) -> String {
    let field = conflict["field"].description
    guard let kind = RecordKind(rawValue: conflict["table"].description), texts.has("field.\(kind.rawValue).\(field)") else { return field }
    return texts.field(field, of: kind)
}

func currentValue(of conflict: StoredRecord, in replica: Replica) throws -> FieldValue {
    guard let table = RecordKind(rawValue: conflict["table"].description) else { return .null }
    return try replica.record(table, conflict["record"].description)?[conflict["field"].description] ?? .null
}

/// Who wrote a value, as a person reads it: "this device", "the server", "Li Wei
/// (li-wei-thinkpad)" from the server's directory, or the node id of a device
/// this laptop has not had named yet (the next sync asks the server).
struct Writers {
    let me: String?
    let server: String?
    let names: [String: NodeName]

    init(_ replica: Replica, home: String) throws {
        me = try replica.identity()?.node.description
        server = (try? ServerBinding.load(home: home))??.binding.serverNode.description
        names = Dictionary(try replica.nodeNames().map { ($0.key.description, $0.value) }) { first, _ in first }
    }

    func name(_ node: String) -> String {
        if node == me { return t("cli.writer.this-device") }
        if node == server { return t("cli.writer.server") }
        if let name = names[node] { return "\(name.user) (\(name.device))" }
        return t("cli.writer.device", ["node": node])
    }

    /// The record's JSON with `lost_by` and `kept_by` beside the node ids.
    func annotated(_ record: StoredRecord) -> JSONValue {
        var extra: [String: JSONValue] = ["lost_by": .string(name(record["lost_node"].description))]
        if record["kept_node"] != .null { extra["kept_by"] = .string(name(record["kept_node"].description)) }
        return record.json.merging(extra)
    }

    /// A stamp as local time, to the second (the stamp's clock is the writer's, corrected by its syncs).
    static func localTime(_ stamp: FieldValue) -> String {
        let hlc = HLC(rawValue: UInt64(bitPattern: stamp.int ?? 0))
        return texts.time(Timestamp(epochSeconds: Int64(hlc.milliseconds / 1000), offsetMinutes: TimeInput.localOffsetMinutes))
    }
}
