import FieldSyncModel
import FieldSyncProtocol
import FieldSyncServerCore
import FieldSyncStore

/// The SQLite engine's sync behind the protocol: concurrent syncs share a transaction and its disk flush (`GroupCommit`).
public struct SQLiteSyncStorage: SyncStorage {
    public let store: ServerStore

    public init(_ store: ServerStore) { self.store = store }

    public var serverNode: NodeID {
        get async throws { try await offload { try store.replica.identity()?.node ?? NodeID(rawValue: 0) } }
    }

    public func sync(_ request: SyncRequest, from device: DeviceContext, limits: SyncLimits) async throws -> SyncOutcome {
        try await offload { try store.syncGrouped(request, from: device, limits: limits) }
    }

    /// Checks and encodes a push sent ahead while the one it follows is being written, then writes
    /// it once admitted. Any other sync waits for nothing: one trip to a thread, as `sync` above.
    public func sync(_ request: SyncRequest, from device: DeviceContext, limits: SyncLimits,
                     admitted: @Sendable () async throws -> Void) async throws -> SyncOutcome {
        guard request.follows != nil else {
            try await admitted()
            return try await sync(request, from: device, limits: limits)
        }
        let prepared = try await offload { try store.prepareSync(request, from: device, limits: limits) }
        try await admitted()
        return try await offload { try store.syncGrouped(prepared) }
    }
}
