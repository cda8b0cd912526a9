import FieldSyncModel
import FieldSyncProtocol
import FieldSyncSQLiteServer
import FieldSyncServerCore
import FieldSyncStore
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOCore
import NIOSSL
import Prometheus

/// How `fieldsync-server serve` runs. The limits are documented in Protocol/SYNC.md.
public struct ServerConfiguration: Sendable {
    public var host = "127.0.0.1"
    /// 0 picks a free port (tests); `onRunning` reports it.
    public var port = 8443
    public var limits = SyncLimits()
    /// Largest sync request body accepted, as sent and after gzip is undone.
    public var maxRequestBytes = 32 << 20
    /// What one push may hold.
    public var requestLimits = SyncRequestLimits()
    /// A connection must send its first request head within this long of
    /// opening, TLS handshake included (nginx and HAProxy advise seconds, not
    /// minutes, for a request head).
    public var firstRequestTimeout: TimeAmount = .seconds(10)
    /// A connection must send a request head within this long of its last response.
    public var idleTimeout: TimeAmount = .seconds(30)
    /// A request must arrive whole within this long of its head.
    public var requestReadTimeout: TimeAmount = .seconds(30)
    /// Connections open at once; further ones wait in the listen backlog.
    public var maxConnections = 1_000
    /// Connections the kernel holds for accept (capped by `net.core.somaxconn`,
    /// 4096 on current Linux). When it is full a new connection's SYN is
    /// dropped and its client waits a whole second to retry, so a burst of
    /// sockets from one address must fit in it whole while the per-address
    /// limit closes them (Hummingbird's default is 256; nginx advises raising it).
    public var listenBacklog = 4_096
    /// Connections one IP address may hold at once; more are closed on accept.
    public var maxConnectionsPerAddress = 128
    /// Request bodies in flight, as sent and as inflated, in all and per device.
    public var maxBodyBytesInFlight = 128 << 20
    public var maxBodyBytesPerDevice = 40 << 20
    /// Enrolment attempts per minute from one address, and for one code prefix.
    public var enrolmentsPerAddressPerMinute = 20
    public var enrolmentsPerCodePrefixPerMinute = 5
    /// Snapshots built or streamed at once (`GET /v1/snapshot`), one per device at most.
    public var maxSnapshots = 2
    /// How long a push sent ahead (`follows`) waits for the one before it (`PushOrder`).
    public var pushOrderWait: Duration = .seconds(10)
    /// Pushes of one device that may wait for the one before them; 0 refuses every push sent ahead
    /// (`out_of_order`), and devices send one request at a time (instances behind a balancer that
    /// spreads one device's connections, where a push rarely finds the one before it).
    public var pushesWaitingPerDevice = 2

    public init(host: String = "127.0.0.1", port: Int = 8443) {
        self.host = host
        self.port = port
    }
}

/// The HTTPS endpoints of `/v1` and the dashboard, over a server store.
public struct SyncHTTPServer: Sendable {
    public typealias Context = FieldSyncRequestContext

    /// People, devices and sessions.
    public let accounts: any AccountStorage
    /// Pushes and pulls.
    public let syncStorage: any SyncStorage
    /// KPI answers, the dashboard, freshness.
    public let kpi: any KPIStorage
    /// New devices' snapshots.
    public let snapshotStorage: any SnapshotStorage
    let clock: @Sendable () -> UInt64
    public let metrics: ServerMetrics
    public let configuration: ServerConfiguration
    let logger: Logger
    /// Snapshots on their way now (`configuration.maxSnapshots`).
    public let snapshots: SnapshotGate
    /// Keeps each device's pushes sent ahead in the order it sent them.
    let pushOrder: PushOrder
    /// Called after a push added changes (a branch server's upstream syncs soon after).
    public var onChanges: @Sendable () -> Void = {}
    /// Connections per remote address (`maxConnectionsPerAddress`).
    public let connections: ConnectionGuard
    /// Request bodies in flight (`maxBodyBytesInFlight`, `maxBodyBytesPerDevice`).
    public let bodies: BodyBudget
    /// Enrolment attempts per address and per code prefix.
    let enrolmentsByAddress: AttemptLimiter
    let enrolmentsByCode: AttemptLimiter

