@testable import FieldSyncClient
import Foundation
import NIOCore
import Testing

/// Failures `fieldsync-battery` found, each pinned by a test named after it.
@Suite struct BatteryRegressionTests {
    /// A server killed mid-response resets the connection; the laptop said
    /// "read(descriptor:pointer:size:): Connection reset by peer) (errno: 104)".
    @Test func aConnectionResetByAKilledServerReadsAsALostConnection() async throws {
        let server = try await TestServer.start()
        let client = try SyncClient(url: "https://127.0.0.1:9", caPEM: server.caPEM)
        for errno in [ECONNRESET, EPIPE] {
            let message = client.describe(IOError(errnoCode: errno, reason: "read(descriptor:pointer:size:)")).message
            #expect(message == "cannot sync with https://127.0.0.1:9: the connection was lost mid-request; nothing is lost, run sync again")
        }
        try await client.shutdown()
        await server.stop()
    }
}
