import FieldSyncModel
import FieldSyncProtocol
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// An error the server reports to a client (as JSON with a stable code) or to
/// an administrator at the command line (the message).
public struct ServerError: HTTPResponseError, Sendable, Equatable, CustomStringConvertible {
    public let status: HTTPResponse.Status
    public let body: ErrorBody
    /// Seconds the client should wait before asking again (`Retry-After`), for `busy` answers.
    public var retryAfter: Int?

    public var message: String { body.message }
    public var description: String { body.message }

    package init(_ status: HTTPResponse.Status, _ code: String, _ message: String, serverTime: UInt64? = nil) {
        self.status = status
        self.body = ErrorBody(error: code, message: message, serverTime: serverTime)
    }

    /// The error as the protocol's JSON error body, with its status.
    func jsonResponse() -> Response {
        let data = (try? JSONEncoder().encode(body)) ?? Data(#"{"error":"internal","message":"error"}"#.utf8)
        var headers: HTTPFields = [.contentType: "application/json", .cacheControl: "no-store"]
        if let retryAfter { headers[.retryAfter] = String(retryAfter) }
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
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

    public func response(from request: Request, context: some RequestContext) throws -> Response { jsonResponse() }

    package static func badRequest(_ message: String) -> ServerError { ServerError(.badRequest, ErrorCode.badRequest, message) }
    package static func tooLarge(_ message: String) -> ServerError { ServerError(.contentTooLarge, ErrorCode.tooLarge, message) }
    package static let unauthorized = ServerError(.unauthorized, ErrorCode.unauthorized, "unknown device token; enrol this device again with 'fieldsync enroll'")
    package static let revoked = ServerError(.forbidden, ErrorCode.deviceRevoked, "this device has been revoked by an administrator; ask them for a new enrolment code, then run 'fieldsync enroll URL --code CODE --ca FILE --new-node' (your records and unsent work are kept)")
    package static let forbiddenRole = ServerError(.forbidden, ErrorCode.forbidden, "the dashboard is for supervisors and the provincial office; managers read their figures with 'fieldsync kpi'")
    package static let customerNotFound = ServerError(.notFound, ErrorCode.notFound, "no such customer in your scope")
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
