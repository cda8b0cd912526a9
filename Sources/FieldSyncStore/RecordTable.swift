import FieldSyncModel
import Foundation
import GRDB

/// The SQL of one record kind's table: `id`, one untyped column per field, `_stamps`.
struct RecordTable: Sendable {
    let schema: RecordSchema
    let selectSQL: String
    let upsertSQL: String
    let createSQL: String

    init(_ kind: RecordKind) {
        schema = kind.schema
        let columns = schema.fields.map { "\"\($0.name)\"" }
        selectSQL = "SELECT \(columns.joined(separator: ", ")), _stamps FROM \(kind.rawValue) WHERE id = ?"
        let placeholders = Array(repeating: "?", count: columns.count + 2).joined(separator: ", ")
        upsertSQL = "INSERT OR REPLACE INTO \(kind.rawValue) (id, \(columns.joined(separator: ", ")), _stamps) VALUES (\(placeholders))"
        createSQL = "CREATE TABLE \(kind.rawValue) (id TEXT PRIMARY KEY NOT NULL, \(columns.joined(separator: ", ")), _stamps BLOB NOT NULL)"
    }

    static let all: [RecordKind: RecordTable] = Dictionary(
        uniqueKeysWithValues: RecordKind.allCases.map { ($0, RecordTable($0)) })

    /// Decodes the field columns starting at `offset`, then `_stamps`.
    func state(from row: Row, offset: Int) -> RecordState {
        let count = schema.fields.count
        var values = [FieldValue](repeating: .null, count: count)
        for index in 0..<count {
            values[index] = FieldValue(row[offset + index] as DatabaseValue)
        }
        let stamps: [FieldStamp?]
        if case .blob(let data) = (row[offset + count] as DatabaseValue).storage {
            stamps = data.withUnsafeBytes { StampCodec.decode($0, fieldCount: count) }
        } else {
            stamps = Array(repeating: nil, count: count)
        }
        return RecordState(values: values, stamps: stamps)
    }
}
