import FieldSyncModel
import FieldSyncProtocol
import GRDB

/// Browser access to the dashboard: a device trades its token for a one-time
/// login link (`fieldsync dashboard`), the link opens a session cookie.
extension ServerStore {
    public static let loginLinkLifetime: UInt64 = 10 * 60_000
    public static let sessionLifetime: UInt64 = 8 * 3_600_000

    /// A one-time link for a supervisor's, the province's or an administrator's device.
    public func issueLoginLink(for device: DeviceContext) throws -> DashboardLink {
        guard AccessPolicy(device.user).mayOpenDashboard else { throw ServerError.forbiddenRole }
        let token = Secret.token()
        try writer.write { db in
            try db.execute(sql: "INSERT INTO web_tokens (token_hash, device_id, kind, expires_at) VALUES (?, ?, 'link', ?)",
                           arguments: [Secret.hash(token), device.device, Int64(now + Self.loginLinkLifetime)])
        }
        return DashboardLink(path: "/dashboard/login?token=\(token)", expiresInSeconds: Int(Self.loginLinkLifetime / 1000))
    }

    /// Uses up a login link and returns a session token for the cookie.
    public func openSession(link: String) throws -> String {
        let now = self.now
        let session = Secret.token()
        try writer.write { db in
            guard let row = try Row.fetchOne(db, sql: """
                SELECT t.device_id, t.expires_at, t.used_at, d.revoked_at FROM web_tokens t JOIN devices d ON d.id = t.device_id
                WHERE t.token_hash = ? AND t.kind = 'link'
                """, arguments: [Secret.hash(link)]),
                  (row[2] as Int64?) == nil, (row[1] as Int64) > Int64(now) else { throw ServerError.loginLinkInvalid }
            if (row[3] as Int64?) != nil { throw ServerError.revoked }
            try db.execute(sql: "UPDATE web_tokens SET used_at = ? WHERE token_hash = ?", arguments: [Int64(now), Secret.hash(link)])
            try db.execute(sql: "INSERT INTO web_tokens (token_hash, device_id, kind, expires_at) VALUES (?, ?, 'session', ?)",
                           arguments: [Secret.hash(session), row[0] as String, Int64(now + Self.sessionLifetime)])
            // Expired entries are of no use to anyone.
            try db.execute(sql: "DELETE FROM web_tokens WHERE expires_at < ?", arguments: [Int64(now)])
        }
        return session
    }

    /// The device behind a session cookie; a revoked device's sessions end with it.
    public func authenticate(session: String) throws -> DeviceContext {
        let now = self.now
        return try writer.read { db in
            guard let row = try Row.fetchOne(db, sql: """
                SELECT d.id, d.node, d.revoked_at, u.name, u.role, u.branch, t.expires_at
                FROM web_tokens t JOIN devices d ON d.id = t.device_id JOIN users u ON u.id = d.user_id
                WHERE t.token_hash = ? AND t.kind = 'session'
                """, arguments: [Secret.hash(session)]), (row[6] as Int64) > Int64(now) else { throw ServerError.loginLinkInvalid }
            if (row[2] as Int64?) != nil { throw ServerError.revoked }
            return DeviceContext(device: row[0], node: NodeID(row[1] as String) ?? NodeID(rawValue: 0),
                                 user: UserInfo(name: row[3], role: Role(rawValue: row[4]) ?? .manager, branch: row[5]))
        }
    }
}
