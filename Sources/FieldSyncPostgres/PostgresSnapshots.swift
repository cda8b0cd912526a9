import FieldSyncModel
import FieldSyncServerCore
import FieldSyncStore
import Foundation
import Logging
import NIOCore
import PostgresNIO

/// Snapshots from PostgreSQL: the records a device may see, read in one
/// snapshot of the database (`REPEATABLE READ`) with the log position it
/// covers, written into a new replica file under `dataFolder`'s `snapshots/`.
/// The same scope as the SQLite engine's: the customers the policy allows,
/// everything whose file is theirs (conflicts included), and every calendar day and branch.
public struct PostgresSnapshots: SnapshotStorage {
    public let storage: PostgresServerStorage
    public let dataFolder: String
    /// Records written to the file per transaction.
    static let batch = 5_000

    public init(storage: PostgresServerStorage, dataFolder: String) {
        self.storage = storage
        self.dataFolder = dataFolder
    }

    public func makeSnapshot(for device: DeviceContext) async throws -> Snapshot {
        let path = try Snapshot.newPath(in: dataFolder)
        let policy = AccessPolicy(device.user)
        let logger = storage.logger
        do {
            let replica = try Replica.open(path: path)
            let (cursor, hlc, records) = try await PostgresTransaction.run(storage.client, logger: logger) { connection in
                try await connection.query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY", logger: logger)
                let cursor = try await connection.first("SELECT COALESCE(max(seq), 0) FROM change_log", as: Int64.self, logger: logger) ?? 0
                let hlc = try await connection.first("SELECT hlc FROM server_state", as: Int64.self, logger: logger) ?? 0
                var customers: [String] = []
                for try await (id, branch, manager, team) in try await connection.query(
                    "SELECT id, branch, manager, team FROM records WHERE kind = 'customers'", logger: logger).decode((String, String?, String?, String?).self) {
                    if policy.isUnrestricted || policy.allows(CustomerScope(branch: branch, manager: manager, team: Team.members(team.map(FieldValue.text) ?? .null))) {
                        customers.append(id)
                    }
                }
                var count = 0
                var pending: [(RecordKey, RecordState)] = []
                let provinceWide = RecordKind.allCases.filter(\.isProvinceWide).map(\.rawValue)
                for try await (kind, id, bytes) in try await connection.query("""
                    SELECT kind, id, state FROM records WHERE customer = ANY(\(customers)::text[]) OR kind = ANY(\(provinceWide)::text[])
                    """, logger: logger).decode((String, String, ByteBuffer).self) {
                    guard let table = RecordKind(rawValue: kind) else { continue }
                    pending.append((RecordKey(table: table, record: id), try PostgresServerStorage.state(bytes, table, id)))
                    if pending.count >= Self.batch {
                        try replica.storeSnapshotRecords(pending)
                        count += pending.count
                        pending.removeAll(keepingCapacity: true)
                    }
                }
                try replica.storeSnapshotRecords(pending)
                count += pending.count
                return (cursor, UInt64(bitPattern: hlc), count)
            }
            try replica.closeIntoOneFile()
            return try Snapshot.finished(at: path, cursor: cursor, hlc: hlc, records: records, check: { try Replica.quickCheckSnapshot(at: $0) })
        } catch {
            Snapshot.discard(path)
            throw error
        }
    }
}
