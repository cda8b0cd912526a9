import AsyncHTTPClient
import FieldSyncClient
import FieldSyncModel
import FieldSyncProtocol
@testable import FieldSyncSQLiteServer
@testable import FieldSyncServer
import FieldSyncStore
import FieldSyncTestSupport
import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import Testing

/// Findings 8, 12 and 13 of the security review (issue 9): connections that
/// hold the server, file modes, what the server exposes.
@Suite struct ServerExposureTests {
    // MARK: 8. Medium — slowloris

    /// A client connection to the server, plain TCP or TLS, that sends `bytes` and then nothing.
    private func connect(_ server: TestServer, tls: Bool, send text: String? = nil) async throws -> any Channel {
        let ca = try NIOSSLCertificate.fromPEMBytes(Array(server.caPEM.utf8))
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if tls {
                        var configuration = TLSConfiguration.makeClientConfiguration()
                        configuration.trustRoots = .certificates(ca)
                        let context = try NIOSSLContext(configuration: configuration)
                        try channel.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: context, serverHostname: nil))
                    }
                }
            }
            .connect(host: "127.0.0.1", port: server.port).get()
        // The write may find the connection already closed on a loaded machine: that is the outcome under test.
        if let text { try? await channel.writeAndFlush(ByteBuffer(string: text)).get() }
        return channel
    }

    /// Whether the server closes the connection within `limit` (far above its deadlines, so a loaded machine passes).
    private func closedByServer(_ channel: any Channel, within limit: Duration = .seconds(10)) async -> Bool {
        return await withTaskGroup(of: Bool.self) { group in
            group.addTask { (try? await channel.closeFuture.get()) != nil }
            group.addTask {
                try? await Task.sleep(for: limit)
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            if !first { try? await channel.close() }
            return first
        }
    }

    @Test func stalledConnectionsAreDroppedAtTheirDeadline() async throws {
        let server = try await TestServer.start(configure: { configuration in
            configuration.idleTimeout = .seconds(1)
            configuration.requestReadTimeout = .seconds(1)
        })
        #expect(await closedByServer(try await connect(server, tls: false)), "raw TCP without a TLS handshake")
        #expect(await closedByServer(try await connect(server, tls: true)), "TLS connection that never sends a request")
        let halfBody = "POST /v1/enroll HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"code\":"
        #expect(await closedByServer(try await connect(server, tls: true, send: halfBody)), "a request whose body never ends")
        let halfHead = "GET /v1/health HTTP/1.1\r\nHost: loc"
        #expect(await closedByServer(try await connect(server, tls: true, send: halfHead)), "a request whose head never ends")
        // A client that does its business in time is served as before.
        let raw = try RawHTTPS(server)
        #expect(try await raw.get("/v1/health").status == 200)
        await raw.shutdown()
        await server.stop()
    }

    // MARK: 12. Low — file modes

    @Test func dataFolderIsPrivateOnInitAndOnEveryStart() async throws {
        let folder = try TemporaryFolder()
        let data = ServerFolder(path: folder.path("server"))
        _ = try data.initialize(hosts: [], branch: nil, certificate: nil)
        let store = try data.openStore()
        _ = try store.addUser(UserInfo(name: "Ann", role: .admin, branch: nil))
        func modes() throws -> [String: Int] {
            var result: [String: Int] = [:]
            for name in try FileManager.default.contentsOfDirectory(atPath: data.path) {
                result[name] = (try FileManager.default.attributesOfItem(atPath: data.file(name))[.posixPermissions] as? Int) ?? -1
            }
            return result
        }
        #expect(try FileManager.default.attributesOfItem(atPath: data.path)[.posixPermissions] as? Int == 0o700)
        let files = try modes()
        for name in ["server.sqlite", "server.sqlite-wal", "ca-key.pem", "server-key.pem", "config.json"] {
            #expect(files[name] == 0o600, "\(name): \(String(files[name] ?? -1, radix: 8))")
        }
        #expect(files.values.allSatisfy { $0 == 0o600 }, "\(files.mapValues { String($0, radix: 8) })")
        try store.close()

        // A folder opened up by hand (or restored from a backup) is closed again at the next start.
        chmod(data.path, 0o755)
        chmod(data.file("server.sqlite"), 0o644)
        chmod(data.file("ca-key.pem"), 0o644)
        let reopened = try data.openStore()
        #expect(try FileManager.default.attributesOfItem(atPath: data.path)[.posixPermissions] as? Int == 0o700)
        #expect(try modes().values.allSatisfy { $0 == 0o600 })
        try reopened.close()
    }

    // MARK: 13. Low — exposure

    @Test func metricsAreNotOnThePublicListenerAndPagesCarrySecurityHeaders() async throws {
        let server = try await TestServer.start()
        let raw = try RawHTTPS(server)
        let metrics = try await raw.get("/metrics")
        #expect(metrics.status == 404)
        #expect(metrics.json?["error"] as? String == ErrorCode.notFound)
        let wrongMethod = try await raw.send(.POST, "/v1/health")
        #expect(wrongMethod.status == 405)
        #expect(wrongMethod.headers["Allow"].first == "GET")
        #expect(wrongMethod.json?["error"] as? String == ErrorCode.methodNotAllowed)

        // The metrics listener of their own, plain HTTP on loopback.
        var logger = Logger(label: "test-metrics")
        logger.logLevel = .warning
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let app = SyncHTTPServer(store: server.store, configuration: ServerConfiguration(), logger: logger)
            .makeMetricsApplication(host: "127.0.0.1", port: 0) { continuation.yield($0) }
        let task = Task { try await app.runService() }
        var iterator = ports.makeAsyncIterator()
        let port = try #require(await iterator.next())
        let scraped = try await HTTPClient.shared.execute(HTTPClientRequest(url: "http://127.0.0.1:\(port)/metrics"), timeout: .seconds(10))
        #expect(scraped.status == .ok)
        let scrapedText = String(buffer: try await scraped.body.collect(upTo: 1 << 20))
        for name in ["fieldsync_syncs_total", "fieldsync_upstream_pending_rows", "fieldsync_upstream_lag_seconds"] {
            #expect(scrapedText.contains(name), "\(name)")
        }
        task.cancel()
        _ = await task.result

        for path in ["/dashboard", "/dashboard/login?token=nothing"] {
            let page = try await raw.get(path)
            #expect(page.status == 401)
            #expect(page.headers["Content-Security-Policy"].first?.contains("frame-ancestors 'none'") == true, "\(path)")
            #expect(page.headers["Strict-Transport-Security"].first != nil)
            #expect(page.headers["X-Frame-Options"].first == "DENY")
            #expect(page.headers["Referrer-Policy"].first == "no-referrer")
        }
        await raw.shutdown()
        await server.stop()
    }

    @Test func serverCertificatesLiveAYearAtMostAndRenew() async throws {
        let folder = try TemporaryFolder()
        let data = ServerFolder(path: folder.path("server"))
        let settings = try data.initialize(hosts: ["fieldsync.example"], branch: nil, certificate: nil).settings
        let pem = try String(contentsOfFile: settings.tlsCertificate, encoding: .utf8)
        let validity = try CertificateAuthority.validity(of: pem)
        #expect(validity.until.timeIntervalSince(validity.from) <= 365 * 86_400)
        let later = Date().addingTimeInterval(60)
        let renewed = try data.renewCertificate(hosts: [], now: later)
        #expect(Set(renewed.hosts) == ["fieldsync.example", "localhost", "127.0.0.1"])
        #expect(renewed.expires > validity.until)
        // Laptops trust the CA, not the certificate: the renewed one is served and accepted.
        let certificate = CertificateAuthority.PEMPair(certificate: try String(contentsOfFile: data.file("server.pem"), encoding: .utf8),
                                                       privateKey: try String(contentsOfFile: data.file("server-key.pem"), encoding: .utf8))
        let enrolment = try await Self.enrol(serving: certificate, from: data)
        #expect(enrolment == nil, "\(enrolment?.message ?? "")")
    }

    /// A laptop refuses a server whose certificate has expired or names another
    /// host, although it is signed by the CA the laptop trusts.
    @Test(arguments: ["expired", "wrong host"])
    func clientRefusesABadCertificateFromItsOwnCA(_ fault: String) async throws {
        let folder = try TemporaryFolder()
        let data = ServerFolder(path: folder.path("server"))
        _ = try data.initialize(hosts: [], branch: nil, certificate: nil)
        let ca = CertificateAuthority.PEMPair(certificate: try String(contentsOfFile: data.file("ca.pem"), encoding: .utf8),
                                              privateKey: try String(contentsOfFile: data.file("ca-key.pem"), encoding: .utf8))
        let certificate = fault == "expired"
            ? try CertificateAuthority.makeServerCertificate(hosts: [], ca: ca, now: Date().addingTimeInterval(-400 * 86_400))
            : try CertificateAuthority.makeServerCertificate(hosts: ["fieldsync.example"], ca: ca, includeLoopback: false)
        let refused = try await Self.enrol(serving: certificate, from: data)
        #expect(refused?.message.contains("TLS") == true || refused?.message.lowercased().contains("certificate") == true, "\(refused?.message ?? "")")
    }

    /// Serves `data`'s store with `certificate` on a free port, and enrols a
    /// device trusting `data`'s CA: nil when the client accepted the server.
    static func enrol(serving certificate: CertificateAuthority.PEMPair, from data: ServerFolder) async throws -> SyncError? {
        let store = try data.openStore()
        var logger = Logger(label: "test-certificate")
        logger.logLevel = .critical
        let tls = try TLSConfiguration.fieldSyncServer(certificatePEM: certificate.certificate, privateKeyPEM: certificate.privateKey)
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let app = try SyncHTTPServer(store: store, configuration: ServerConfiguration(host: "127.0.0.1", port: 0), logger: logger)
            .makeApplication(tls: tls) { continuation.yield($0) }
        let task = Task { try await app.runService() }
        defer { task.cancel() }
        var iterator = ports.makeAsyncIterator()
        let port = try #require(await iterator.next())
        let client = try SyncClient(url: "https://127.0.0.1:\(port)", caPEM: String(contentsOfFile: data.file("ca.pem"), encoding: .utf8))
        let code = try store.addUser(UserInfo(name: "Ann", role: .admin, branch: nil)).code
        var refusal: SyncError?
        do {
            _ = try await client.enroll(code: code, node: NodeID(rawValue: 0x77), deviceName: "laptop")
        } catch let error as SyncError {
            refusal = error
        }
        try await client.shutdown()
        task.cancel()
        _ = await task.result
        try store.close()
        return refusal
    }
}
