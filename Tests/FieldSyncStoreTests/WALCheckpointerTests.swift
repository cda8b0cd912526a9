import FieldSyncModel
import FieldSyncStore
import FieldSyncTestSupport
import Foundation
import GRDB
import Testing

@Suite struct WALCheckpointerTests {
    /// With the checkpointer, the log is copied back once it holds the threshold's
    /// pages, so the writer starts it over and it stays about that size plus one
    /// commit; without any checkpoint it holds every commit. Nothing is lost either way.
    @Test func backgroundCheckpointsKeepTheLogShort() throws {
        let folder = try TemporaryFolder()
        let threshold: Int32 = 64
        let background = try Replica.open(path: folder.path("background.sqlite"), backgroundCheckpointPages: threshold)
        let none = try Replica.open(path: folder.path("none.sqlite"))
        try none.writer.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA wal_autocheckpoint = 0") }
        let checkpointer = try #require(background.checkpointer)
        #expect(none.checkpointer == nil)

        var sizes: [Int] = []
        for (replica, name) in [(background, "background.sqlite"), (none, "none.sqlite")] {
            try replica.initialize(ReplicaIdentity(node: NodeID(rawValue: 0xC4), branch: nil, user: "t", createdAt: ""))
            var generator = SplitMix64(seed: 7)
            for page in 0..<40 {
                let changes = (0..<50).map { index in
                    FieldChange(table: .visit, record: RecordID.make(using: &generator), field: "summary", value: .text("visit \(page).\(index)"),
                                hlc: HLC(milliseconds: 1_795_000_000_000 + UInt64(index), counter: 0), node: NodeID(rawValue: 0xB0B), base: .zero)
                }
                _ = try replica.finishExchange(pulled: changes, cursor: Int64(page), acknowledged: [], rejected: [], syncedAt: "")
                replica.checkpointer?.waitUntilIdle()
            }
            sizes.append(try FileManager.default.attributesOfItem(atPath: folder.path(name) + "-wal")[.size] as? Int ?? 0)
            #expect(try replica.records(.visit).count == 2_000)
        }
        // A log frame is a page and a 24-byte header.
        let bound = (Int(threshold) + 64) * (4_096 + 24)
        #expect(sizes[0] > 0 && sizes[0] <= bound && sizes[0] * 4 < sizes[1], "log sizes with and without background checkpoints: \(sizes)")
        try checkpointer.close()
        try background.close()
        try none.close()
    }
}
