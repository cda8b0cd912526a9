import FieldSyncModel
import FieldSyncProtocol

/// Where pushes are applied and pulls read, one implementation per engine.
/// Each engine calls the same decisions (`PushRules`, `PushScopeCheck`, the
/// model's merge, `PullPageBuilder`); what differs is how rows are read, locked and written.
public protocol SyncStorage: Sendable {
    /// The server's node: stamps of its own writes, and refused as a device's.
    var serverNode: NodeID { get async throws }
    /// One sync round trip: validates and applies the pushed mutations, logs them
    /// with sequence numbers, and returns the next page of changes in the
    /// device's scope. What it acknowledges is durable before it returns.
    func sync(_ request: SyncRequest, from device: DeviceContext, limits: SyncLimits) async throws -> SyncOutcome
    /// The same, writing nothing before `admitted` returns (a push sent ahead waits there for
    /// the one it follows, `PushOrder`); what needs nothing stored may be done before.
    func sync(_ request: SyncRequest, from device: DeviceContext, limits: SyncLimits,
              admitted: @Sendable () async throws -> Void) async throws -> SyncOutcome
}

extension SyncStorage {
    public func sync(_ request: SyncRequest, from device: DeviceContext, limits: SyncLimits,
                     admitted: @Sendable () async throws -> Void) async throws -> SyncOutcome {
        try await admitted()
        return try await sync(request, from: device, limits: limits)
    }
}
