import Crypto
import Dispatch
import FieldSyncModel
import Foundation
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
    /// `check`: SQLite's quick check of a replica file (`Replica.quickCheckSnapshot`), given by the engine.
    public static func finished(at path: String, cursor: Int64, hlc: UInt64, records: Int,
                                check quickCheck: @escaping @Sendable (String) throws -> Void) throws -> Snapshot {
        let check = Mutex<Result<Void, any Error>>(.failure(CancellationError()))
        let checking = DispatchGroup()
        DispatchQueue.global().async(group: checking) {
            let result = Result { try quickCheck(path) }
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
                        sha256: Hex.encode(hash.finalize()))
    }

    /// Removes a file that was being written and failed.
    public static func discard(_ path: String) {
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
    }
}
