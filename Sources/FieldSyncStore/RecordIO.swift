import FieldSyncModel
import GRDB
import GRDBSQLite

/// Loads, scans and saves records inside one transaction through prepared SQLite
/// statements, bypassing GRDB's `Row` (which builds a column-name table on
/// every fetch): this is the merge-apply hot path, one read and one write per
/// record.
///
/// Lives only inside a synchronous `writer.write { }` closure. Its statements are the
/// connection's, from GRDB's statement cache (compiled once per connection, not once per
/// transaction: a server builds a `RecordIO` for every sync) and held while it lives; a
/// read-only one, made from a bare connection, prepares its own and finalizes them when released.
public final class RecordIO {
    private let connection: OpaquePointer
    private var selects: [RecordKind: OpaquePointer] = [:]
    private var upserts: [RecordKind: OpaquePointer] = [:]
    private var inserts: [RecordKind: OpaquePointer] = [:]
    /// GRDB's statements whose pointers are used here: held, so that GRDB dropping one from its cache
    /// (it drops statements that may delete when an observer is added) never leaves a pointer dangling.
    private var held: [Statement] = []
    /// Statements prepared here (no GRDB connection): finalized when released.
    private var owned: [OpaquePointer] = []

    /// Set when records may be written: the first save notes the change for `RecordChangeCounter`.
    private let database: Database?
    private var changeNoted = false

    public init(_ db: Database) {
        connection = db.sqliteConnection!
        database = db
    }

    /// For reading only.
    init(connection: OpaquePointer) {
        self.connection = connection
        database = nil
    }

    deinit {
        for statement in owned { sqlite3_finalize(statement) }
    }

    public func load(_ table: RecordKind, _ id: String) throws -> RecordState? {
        let statement = try prepared(&selects, table) { RecordTable.of($0).selectSQL }
        defer { sqlite3_reset(statement) }
        SQLiteBind.text(id, at: 1, in: statement)
        let code = sqlite3_step(statement)
        if code == SQLITE_DONE { return nil }
        guard code == SQLITE_ROW else { throw error(code) }
        return Self.state(statement, fieldCount: table.schema.fields.count, offset: 0)
    }

    /// Every record of a kind in id order, or those whose `field` equals `value`.
    public func scan(_ table: RecordKind, where field: String? = nil, equals value: FieldValue = .null) throws -> [(id: String, state: RecordState)] {
        var result: [(id: String, state: RecordState)] = []
        try scan(table, where: field, equals: value) { result.append(($0, $1)) }
        return result
    }

    /// Calls `body` with each record, one at a time: reading a large table costs one record of memory.
    public func scan(_ table: RecordKind, where field: String? = nil, equals value: FieldValue = .null,
                     _ body: (String, RecordState) throws -> Void) throws {
        let columns = table.schema.fields.map { "\"\($0.name)\"" }.joined(separator: ", ")
        var sql = "SELECT id, \(columns), _stamps FROM \(table.rawValue)"
        if let field { sql += " WHERE \"\(field)\" = ?" }
        sql += " ORDER BY id"
        var statement: OpaquePointer?
        let code = sqlite3_prepare_v2(connection, sql, -1, &statement, nil)
        guard code == SQLITE_OK, let statement else { throw error(code) }
        defer { sqlite3_finalize(statement) }
        if field != nil { SQLiteBind.value(value, at: 1, in: statement) }
        while true {
            let step = sqlite3_step(statement)
            if step == SQLITE_DONE { return }
            guard step == SQLITE_ROW else { throw error(step) }
            // A row without an id (a damaged or hostile file) names no record.
            guard let text = sqlite3_column_text(statement, 0) else { continue }
            let id = String(cString: text)
            try body(id, Self.state(statement, fieldCount: table.schema.fields.count, offset: 1))
        }
    }

    /// Decodes `fieldCount` value columns from `offset`, then the `_stamps` blob.
    private static func state(_ statement: OpaquePointer, fieldCount count: Int, offset: Int) -> RecordState {
        var values = [FieldValue](repeating: .null, count: count)
        for index in 0..<count {
            let column = Int32(offset + index)
            switch sqlite3_column_type(statement, column) {
            case SQLITE_NULL: break
            case SQLITE_INTEGER: values[index] = .int(sqlite3_column_int64(statement, column))
            default:
                let bytes = sqlite3_column_text(statement, column)
                let length = Int(sqlite3_column_bytes(statement, column))
                values[index] = .text(bytes.map { String(decoding: UnsafeBufferPointer(start: $0, count: length), as: UTF8.self) } ?? "")
            }
        }
        let column = Int32(offset + count)
        let blob = sqlite3_column_blob(statement, column)
        let length = Int(sqlite3_column_bytes(statement, column))
        let stamps = StampCodec.decode(UnsafeRawBufferPointer(start: blob, count: blob == nil ? 0 : length), fieldCount: count)
        return RecordState(values: values, stamps: stamps)
    }

    func save(_ table: RecordKind, _ id: String, _ state: RecordState) throws {
        let statement = try prepared(&upserts, table) { RecordTable.of($0).upsertSQL }
        try write(statement, id, state)
    }

    /// Stores a record the table does not hold yet, in one step instead of a
    /// lookup and a write; false (nothing written) when it holds one.
    func saveIfNew(_ table: RecordKind, _ id: String, _ state: RecordState) throws -> Bool {
        let statement = try prepared(&inserts, table) { RecordTable.of($0).insertNewSQL }
        try write(statement, id, state)
        return sqlite3_changes(connection) > 0
    }

    private func write(_ statement: OpaquePointer, _ id: String, _ state: RecordState) throws {
        if !changeNoted, let database {
            RecordChangeCounter.noteChange(in: database)
            changeNoted = true
        }
        // A statement is the connection's, used before: nothing of an earlier row may stay bound.
        sqlite3_clear_bindings(statement)
        SQLiteBind.text(id, at: 1, in: statement)
        for index in state.values.indices {
            SQLiteBind.value(state.values[index], at: Int32(index + 2), in: statement)
        }
        StampCodec.encode(state.stamps).withUnsafeBytes { SQLiteBind.blob($0, at: Int32(state.values.count + 2), in: statement) }
        try SQLiteBind.execute(statement)
    }

    private func prepared(_ cache: inout [RecordKind: OpaquePointer], _ table: RecordKind, sql: (RecordKind) -> String) throws -> OpaquePointer {
        if let statement = cache[table] { return statement }
        if let database {
            let statement = try database.cachedStatement(sql: sql(table))
            // Left as GRDB may have left it: reset before the first use here.
            sqlite3_reset(statement.sqliteStatement)
            held.append(statement)
            cache[table] = statement.sqliteStatement
            return statement.sqliteStatement
        }
        var statement: OpaquePointer?
        let code = sqlite3_prepare_v3(connection, sql(table), -1, UInt32(SQLITE_PREPARE_PERSISTENT), &statement, nil)
        guard code == SQLITE_OK, let statement else { throw error(code) }
        owned.append(statement)
        cache[table] = statement
        return statement
    }

    private func error(_ code: Int32) -> DatabaseError {
        DatabaseError(resultCode: ResultCode(rawValue: code), message: String(cString: sqlite3_errmsg(connection)))
    }
}
