import FieldSyncModel

/// A record as an engine that keeps one row per record stores it: its state,
/// the customer whose file holds it, and the record it hangs from.
public struct RecordRow: Sendable, Equatable {
    public var key: RecordKey
    public var state: RecordState
    public var customer: String?
    /// "kind/id" of its parent field's record, or of a conflict's subject.
    public var parent: String?

    public init(key: RecordKey, state: RecordState, customer: String?, parent: String?) {
        (self.key, self.state, self.customer, self.parent) = (key, state, customer, parent)
    }
}

/// Everything about people, devices and sessions, as stored (secrets as hashes).
public struct ExportedAccounts: Sendable, Equatable {
    public struct User: Sendable, Equatable {
        public var id, name, role: String
        public var branch: String?
        public var createdAt: Int64
        public init(id: String, name: String, role: String, branch: String?, createdAt: Int64) {
            (self.id, self.name, self.role, self.branch, self.createdAt) = (id, name, role, branch, createdAt)
        }
    }
    public struct Code: Sendable, Equatable {
        public var hash, user: String
        public var expiresAt: Int64
        public var usedAt: Int64?
        public init(hash: String, user: String, expiresAt: Int64, usedAt: Int64?) {
            (self.hash, self.user, self.expiresAt, self.usedAt) = (hash, user, expiresAt, usedAt)
        }
    }
    public struct Device: Sendable, Equatable {
        public var id, user, node, name, tokenHash: String
        public var createdAt: Int64
        public var revokedAt, lastSeen, pending, cursor: Int64?
        /// What the server refused of its work at its latest push (`RefusedWork`).
        public var refused: Int64?, refusedReason: String?, refusedAt: Int64?
        public init(id: String, user: String, node: String, name: String, tokenHash: String, createdAt: Int64,
                    revokedAt: Int64?, lastSeen: Int64?, pending: Int64?, cursor: Int64?) {
            (self.id, self.user, self.node, self.name, self.tokenHash, self.createdAt) = (id, user, node, name, tokenHash, createdAt)
            (self.revokedAt, self.lastSeen, self.pending, self.cursor) = (revokedAt, lastSeen, pending, cursor)
        }
    }
    public struct WebToken: Sendable, Equatable {
        public var hash, device, kind: String
        public var expiresAt: Int64
        public var usedAt: Int64?
        public init(hash: String, device: String, kind: String, expiresAt: Int64, usedAt: Int64?) {
            (self.hash, self.device, self.kind, self.expiresAt, self.usedAt) = (hash, device, kind, expiresAt, usedAt)
        }
    }
    public struct ScopeChange: Sendable, Equatable {
        public var customer: String
        public var fromHLC: Int64
        public var branch, manager, team: String?
        public init(customer: String, fromHLC: Int64, branch: String?, manager: String?, team: String?) {
            (self.customer, self.fromHLC, self.branch, self.manager, self.team) = (customer, fromHLC, branch, manager, team)
        }
    }
    public struct Below: Sendable, Equatable {
        public var device: String
        public var completeUpTo: Int64?
        public var devices, pending, stale, reportedAt: Int64
        public init(device: String, completeUpTo: Int64?, devices: Int64, pending: Int64, stale: Int64, reportedAt: Int64) {
            (self.device, self.completeUpTo, self.devices, self.pending, self.stale, self.reportedAt) = (device, completeUpTo, devices, pending, stale, reportedAt)
        }
    }

    /// When the server received each stretch of its log (`LogReceipts`), carried so a copy keeps a history's receipts.
    public struct Receipt: Sendable, Equatable {
        public var firstSeq, at: Int64
        public init(firstSeq: Int64, at: Int64) { (self.firstSeq, self.at) = (firstSeq, at) }
    }

    public init() {}

    public var users: [User] = []
    public var codes: [Code] = []
    public var devices: [Device] = []
    public var webTokens: [WebToken] = []
    /// Nodes a branch server relays, and the device that claimed each.
    public var relayedNodes: [String: String] = [:]
    public var scopeHistory: [ScopeChange] = []
    public var reportedBelow: [Below] = []
    public var logReceipts: [Receipt] = []
    /// Actions refused lately and a supervisor's decisions about them, by node then counter.
    public var refusedActions: [RefusedAction] = []
    /// Who writes under the nodes branch servers relay, as they reported them, by node.
    public var relayedNames: [RelayedName] = []
    /// Each branch server's latest comparison by digests with this server, by device.
    public var digestChecks: [DigestCheck] = []

    public struct RelayedName: Sendable, Equatable {
        public var node, user, device, via: String
        public var at: Int64
        public init(node: String, user: String, device: String, via: String, at: Int64) {
            (self.node, self.user, self.device, self.via, self.at) = (node, user, device, via, at)
        }
    }
}

/// What a store copy reads from the server it copies (`fieldsync-server store copy`): the SQLite
/// engine's `ServerExport`, read in pages from one snapshot.
public protocol StoreExport: Sendable {
    var node: NodeID { get }
    var clock: HLC { get }
    var counter: UInt64 { get }
    /// The id of the server's history (`SyncResponse.incarnation`), carried over by a copy.
    var incarnation: String { get }
    func records(_ kind: RecordKind, after id: String, limit: Int) throws -> [RecordRow]
    func log(after seq: Int64, limit: Int) throws -> [ChangeLogRow]
    func appliedRuns(after origin: String, _ low: Int64, limit: Int) throws -> [(origin: String, low: Int64, high: Int64)]
    func accounts() throws -> ExportedAccounts
}
