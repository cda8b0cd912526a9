import FieldSyncModel
import GRDB
import GRDBSQLite

/// Binds values to a prepared SQLite statement straight from Swift's storage and
/// steps it: the hot paths write a row per record, and GRDB's `StatementArguments`
/// (an array of existentials per row) and Swift's C-string copies were a visible
/// share of them. SQLite copies what it is given (`SQLITE_TRANSIENT`).
package enum SQLiteBind {
    static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

    package static func value(_ value: FieldValue, at position: Int32, in statement: OpaquePointer) {
        switch value {
        case .null: sqlite3_bind_null(statement, position)
        case .int(let number): sqlite3_bind_int64(statement, position, number)
        case .text(let text): self.text(text, at: position, in: statement)
        }
    }

    /// A string's own UTF-8 bytes; NULL for nil. Passing a `String` where C wants a
    /// `char *` makes Swift build a C-string copy first (an allocation per value).
    package static func text(_ text: String?, at position: Int32, in statement: OpaquePointer) {
        guard var text else {
            sqlite3_bind_null(statement, position)
            return
        }
        text.withUTF8 { bytes in
            // An empty buffer may have no address, and a null pointer would bind NULL.
            guard let start = bytes.baseAddress else {
                sqlite3_bind_text(statement, position, "", 0, transient)
                return
            }
            start.withMemoryRebound(to: CChar.self, capacity: bytes.count) {
                _ = sqlite3_bind_text64(statement, position, $0, sqlite3_uint64(bytes.count), transient, UInt8(SQLITE_UTF8))
            }
        }
    }

    /// An integer; NULL for nil.
    package static func integer(_ number: Int64?, at position: Int32, in statement: OpaquePointer) {
        if let number { sqlite3_bind_int64(statement, position, number) } else { sqlite3_bind_null(statement, position) }
    }

    /// Bytes as a blob (an empty blob, not NULL, when there are none).
    package static func blob(_ bytes: UnsafeRawBufferPointer, at position: Int32, in statement: OpaquePointer) {
        guard let start = bytes.baseAddress, !bytes.isEmpty else {
            sqlite3_bind_zeroblob(statement, position, 0)
            return
        }
        _ = sqlite3_bind_blob64(statement, position, start, sqlite3_uint64(bytes.count), transient)
    }

    /// Runs a statement that returns no rows, then resets it for the next bindings.
    package static func execute(_ statement: OpaquePointer) throws {
        defer { sqlite3_reset(statement) }
        let code = sqlite3_step(statement)
        guard code == SQLITE_DONE else {
            throw DatabaseError(resultCode: ResultCode(rawValue: code), message: String(cString: sqlite3_errmsg(sqlite3_db_handle(statement))))
        }
    }
}
