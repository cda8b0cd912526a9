import FieldSyncModel
import FieldSyncProtocol
import FieldSyncServerCore
import Foundation
import HTTPTypes
import Hummingbird
import Synchronization

extension SyncHTTPServer {
    static let snapshotCursor = HTTPField.Name("FieldSync-Snapshot-Cursor")
    static let snapshotHLC = HTTPField.Name("FieldSync-Snapshot-HLC")
    static let snapshotSHA256 = HTTPField.Name("FieldSync-Snapshot-SHA256")
    static let snapshotRecords = HTTPField.Name("FieldSync-Snapshot-Records")
    static let snapshotChecked = HTTPField.Name("FieldSync-Snapshot-Checked")

    /// `GET /v1/snapshot`: the device's scope as a SQLite replica file, streamed,
    /// with the change-log position it covers and its SHA-256 in the headers.
    func snapshotRoutes() -> RouteCollection<DeviceRequestContext> {
        let devices = RouteCollection(context: DeviceRequestContext.self)
        devices.get("/v1/snapshot") { _, context in
            let device = context.device
            let ticket = try enterSnapshotGate(device)
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
        return devices
    }

    /// A place among the snapshots being made (one per device, `maxSnapshots` at once), or `429 busy`.
    /// A digest comparison takes one too: it reads the scope as a snapshot does.
    func enterSnapshotGate(_ device: DeviceContext) throws -> SnapshotGate.Ticket {
        switch snapshots.enter(device: device.device) {
        case .success(let granted): return granted
        case .failure(.deviceBusy):
            throw ServerError(.tooManyRequests, ErrorCode.busy, "a snapshot or digest for this device is being made already; sync page by page meanwhile")
        case .failure(.full):
            throw ServerError(.tooManyRequests, ErrorCode.busy,
                              "\(snapshots.capacity) snapshots are being made for other devices; sync page by page, or ask again later")
        }
    }
}
