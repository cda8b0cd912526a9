import FieldSyncClient
import FieldSyncModel
import FieldSyncProtocol
@testable import FieldSyncSQLiteServer
@testable import FieldSyncServer
import FieldSyncStore
import FieldSyncTestSupport
import Foundation
import NIOCore
import NIOEmbedded
import NIOHTTP1
import HTTPTypes
import NIOHTTPTypes
import Testing

/// Issue 24, item 5: one client could exhaust the server's memory or
/// connections. Each test is one finding of the review.
@Suite struct ResourceLimitTests {
    static func gzip(_ bytes: [UInt8]) throws -> [UInt8] {
        Array(try BodyCompression.gzip(bytes).readableBytesView)
    }

    /// (a) Concurrent small gzip pushes from one token each inflated to 32 MiB
    /// (24 of them took the server to 1.25 GiB). Bodies now reserve their room
    /// before they are read or inflated; what finds none is answered 503 with
    /// Retry-After, and the room comes back when the request ends.
    @Test func requestBodiesStayWithinTheirMemoryBudget() async throws {
        let server = try await TestServer.start(configure: { configuration in
            configuration.maxRequestBytes = 4 << 20
            configuration.maxBodyBytesPerDevice = 2 << 20
            configuration.maxBodyBytesInFlight = 8 << 20
        })
        let folder = try TemporaryFolder()
        let alice = try await Laptop.enrol("Alice", server: server, folder: folder)
        let raw = try RawHTTPS(server)
        // Declared larger than the device's room: refused before a byte of it is read.
        let large = [UInt8](repeating: UInt8(ascii: " "), count: 3 << 20)
        let declared = try await raw.send(.POST, "/v1/sync", body: large, token: alice.binding.token)
        #expect(declared.status == 503 && declared.json?["error"] as? String == "busy", "\(declared.status) \(declared.text.prefix(200))")
        #expect(declared.headers.first(name: "Retry-After") == "1")
        // Small as sent, larger than the room once inflated: refused once it passes the room, not after.
        let bomb = try Self.gzip(large)
        #expect(bomb.count < 64 << 10)
        let inflated = try await raw.send(.POST, "/v1/sync", body: bomb, token: alice.binding.token, headers: [("Content-Encoding", "gzip")])
        #expect(inflated.status == 503 && inflated.headers.first(name: "Retry-After") == "1", "\(inflated.status) \(inflated.text.prefix(200))")
        // Within the room, a bomb that is not JSON is a 400 as before.
        let small = try Self.gzip([UInt8](repeating: UInt8(ascii: " "), count: 1 << 20))
        #expect(try await raw.send(.POST, "/v1/sync", body: small, token: alice.binding.token, headers: [("Content-Encoding", "gzip")]).status == 400)
        // Nothing stays reserved, and the device syncs as usual.
        #expect(server.http.bodies.used() == 0)
        var generator = SplitMix64(seed: 5)
        try alice.replica.write([RecordEdit(.customer, RecordID.make(using: &generator), [("name", .text("Acme")), ("level", .text("vip")),
                                                                                                  ("branch", .text("Hangzhou")), ("manager", .text("Alice"))])])
        #expect(try await alice.sync().rejected.isEmpty)

        // The budget itself: all or nothing per device, shared in all, given back whole.
        let budget = BodyBudget(total: 100, perDevice: 60)
        #expect(budget.reserve(50, device: "a") && !budget.reserve(20, device: "a") && budget.reserve(40, device: "b"))
        #expect(budget.reserve(upTo: 60, atLeast: 5, device: "c") == 10 && budget.reserve(upTo: 60, atLeast: 1, device: "d") == nil)
        for (bytes, device) in [(50, "a"), (40, "b"), (10, "c")] { budget.release(bytes, device: device) }
        #expect(budget.used() == 0 && budget.used(device: "a") == 0)
        await raw.shutdown()
        await alice.close()
        await server.stop()
    }

