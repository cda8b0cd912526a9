import FieldSyncModel
import GRDB

/// An error a person reads: what went wrong and what to do about it.
public struct StoreError: Error, Equatable, Sendable, CustomStringConvertible {
    private enum Code: Equatable, Sendable {
        case notInitialized, alreadyInitialized, notFound, ambiguous, invalid, malformed, unsupported, storage
    }

    private let code: Code
    public let message: String
    /// The same message as a text key and its values, for a program that speaks the
    /// reader's language (`fieldsync` renders it; a `table` value names a record kind).
    public let text: (key: String, values: [String: String])?

    private init(code: Code, message: String, text: (key: String, values: [String: String])? = nil) {
        self.code = code
        self.message = message
        self.text = text
    }

    public static func == (lhs: StoreError, rhs: StoreError) -> Bool { lhs.code == rhs.code && lhs.message == rhs.message }

    public var description: String { message }

    public static func notInitialized(_ home: String) -> StoreError {
        StoreError(code: .notInitialized, message: "no replica in \(home); run 'fieldsync init' first (or set --home / FIELDSYNC_HOME)",
                   text: ("store.not-initialized", ["home": home]))
    }

    public static func alreadyInitialized(_ home: String, node: String) -> StoreError {
        StoreError(code: .alreadyInitialized, message: "\(home) already holds a replica (node \(node)); use another --home to start a second one",
                   text: ("store.already-initialized", ["home": home, "node": node]))
    }

    public static func notFound(_ kind: RecordKind, _ reference: String) -> StoreError {
        guard kind != .setting else {
            return StoreError(code: .notFound, message: "no province settings on this replica yet; the province sets them ('fieldsync-server settings') and they arrive with a sync")
        }
        return StoreError(code: .notFound, message: "no \(kind.noun) with an id starting '\(reference)'; list them with 'fieldsync \(kind.commandName) list'",
                          text: ("store.not-found", ["table": kind.rawValue, "id": reference, "command": kind.commandName]))
    }

    /// Something named by the person is not there; `message` says what and where to look.
    public static func notFound(_ message: String, text: (key: String, values: [String: String])? = nil) -> StoreError {
        StoreError(code: .notFound, message: message, text: text)
    }

    public static func ambiguous(_ kind: RecordKind, _ reference: String, candidates: [String]) -> StoreError {
        StoreError(code: .ambiguous, message: "'\(reference)' names several \(kind.noun)s (\(candidates.joined(separator: ", "))); type more of the id",
                   text: ("store.ambiguous", ["table": kind.rawValue, "id": reference, "candidates": candidates.joined(separator: ", ")]))
    }

    public static func invalid(_ error: RecordValidationError) -> StoreError {
        StoreError(code: .invalid, message: error.message, text: error.key.map { ($0, error.values) })
    }

    public static func invalid(_ message: String, text: (key: String, values: [String: String])? = nil) -> StoreError {
        StoreError(code: .invalid, message: message, text: text)
    }

    /// Input that is not even of the right form (an id with non-hex characters).
    public static func malformed(_ message: String, text: (key: String, values: [String: String])? = nil) -> StoreError {
        StoreError(code: .malformed, message: message, text: text)
    }

    public static func unsupported(_ message: String, text: (key: String, values: [String: String])? = nil) -> StoreError {
        StoreError(code: .unsupported, message: message, text: text)
    }

    /// The replica's folder cannot be written or secured (exit 74).
    public static func storage(message: String) -> StoreError {
        StoreError(code: .storage, message: message)
    }

    /// The disk under `folder` is full, read-only or failing: what SQLite said, as a
    /// person reads it, or nil for any other error. Every write is one transaction,
    /// so nothing of the failed command was kept.
    public static func storage(_ error: any Error, folder: String) -> StoreError? {
        guard let database = error as? DatabaseError else { return nil }
        let what: String
        switch database.resultCode.primaryResultCode {
        case .SQLITE_FULL: what = "the disk holding \(folder) is full"
        case .SQLITE_READONLY, .SQLITE_PERM, .SQLITE_CANTOPEN: what = "\(folder) cannot be written (read-only or not permitted)"
        case .SQLITE_IOERR: what = "the disk holding \(folder) failed to read or write"
        default: return nil
        }
        let key: String
        switch database.resultCode.primaryResultCode {
        case .SQLITE_FULL: key = "store.disk-full"
        case .SQLITE_IOERR: key = "store.disk-failed"
        default: key = "store.read-only"
        }
        return StoreError(code: .storage, message: "\(what): nothing of this was recorded, and what was recorded before is intact; free space (or fix the folder) and run it again",
                          text: (key, ["folder": folder]))
    }

    /// No such record (or replica file): a caller looking in several places goes on.
    public var isNotFound: Bool { code == .notFound }

    /// sysexits-style codes: 64 for malformed input, 65 for data a record cannot take, 66 for a
    /// missing record or replica, 74 for a disk that is full or cannot be written, 1 otherwise.
    public var exitCode: Int32 {
        switch code {
        case .malformed: 64
        case .invalid: 65
        case .notFound, .ambiguous, .notInitialized: 66
        case .storage: 74
        case .alreadyInitialized, .unsupported: 1
        }
    }
}

extension RecordKind {
    /// The CLI command that lists records of this kind.
    public var commandName: String {
        switch self {
        case .customer: "customer"
        case .contact: "contact"
        case .agreement: "agreement"
        case .visit: "visit"
        case .fault, .faultNote: "fault"
        case .complaint, .complaintNote: "complaint"
        case .conflict: "conflicts"
        case .calendarDay: "calendar"
        case .branch: "branch"
        case .setting: "settings"
        case .handover: "customer"
        }
    }
}
