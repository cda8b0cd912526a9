import AsyncHTTPClient
import Crypto
import FieldSyncModel
import FieldSyncProtocol
import FieldSyncStore
import Foundation
import NIOCore
import NIOHTTP1

/// What a downloaded snapshot says of itself.
public struct SnapshotInfo: Sendable, Equatable {
    public var cursor: Int64
    public var hlc: UInt64
    public var records: Int
    public var bytes: Int64
    /// The server ran SQLite's quick check on the file it hashed (`FieldSync-Snapshot-Checked: quick_check`).
    public var checkedByServer = false
}

extension SyncClient {
    /// The largest snapshot a device takes (4 GiB): the server names the size, and a server is not trusted to bound it.
    public static let maxSnapshotBytes: Int64 = 4 << 30

    /// Streams `GET /v1/snapshot` into `path`, checking its SHA-256; `progress` gets bytes so far and the total.
    public func downloadSnapshot(token: String, to path: String, maxBytes: Int64 = SyncClient.maxSnapshotBytes,
                                 progress: @Sendable (Int64, Int64?) -> Void = { _, _ in }) async throws -> SnapshotInfo {
        var request = HTTPClientRequest(url: baseURL + "/v1/snapshot")
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        request.headers.add(name: ProtocolVersion.header, value: String(ProtocolVersion.current))
        let response: HTTPClientResponse
        do {
            response = try await http.execute(request, timeout: .seconds(600))
        } catch {
            throw describe(error)
        }
        guard response.status == .ok else {
            var body = try await response.body.collect(upTo: 1 << 16)
            let text = body.readString(length: body.readableBytes) ?? ""
            let reason = (try? JSONDecoder().decode(ErrorBody.self, from: Data(text.utf8))).map { "\($0.error): \($0.message)" } ?? String(text.prefix(300))
            throw SyncError("\(baseURL) refused the snapshot (\(response.status.code)): \(reason)")
        }
        func header(_ name: String) -> String? { response.headers.first(name: name) }
        guard let cursor = header("FieldSync-Snapshot-Cursor").flatMap(Int64.init), cursor >= 0,
              let hlc = header("FieldSync-Snapshot-HLC").flatMap(UInt64.init),
              let expected = header("FieldSync-Snapshot-SHA256"), expected.utf8.count == 64,
              let records = header("FieldSync-Snapshot-Records").flatMap(Int.init) else {
            throw SyncError("\(baseURL) sent a snapshot without its position and checksum")
        }
        let total = header("Content-Length").flatMap(Int64.init)
        if let total, total > maxBytes {
            throw SyncError("\(baseURL) offers a snapshot of \(total >> 20) MiB, more than the \(maxBytes >> 20) MiB a device takes")
        }
        _ = FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o600])
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        var hash = SHA256()
        var received: Int64 = 0
        do {
            for try await buffer in response.body {
                let bytes = Data(buffer.readableBytesView)
                hash.update(data: bytes)
                try handle.write(contentsOf: bytes)
                received += Int64(bytes.count)
                guard received <= maxBytes else {
                    throw SyncError("the snapshot from \(baseURL) grew past the \(maxBytes >> 20) MiB a device takes")
                }
                progress(received, total)
            }
            try handle.synchronize()
            try handle.close()
        } catch {
            try? handle.close()
            throw describe(error)
        }
        let actual = Hex.encode(hash.finalize())
        guard actual == expected.lowercased() else {
            throw SyncError("the snapshot from \(baseURL) arrived damaged (checksum \(actual.prefix(12))…, expected \(expected.prefix(12))…)")
        }
        return SnapshotInfo(cursor: cursor, hlc: hlc, records: records, bytes: received,
                            checkedByServer: header("FieldSync-Snapshot-Checked") == "quick_check")
    }
}

extension SyncClient {
    /// Compares `replica` with the server's copy of the caller's scope (`Replica.drift`): the snapshot
    /// downloaded to `path`, checked here whatever the server says (the comparison trusts the file no
    /// further than a pull), and removed afterwards, whatever happens.
    public func drift(of replica: Replica, token: String, downloadingTo path: String) async throws -> ServerDrift {
        func remove() {
            for suffix in ["", "-wal", "-shm", "-journal"] { try? FileManager.default.removeItem(atPath: path + suffix) }
        }
        remove()
        defer { remove() }
        _ = try await downloadSnapshot(token: token, to: path)
        try Replica.quickCheckSnapshot(at: path)
        return try replica.drift(againstSnapshotAt: path)
    }
}

/// Starts a new device from a snapshot of its scope instead of pulling it page by page.
public enum SnapshotBootstrap {
    /// Downloads the snapshot next to the replica at `replicaPath` and installs it there under
    /// `identity` (the replica must be closed, new: see `Replica.isEmptyForSnapshot`). On any
    /// failure nothing is replaced and the download is removed: the caller syncs page by page.
    public static func run(replicaPath: String, identity: ReplicaIdentity, token: String, client: SyncClient,
                           progress: @Sendable (Int64, Int64?) -> Void = { _, _ in }) async throws -> SnapshotInfo {
        let download = replicaPath + ".snapshot"
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: download + suffix) }
        do {
            let info = try await client.downloadSnapshot(token: token, to: download, progress: progress)
            // A server that checked the file says so; an older one did not, and the check runs here.
            try Replica.installSnapshot(at: download, as: identity, cursor: info.cursor, hlc: info.hlc, replacing: replicaPath,
                                        quickCheck: !info.checkedByServer)
            return info
        } catch {
            for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: download + suffix) }
            throw error
        }
    }
}