    /// (b) 1,300 bare sockets from one address held `--max-connections` and
    /// timed out enrolled laptops for the whole attack. One address now holds
    /// at most `maxConnectionsPerAddress`; the rest are closed on accept.
    @Test func oneAddressCannotHoldEveryConnection() async throws {
        let server = try await TestServer.start(configure: { configuration in
            configuration.maxConnections = 60
            configuration.maxConnectionsPerAddress = 20
        })
        let folder = try TemporaryFolder()
        let alice = try await Laptop.enrol("Alice", server: server, folder: folder)
        // 80 idle sockets from 127.0.0.2: more than the whole server serves at once.
        var sockets: [Int32] = []
        defer { for socket in sockets { close(socket) } }
        for _ in 0..<80 { sockets.append(try Self.connect(from: "127.0.0.2", to: server.port)) }
        // The server closes all but 20 of them at once: their reads end.
        let deadline = Date().addingTimeInterval(10)
        while server.http.connections.count("127.0.0.2") > 20 || Self.closedCount(sockets) < 60, Date() < deadline {
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(server.http.connections.count("127.0.0.2") <= 20)
        #expect(Self.closedCount(sockets) >= 60)
        // A laptop from another address syncs meanwhile.
        let started = ContinuousClock.now
        #expect(try await alice.sync().rejected.isEmpty)
        // Bounded generously: under a full parallel test run a sync alone has taken seconds.
        #expect(ContinuousClock.now - started < .seconds(30))

        // IPv6 addresses count by /64; an IPv4 address mapped into IPv6 as itself.
        #expect(ConnectionGuard.key("2001:db8:1:2:aaaa::1") == ConnectionGuard.key("2001:db8:1:2:bbbb::9"))
        #expect(ConnectionGuard.key("2001:db8:1:3::1") != ConnectionGuard.key("2001:db8:1:2::1"))
        #expect(ConnectionGuard.key("::ffff:10.1.2.3") == "10.1.2.3" && ConnectionGuard.key("10.1.2.3") == "10.1.2.3")
        // The guard's own counting: per address, given back once per connection.
        let guardian = ConnectionGuard(perAddress: 2)
        #expect(guardian.admit("10.0.0.1") && guardian.admit("10.0.0.1") && !guardian.admit("10.0.0.1") && guardian.admit("10.0.0.2"))
        guardian.release("10.0.0.1")
        #expect(guardian.admit("10.0.0.1") && guardian.count("10.0.0.1") == 2)
        await alice.close()
        await server.stop()
    }

    /// (b) A socket that never completes a TLS handshake held its slot for the
    /// 30 s idle deadline; the first request head is now due within 10 s.
    /// (c) A client that stopped reading a snapshot kept its slot and file for
    /// 30 minutes; an answer nobody reads is cut after the read deadline.
    /// Both on NIO's embedded loop, its clock advanced by hand.
    @Test func stalledConnectionsAreCutOnTheirDeadlines() throws {
        let loop = EmbeddedEventLoop()
        let handshake = EmbeddedChannel(handler: RequestDeadlineHandler(first: .seconds(10), idle: .seconds(30), read: .seconds(30)), loop: loop)
        try handshake.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        loop.advanceTime(by: .seconds(9))
        #expect(handshake.isActive, "still within the first-request deadline")
        loop.advanceTime(by: .seconds(2))
        #expect(!handshake.isActive, "no request head within 10 s of opening")

        // Long request deadlines: only the stall is measured here.
        let reader = EmbeddedChannel(handler: RequestDeadlineHandler(first: .hours(1), idle: .hours(1), read: .seconds(30)), loop: loop)
        try reader.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 2)).wait()
        // The client stops reading: the answer's writes back up and the channel stays unwritable.
        reader.isWritable = false
        reader.pipeline.fireChannelWritabilityChanged()
        loop.advanceTime(by: .seconds(29))
        #expect(reader.isActive)
        reader.isWritable = true
        reader.pipeline.fireChannelWritabilityChanged()
        loop.advanceTime(by: .seconds(5))
        #expect(reader.isActive, "reading again resets the stall")
        reader.isWritable = false
        reader.pipeline.fireChannelWritabilityChanged()
        loop.advanceTime(by: .seconds(31))
        #expect(!reader.isActive, "an answer nobody reads for 30 s is cut")

