import ArgumentParser
import FieldSyncLocalization
import FieldSyncModel
import FieldSyncStore
import Foundation

/// What faults and complaints share: notes, workflow actions, edits, list and
/// show; what differs between them is read from their `CaseType`.
enum Cases {
    /// Applies a workflow action to the record named by `prefix`, with an optional progress note.
    static func perform(_ action: CaseAction, on type: CaseType, _ prefix: String,
                        note: String?, at: String, options: CommonOptions) throws {
        let replica = try options.open()
        let record = try replica.require(type.kind, prefix)
        let fields: [(String, FieldValue)]
        do {
            fields = try CaseWorkflow.fields(for: action, on: type.kind, current: record.values)
        } catch {
            throw StoreError.invalid(error)
        }
        var edits = [RecordEdit(type.kind, record.id, fields)]
        if let note {
            var generator = SystemRandomNumberGenerator()
            edits.append(RecordEdit(type.noteKind, RecordID.make(using: &generator), [
                (type.noteParent, .text(record.id)), ("at", .text(at)),
                ("author", try replica.userName().fieldValue ?? .null), ("text", .text(note)),
            ]))
        }
        try replica.write(edits)
        let updated = try replica.require(type.kind, record.id)
        if options.json { return updated.json.printed() }
        print(t("cli.case.state", ["kind": texts.kind(type.kind), "id": updated.shortID, "state": updated.statusText]))
        if case .feedback(let given) = action, let first = updated["first_feedback_at"].text, first != given {
            print(t("cli.case.feedback-kept", ["time": Timestamp(iso: first).map { texts.time($0) } ?? first]))
        }
    }

    /// Writes the fields an `edit` gave; refuses an edit that gives none.
    static func edit(_ type: CaseType, _ prefix: String, _ fields: [(String, FieldValue)], options: CommonOptions, offered: String) throws {
        guard !fields.isEmpty else { throw InputError(t("cli.error.nothing-to-change", ["options": offered])) }
        let replica = try options.open()
        let record = try replica.require(type.kind, prefix)
        try replica.write([RecordEdit(type.kind, record.id, fields)])
        try printUpdated(replica.require(type.kind, record.id), json: options.json)
    }

    static func addNote(to type: CaseType, _ prefix: String, text: String, at: String, options: CommonOptions) throws {
        let replica = try options.open()
        let record = try replica.require(type.kind, prefix)
        let id = try replica.create(type.noteKind, [
            (type.noteParent, .text(record.id)), ("at", .text(try TimeInput.parse(at, option: "--at"))),
            ("author", try replica.userName().fieldValue ?? .null), ("text", .text(text)),
        ])
        try printCreated(replica.require(type.noteKind, id), json: options.json)
    }

    static func list(_ type: CaseType, openOnly: Bool, customer: String?, options: CommonOptions) throws {
        let replica = try options.open()
        let owner = try customer.map { try replica.require(.customer, $0) }
        let records = try (owner.map { try replica.records(type.kind, where: "customer", equals: .text($0.id)) } ?? replica.records(type.kind))
            .filter { !openOnly || (WorkflowStatus($0["status"].description, kind: type.kind)?.isOpen ?? true) }
            .sorted { sortKey($0[type.openedField]) > sortKey($1[type.openedField]) }
        if options.json { return JSONValue.array(records.map(\.json)).printed() }
        let names = try customerNames(replica)
        var table = TextTable([t("column.id"), t("column.\(type.kind.rawValue).opened"), t("column.customer"), t("column.status"),
                               t("column.first-feedback"), t("column.\(type.kind.rawValue).done"), texts.field(type.subjectField, of: type.kind)])
        for record in records {
            let escalated = type.escalates && record["escalated_at"] != .null ? " ⚑" : ""
            table.add(record.shortID, shortTime(record[type.openedField]), names[record["customer"].description] ?? "?",
                      record.statusText + escalated, shortTime(record["first_feedback_at"]),
                      shortTime(record[type.doneField]), record[type.subjectField].description)
        }
        table.printed(empty: t(openOnly ? "cli.case.none-open" : "cli.case.none", ["kind": texts.kind(type.kind)]))
    }

    static func show(_ type: CaseType, _ prefix: String, options: CommonOptions) throws {
        let replica = try options.open()
        let record = try replica.require(type.kind, prefix)
        let notes = try replica.records(type.noteKind, where: type.noteParent, equals: .text(record.id))
            .sorted { sortKey($0["at"]) < sortKey($1["at"]) }
        if options.json { return record.json.merging(["notes": .array(notes.map(\.json))]).printed() }
        printDetails(record, title: texts.kind(type.kind))
        if let customer = try replica.record(.customer, record["customer"].description) {
            print(t("cli.case.customer", ["name": customer["name"].description, "level": customer["level"].text.map { texts.choice($0) } ?? ""]))
        }
        print("\n" + t("cli.case.notes"))
        var table = TextTable(columns("at", "author", "text"))
        for note in notes { table.add(shortTime(note["at"]), note["author"].description, note["text"].description) }
        table.printed(empty: t("cli.none"))
    }
}

/// Options every workflow action takes.
struct ActionOptions: ParsableArguments {
    @OptionGroup var common: CommonOptions
    @Option(help: ArgumentHelp(t("cli.case.at-help"))) var at = "now"
    @Option(help: ArgumentHelp(t("cli.case.note-help"))) var note: String?

    func time() throws -> String { try TimeInput.parse(at, option: "--at") }
}
