import ArgumentParser
import FieldSyncModel
import FieldSyncStore
import Foundation

/// What faults and complaints share: notes, workflow actions, list and show.
enum Cases {
    static func noteKind(_ kind: RecordKind) -> RecordKind { kind == .fault ? .faultNote : .complaintNote }
    static func parentField(_ kind: RecordKind) -> String { kind == .fault ? "fault" : "complaint" }

    /// Applies a workflow action to the record named by `prefix`, with an optional progress note.
    static func perform(_ action: (StoredRecord) throws -> CaseAction, on kind: RecordKind, _ prefix: String,
                        note: String?, at: String, options: CommonOptions) throws {
        let replica = try options.open()
        let record = try replica.require(kind, prefix)
        let chosen = try action(record)
        let fields: [(String, FieldValue)]
        do {
            fields = try CaseWorkflow.fields(for: chosen, on: kind, current: record.values)
        } catch {
            throw StoreError.invalid(error)
        }
        var edits = [RecordEdit(kind, record.id, fields)]
        if let note {
            var generator = SystemRandomNumberGenerator()
            edits.append(RecordEdit(noteKind(kind), RecordID.make(using: &generator), [
                (parentField(kind), .text(record.id)), ("at", .text(at)),
                ("author", try replica.userName().fieldValue ?? .null), ("text", .text(note)),
            ]))
        }
        try replica.write(edits)
        let updated = try replica.require(kind, record.id)
        if options.json { return updated.json.printed() }
        print("\(kind.noun.capitalized) \(updated.shortID): \(updated.statusText)")
        if case .feedback(let given) = chosen, let first = updated["first_feedback_at"].text, first != given {
            print("First feedback stays at \(first) (the earliest counts).")
        }
    }

    static func addNote(to kind: RecordKind, _ prefix: String, text: String, at: String, options: CommonOptions) throws {
        let replica = try options.open()
        let record = try replica.require(kind, prefix)
        let id = try replica.create(noteKind(kind), [
            (parentField(kind), .text(record.id)), ("at", .text(try TimeInput.parse(at, option: "--at"))),
            ("author", try replica.userName().fieldValue ?? .null), ("text", .text(text)),
        ])
        try printCreated(replica.require(noteKind(kind), id), json: options.json)
    }

    static func list(_ kind: RecordKind, openOnly: Bool, customer: String?, options: CommonOptions) throws {
        let replica = try options.open()
        let owner = try customer.map { try replica.require(.customer, $0) }
        let timeField = kind == .fault ? "reported_at" : "received_at"
        let records = try (owner.map { try replica.records(kind, where: "customer", equals: .text($0.id)) } ?? replica.records(kind))
            .filter { !openOnly || (WorkflowStatus($0["status"].description, kind: kind)?.isOpen ?? true) }
            .sorted { sortKey($0[timeField]) > sortKey($1[timeField]) }
        if options.json { return JSONValue.array(records.map(\.json)).printed() }
        let names = try customerNames(replica)
        var table = kind == .fault
            ? TextTable("id", "reported", "customer", "status", "first feedback", "restored", "symptom")
            : TextTable("id", "received", "customer", "status", "first feedback", "resolved", "content")
        for record in records {
            let escalated = kind == .complaint && record["escalated_at"] != .null ? " ⚑" : ""
            table.add(record.shortID, shortTime(record[timeField]), names[record["customer"].description] ?? "?",
                      record.statusText + escalated, shortTime(record["first_feedback_at"]),
                      shortTime(record[kind == .fault ? "restored_at" : "resolved_at"]),
                      record[kind == .fault ? "symptom" : "content"].description)
        }
        table.printed(empty: "No \(openOnly ? "open " : "")\(kind.noun)s.")
    }

    static func show(_ kind: RecordKind, _ prefix: String, options: CommonOptions) throws {
        let replica = try options.open()
        let record = try replica.require(kind, prefix)
        let notes = try replica.records(noteKind(kind), where: parentField(kind), equals: .text(record.id))
            .sorted { sortKey($0["at"]) < sortKey($1["at"]) }
        if options.json { return record.json.merging(["notes": .array(notes.map(\.json))]).printed() }
        printDetails(record, title: kind.noun.capitalized)
        if let customer = try replica.record(.customer, record["customer"].description) {
            print("  customer name: \(customer["name"]) (\(customer["level"]))")
        }
        print("\nProgress notes")
        var table = TextTable("at", "author", "text")
        for note in notes { table.add(shortTime(note["at"]), note["author"].description, note["text"].description) }
        table.printed(empty: "  none")
    }
}

/// Options every workflow action takes.
struct ActionOptions: ParsableArguments {
    @OptionGroup var common: CommonOptions
    @Option(help: "When it happened (ISO 8601 or now).") var at = "now"
    @Option(help: "Also add this progress note.") var note: String?

    func time() throws -> String { try TimeInput.parse(at, option: "--at") }
}
