import ArgumentParser
import FieldSyncClient
import FieldSyncKPI
import FieldSyncLocalization
import FieldSyncModel
import FieldSyncProtocol
import FieldSyncStore
import Foundation

struct HistoryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "history",
        abstract: t("cli.history.abstract"),
        discussion: t("cli.history.discussion"))

    @OptionGroup var options: CommonOptions
    @Argument(help: ArgumentHelp(t("cli.history.id-help"))) var id: String
    @Option(help: ArgumentHelp(t("cli.history.table-help", ["tables": RecordKind.allCases.map(\.rawValue).joined(separator: ", ")]),
                               valueName: "table"))
    var table: String?
    @Option(help: ArgumentHelp(t("cli.history.field-help"))) var field: String?
    @Flag(help: ArgumentHelp(t("cli.offline-help"))) var offline = false

    func run() async throws {
        let replica = try options.open()
        let (kind, record) = try locate(replica)
        if let field, kind.schema.index(of: field) == nil {
            throw InputError(t("cli.history.no-field", ["kind": texts.kind(kind), "field": field, "fields": kind.schema.fields.map(\.name).joined(separator: ", ")]))
        }
        let bound = try ServerBinding.load(home: options.location.folder)
        // Named as the server names this laptop's work: the directory's name for it, else the name it enrolled under.
        let local = try replica.history(of: kind, record, me: bound.map { (person: $0.binding.user.name,
                                                                          device: $0.binding.deviceName ?? ProcessInfo.processInfo.hostName) })
        var history = local
        var note: String?
        if !offline, let (binding, caPEM) = bound {
            do {
                var answer = try await Self.fetch(kind, record, binding: binding, caPEM: caPEM)
                // What the server has not received yet: this laptop's writes still waiting.
                answer.entries += (local?.entries ?? []).filter { $0.outcome == .waiting }
                answer.entries.sort { (kind.schema.index(of: $0.field) ?? 0, $0.hlc, $0.node) < (kind.schema.index(of: $1.field) ?? 0, $1.hlc, $1.node) }
                history = answer
            } catch let error as SyncError where error.code == ErrorCode.notFound {
                note = t("cli.history.server-has-none", ["kind": texts.kind(kind), "id": record])
            } catch let error as SyncError {
                note = t("cli.local.server-unreachable", ["reason": said(error)])
            } catch is DecodingError {
                note = t("cli.local.server-not-understood")
            }
        } else if !offline {
            note = t("cli.local.not-enrolled")
        }
        guard var history else { throw StoreError.notFound(kind, id) }
        if let field { history = history.only(field: field) }
        if options.json {
            return try printJSON(history)
        }
        if let note { print(note) }
        print(history.text(offsetMinutes: TimeInput.localOffsetMinutes, texts), terminator: "")
    }

    /// The record's kind and full id, from `--table` or from the kinds this laptop holds it in.
    private func locate(_ replica: Replica) throws -> (RecordKind, String) {
        if let table {
            guard let kind = RecordKind(rawValue: table) ?? RecordKind.allCases.first(where: { $0.commandName == table }) else {
                throw InputError(t("cli.history.no-table", ["table": table, "tables": RecordKind.allCases.map(\.rawValue).joined(separator: ", ")]))
            }
            if let resolved = try? replica.resolve(kind, id) { return (kind, resolved) }
            guard RecordID.isValid(id) else { throw StoreError.notFound(kind, id) }
            return (kind, id)
        }
        let found = try replica.kinds(holding: id)
        guard let first = found.first else {
            throw StoreError.notFound("no record with an id starting '\(id)' on this laptop; for one it does not hold, give its full id and --table",
                                     text: ("cli.history.no-record", ["id": id]))
        }
        guard found.count == 1 else {
            throw InputError(t("cli.history.ambiguous", ["id": id, "tables": found.map(\.0.rawValue).joined(separator: ", ")]))
        }
        return first
    }

    private static func fetch(_ kind: RecordKind, _ record: String, binding: ServerBinding, caPEM: String) async throws -> RecordHistory {
        let client = try SyncClient(url: binding.url, caPEM: caPEM)
        do {
            let bytes = try await client.get("/v1/history", query: [("table", kind.rawValue), ("id", record)], token: binding.token)
            try await client.shutdown()
            return try JSONDecoder().decode(RecordHistory.self, from: Data(bytes))
        } catch {
            try? await client.shutdown()
            throw error
        }
    }
}
