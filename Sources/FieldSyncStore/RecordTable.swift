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

    func load(_ id: String, in db: Database) throws -> RecordState? {
        let statement = try db.cachedStatement(sql: selectSQL)
        guard let row = try Row.fetchOne(statement, arguments: [id]) else { return nil }
        return state(from: row, offset: 0)
    }

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

    func save(_ id: String, _ state: RecordState, in db: Database) throws {
        let statement = try db.cachedStatement(sql: upsertSQL)
        var arguments: [DatabaseValue] = []
        arguments.reserveCapacity(state.values.count + 2)
        arguments.append(id.databaseValue)
        for value in state.values { arguments.append(value.databaseValue) }
        arguments.append(StampCodec.encode(state.stamps).withUnsafeBytes { Data($0) }.databaseValue)
        statement.setUncheckedArguments(StatementArguments(arguments))
        try statement.execute()
    }
}
