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

/// A replica file of one device's scope, ready to stream.
public struct Snapshot: Sendable {
    public init(path: String, cursor: Int64, hlc: UInt64, records: Int, bytes: Int, sha256: String) {
        (self.path, self.cursor, self.hlc, self.records, self.bytes, self.sha256) = (path, cursor, hlc, records, bytes, sha256)
    }

    public var path: String
    /// The change-log position it covers: the device pulls after it.
    public var cursor: Int64
    /// The server's clock when it was read.
    public var hlc: UInt64
    public var records: Int
    public var bytes: Int
    /// SHA-256 of the file, hex.
    public var sha256: String
}

/// Where snapshots are made, one implementation per engine: a replica file of
/// the records a device may see (SYNC.md, "Snapshot"), and its position.
public protocol SnapshotStorage: Sendable {
    func makeSnapshot(for device: DeviceContext) async throws -> Snapshot
}

extension Snapshot {
    /// A new file's path under `dataFolder`'s `snapshots/`, which it creates; files of
    /// downloads that never finished (the connection dropped before the body was sent) are removed.
    public static func newPath(in dataFolder: String) throws -> String {
        let folder = (dataFolder as NSString).appendingPathComponent("snapshots")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let stale = Date().addingTimeInterval(-3_600)
        for name in (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [] {
            let file = (folder as NSString).appendingPathComponent(name)
            if let modified = (try? FileManager.default.attributesOfItem(atPath: file))?[.modificationDate] as? Date, modified < stale {
                try? FileManager.default.removeItem(atPath: file)
            }
        }
        return (folder as NSString).appendingPathComponent("\(UUID().uuidString.lowercased()).sqlite")
    }

    /// The snapshot of the finished file at `path`: its size and SHA-256, once SQLite's quick
    /// check passed on it. The check runs on another thread while the file is hashed (it used to
    /// run on the device after the download, a sixth of a snapshot's time; the SHA-256 vouches
    /// that the device gets the bytes checked here).
    public static func finished(at path: String, cursor: Int64, hlc: UInt64, records: Int) throws -> Snapshot {
        let check = Mutex<Result<Void, any Error>>(.failure(CancellationError()))
        let checking = DispatchGroup()
        DispatchQueue.global().async(group: checking) {
            let result = Result { try Replica.quickCheckSnapshot(at: path) }
            check.withLock { $0 = result }
        }
        defer { checking.wait() }
        var hash = SHA256()
        var bytes = 0
        let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty {
            hash.update(data: chunk)
            bytes += chunk.count
        }
        checking.wait()
        try check.withLock { $0 }.get()
        return Snapshot(path: path, cursor: cursor, hlc: hlc, records: records, bytes: bytes,
                        sha256: hash.finalize().map { String(format: "%02x", $0) }.joined())
    }

    /// Removes a file that was being written and failed.
    public static func discard(_ path: String) {
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
    }
}

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
            return try Snapshot.finished(at: path, cursor: copied.cursor, hlc: copied.hlc, records: copied.records)
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
