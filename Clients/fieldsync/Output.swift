import FieldSyncLocalization
import FieldSyncModel
import FieldSyncStore
import Foundation

/// JSON as the CLI prints it: keys sorted, so the output is stable.
indirect enum JSONValue: Encodable {
    case null
    case bool(Bool)
    case int(Int64)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .int(let value): try container.encode(value)
        case .string(let value): try container.encode(value)
        case .array(let values): try container.encode(values)
        case .object(let fields): try container.encode(fields)
        }
    }

    init(_ value: FieldValue) {
        switch value {
        case .null: self = .null
        case .int(let number): self = .int(number)
        case .text(let text): self = .string(text)
        }
    }

    func printed() {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let data = (try? encoder.encode(self)) ?? Data(#"null"#.utf8) // JSON, not words
        print(String(decoding: data, as: UTF8.self))
    }
}

extension StoredRecord {
    /// The record as documented in the README: `id`, every field by name,
    /// flags as booleans, a workflow status as `status` (state) and `round`.
    var json: JSONValue {
        var object: [String: JSONValue] = ["id": .string(id)]
        for spec in table.schema.fields {
            let value = self[spec.name]
            switch spec.type {
            case .bool:
                object[spec.name] = .bool(value.bool)
            case .status:
                let status = value.text.flatMap { WorkflowStatus($0, kind: table) }
                object["status"] = status.map { .string($0.state(for: table)) } ?? .null
                object["round"] = status.map { .int(Int64($0.round)) } ?? .null
            default:
                object[spec.name] = JSONValue(value)
            }
        }
        return .object(object)
    }

    /// A workflow record's state ("in progress", "处理中"), with the round after a reopening.
    var statusText: String {
        guard let status = self["status"].text.flatMap({ WorkflowStatus($0, kind: table) }) else { return "" }
        let state = texts.state(status.state(for: table), of: table)
        return status.round > 1 ? t("cli.status-round", ["state": state, "round": String(status.round)]) : state
    }

    var shortID: String { String(id.prefix(8)) }
}

extension JSONValue {
    func merging(_ extra: [String: JSONValue]) -> JSONValue {
        guard case .object(var fields) = self else { return self }
        fields.merge(extra) { _, new in new }
        return .object(fields)
    }
}

extension TextTable {
    func printed(empty: String) { print(rendered(empty: empty), terminator: "") }
}

/// `2026-11-23T09:30:00+08:00` → `2026-11-23 09:30` for tables.
func shortTime(_ value: FieldValue) -> String {
    guard let text = value.text, text.count >= 16 else { return value.description }
    return text.prefix(10) + " " + text.dropFirst(11).prefix(5)
}

/// A field's value as the reader's language says it: a choice, a yes or no, a time or a date in its words.
func shown(_ value: FieldValue, as type: FieldType) -> String {
    switch type {
    case .bool: t(value.bool ? "cli.yes" : "cli.no")
    case .choice: value.text.map { texts.choice($0) } ?? value.description
    case .time: value.text.flatMap { Timestamp(iso: $0) }.map { texts.time($0) } ?? value.description
    case .date: value.text.flatMap { LocalDate(iso: $0) }.map { texts.date($0) } ?? value.description
    default: value.description
    }
}

/// Prints a record's fields one per line (the `show` commands), named and worded as the glossary says.
func printDetails(_ record: StoredRecord, title: String) {
    print("\(title) \(record.id)")
    for spec in record.table.schema.fields {
        let value = record[spec.name]
        guard value != .null else { continue }
        let text = spec.type == .status ? record.statusText : shown(value, as: spec.type)
        let label = texts.has("field.\(record.table.rawValue).\(spec.name)")
            ? texts.field(spec.name, of: record.table) : spec.name.replacingOccurrences(of: "_", with: " ")
        print(t("cli.detail", ["label": label, "value": text]))
    }
}
