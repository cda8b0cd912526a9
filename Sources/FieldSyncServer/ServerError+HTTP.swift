import FieldSyncProtocol
import FieldSyncServerCore
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

extension ServerError: HTTPResponseError {
    /// Each kind's status, read both ways.
    private static let statuses: [(kind: Kind, status: HTTPResponse.Status)] = [
        (.badRequest, .badRequest), (.unauthorized, .unauthorized), (.forbidden, .forbidden), (.notFound, .notFound),
        (.methodNotAllowed, .methodNotAllowed), (.conflict, .conflict), (.contentTooLarge, .contentTooLarge),
        (.tooManyRequests, .tooManyRequests), (.internalServerError, .internalServerError), (.serviceUnavailable, .serviceUnavailable),
    ]

    public var status: HTTPResponse.Status { Self.statuses.first { $0.kind == kind }?.status ?? .internalServerError }

    /// An error of another layer (Hummingbird's, a codec's) answered as the protocol's JSON error.
    init(status: HTTPResponse.Status, _ code: String, _ message: String) {
        let kind = Self.statuses.first { $0.status == status }?.kind ?? (status.code < 500 ? .badRequest : .internalServerError)
        self.init(kind, code, message)
    }

    /// The error as the protocol's JSON error body, with its status.
    func jsonResponse() -> Response {
        let data = (try? JSONEncoder().encode(body)) ?? Data(#"{"error":"internal","message":"error"}"#.utf8)
        var headers: HTTPFields = [.contentType: "application/json", .cacheControl: "no-store"]
        if let retryAfter { headers[.retryAfter] = String(retryAfter) }
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response { jsonResponse() }
}