    /// Every path the server serves and its methods (405 and `Allow` for the others).
    static let routes: [String: [HTTPRequest.Method]] = [
        "/v1/health": [.get], "/v1/enroll": [.post], "/v1/sync": [.post],
        "/v1/kpi": [.get], "/v1/kpi/misses": [.get], "/v1/kpi/todo": [.get], "/v1/kpi/late": [.get], "/v1/history": [.get], "/v1/inbox": [.get], "/v1/inbox/refused": [.post],
        "/v1/dashboard/link": [.post], "/dashboard/login": [.get], "/dashboard": [.get],
        "/dashboard/report": [.get], "/dashboard/document": [.get], "/v1/nodes": [.get], "/v1/directory": [.get], "/v1/snapshot": [.get],
        "/v1/digest": [.post],
    ]

    /// A server on the embedded SQLite store.
    public init(store: ServerStore, metrics: ServerMetrics = ServerMetrics(), configuration: ServerConfiguration, logger: Logger) {
        self.init(accounts: SQLiteAccountStorage(store), sync: SQLiteSyncStorage(store), kpi: SQLiteKPIStorage(store),
                  snapshots: SQLiteSnapshotStorage(store), clock: { store.now },
                  metrics: metrics, configuration: configuration, logger: logger)
    }

    /// A server on any engine.
    public init(accounts: any AccountStorage, sync: any SyncStorage, kpi: any KPIStorage, snapshots: any SnapshotStorage,
                clock: @escaping @Sendable () -> UInt64,
                metrics: ServerMetrics = ServerMetrics(), configuration: ServerConfiguration, logger: Logger) {
        self.accounts = accounts
        self.syncStorage = sync
        self.kpi = kpi
        self.snapshotStorage = snapshots
        self.clock = clock
        self.metrics = metrics
        self.configuration = configuration
        self.logger = logger
        self.snapshots = SnapshotGate(capacity: configuration.maxSnapshots)
        self.pushOrder = PushOrder(wait: configuration.pushOrderWait, maxWaitingPerDevice: configuration.pushesWaitingPerDevice)
        self.connections = ConnectionGuard(perAddress: configuration.maxConnectionsPerAddress)
        self.bodies = BodyBudget(total: configuration.maxBodyBytesInFlight, perDevice: configuration.maxBodyBytesPerDevice)
        self.enrolmentsByAddress = AttemptLimiter(limit: configuration.enrolmentsPerAddressPerMinute, window: 60_000, clock: clock)
        self.enrolmentsByCode = AttemptLimiter(limit: configuration.enrolmentsPerCodePrefixPerMinute, window: 60_000, clock: clock)
    }

    public func makeRouter() -> Router<Context> {
        let router = Router(context: Context.self)
        router.add(middleware: ProtocolVersionMiddleware())
        router.add(middleware: JSONErrorMiddleware(methods: Self.routes, maxRequestBytes: configuration.maxRequestBytes, logger: logger))
        router.get("/v1/health") { _, _ in
            let node = try await syncStorage.serverNode
            return try Self.json(["status": "ok", "node": node.description, "time": String(clock())])
        }
        router.post("/v1/enroll") { request, context in
            var request = request
            let body = try await request.collectBody(upTo: 64 << 10)
            let enroll = try Self.decode(EnrollRequest.self, body)
            // Guessing codes costs time: a few failed attempts a minute per address (IPv6 by /64), and per code
            // prefix from any address. Successful enrolments do not count (an office enrolling its laptops at once).
            let prefix = String(Secret.normalizeCode(enroll.code).prefix(5))
            let address = ConnectionGuard.key(context.remoteAddress ?? "unknown")
            if let wait = enrolmentsByAddress.wait([address]) ?? enrolmentsByCode.wait([prefix]) {
                metrics.enrolmentsLimited.increment()
                throw ServerError.tooManyAttempts("too many failed enrolment attempts; try again in \(wait) s", retryAfter: wait)
            }
            let response: EnrollResponse
            do {
                response = try await accounts.enroll(enroll)
            } catch let error as ServerError where error.status == .unauthorized || error.status == .badRequest || error.status == .conflict {
                enrolmentsByAddress.record([address])
                enrolmentsByCode.record([prefix])
                throw error
            }
            metrics.enrolments.increment()
            logger.info("device enrolled", metadata: ["device": "\(response.device)", "user": "\(response.user.name)"])
            return try Self.json(response)
        }
        // Every route below is for a device the server has stored: its context holds it, not optional.
        router.group().add(middleware: DeviceAuthenticator(accounts: accounts)).group(context: DeviceRequestContext.self)
            .addRoutes(syncRoutes())
            .addRoutes(kpiRoutes())
            .addRoutes(snapshotRoutes())
            .addRoutes(digestRoutes())
        addDashboardRoutes(to: router)
        return router
    }