        // Found in review: a request answered before its body was read (a 401 for a bad token) left the
        // connection with no deadline once the body's end arrived. Its idle deadline now runs from there.
        let early = EmbeddedChannel(handler: RequestDeadlineHandler(first: .seconds(10), idle: .seconds(30), read: .seconds(30)), loop: loop)
        try early.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 3)).wait()
        try early.writeInbound(HTTPRequestPart.head(HTTPRequest(method: .post, scheme: "https", authority: "x", path: "/v1/sync")))
        try early.writeOutbound(HTTPResponsePart.head(HTTPResponse(status: .unauthorized)))
        try early.writeOutbound(HTTPResponsePart.end(nil))
        loop.advanceTime(by: .seconds(20))
        try early.writeInbound(HTTPRequestPart.end(nil))
        loop.advanceTime(by: .seconds(29))
        #expect(early.isActive)
        loop.advanceTime(by: .seconds(2))
        #expect(!early.isActive, "idle for 30 s after the request's end")
    }

    /// (d) Enrolment codes could be guessed as fast as the server answered,
    /// and a valid code sent with the wrong `expect_role` named its role.
    @Test func enrolmentAttemptsAreLimitedPerAddressAndPerCode() async throws {
        let clock = TestClock()
        let server = try await TestServer.start(clock: clock.now)
        let raw = try RawHTTPS(server)
        func enrol(_ code: String) async throws -> RawHTTPS.Answer {
            let body = try JSONSerialization.data(withJSONObject: ["code": code, "node": "00000000000000aa", "device_name": "guess"])
            return try await raw.send(.POST, "/v1/enroll", body: Array(body))
        }
        // Five guesses at one code prefix, from anywhere, and the sixth waits.
        for index in 0..<5 { #expect(try await enrol("ABCDE-\(index)XXXX-YYYYY").status == 401) }
        let prefix = try await enrol("abcde-ZZZZZ-YYYYY")
        #expect(prefix.status == 429 && prefix.headers.first(name: "Retry-After").flatMap(Int.init).map { (1...60).contains($0) } == true,
                "\(prefix.status) \(prefix.text)")
        // Twenty attempts a minute from one address, whatever the codes.
        var statuses: [Int] = []
        for index in 0..<20 { statuses.append(try await enrol("Q\(index)QQQ-WWWWW-EEEEE").status) }
        #expect(statuses.filter { $0 == 429 }.count >= 5, "\(statuses)")
        // Successful enrolments do not count: an office enrols its laptops at once.
        clock.advance(61_000)
        for index in 0..<25 {
            let code = try await server.enrolmentCode(for: "Office \(index)")
            let body = try JSONSerialization.data(withJSONObject: ["code": code, "node": String(format: "%016x", 0x100 + index), "device_name": "laptop"])
            #expect(try await raw.send(.POST, "/v1/enroll", body: Array(body)).status == 200)
        }
        // A minute later the address may try again; the real code still works.
        clock.advance(61_000)
        let code = try await server.enrolmentCode(for: "Alice")
        let body = try JSONSerialization.data(withJSONObject: ["code": code, "node": "00000000000000ab", "device_name": "Alice's laptop"])
        #expect(try await raw.send(.POST, "/v1/enroll", body: Array(body)).status == 200)
        let limiter = AttemptLimiter(limit: 2, window: 1_000, clock: clock.now)
        #expect(limiter.attempt(["x"]) == nil && limiter.attempt(["x"]) == nil && limiter.attempt(["x"]) == 1)
        clock.advance(1_000)
        #expect(limiter.attempt(["x"]) == nil)
        await raw.shutdown()
        await server.stop()
    }

    static func connect(from source: String, to port: Int) throws -> Int32 {
        let socket = Foundation.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socket >= 0 else { throw POSIXError(.EMFILE) }
        var local = sockaddr_in()
        local.sin_family = sa_family_t(AF_INET)
        inet_pton(AF_INET, source, &local.sin_addr)
        var remote = sockaddr_in()
        remote.sin_family = sa_family_t(AF_INET)
        remote.sin_port = in_port_t(UInt16(port).bigEndian)
        inet_pton(AF_INET, "127.0.0.1", &remote.sin_addr)
        let bound = withUnsafePointer(to: &local) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        let connected = withUnsafePointer(to: &remote) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Foundation.connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard bound == 0, connected == 0 else {
            close(socket)
            throw POSIXError(.ECONNREFUSED)
        }
        return socket
    }

    /// Sockets the server has closed: a non-blocking read sees their end.
    static func closedCount(_ sockets: [Int32]) -> Int {
        sockets.filter { socket in
            var byte: UInt8 = 0
            let read = recv(socket, &byte, 1, Int32(MSG_DONTWAIT))
            return read == 0 || (read < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
        }.count
    }
}
