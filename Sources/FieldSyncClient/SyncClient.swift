import AsyncHTTPClient
import FieldSyncModel
import FieldSyncProtocol
import FieldSyncStore
import Foundation
import NIOCore
import NIOHTTP1
import NIOHTTPCompression
import NIOSSL

/// Talks to a FieldSync server over HTTPS, trusting only the CA the replica
/// was enrolled with. There is no switch to skip verification.
public final class SyncClient: Sendable {
    let http: HTTPClient
    let baseURL: String

    public init(url: String, caPEM: String, requestTimeout: TimeAmount = .seconds(120)) throws {
        guard let parsed = URL(string: url), parsed.scheme == "https", parsed.host != nil else {
            throw SyncError("'\(url)' is not an https:// URL; FieldSync servers speak HTTPS only", key: "sync.not-https", ["url": url])
        }
        var tls = TLSConfiguration.makeClientConfiguration()
        do {
            tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(Array(caPEM.utf8)))
        } catch {
            throw SyncError("the CA file is not a PEM certificate: \(error)", key: "sync.ca-not-pem", ["detail": String(describing: error)])
        }
        tls.minimumTLSVersion = .tlsv12
        var configuration = HTTPClient.Configuration(
            tlsConfiguration: tls,
            timeout: .init(connect: .seconds(5), read: requestTimeout),
            decompression: .enabled(limit: .ratio(50)))
        configuration.httpVersion = .http1Only
        http = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
        baseURL = url.hasSuffix("/") ? String(url.dropLast()) : url
    }

    public func shutdown() async throws {
        try await http.shutdown()
    }

    public func enroll(code: String, node: NodeID, deviceName: String, expectRole: Role? = nil) async throws -> EnrollResponse {
        do {
            return try await post("/v1/enroll", EnrollRequest(code: code, node: node, deviceName: deviceName, expectRole: expectRole), token: nil)
        } catch let error as SyncError where error.isUntrustedCertificate {
            // At enrolment the CA is the one just given: say which file to check.
            throw SyncError("enrolment with \(baseURL) failed: the server's certificate is not signed by the CA file given with --ca; check that it is the ca.pem of this server (printed by 'fieldsync-server init'), and that the URL names that server",
                            key: "sync.enrol-wrong-ca", ["server": baseURL])
        }
    }

    public func exchange(_ request: SyncRequest, token: String) async throws -> SyncResponse {
        try await exchange(body: WireJSON.syncRequest(
            cursor: request.cursor, clientTime: request.clientTime, maxChanges: request.maxChanges, follows: request.follows, pending: request.pending,
            below: request.below, signed: request.signed, incarnation: request.incarnation, reapply: request.reapply,
            mutationBodies: request.mutations.map { $0.jsonBytes() }), token: token)
    }

    /// A sync round trip with the request already in wire JSON.
    public func exchange(body: [UInt8], token: String) async throws -> SyncResponse {
        try await decodeSyncResponse(send("/v1/sync", body: body, token: token))
    }

    /// A sync round trip whose mutations were prepared ahead; `end` closes the request
    /// (`WireJSON.syncRequestEnd`).
    public func exchange(prepared: PreparedSyncBody, end: [UInt8], token: String) async throws -> SyncResponse {
        guard let gzip = prepared.gzip else {
            return try await exchange(body: prepared.start + end, token: token)
        }
        let body: ByteBuffer
        do {
            body = try gzip.finish(end)
        } catch {
            return try await exchange(body: prepared.start + end, token: token)
        }
        return try await decodeSyncResponse(send("/v1/sync", encoded: (body, gzipped: true), token: token))
    }

    private func decodeSyncResponse(_ data: [UInt8]) throws -> SyncResponse {
        do {
            return try WireJSON.decodeSyncResponse(data)
        } catch {
            throw SyncError("\(baseURL) sent an answer this client does not understand: \(error)")
        }
    }

    func post<Body: Encodable, Answer: Decodable>(_ path: String, _ body: Body, token: String?) async throws -> Answer {
        let data = try await send(path, body: Array(try JSONEncoder().encode(body)), token: token)
        do {
            return try JSONDecoder().decode(Answer.self, from: Data(data))
        } catch {
            throw SyncError("\(baseURL) sent an answer this client does not understand: \(error)")
        }
    }

    /// Who writes under each node this device may meet (`GET /v1/directory`).
    public func directory(token: String) async throws -> Directory {
        let data = try await get("/v1/directory", token: token)
        do {
            return try JSONDecoder().decode(Directory.self, from: Data(data))
        } catch {
            throw SyncError("\(baseURL) sent a directory this client does not understand: \(error)")
        }
    }

    /// A supervisor's decision about a refused action of their branch (`POST /v1/inbox/refused`).
    public func decideRefused(_ decision: RefusedActionDecision, token: String) async throws -> RefusedActionAnswer {
        try await post("/v1/inbox/refused", decision, token: token)
    }

    /// A one-time link that opens the dashboard in a browser (supervisors and the province).
    public func dashboardLink(token: String) async throws -> DashboardLink {
        try await post("/v1/dashboard/link", [String: String](), token: token)
    }

    /// A GET of an authenticated JSON resource (`/v1/kpi?period=2026-11`); the raw JSON.
    public func get(_ path: String, query: [(String, String)] = [], token: String) async throws -> [UInt8] {
        var components = URLComponents()
        components.queryItems = query.map { URLQueryItem(name: $0.0, value: $0.1) }
        let suffix = query.isEmpty ? "" : "?" + (components.percentEncodedQuery ?? "")
        return try await send(path + suffix, body: nil, token: token)
    }

    func send(_ path: String, body: [UInt8]?, token: String?) async throws -> [UInt8] {
        let encoded = try body.map { body in
            body.count > BodyCompression.threshold ? (try BodyCompression.gzip(body), gzipped: true) : (ByteBuffer(bytes: body), gzipped: false)
        }
        return try await send(path, encoded: encoded, token: token)
    }

    private func send(_ path: String, encoded body: (bytes: ByteBuffer, gzipped: Bool)?, token: String?) async throws -> [UInt8] {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = body == nil ? .GET : .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "Accept-Encoding", value: "gzip")
        request.headers.add(name: ProtocolVersion.header, value: String(ProtocolVersion.current))
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        if let body {
            if body.gzipped { request.headers.add(name: "Content-Encoding", value: "gzip") }
            request.body = .bytes(body.bytes)
        }
        let response: HTTPClientResponse
        let bytes: ByteBuffer
        do {
            response = try await http.execute(request, timeout: .seconds(120))
            bytes = try await response.body.collect(upTo: 512 << 20)
        } catch {
            throw describe(error)
        }
        let data = Array(bytes.readableBytesView)
        guard response.status == .ok else {
            var failure: SyncError
            if let problem = try? JSONDecoder().decode(ErrorBody.self, from: Data(data)) {
                let explained = SyncError.explainedCodes.contains(problem.error)
                failure = SyncError("\(baseURL): \(problem.message)", code: problem.error, serverTime: problem.serverTime,
                                    incarnation: problem.incarnation, key: explained ? "sync.code.\(problem.error)" : "sync.server-said",
                                    ["server": baseURL, "detail": problem.message])
            } else {
                failure = SyncError("\(baseURL) answered \(response.status.code) \(response.status.reasonPhrase)", key: "sync.status",
                                    ["server": baseURL, "detail": "\(response.status.code) \(response.status.reasonPhrase)"])
            }
            failure.status = Int(response.status.code)
            throw failure
        }
        return data
    }

    /// One line naming the server and the cause.
    func describe(_ error: any Error) -> SyncError {
        let text = String(describing: error)
        let lost = SyncError("cannot sync with \(baseURL): the connection was lost mid-request; nothing is lost, run sync again",
                             key: "sync.lost", ["server": baseURL])
        // A relay or a server that closes the stream mid-answer (found by fieldsync-battery): the
        // HTTP parser meets the end early, or TLS ends without its close message.
        if let parser = error as? HTTPParserError, parser == .invalidEOFState { return lost }
        if let tls = error as? NIOSSLError, case .uncleanShutdown = tls { return lost }
        if text.contains("CERTIFICATE_VERIFY_FAILED") || text.lowercased().contains("certificate") {
            // BoringSSL's own text names a build path: what it found wrong is said in the person's words instead.
            let (why, reason) = text.contains("expired") ? ("it has expired (the server's administrator runs 'fieldsync-server cert renew')", "expired")
                : text.lowercased().contains("hostname") || text.contains("name") && text.contains("match")
                ? ("it is not valid for this host name (the server's certificate lists the names laptops may use: 'fieldsync-server cert status')", "host")
                : ("it is not signed by the CA this laptop trusts (the one it enrolled with)", "ca")
            var refusal = SyncError("cannot sync with \(baseURL): the server's certificate is refused: \(why)",
                                    key: "sync.certificate-\(reason)", ["server": baseURL])
            refusal.isUntrustedCertificate = true
            return refusal
        }
        // Any other TLS failure is a connection broken off mid-exchange (a relay cutting the
        // handshake, found by fieldsync-battery), not a wrong server.
        if error is NIOSSLError || error is BoringSSLError || text.contains("handshakeFailed") {
            return SyncError("cannot sync with \(baseURL): the secure connection broke off (\(text.prefix(160))); nothing is lost, run sync again",
                             key: "sync.broke-off", ["server": baseURL, "detail": String(text.prefix(160))])
        }
        if text.contains("connectTimeout") {
            return SyncError("cannot sync with \(baseURL): no answer within 5 s (server down or unreachable)", key: "sync.no-answer", ["server": baseURL])
        }
        if text.contains("connectionRefused") || text.contains("Connection refused") || text.contains("connect(descriptor") {
            return SyncError("cannot sync with \(baseURL): connection refused (is fieldsync-server running?)", key: "sync.connection-refused", ["server": baseURL])
        }
        // A server killed or restarted mid-request resets the connection (found by fieldsync-battery).
        if let io = error as? IOError, io.errnoCode == ECONNRESET || io.errnoCode == EPIPE { return lost }
        if text.contains("remoteConnectionClosed") || text.contains("readTimeout") { return lost }
        return SyncError("cannot sync with \(baseURL): \(text)", key: "sync.other", ["server": baseURL, "detail": text])
    }
}

/// A sync request's mutations, prepared ahead of the answer that decides the rest
/// (`WireJSON.syncRequestStart`), and already compressed when the body will be large.
public struct PreparedSyncBody: Sendable {
    public let start: [UInt8]
    let gzip: BodyCompression.TwoPartGzip?

    public init(start: [UInt8]) throws {
        self.start = start
        // The end adds a few hundred bytes at most.
        gzip = start.count + 512 > BodyCompression.threshold ? try BodyCompression.TwoPartGzip(first: start) : nil
    }
}
