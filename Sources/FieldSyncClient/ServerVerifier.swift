import FieldSyncModel
import FieldSyncStore
import Foundation

/// What `ServerVerifier` found and did.
public struct ServerVerification: Sendable {
    /// The sync that brought both sides to the same point before comparing.
    public var before: SyncSummary
    /// The records compared and those that differed.
    public var drift: ServerDrift
    /// What the repair did (nil: asked not to repair, or nothing differed).
    public var repair: DriftRepair?
    /// The sync that sent the repair's offers.
    public var after: SyncSummary?
}

/// Finds drift between a replica and its server by comparing record states, and repairs it
/// (Protocol/SYNC.md, "Verifying against the server"):
///
/// 1. a sync, so that both sides hold what the other sent;
/// 2. the replica's digest sent (`POST /v1/digest`), and the server's records of the buckets
///    that differ read back; a snapshot of the device's scope (`GET /v1/snapshot`, checked by
///    SHA-256) downloaded beside the replica instead when the server is older or too much differs;
/// 3. every record compared field by field, by stamp and value, under the merge rules
///    (`RecordDrift`), writes still in the outbox set aside;
/// 4. when asked, the repair (`Replica.repair`) and a sync that sends what it offered.
///
/// A record written by someone between the snapshot and the comparison may show as differing;
/// its repair is a merge, which keeps the newer state, so nothing is lost either way.
public enum ServerVerifier {
    /// `only`: compare and repair these records alone (the others are not looked at).
    /// `useDigests`: false compares with the whole snapshot whatever the digests say.
    public static func run(_ replica: Replica, replicaPath: String, binding: ServerBinding, client: SyncClient, repair: Bool,
                           only: Set<RecordKey>? = nil, useDigests: Bool = true,
                           synchronizer: Synchronizer = Synchronizer()) async throws -> ServerVerification {
        let before = try await synchronizer.sync(replica, binding: binding, client: client)
        // Digests first: only the records of buckets that differ travel. The whole scope's snapshot
        // when the server is older or too much differs for one answer.
        var drift = useDigests
            ? try await client.drift(of: replica, token: binding.token, downloadingIfNeededTo: replicaPath + ".verify")
            : try await client.drift(of: replica, token: binding.token, downloadingTo: replicaPath + ".verify")
        if let only {
            drift.records.removeAll { !only.contains($0.key) }
            drift.compared = only.count
        }
        var verification = ServerVerification(before: before, drift: drift)
        guard repair, !drift.isIdentical else { return verification }
        verification.repair = try replica.repair(drift)
        verification.after = try await synchronizer.sync(replica, binding: binding, client: client)
        return verification
    }
}
