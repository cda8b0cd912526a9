import FieldSyncProtocol
import FieldSyncServerCore
import FieldSyncStore
import Foundation
import HTTPTypes
import Hummingbird
import Logging

/// Turns every error on the way out into the JSON error body the protocol
/// documents: a `ServerError` into its own status and body, Hummingbird's
/// errors (unknown path, wrong method, body too large) into the matching
/// code, anything else into a 500 that reveals nothing (logged here).
struct JSONErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    /// Methods of each path the server has, for 405 and `Allow`.
    let methods: [String: [HTTPRequest.Method]]
    let maxRequestBytes: Int
    let logger: Logger

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as ServerError {
            return error.jsonResponse()
        } catch let error as HTTPError {
            switch error.status {
            case .notFound:
                if let allowed = methods[request.uri.path] {
                    var response = ServerError(.methodNotAllowed, ErrorCode.methodNotAllowed,
                                               "\(request.method) is not served at \(request.uri.path); use \(allowed.map(\.rawValue).joined(separator: " or "))")
                        .jsonResponse()
                    response.headers[.allow] = allowed.map(\.rawValue).joined(separator: ", ")
                    return response
                }
                return ServerError(.notFound, ErrorCode.notFound, "no such endpoint; the API is described in Protocol/openapi.yaml").jsonResponse()
            case .contentTooLarge:
                return ServerError.tooLarge("the request body is over \(maxRequestBytes >> 20) MiB; send smaller pages").jsonResponse()
            default:
                let message = error.body ?? "the request could not be handled (\(error.status.code))"
                let code = error.status.code < 500 ? ErrorCode.badRequest : ErrorCode.internalError
                return ServerError(status: error.status, code, message).jsonResponse()
            }
        } catch {
            logger.error("request failed", metadata: ["path": "\(request.uri.path)", "error": "\(error)"])
            if StoreError.storage(error, folder: "") != nil {
                // Every request is one transaction: nothing of it was stored, and a laptop keeps its outbox.
                return ServerError(.serviceUnavailable, ErrorCode.storageFull,
                                   "the server cannot store anything now (its disk is full or read-only); nothing of this request was kept; your changes stay on this device, sync again later")
                    .jsonResponse()
            }
            return ServerError(.internalServerError, ErrorCode.internalError, "the server failed to handle the request; its log has the details")
                .jsonResponse()
        }
    }
}

/// The version handshake (Protocol/SYNC.md, "Versions"): every answer names the server's
/// protocol version; a request stating one older than the server serves is refused with
/// `upgrade_required` (naming the oldest it serves) before any route sees it, and one whose
/// header is not a version with `bad_request`. A request without the header is version 1.
struct ProtocolVersionMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response: Response
        if let stated = request.headers[.fieldSyncProtocol] {
            if let version = ProtocolVersion.parse(stated) {
                response = version < ProtocolVersion.oldestServed ? Self.upgradeRequired(version) : try await next(request, context)
            } else {
                response = ServerError.badRequest("\(ProtocolVersion.header) must be a protocol version, a whole number from 1 to \(ProtocolVersion.maximum)")
                    .jsonResponse()
            }
        } else {
            response = try await next(request, context)
        }
        response.headers[.fieldSyncProtocol] = String(ProtocolVersion.current)
        return response
    }

    static func upgradeRequired(_ version: Int) -> Response {
        var error = ServerError(.badRequest, ErrorCode.upgradeRequired,
                                "this device speaks FieldSync protocol \(version); this server needs \(ProtocolVersion.oldestServed) or later: upgrade fieldsync on this device (nothing was stored; its work is kept)")
        error.setNeeded(ProtocolVersion.oldestServed)
        return error.jsonResponse()
    }
}

/// Headers every dashboard page carries: no framing, no inline script from
/// elsewhere, no referrer leaking a login link, HTTPS remembered.
struct SecurityHeadersMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response = try await next(request, context)
        response.headers[.contentSecurityPolicy] = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
        response.headers[.strictTransportSecurity] = "max-age=31536000"
        response.headers[.xFrameOptions] = "DENY"
        response.headers[.referrerPolicy] = "no-referrer"
        response.headers[.xContentTypeOptions] = "nosniff"
        return response
    }
}

extension HTTPField.Name {
    static let fieldSyncProtocol = Self(ProtocolVersion.header)!
    static let xFrameOptions = Self("X-Frame-Options")!
    static let referrerPolicy = Self("Referrer-Policy")!
}
