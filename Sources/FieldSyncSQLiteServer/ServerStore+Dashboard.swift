import FieldSyncModel
import FieldSyncProtocol
import FieldSyncServerCore
import GRDB

/// Browser access to the dashboard in the SQLite engine: a device trades its
/// token for a one-time login link (`fieldsync dashboard`), the link opens a
/// session cookie. `AccountRules` decides.
extension ServerStore {
    public static let loginLinkLifetime = AccountRules.loginLinkLifetime
    public static let sessionLifetime = AccountRules.sessionLifetime

    public func issueLoginLink(for device: DeviceContext) throws -> DashboardLink {
        try AccountRules.mayOpenDashboard(device)
        let token = Secret.token()
        try writer.write { db in
            try db.execute(sql: "INSERT INTO web_tokens (token_hash, device_id, kind, expires_at) VALUES (?, ?, 'link', ?)",
                           arguments: [Secret.hash(token), device.device, Int64(clamping: now + AccountRules.loginLinkLifetime)])
        }
        return AccountRules.link(token)
    }

    public func openSession(link: String) throws -> String {
        let now = self.now
        let session = Secret.token()
        try writer.write { db in
            let stored = try Row.fetchOne(db, sql: """
                SELECT t.device_id, t.expires_at, t.used_at, d.revoked_at FROM web_tokens t JOIN devices d ON d.id = t.device_id
                WHERE t.token_hash = ? AND t.kind = 'link'
                """, arguments: [Secret.hash(link)]).map { row in
                StoredLink(device: row[0], expiresAt: UInt64(clamping: row[1] as Int64), usedAt: (row[2] as Int64?).map { UInt64(clamping: $0) },
                           deviceRevoked: (row[3] as Int64?) != nil)
            }
            try AccountRules.opening(stored, now: now)
            try db.execute(sql: "UPDATE web_tokens SET used_at = ? WHERE token_hash = ?", arguments: [Int64(clamping: now), Secret.hash(link)])
            try db.execute(sql: "INSERT INTO web_tokens (token_hash, device_id, kind, expires_at) VALUES (?, ?, 'session', ?)",
                           arguments: [Secret.hash(session), stored?.device, Int64(clamping: now + AccountRules.sessionLifetime)])
            // Expired entries are of no use to anyone.
            try db.execute(sql: "DELETE FROM web_tokens WHERE expires_at < ?", arguments: [Int64(clamping: now)])
        }
        return session
    }

    public func authenticate(session: String) throws -> DeviceContext {
        let now = self.now
        let (stored, expiresAt) = try writer.read { db -> (StoredDevice?, UInt64?) in
            guard let row = try Row.fetchOne(db, sql: """
                SELECT d.id, d.node, d.revoked_at, u.name, u.role, u.branch, t.expires_at
                FROM web_tokens t JOIN devices d ON d.id = t.device_id JOIN users u ON u.id = d.user_id
                WHERE t.token_hash = ? AND t.kind = 'session'
                """, arguments: [Secret.hash(session)]) else { return (nil, nil) }
            return (Self.storedDevice(row), UInt64(clamping: row[6] as Int64))
        }
        return try AccountRules.sessionCaller(stored, expiresAt: expiresAt, now: now)
    }
}

/// The SQLite engine's accounts behind the protocol: each call leaves the
/// concurrency pool for GRDB's blocking work.
public struct SQLiteAccountStorage: AccountStorage {
    public let store: ServerStore

    public init(_ store: ServerStore) { self.store = store }

    public func addUser(_ info: UserInfo, codeLifetime: UInt64) async throws -> (user: UserRecord, code: String, expiresAt: UInt64) {
        try await offload { try store.addUser(info, codeLifetime: codeLifetime) }
    }
    public func issueCode(forUser name: String, codeLifetime: UInt64) async throws -> (code: String, expiresAt: UInt64) {
        try await offload { try store.issueCode(forUser: name, codeLifetime: codeLifetime) }
    }
    public func users() async throws -> [UserRecord] { try await offload { try store.users() } }
    public func devices() async throws -> [DeviceRecord] { try await offload { try store.devices() } }
    public func revokeDevice(_ prefix: String) async throws -> DeviceRecord { try await offload { try store.revokeDevice(prefix) } }
    public func enroll(_ request: EnrollRequest) async throws -> EnrollResponse { try await offload { try store.enroll(request) } }
    public func authenticate(token: String) async throws -> DeviceContext { try await offload { try store.authenticate(token: token) } }
    public func issueLoginLink(for device: DeviceContext) async throws -> DashboardLink { try await offload { try store.issueLoginLink(for: device) } }
    public func openSession(link: String) async throws -> String { try await offload { try store.openSession(link: link) } }
    public func authenticate(session: String) async throws -> DeviceContext { try await offload { try store.authenticate(session: session) } }
    public func noteRefusals(node: NodeID, refused: [RefusedAction.Refusal], pushed: ClosedRange<UInt64>?, wholeOutbox: Bool) async throws -> [SyncResponse.Instruction] {
        try await offload { try store.noteRefusals(node: node, refused: refused, pushed: pushed, wholeOutbox: wholeOutbox) }
    }
    public func refusedActions(of nodes: [NodeID], limit: Int) async throws -> [RefusedAction] {
        try await offload { try store.refusedActions(of: nodes, limit: limit) }
    }
    public func refusedAction(node: NodeID, counter: UInt64) async throws -> RefusedAction? {
        try await offload { try store.refusedAction(node: node, counter: counter) }
    }
    public func decideRefused(node: NodeID, counter: UInt64, decision: SyncResponse.Instruction) async throws -> Bool {
        try await offload { try store.decideRefused(node: node, counter: counter, decision: decision) }
    }
    public func noteRelayedNames(_ names: [Directory.Entry], via device: String) async throws -> Int {
        try await offload { try store.noteRelayedNames(names, via: device) }
    }
    public func relayedNames(via devices: [String]) async throws -> [(entry: Directory.Entry, via: String)] {
        try await offload { try store.relayedNames(via: devices) }
    }
}
