import FieldSyncProtocol
import FieldSyncServerCore
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

extension ServerError: HTTPResponseError {
    public var status: HTTPResponse.Status {
        switch kind {
        case .badRequest: .badRequest
        case .unauthorized: .unauthorized
        case .forbidden: .forbidden
        case .notFound: .notFound
        case .methodNotAllowed: .methodNotAllowed
        case .conflict: .conflict
        case .contentTooLarge: .contentTooLarge
        case .tooManyRequests: .tooManyRequests
        case .internalServerError: .internalServerError
        case .serviceUnavailable: .serviceUnavailable
        }
    }

    /// An error of another layer (Hummingbird's, a codec's) answered as the protocol's JSON error.
    init(status: HTTPResponse.Status, _ code: String, _ message: String) {
        let kind: Kind = switch status {
        case .unauthorized: .unauthorized
        case .forbidden: .forbidden
        case .notFound: .notFound
        case .methodNotAllowed: .methodNotAllowed
        case .conflict: .conflict
        case .contentTooLarge: .contentTooLarge
        case .tooManyRequests: .tooManyRequests
        case .serviceUnavailable: .serviceUnavailable
        default: status.code < 500 ? .badRequest : .internalServerError
        }
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
