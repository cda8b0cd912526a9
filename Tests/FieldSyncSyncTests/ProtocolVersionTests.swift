import FieldSyncClient
import FieldSyncModel
import FieldSyncProtocol
@testable import FieldSyncServer
import HTTPTypes
import Hummingbird
import NIOHTTP1
import FieldSyncTestSupport
import Foundation
import Testing

/// The version handshake over real TLS (Protocol/SYNC.md, "Versions"): every answer names the
/// server's version; a request stating one older than it serves is refused before any route,
/// naming the version needed; one without the header is served as version 1.
@Suite struct ProtocolVersionTests {
    @Test func everyAnswerNamesTheServersVersionAndTooOldIsRefused() async throws {
        let server = try await TestServer.start()
        let raw = try RawHTTPS(server)
        do {
            let health = try await raw.get("/v1/health")
            #expect(health.status == 200 && health.headers.first(name: ProtocolVersion.header) == String(ProtocolVersion.current))
            let unknown = try await raw.get("/v1/nowhere")
            #expect(unknown.status == 404 && unknown.headers.first(name: ProtocolVersion.header) == String(ProtocolVersion.current),
                    "errors name the version too")

            // A client that states an older version than the server serves: refused before authentication.
            for (stated, status, code) in [("0", 400, ErrorCode.badRequest), ("x", 400, ErrorCode.badRequest), ("99999999", 400, ErrorCode.badRequest),
                                           ("1", 401, ErrorCode.unauthorized), (String(ProtocolVersion.current), 401, ErrorCode.unauthorized)] {
                let answer = try await raw.send(.POST, "/v1/sync", body: Array("{}".utf8), headers: [(ProtocolVersion.header, stated)])
                #expect(answer.status == status && answer.json?["error"] as? String == code, "\(stated): \(answer.status) \(answer.text)")
            }
            // What the server does when a version is below what it serves (none is, for this build: checked on the middleware).
            let refused = ProtocolVersionMiddleware<FieldSyncRequestContext>.upgradeRequired(0)
            #expect(refused.status.code == 400 && refused.headers[.contentType] == "application/json")

            // A client of this build sends its version; the answer comes back normally.
            let folder = try TemporaryFolder()
            let laptop = try await Laptop.enrol("Ann", server: server, folder: folder)
            #expect(try await laptop.sync().rejected.isEmpty)
            await laptop.close()
        } catch {
            await raw.shutdown()
            await server.stop()
            throw error
        }
        await raw.shutdown()
        await server.stop()
    }

    @Test func versionsParseStrictly() {
        #expect(ProtocolVersion.parse("1") == 1 && ProtocolVersion.parse("2") == 2 && ProtocolVersion.parse("1000000") == 1_000_000)
        for text in ["", "0", "-1", "+1", " 1", "1.0", "1000001", "99999999999999999999", "٢"] {
            #expect(ProtocolVersion.parse(text) == nil, "\(text)")
        }
    }
}
