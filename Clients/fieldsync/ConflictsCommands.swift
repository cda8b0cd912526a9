import ArgumentParser
import FieldSyncClient
import FieldSyncModel
import FieldSyncStore
import Foundation

struct ConflictsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "conflicts",
        abstract: t("cli.conflicts.abstract"),
        discussion: t("help.when-two-people-change-the.2f3c"),
        subcommands: [List.self, Show.self, Resolve.self]
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
            var table = TextTable("id", "record", "field", "current value", "lost value", "lost by", "lost at", "resolved")
            for conflict in conflicts {
                let current = try currentValue(of: conflict, in: replica)
                table.add(conflict.shortID, "\(conflict["table"]) \(conflict["record"].description.prefix(8))",
                          conflict["field"].description, current.description, conflict["lost_value"].description,
                          writers.name(conflict["lost_node"].description), Writers.localTime(conflict["lost_hlc"]),
                          conflict["resolved"].bool ? "yes" : "")
            }
            table.printed(empty: all ? "No conflicts." : "No unresolved conflicts.")
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
            print("Conflict \(record.id)")
            print("  record:        \(kind?.noun ?? record["table"].description) \(record["record"].description)")
            print("  field:         \(record["field"])")
            print("  current value: \(current)")
            print("  lost value:    \(record["lost_value"])  (written by \(writers.name(record["lost_node"].description)) at \(Writers.localTime(record["lost_hlc"])))")
            if record["kept_node"] != .null {
                print("  kept value:    \(record["kept_value"])  (written by \(writers.name(record["kept_node"].description)) at \(Writers.localTime(record["kept_hlc"])))")
            }
            print("  resolved:      \(record["resolved"].bool ? "yes\(record["resolution"] == .null ? "" : " (\(record["resolution"]))")" : "no (fieldsync conflicts resolve \(record.shortID) --keep mine|theirs|lost|kept)")")
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
                throw StoreError.unsupported("this conflict concerns a field this version does not know")
            }
            let chosen: FieldValue
            let resolution: String
            switch (keep, value) {
            case (nil, nil), (.some, .some):
                throw InputError("give either --keep mine|theirs|lost|kept or --value VALUE")
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
                        throw InputError("neither value (or both) was written on this device; use --keep lost or --keep kept")
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
            print("Resolved: \(table.noun) \(record["record"].description.prefix(8)) \(spec.name) = \(chosen)")
        }

        func parse(_ text: String, for spec: FieldSpec) throws -> FieldValue {
            switch spec.type {
            case .time: return .text(try TimeInput.parse(text, option: "--value"))
            case .date: return .text(try TimeInput.parseDate(text, option: "--value"))
            case .choice(let allowed): return .text(try choice(text, option: "--value", allowed: allowed))
            case .bool: return .int(try choice(text, option: "--value", allowed: ["yes", "no"]) == "yes" ? 1 : 0)
            case .int, .hours:
                guard let number = Int64(text) else { throw InputError("--value: '\(text)' is not a whole number") }
                return .int(number)
            default: return .text(text)
            }
        }
    }
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
        if node == me { return "this device" }
        if node == server { return "the server" }
        if let name = names[node] { return "\(name.user) (\(name.device))" }
        return "device \(node)"
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
        return Timestamp(epochSeconds: Int64(hlc.milliseconds / 1000), offsetMinutes: TimeInput.localOffsetMinutes).description
    }
}
