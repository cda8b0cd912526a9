import FieldSyncServerCore
import Foundation
import Hummingbird

/// The request context of every FieldSync route: the peer's address, and the
/// device once `DeviceAuthenticator` has run.
public struct FieldSyncRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public var device: DeviceContext?
    /// The peer's IP address, for limits per address (enrolment attempts).
    public let remoteAddress: String?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress?.ipAddress
    }
}

/// The context of the routes behind `DeviceAuthenticator`: the caller is a device the
/// server has stored, never absent. Made from the parent context as the request enters
/// the group (`RouterGroup.group(context:)`); without a device it is refused, 401.
public struct DeviceRequestContext: ChildRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let device: DeviceContext

    public init(context: FieldSyncRequestContext) throws {
        guard let device = context.device else { throw ServerError.unauthorized }
        coreContext = context.coreContext
        self.device = device
    }
}

/// Authenticates a request by its bearer token (or, for the dashboard, its
/// session cookie) against the devices the server has stored, and puts the
/// device in the context. Unknown and revoked devices never reach a route.
struct DeviceAuthenticator: RouterMiddleware {
    typealias Context = FieldSyncRequestContext

    let accounts: any AccountStorage
    /// The dashboard's browser session cookie is accepted too.
    var acceptsSessionCookie = false

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        if let header = request.headers[.authorization] {
            guard header.hasPrefix("Bearer "), header.utf8.count < 512 else { throw ServerError.unauthorized }
            let token = String(header.dropFirst("Bearer ".count))
            context.device = try await accounts.authenticate(token: token)
        } else if acceptsSessionCookie, let session = Self.cookie(SyncHTTPServer.sessionCookie, in: request) {
            context.device = try await accounts.authenticate(session: session)
        } else {
            throw ServerError.unauthorized
        }
        return try await next(request, context)
    }

    static func cookie(_ name: String, in request: Request) -> String? {
        for header in request.headers[values: .cookie] {
            for pair in header.split(separator: ";") {
                let parts = pair.trimmingCharacters(in: .whitespaces).split(separator: "=", maxSplits: 1)
                if parts.count == 2, parts[0] == name { return String(parts[1]) }
            }
        }
        return nil
    }
}
