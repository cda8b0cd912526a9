import FieldSyncModel
import Foundation
import GRDB

extension Replica {
    /// The incarnation of the server this replica last synced with (`SyncResponse.incarnation`), if known.
    public func serverIncarnation() throws -> String? {
        try writer.read { db in try Self.meta(MetaKey.serverIncarnation, db) }
    }

    /// Keeps the server's incarnation, when it changed.
    public func noteServerIncarnation(_ incarnation: String) throws {
        // Read first: most answers bring the incarnation already kept, and need no write.
        guard try serverIncarnation() != incarnation else { return }
        try writer.write { db in
            if try Self.meta(MetaKey.serverIncarnation, db) != incarnation { try Self.setMeta(MetaKey.serverIncarnation, incarnation, db) }
        }
    }

    /// Records per re-offer mutation: each fits one request whatever its kind (`SyncRequestLimits`).
    public static let reofferedRecordsPerMutation = 500

    /// The server lost part of its history (restored from a backup, or made anew): this replica
    /// starts reading its log again from the beginning, keeps the server's new incarnation, and
    /// offers back everything of its own it holds that a server acknowledged — every field this
    /// node wrote, with the stamp it had — as new mutations in the outbox (what no server has
    /// acknowledged yet is in the outbox already, and is sent as it is). Merging a change already stored changes nothing,
    /// so what the server kept is untouched and what it lost comes back as it was; conflicts are
    /// found as they were the first time, since stamps and bases are the original ones.
    /// Returns how many records were offered back. One transaction.
    public func reofferAfterServerRestore(incarnation: String) throws -> Int {
        try writer.write { db in
            let node = try Self.requireNode(db)
            let user = try Self.meta(MetaKey.user, db)
            var counter = UInt64(try Self.meta(MetaKey.counter, db) ?? "0") ?? 0
            let io = RecordIO(db)
            let acknowledged = HLC(rawValue: UInt64(try Self.meta(MetaKey.ackedHLC, db) ?? "0") ?? 0)
            var pending: [FieldChange] = [], records = 0, offered = 0
            func flush() throws {
                guard !pending.isEmpty else { return }
                counter += 1
                let mutation = Mutation(origin: node, counter: counter, user: user, changes: pending)
                let newest = pending.map(\.hlc).max() ?? .zero
                try db.cachedStatement(sql: "INSERT INTO outbox (counter, hlc, body) VALUES (?, ?, ?)")
                    .execute(arguments: [Int64(clamping: counter), Int64(bitPattern: newest.rawValue), Data(mutation.jsonBytes())])
                pending = []
                records = 0
            }
            for kind in RecordKind.allCases {
                for id in try String.fetchAll(db, sql: "SELECT id FROM \(kind.rawValue) ORDER BY id") {
                    guard let state = try io.load(kind, id) else { continue }
                    let own = state.changes(table: kind, record: id).filter { $0.node == node && $0.hlc <= acknowledged }
                    guard !own.isEmpty else { continue }
                    pending += own
                    records += 1
                    offered += 1
                    if records == Self.reofferedRecordsPerMutation { try flush() }
                }
            }
            try flush()
            try Self.setMeta(MetaKey.counter, String(counter), db)
            try Self.setMeta(MetaKey.cursor, "0", db)
            try Self.setMeta(MetaKey.serverIncarnation, incarnation, db)
            return offered
        }
    }
}
