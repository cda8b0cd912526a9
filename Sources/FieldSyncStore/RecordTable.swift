import FieldSyncModel

/// The SQL of one record kind's table: `id`, one untyped column per field, `_stamps`.
struct RecordTable: Sendable {
    let schema: RecordSchema
    let selectSQL: String
    let upsertSQL: String
    /// Inserts a record the table does not hold; does nothing when it does (`sqlite3_changes` tells).
    let insertNewSQL: String

    init(_ kind: RecordKind) {
        schema = kind.schema
        let columns = schema.fields.map { "\"\($0.name)\"" }
        selectSQL = "SELECT \(columns.joined(separator: ", ")), _stamps FROM \(kind.rawValue) WHERE id = ?"
        let placeholders = Array(repeating: "?", count: columns.count + 2).joined(separator: ", ")
        upsertSQL = "INSERT OR REPLACE INTO \(kind.rawValue) (id, \(columns.joined(separator: ", ")), _stamps) VALUES (\(placeholders))"
        insertNewSQL = "INSERT INTO \(kind.rawValue) (id, \(columns.joined(separator: ", ")), _stamps) VALUES (\(placeholders)) ON CONFLICT (id) DO NOTHING"
    }

    static let all: [RecordKind: RecordTable] = Dictionary(
        uniqueKeysWithValues: RecordKind.allCases.map { ($0, RecordTable($0)) })

    /// The table of `kind` (`all` holds every kind; one made on the spot otherwise, never a trap).
    static func of(_ kind: RecordKind) -> RecordTable { all[kind] ?? RecordTable(kind) }
}
