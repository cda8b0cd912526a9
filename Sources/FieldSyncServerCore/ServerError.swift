import FieldSyncModel
import FieldSyncProtocol

/// An error the server reports to a client (as JSON with a stable code) or to
/// an administrator at the command line (the message). It knows no HTTP: the
/// HTTP module answers each `Kind` with its status (`ServerError+HTTP.swift`).
public struct ServerError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What went wrong, as far as the caller needs to know to react.
    public enum Kind: Sendable, Equatable {
        case badRequest, unauthorized, forbidden, notFound, methodNotAllowed, conflict, contentTooLarge, tooManyRequests
        case internalServerError, serviceUnavailable
    }

    public let kind: Kind
    public private(set) var body: ErrorBody
    /// What an administrator at the command line does about it: the executable words it (the
    /// rules know no command names), a client over HTTP gets the message alone.
    public var hint: AdministrationHint?
    /// The message as a text key (`admin.*`) and its values, for a command line that speaks the
    /// administrator's language; over HTTP the English `message` goes as it is.
    public var text: ErrorText?
    /// Seconds the client should wait before asking again (`Retry-After`), for `busy` answers.
    public var retryAfter: Int?

    public var message: String { body.message }
    public var description: String { body.message }

    package init(_ kind: Kind, _ code: String, _ message: String, serverTime: UInt64? = nil) {
        self.kind = kind
        self.body = ErrorBody(error: code, message: message, serverTime: serverTime)
    }

    /// For `upgrade_required`: the oldest protocol version the server serves.
    package mutating func setNeeded(_ version: Int) { body.needed = version }

    /// The device synced with another history of this server, or further than its log reaches
    /// (`PushRules.checkHistory`): `409 server_restored`, nothing stored.
    package static func serverRestored(incarnation: String, head: Int64) -> ServerError {
        var error = ServerError(.conflict, ErrorCode.serverRestored,
                                "this server was restored from an earlier state (or made anew) since this device last synced; "
                                    + "the device offers back its own work and reads the log again from the start")
        error.body.incarnation = incarnation
        error.body.head = head
        return error
    }

    /// The server has no room for this request now: `503` with `Retry-After`.
    package static func busy(_ message: String, retryAfter: Int) -> ServerError {
        var error = ServerError(.serviceUnavailable, ErrorCode.busy, message)
        error.retryAfter = retryAfter
        return error
    }

    /// Too many attempts from one place: `429` with `Retry-After`.
    package static func tooManyAttempts(_ message: String, retryAfter: Int) -> ServerError {
        var error = ServerError(.tooManyRequests, ErrorCode.busy, message)
        error.retryAfter = retryAfter
        return error
    }

    package static func badRequest(_ message: String, text: ErrorText? = nil) -> ServerError {
        var error = ServerError(.badRequest, ErrorCode.badRequest, message)
        error.text = text
        return error
    }

    package static func badRequest(_ message: String, hint: AdministrationHint, text: ErrorText? = nil) -> ServerError {
        var error = ServerError(.badRequest, ErrorCode.badRequest, message)
        error.hint = hint
        error.text = text
        return error
    }
    package static func notFound(_ message: String) -> ServerError { ServerError(.notFound, ErrorCode.notFound, message) }
    package static func tooLarge(_ message: String) -> ServerError { ServerError(.contentTooLarge, ErrorCode.tooLarge, message) }
    package static let unauthorized = ServerError(.unauthorized, ErrorCode.unauthorized, "unknown device token; enrol this device again with 'fieldsync enroll'")
    package static let revoked = ServerError(.forbidden, ErrorCode.deviceRevoked, "this device has been revoked by an administrator; ask them for a new enrolment code, then run 'fieldsync enroll URL --code CODE --ca FILE --new-node' (your records and unsent work are kept)")
    package static let forbiddenRole = ServerError(.forbidden, ErrorCode.forbidden, "the dashboard is for supervisors and the provincial office; managers read their figures with 'fieldsync kpi'")
    package static let customerNotFound = ServerError(.notFound, ErrorCode.notFound, "no such customer in your scope")
    package static let recordNotFound = ServerError(.notFound, ErrorCode.notFound, "no such record in your scope")
    package static let forbiddenInbox = ServerError(.forbidden, ErrorCode.forbidden, "the inbox is for supervisors, the province and administrators; a manager's own conflicts and refused work are on their laptop ('fieldsync inbox')")
    package static let forbiddenNodes = ServerError(.forbidden, ErrorCode.forbidden, "the list of devices is for supervisors, the province and administrators")
    package static let loginLinkInvalid = ServerError(.unauthorized, ErrorCode.unauthorized, "this login link is unknown, already used or expired; run 'fieldsync dashboard' for a new one")
    package static let codeInvalid = ServerError(.unauthorized, ErrorCode.codeInvalid, "unknown enrolment code; check it or ask for a new one")
    package static let codeExpired = ServerError(.unauthorized, ErrorCode.codeExpired, "this enrolment code has expired; ask for a new one")
    package static func nodeTaken(_ node: NodeID) -> ServerError {
        ServerError(.conflict, ErrorCode.nodeTaken,
                    "node \(node) is already enrolled with this server; a node enrols once: to enrol this replica again (after a revocation), add --new-node, which keeps its records and sends its unsent work under a fresh node; for an empty replica on a new device, use another --home")
    }
    package static let codeUsed = ServerError(.unauthorized, ErrorCode.codeUsed, "this enrolment code was already used; each code enrols one device")
}

/// The way out of an administration error, named by what it is; `fieldsync-server` puts it in words.
/// A message as a text key and its values (`FieldSyncLocalization`'s tables).
public struct ErrorText: Sendable, Equatable {
    public let key: String
    public let values: [String: String]

    package init(_ key: String, _ values: [String: String] = [:]) {
        self.key = key
        self.values = values
    }
}

public enum AdministrationHint: Sendable, Equatable {
    /// Register this branch.
    case registerBranch(String)
    case listBranches
    case listUsers
    case listDevices
    /// Give the person's branch.
    case giveBranch
    /// Make a new enrolment code for a person who exists.
    case newCode
}
