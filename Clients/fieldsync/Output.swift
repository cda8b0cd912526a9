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
        let data = (try? encoder.encode(self)) ?? Data("null".utf8)
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

    /// A workflow record's state word ("in-progress"), with the round after a reopening.
    var statusText: String {
        guard let status = self["status"].text.flatMap({ WorkflowStatus($0, kind: table) }) else { return "" }
        return status.round > 1 ? "\(status.state(for: table)) (round \(status.round))" : status.state(for: table)
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

/// A plain text table, columns padded to the widest cell (CJK characters count double).
struct TextTable {
    var headers: [String]
    var rows: [[String]] = []

    init(_ headers: String...) { self.headers = headers }

    mutating func add(_ cells: String...) { rows.append(cells) }

    func printed(empty: String) {
        guard !rows.isEmpty else { print(empty); return }
        let cells = rows.map { $0.map { Self.clip($0, to: 48) } }
        var widths = headers.map(Self.width)
        for row in cells {
            for (index, cell) in row.enumerated() { widths[index] = max(widths[index], Self.width(cell)) }
        }
        func line(_ row: [String]) -> String {
            row.enumerated().map { index, cell in
                index == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[index] - Self.width(cell))
            }.joined(separator: "  ")
        }
        print(line(headers.map { $0.uppercased() }))
        for row in cells { print(line(row)) }
    }

    static func width(_ text: String) -> Int {
        text.unicodeScalars.reduce(0) { $0 + (isWide($1) ? 2 : 1) }
    }

    static func isWide(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x1100...0x115F, 0x2E80...0xA4CF, 0xAC00...0xD7A3, 0xF900...0xFAFF, 0xFE30...0xFE4F, 0xFF00...0xFF60, 0xFFE0...0xFFE6, 0x20000...0x3FFFD:
            return true
        default:
            return false
        }
    }

    static func clip(_ text: String, to limit: Int) -> String {
        let flat = text.replacingOccurrences(of: "\n", with: " ")
        guard width(flat) > limit else { return flat }
        var result = "", used = 0
        for character in flat {
            let w = width(String(character))
            if used + w > limit - 1 { break }
            result.append(character)
            used += w
        }
        return result + "…"
    }
}

/// `2026-11-23T09:30:00+08:00` → `2026-11-23 09:30` for tables.
func shortTime(_ value: FieldValue) -> String {
    guard let text = value.text, text.count >= 16 else { return value.description }
    return text.prefix(10) + " " + text.dropFirst(11).prefix(5)
}

/// Prints a record's fields one per line (the `show` commands).
func printDetails(_ record: StoredRecord, title: String) {
    print("\(title) \(record.id)")
    for spec in record.table.schema.fields {
        let value = record[spec.name]
        guard value != .null else { continue }
        let text: String
        switch spec.type {
        case .bool: text = value.bool ? "yes" : "no"
        case .status: text = record.statusText
        default: text = value.description
        }
        print("  \(spec.name.replacingOccurrences(of: "_", with: " ")): \(text)")
    }
}
