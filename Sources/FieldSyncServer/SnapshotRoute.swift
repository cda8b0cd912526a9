import Crypto
import FieldSyncModel
import FieldSyncProtocol
import FieldSyncServerCore
import FieldSyncStore
import Foundation
import GRDB
import HTTPTypes
import Hummingbird
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

extension SyncHTTPServer {
    static let snapshotCursor = HTTPField.Name("FieldSync-Snapshot-Cursor")
    static let snapshotHLC = HTTPField.Name("FieldSync-Snapshot-HLC")
    static let snapshotSHA256 = HTTPField.Name("FieldSync-Snapshot-SHA256")
    static let snapshotRecords = HTTPField.Name("FieldSync-Snapshot-Records")
    static let snapshotChecked = HTTPField.Name("FieldSync-Snapshot-Checked")

    /// `GET /v1/snapshot`: the device's scope as a SQLite replica file, streamed,
    /// with the change-log position it covers and its SHA-256 in the headers.
    func addSnapshotRoute(to devices: RouterGroup<Context>) {
        devices.get("/v1/snapshot") { _, context in
            let device = try context.requireDevice()
            let ticket: SnapshotGate.Ticket
            switch snapshots.enter(device: device.device) {
            case .success(let granted): ticket = granted
            case .failure(.deviceBusy):
                throw ServerError(.tooManyRequests, ErrorCode.busy, "a snapshot for this device is on its way already; sync page by page meanwhile")
            case .failure(.full):
                throw ServerError(.tooManyRequests, ErrorCode.busy,
                                  "\(snapshots.capacity) snapshots are being sent to other devices; sync page by page, or ask again later")
            }
            let snapshot: Snapshot
            do {
                snapshot = try await snapshotStorage.makeSnapshot(for: device)
            } catch {
                snapshots.leave(ticket)
                throw error
            }
            var headers: HTTPFields = [.contentType: "application/vnd.sqlite3", .cacheControl: "no-store"]
            for (name, value) in [(Self.snapshotCursor, String(snapshot.cursor)), (Self.snapshotHLC, String(snapshot.hlc)),
                                  (Self.snapshotSHA256, snapshot.sha256), (Self.snapshotRecords, String(snapshot.records)),
                                  (Self.snapshotChecked, "quick_check")] {
                if let name { headers[name] = value }
            }
            let path = snapshot.path
            let gate = snapshots
            return Response(status: .ok, headers: headers, body: ResponseBody(contentLength: snapshot.bytes) { writer in
                defer {
                    try? FileManager.default.removeItem(atPath: path)
                    gate.leave(ticket)
                }
                let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: path))
                defer { try? handle.close() }
                while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty {
                    try await writer.write(ByteBuffer(bytes: chunk))
                }
                try await writer.finish(nil)
            })
        }
    }
}
