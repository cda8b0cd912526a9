import FieldSyncModel
import FieldSyncProtocol
import FieldSyncStore
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTLS
import Logging
import NIOCore
import NIOSSL
import Prometheus

/// How `fieldsync-server serve` runs.
public struct ServerConfiguration: Sendable {
    public var host = "127.0.0.1"
    /// 0 picks a free port (tests); `onRunning` reports it.
    public var port = 8443
    public var limits = SyncLimits()
    /// Largest sync request body accepted, as sent and after gzip is undone.
    public var maxRequestBytes = 32 << 20
    /// What one push may hold.
    public var requestLimits = SyncRequestLimits()

    public init(host: String = "127.0.0.1", port: Int = 8443) {
        self.host = host
        self.port = port
    }
}

/// The HTTPS endpoints of `/v1`, over a server store.
public struct SyncHTTPServer: Sendable {
    public let store: ServerStore
    public let metrics: ServerMetrics
    public let configuration: ServerConfiguration
    let logger: Logger

    public init(store: ServerStore, metrics: ServerMetrics = ServerMetrics(), configuration: ServerConfiguration, logger: Logger) {
        self.store = store
        self.metrics = metrics
        self.configuration = configuration
        self.logger = logger
    }

    public func makeRouter() -> Router<BasicRequestContext> {
        let router = Router()
        router.get("/v1/health") { _, _ in
            try await respond {
                let node = try store.replica.identity()?.node.description ?? ""
                return try Self.json(["status": "ok", "node": node, "time": String(store.now)])
            }
        }
        router.post("/v1/enroll") { request, _ in
            try await respond {
                var request = request
                let body = try await request.collectBody(upTo: 64 << 10)
                let enroll = try Self.decode(EnrollRequest.self, body)
                let response = try await offload { try store.enroll(enroll) }
                metrics.enrolments.increment()
                logger.info("device enrolled", metadata: ["device": "\(response.device)", "user": "\(response.user.name)"])
                return try Self.json(response)
            }
        }
        router.post("/v1/sync") { request, _ in
            try await respond {
                let started = ContinuousClock.now
                let device = try await authenticate(request)
                let acceptsGzip = request.headers[.acceptEncoding]?.contains("gzip") ?? false
                let gzipped = request.headers[.contentEncoding]?.lowercased() == "gzip"
                var request = request
                var body = try await request.collectBody(upTo: configuration.maxRequestBytes)
                let sync: SyncRequest
                do {
                    // Inflated into at most the same bound as a plain body: a small
                    // gzip bomb is refused once it passes it, not after.
                    if gzipped { body = try BodyCompression.gunzip(body, maxSize: configuration.maxRequestBytes) }
                    sync = try WireJSON.decodeSyncRequest(body.readableBytesView, limits: configuration.requestLimits)
                } catch let error as WireJSON.LimitExceeded {
                    throw ServerError.tooLarge(error.description)
                } catch let error as WireJSON.DecodingError {
                    throw ServerError.badRequest("the request body is not a valid SyncRequest: \(error)")
                } catch {
                    throw ServerError.tooLarge("the request body is over \(configuration.maxRequestBytes >> 20) MiB once decompressed, or is not valid gzip; send smaller pages")
                }
                let outcome: SyncOutcome
                do {
                    outcome = try await offload { try store.sync(sync, from: device, limits: configuration.limits) }
                } catch let error as ServerError {
                    logger.notice("sync refused", metadata: ["device": "\(device.device)", "error": "\(error.body.error)"])
                    throw error
                }
                let response = outcome.response
                metrics.syncs.increment()
                metrics.conflicts.increment(by: Int64(outcome.conflictsCreated))
                metrics.changesIn.increment(by: Int64(sync.mutations.reduce(0) { $0 + $1.changes.count }))
                metrics.changesOut.increment(by: Int64(response.changes.count))
                metrics.rejections.increment(by: Int64(response.rejected.count))
                metrics.latency.record(ContinuousClock.now - started)
                let json = WireJSON.encode(response)
                if acceptsGzip, json.count > BodyCompression.threshold {
                    return Response(status: .ok, headers: [.contentType: "application/json", .contentEncoding: "gzip"],
                                    body: ResponseBody(byteBuffer: try BodyCompression.gzip(json)))
                }
                return Response(status: .ok, headers: [.contentType: "application/json"],
                                body: ResponseBody(byteBuffer: ByteBuffer(bytes: json)))
            }
        }
        addKPIRoutes(to: router)
        addDashboardRoutes(to: router)
        router.get("/metrics") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                     body: ResponseBody(byteBuffer: ByteBuffer(string: metrics.text())))
        }
        return router
    }

    /// The application serving HTTPS only, with the given TLS configuration.
    public func makeApplication(tls: TLSConfiguration, onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) throws -> some ApplicationProtocol {
        Application(
            router: makeRouter(),
            server: try .tls(.http1(), tlsConfiguration: tls),
            configuration: ApplicationConfiguration(address: .hostname(configuration.host, port: configuration.port), serverName: "fieldsync-server"),
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? 0) },
            logger: logger)
    }

    func authenticate(_ request: Request) async throws -> DeviceContext {
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer ") else { throw ServerError.unauthorized }
        let token = String(header.dropFirst("Bearer ".count))
        return try await offload { try store.authenticate(token: token) }
    }

    /// Runs an error-reporting handler: a `ServerError` becomes its status and
    /// JSON body; anything else a 500 without internals (logged here).
    func respond(_ body: () async throws -> Response) async throws -> Response {
        do {
            return try await body()
        } catch let error as ServerError {
            return (try? Self.json(error.body, status: error.status)) ?? Response(status: error.status)
        } catch let error as HTTPError where error.status == .contentTooLarge {
            let body = ErrorBody(error: ErrorCode.tooLarge, message: "the request body is over \(configuration.maxRequestBytes >> 20) MiB; send smaller pages")
            return (try? Self.json(body, status: .contentTooLarge)) ?? Response(status: .contentTooLarge)
        } catch {
            logger.error("request failed", metadata: ["error": "\(error)"])
            let body = ErrorBody(error: ErrorCode.internalError, message: "the server failed to handle the request; its log has the details")
            return (try? Self.json(body, status: .internalServerError)) ?? Response(status: .internalServerError)
        }
    }

    static func decode<T: Decodable>(_ type: T.Type, _ buffer: ByteBuffer) throws -> T {
        do {
            return try JSONDecoder().decode(type, from: Data(buffer.readableBytesView))
        } catch {
            throw ServerError.badRequest("the request body is not a valid \(T.self): \(error)")
        }
    }

    static func json<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) throws -> Response {
        let data = try JSONEncoder().encode(value)
        return Response(status: status, headers: [.contentType: "application/json"],
                        body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }
}

/// Runs blocking SQLite work off the server's event loops.
func offload<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global().async { continuation.resume(with: Result { try body() }) }
    }
}