    /// `POST /v1/sync`, `GET /v1/nodes`, `GET /v1/directory`.
    func syncRoutes() -> RouteCollection<DeviceRequestContext> {
        let devices = RouteCollection(context: DeviceRequestContext.self)
        devices.post("/v1/sync") { request, context in try await sync(request, device: context.device) }
        devices.get("/v1/nodes") { _, context in try Self.json(try await accounts.nodes(for: context.device.user)) }
        devices.get("/v1/directory") { _, context in try Self.json(try await accounts.directory(for: context.device.user)) }
        return devices
    }

    private func sync(_ request: Request, device: DeviceContext) async throws -> Response {
        let started = ContinuousClock.now
        let acceptsGzip = request.headers[.acceptEncoding]?.contains("gzip") ?? false
        let gzipped = request.headers[.contentEncoding]?.lowercased() == "gzip"
        pushOrder.begin(device: device.device)
        defer { pushOrder.end(device: device.device) }
        var request = request
        // Room for the body, as declared (or the most a body may be), before any of it is read.
        let maximum = configuration.maxRequestBytes
        let declared = request.headers[.contentLength].flatMap { Int($0) }.map { min(max($0, 0), maximum) } ?? maximum
        guard bodies.reserve(declared, device: device.device) else {
            metrics.bodiesRefused.increment()
            throw ServerError.busy("the server is receiving as much as it holds at once; send this again shortly", retryAfter: 1)
        }
        var reserved = declared
        defer { bodies.release(reserved, device: device.device) }
        var body = try await request.collectBody(upTo: maximum)
        // What arrived is what stays reserved (a body sent without a length reserved the most one may be).
        if body.readableBytes < reserved {
            bodies.release(reserved - body.readableBytes, device: device.device)
            reserved = body.readableBytes
        }
        let sync: SyncRequest
        do {
            // Inflated into the room there is (at most the same bound as a plain body): a small gzip
            // bomb is refused once it passes it, not after, and several at once never add up.
            if gzipped {
                guard let room = bodies.reserve(upTo: maximum, atLeast: min(maximum, 1 << 20), device: device.device) else {
                    metrics.bodiesRefused.increment()
                    throw ServerError.busy("the server is receiving as much as it holds at once; send this again shortly", retryAfter: 1)
                }
                reserved += room
                do {
                    body = try BodyCompression.gunzip(body, maxSize: room)
                } catch where room < maximum && BodyCompression.isOverflow(error) {
                    metrics.bodiesRefused.increment()
                    throw ServerError.busy("the server is receiving as much as it holds at once; send this again shortly", retryAfter: 1)
                }
                // The compressed bytes are let go; what stays reserved is what the inflated body holds.
                let held = body.readableBytes
                bodies.release(reserved - held, device: device.device)
                reserved = held
            }
            sync = try WireJSON.decodeSyncRequest(body.readableBytesView, limits: configuration.requestLimits)
        } catch let error as WireJSON.LimitExceeded {
            // Within the body limit but over a documented count or length: a 400, as the schema says.
            throw ServerError(.badRequest, ErrorCode.tooLarge, error.description)
        } catch let error as WireJSON.DecodingError {
            throw ServerError.badRequest("the request body is not a valid SyncRequest: \(error)")
        } catch let error as ServerError {
            throw error
        } catch {
            throw ServerError.tooLarge("the request body is over \(configuration.maxRequestBytes >> 20) MiB once decompressed, or is not valid gzip; send smaller pages")
        }
        try PushRules.checkBelow(sync)
        // This device's own counters in the push: what a push sent ahead of its answer may follow.
        let own = sync.mutations.lazy.filter { $0.origin == device.node }.map(\.counter)
        let counters = own.min().flatMap { low in own.max().map { low...$0 } }
        let outcome: SyncOutcome
        do {
            outcome = try await syncStorage.sync(sync, from: device, limits: configuration.limits) { [metrics, pushOrder] in
                guard let follows = sync.follows else { return }
                metrics.pushesAhead.increment()
                do { try await pushOrder.admit(device: device.device, follows: follows) } catch {
                    metrics.outOfOrder.increment()
                    throw error
                }
            }
        } catch {
            if let counters { pushOrder.failed(device: device.device, counters: counters) }
            if let error = error as? ServerError {
                logger.notice("sync refused", metadata: ["device": "\(device.device)", "error": "\(error.body.error)"])
            }
            throw error
        }
        if let counters { pushOrder.committed(device: device.device, through: counters.upperBound) }
        var response = outcome.response
        // A branch server's names of the writers below it, for the province's history and conflicts.
        if device.user.role == .branch, let names = sync.below?.names, !names.isEmpty {
            do {
                _ = try await accounts.noteRelayedNames(names, via: device.device)
            } catch {
                logger.error("relayed names not kept", metadata: ["device": "\(device.device)", "error": "\(error)"])
            }
        }
        // The device's own actions refused now are kept for its supervisor, and what they decided
        // about them rides back (`RefusedAction`); a push that refused nothing costs nothing here.
        let refusals = RefusedActionRules.keepsRefusals(of: device) ? RefusedActionRules.refusals(of: sync, response: response, device: device.node) : []
        if !refusals.isEmpty {
            do {
                response.instructions = try await accounts.noteRefusals(
                    node: device.node, refused: refusals, pushed: RefusedActionRules.pushedRun(of: sync, device: device.node),
                    wholeOutbox: RefusedActionRules.holdsWholeOutbox(sync, device: device.node))
            } catch {
                // The push is stored: its answer goes without them, and the next push that is refused tries again.
                logger.error("refused actions not kept", metadata: ["device": "\(device.device)", "error": "\(error)"])
            }
        }
        if !response.accepted.isEmpty { onChanges() }
        metrics.syncs.increment()
        metrics.conflicts.increment(by: Int64(outcome.conflictsCreated))
        if outcome.writerSeconds > 0 { metrics.writerBusy.increment(by: outcome.writerSeconds) }
        metrics.changesIn.increment(by: Int64(sync.mutations.reduce(0) { $0 + $1.changes.count }))
        metrics.changesOut.increment(by: Int64(response.changes.count))
        metrics.rejections.increment(by: Int64(response.rejected.count))
        metrics.latency.record(ContinuousClock.now - started)
        return try Self.json(bytes: WireJSON.encode(response), gzipped: acceptsGzip)
    }

