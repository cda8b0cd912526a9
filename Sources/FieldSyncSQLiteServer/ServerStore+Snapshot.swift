import Crypto
import FieldSyncModel
import FieldSyncProtocol
import FieldSyncServerCore
import FieldSyncStore
import Foundation
import GRDB
import Synchronization

extension ServerStore {
    /// Writes the records `device` may see, read in one snapshot of this server's
    /// replica, into a new file under the data folder's `snapshots/` (the caller removes it).
    public func makeSnapshot(for device: DeviceContext) throws -> Snapshot {
        let path = try Snapshot.newPath(in: (writer.path as NSString).deletingLastPathComponent)
        let policy = AccessPolicy(device.user)
        do {
            let copied = try Replica.writeSnapshot(from: writer.path, to: path) { db in
                let cursor = try Int64.fetchOne(db, sql: "SELECT COALESCE(MAX(seq), 0) FROM src.change_log") ?? 0
                let departed = Set(try String.fetchAll(db, sql: "SELECT customer FROM src.departed"))
                return (cursor, { id, branch, manager, team in
                    !departed.contains(id)
                        && (policy.isUnrestricted || policy.allows(CustomerScope(branch: branch, manager: manager, team: Team.members(team.map(FieldValue.text) ?? .null))))
                })
            }
            return try Snapshot.finished(at: path, cursor: copied.cursor, hlc: copied.hlc, records: copied.records,
                                         check: { try Replica.quickCheckSnapshot(at: $0) })
        } catch {
            // A file that failed to copy, hash or check is never offered nor left behind.
            Snapshot.discard(path)
            throw error
        }
    }
}

/// The SQLite engine's snapshots behind the protocol.
public struct SQLiteSnapshotStorage: SnapshotStorage {
    public let store: ServerStore

    public init(_ store: ServerStore) { self.store = store }

    public func makeSnapshot(for device: DeviceContext) async throws -> Snapshot {
        try await offload { try store.makeSnapshot(for: device) }
    }
}

