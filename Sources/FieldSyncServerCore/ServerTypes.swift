import FieldSyncModel
import FieldSyncProtocol

/// A person who may enrol devices.
public struct UserRecord: Sendable, Equatable {
    public var id: String
    public var info: UserInfo
    public var createdAt: UInt64

    public init(id: String, info: UserInfo, createdAt: UInt64) {
        self.id = id
        self.info = info
        self.createdAt = createdAt
    }
}

public struct DeviceRecord: Sendable, Equatable {
    public var id: String
    public var user: String
    public var node: NodeID
    public var name: String
    public var createdAt: UInt64
    public var revokedAt: UInt64?
    public var lastSeen: UInt64?
    /// What the device last reported as waiting in its outbox.
    public var pending: Int? = nil
    /// Its user's role and branch.
    public var role: Role = .manager
    public var branch: String? = nil
    /// What this server refused of the device's work at its latest push that carried any.
    public var refused: RefusedWork? = nil

    public init(id: String, user: String, node: NodeID, name: String, createdAt: UInt64, revokedAt: UInt64?, lastSeen: UInt64?,
                pending: Int? = nil, role: Role = .manager, branch: String? = nil, refused: RefusedWork? = nil) {
        self.id = id
        self.user = user
        self.node = node
        self.name = name
        self.createdAt = createdAt
        self.revokedAt = revokedAt
        self.lastSeen = lastSeen
        self.pending = pending
        self.role = role
        self.branch = branch
        self.refused = refused
    }
}

/// A device's work this server refused, as its latest push that refused any left it: a laptop
/// sends refused actions again at every sync (the oldest first, so on its first page), and the
/// figure stays until the device reports nothing left waiting after a push. A supervisor sees it
/// (`GET /v1/nodes`, `fieldsync-server nodes`).
public struct RefusedWork: Sendable, Equatable {
    public var count: Int
    /// The first refusal's reason.
    public var reason: String
    /// Server clock, ms since the epoch.
    public var at: UInt64

    public init(count: Int, reason: String, at: UInt64) {
        (self.count, self.reason, self.at) = (count, reason, at)
    }

    /// What a push does to the stored figure.
    public enum Update: Sendable, Equatable {
        case keep
        case clear
        case set(RefusedWork)
    }

    /// Set by a push that refused something; cleared once the device has nothing left waiting
    /// after a push (`waiting`: what it reported, less what this push acknowledged); otherwise kept
    /// (a later page of the same sync, with nothing refused, says nothing of the first one).
    public static func update(rejected: [Rejection], waiting: Int?, now: UInt64) -> Update {
        if let first = rejected.first { return .set(RefusedWork(count: rejected.count, reason: first.reason, at: now)) }
        return waiting == 0 ? .clear : .keep
    }
}

/// The authenticated caller of a request.
public struct DeviceContext: Sendable, Equatable {
    public var device: String
    public var node: NodeID
    public var user: UserInfo

    public init(device: String, node: NodeID, user: UserInfo) {
        self.device = device
        self.node = node
        self.user = user
    }
}

/// Bounds of one sync exchange.
public struct SyncLimits: Sendable {
    /// Most changes returned in one page.
    public var maxChanges = 10_000
    /// About the most bytes of changes returned in one page.
    public var maxBytes = 4 << 20
    /// A push whose sender's clock differs from the server's by more than this
    /// is refused with `clock_skew` (the client re-stamps its changes and retries).
    public var maxClockSkew: UInt64 = 5 * 60_000
    /// A manager, supervisor or branch server whose cursor is at most this many log rows behind the
    /// head pulls through the indexes of its own files or branch (sorting the numbers of those rows);
    /// further behind (a long absence, a first sync without a snapshot) the log is read in order,
    /// which then costs less.
    public var indexedPullWindow: Int64 = 20_000

    public init() {}
}

/// A sync answer plus what the server itself did while producing it.
public struct SyncOutcome: Sendable {
    public var response: SyncResponse
    /// Conflict records this server created while merging the push.
    public var conflictsCreated: Int
    /// Seconds of the one writer's time this sync took (SQLite engine: the time of
    /// the shared transaction, its commit included, split evenly among the syncs in it).
    public var writerSeconds: Double = 0

    public init(response: SyncResponse, conflictsCreated: Int) {
        self.response = response
        self.conflictsCreated = conflictsCreated
    }
}

extension DeviceRecord {
    public var info: NodeInfo {
        NodeInfo(device: id, user: user, role: role, branch: branch, node: node, name: name, enrolledAt: createdAt,
                 lastSeen: lastSeen, pending: pending, revokedAt: revokedAt, refused: refused?.count, refusedReason: refused?.reason,
                 refusedAt: refused?.at)
    }
}