    /// The application serving HTTPS only, with the given TLS configuration,
    /// the connection limits and deadlines of `configuration`.
    public func makeApplication(tls: TLSConfiguration, onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) throws -> some ApplicationProtocol {
        // The first request is never given longer than any later one.
        let (first, idle, read) = (min(configuration.firstRequestTimeout, configuration.idleTimeout), configuration.idleTimeout, configuration.requestReadTimeout)
        let connections = self.connections
        let http = HTTP1Channel.Configuration(additionalChannelHandlers: [
            connections.handler(), RequestDeadlineHandler(first: first, idle: idle, read: read),
        ])
        return Application(
            router: makeRouter(),
            server: try .tls(.http1(configuration: http), tlsConfiguration: tls),
            configuration: ApplicationConfiguration(
                address: .hostname(configuration.host, port: configuration.port), serverName: "fieldsync-server",
                backlog: configuration.listenBacklog,
                availableConnectionsDelegate: .maximum(configuration.maxConnections, logger: logger)),
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? 0) },
            logger: logger)
    }

    /// Prometheus metrics over plain HTTP on a listener of their own (by default
    /// 127.0.0.1 only), never on the public HTTPS one.
    public func makeMetricsApplication(host: String, port: Int, onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) -> some ApplicationProtocol {
        let router = Router()
        router.get("/metrics") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                     body: ResponseBody(byteBuffer: ByteBuffer(string: metrics.text())))
        }
        return Application(
            router: router,
            configuration: ApplicationConfiguration(address: .hostname(host, port: port), serverName: "fieldsync-server-metrics",
                                                    availableConnectionsDelegate: .maximum(16, logger: logger)),
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? 0) },
            logger: logger)
    }

    static func decode<T: Decodable>(_ type: T.Type, _ buffer: ByteBuffer) throws -> T {
        do {
            return try JSONDecoder().decode(type, from: Data(buffer.readableBytesView))
        } catch {
            throw ServerError.badRequest("the request body is not a valid \(T.self): \(error)")
        }
    }

    static func json(bytes: [UInt8]) -> Response {
        Response(status: .ok, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    /// `gzipped`: the client accepts gzip; an answer over `BodyCompression.threshold` is then compressed.
    static func json(bytes: [UInt8], gzipped: Bool) throws -> Response {
        guard gzipped, bytes.count > BodyCompression.threshold else { return json(bytes: bytes) }
        return Response(status: .ok, headers: [.contentType: "application/json", .contentEncoding: "gzip"],
                        body: ResponseBody(byteBuffer: try BodyCompression.gzip(bytes)))
    }

    static func json<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) throws -> Response {
        let data = try JSONEncoder().encode(value)
        return Response(status: status, headers: [.contentType: "application/json"],
                        body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }
}
