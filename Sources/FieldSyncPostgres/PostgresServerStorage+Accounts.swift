import FieldSyncModel
import FieldSyncProtocol
import FieldSyncServerCore
import Foundation
import Logging
import PostgresNIO

/// People, devices and sessions in PostgreSQL; `AccountRules` decides, as for SQLite.
/// Rows another instance may be deciding on at the same moment are locked
/// (`FOR UPDATE`) or guarded by a unique key, so two instances cannot both
/// use one code or give one node to two devices.
extension PostgresServerStorage: AccountStorage {
    public func addUser(_ info: UserInfo, codeLifetime: UInt64) async throws -> (user: UserRecord, code: String, expiresAt: UInt64) {
        let info = try AccountRules.newUser(info, registeredBranches: try await branches())
        let now = self.now
        let code = Secret.enrolmentCode()
        let user = UserRecord(id: UUID().uuidString.lowercased(), info: info, createdAt: now)
        let (created, expires) = (Int64(clamping: now), Int64(clamping: now + codeLifetime))
        do {
            try await transaction { connection in
                try await connection.query("""
                    INSERT INTO users (id, name, role, branch, created_at) VALUES (\(user.id), \(info.name), \(info.role.rawValue), \(info.branch), \(created))
                    """, logger: logger)
                try await connection.query("""
                    INSERT INTO enrolment_codes (code_hash, user_id, expires_at) VALUES (\(Secret.hash(code)), \(user.id), \(expires))
                    """, logger: logger)
            }
        } catch let error as PSQLError where error.isUniqueViolation {
            throw AccountRules.userExists(info.name)
        }
        return (user, code, now + codeLifetime)
    }

    public func issueCode(forUser name: String, codeLifetime: UInt64) async throws -> (code: String, expiresAt: UInt64) {
        let code = Secret.enrolmentCode()
        let now = self.now
        let expires = Int64(clamping: now + codeLifetime)
        try await transaction { connection in
            guard let id = try await connection.first("SELECT id FROM users WHERE name = \(name)", as: String.self, logger: logger) else {
                throw AccountRules.noUser(name)
            }
            try await connection.query("""
                INSERT INTO enrolment_codes (code_hash, user_id, expires_at) VALUES (\(Secret.hash(code)), \(id), \(expires))
                """, logger: logger)
        }
        return (code, now + codeLifetime)
    }

    public func users() async throws -> [UserRecord] {
        // Byte order, as SQLite sorts: the same list on both engines whatever the cluster's locale.
        let rows = try await client.query("SELECT id, name, role, branch, created_at FROM users ORDER BY name COLLATE \"C\"", logger: logger)
        var users: [UserRecord] = []
        for try await (id, name, role, branch, created) in rows.decode((String, String, String, String?, Int64).self) {
            users.append(UserRecord(id: id, info: UserInfo(name: name, role: Role(rawValue: role) ?? .manager, branch: branch),
                                    createdAt: UInt64(clamping: created)))
        }
        return users
    }

    public func devices() async throws -> [DeviceRecord] {
        let rows = try await client.query("""
            SELECT d.id, u.name, d.node, d.name, d.created_at, d.revoked_at, d.last_seen, d.pending, u.role, u.branch,
                   d.refused, d.refused_reason, d.refused_at
            FROM devices d JOIN users u ON u.id = d.user_id ORDER BY d.created_at, d.id COLLATE "C"
            """, logger: logger)
        var devices: [DeviceRecord] = []
        for try await (id, user, node, name, created, revoked, lastSeen, pending, role, branch, refused, reason, refusedAt)
            in rows.decode((String, String, String, String, Int64, Int64?, Int64?, Int64?, String, String?, Int64?, String?, Int64?).self) {
            devices.append(DeviceRecord(id: id, user: user, node: NodeID(node) ?? NodeID(rawValue: 0), name: name,
                                        createdAt: UInt64(clamping: created), revokedAt: revoked.map { UInt64(clamping: $0) },
                                        lastSeen: lastSeen.map { UInt64(clamping: $0) }, pending: pending.map { Int(clamping: $0) },
                                        role: Role(rawValue: role) ?? .manager, branch: branch,
                                        refused: refused.map { RefusedWork(count: Int(clamping: $0), reason: reason ?? "", at: UInt64(clamping: refusedAt ?? 0)) }))
        }
        return devices
    }

    public func revokeDevice(_ prefix: String) async throws -> DeviceRecord {
        let now = Int64(clamping: self.now)
        let id = try await transaction { connection in
            var matches: [String] = []
            for try await id in try await connection.query("SELECT id FROM devices WHERE starts_with(id, \(prefix.lowercased()))",
                                                           logger: logger).decode(String.self) {
                matches.append(id)
            }
            let id = try AccountRules.revocation(of: prefix, matches: matches)
            try await connection.query("UPDATE devices SET revoked_at = COALESCE(revoked_at, \(now)) WHERE id = \(id)", logger: logger)
            return id
        }
        guard let device = try await devices().first(where: { $0.id == id }) else { throw ServerError.badRequest("device \(id) vanished while being revoked") }
        return device
    }

    public func enroll(_ request: EnrollRequest) async throws -> EnrollResponse {
        try AccountRules.checkEnrolment(request)
        let now = self.now
        let token = Secret.token()
        let device = UUID().uuidString.lowercased()
        let codeHash = AccountRules.codeHash(request.code)
        let node = request.node.description, serverNode = self.node
        let user: UserInfo
        do {
            user = try await transaction { connection in
                var code: StoredCode?
                // Locked: another instance using the same code waits, then finds it used.
                for try await (userID, expires, used, name, role, branch) in try await connection.query("""
                    SELECT c.user_id, c.expires_at, c.used_at, u.name, u.role, u.branch
                    FROM enrolment_codes c JOIN users u ON u.id = c.user_id WHERE c.code_hash = \(codeHash) FOR UPDATE OF c
                    """, logger: logger).decode((String, Int64, Int64?, String, String, String?).self) {
                    code = StoredCode(userID: userID, user: UserInfo(name: name, role: Role(rawValue: role) ?? .manager, branch: branch),
                                      expiresAt: UInt64(clamping: expires), usedAt: used.map { UInt64(clamping: $0) })
                }
                // The node's lock, as a relaying push takes it: a node is never enrolled and claimed by a relay at once.
                try await lock(names: ["node/\(node)"], on: connection)
                let held = try await connection.first("""
                    SELECT EXISTS (SELECT 1 FROM devices WHERE node = \(node)) OR EXISTS (SELECT 1 FROM relayed_nodes WHERE node = \(node))
                    """, as: Bool.self, logger: logger) ?? false
                let user = try AccountRules.enrolment(request, code: code, nodeHeld: held, serverNode: serverNode, now: now)
                let at = Int64(clamping: now)
                try await connection.query("UPDATE enrolment_codes SET used_at = \(at) WHERE code_hash = \(codeHash)", logger: logger)
                try await connection.query("""
                    INSERT INTO devices (id, user_id, node, name, token_hash, created_at)
                    VALUES (\(device), \(code?.userID ?? ""), \(node), \(request.deviceName), \(Secret.hash(token)), \(at))
                    """, logger: logger)
                return user
            }
        } catch let error as PSQLError where error.isUniqueViolation {
            // Another instance gave this node to a device a moment ago.
            throw ServerError.nodeTaken(request.node)
        }
        return EnrollResponse(token: token, device: device, user: user, serverNode: serverNode)
    }

    public func authenticate(token: String) async throws -> DeviceContext {
        let now = self.now
        let stored = try await storedDevice("""
            SELECT d.id, d.node, d.revoked_at, u.name, u.role, u.branch, d.last_seen
            FROM devices d JOIN users u ON u.id = d.user_id WHERE d.token_hash = \(Secret.hash(token))
            """)
        let context = try AccountRules.caller(stored)
        if AccountRules.touches(lastSeen: stored?.lastSeen, now: now) {
            try await client.query("UPDATE devices SET last_seen = \(Int64(clamping: now)) WHERE id = \(context.device)", logger: logger)
        }
        return context
    }

    public func issueLoginLink(for device: DeviceContext) async throws -> DashboardLink {
        try AccountRules.mayOpenDashboard(device)
        let token = Secret.token()
        let expires = Int64(clamping: now + AccountRules.loginLinkLifetime)
        try await client.query("""
            INSERT INTO web_tokens (token_hash, device_id, kind, expires_at) VALUES (\(Secret.hash(token)), \(device.device), 'link', \(expires))
            """, logger: logger)
        return AccountRules.link(token)
    }

    public func openSession(link: String) async throws -> String {
        let now = self.now
        let session = Secret.token()
        let linkHash = Secret.hash(link)
        try await transaction { connection in
            var stored: StoredLink?
            for try await (device, expires, used, revoked) in try await connection.query("""
                SELECT t.device_id, t.expires_at, t.used_at, d.revoked_at FROM web_tokens t JOIN devices d ON d.id = t.device_id
                WHERE t.token_hash = \(linkHash) AND t.kind = 'link' FOR UPDATE OF t
                """, logger: logger).decode((String, Int64, Int64?, Int64?).self) {
                stored = StoredLink(device: device, expiresAt: UInt64(clamping: expires), usedAt: used.map { UInt64(clamping: $0) },
                                    deviceRevoked: revoked != nil)
            }
            try AccountRules.opening(stored, now: now)
            let at = Int64(clamping: now), expires = Int64(clamping: now + AccountRules.sessionLifetime)
            try await connection.query("UPDATE web_tokens SET used_at = \(at) WHERE token_hash = \(linkHash)", logger: logger)
            try await connection.query("""
                INSERT INTO web_tokens (token_hash, device_id, kind, expires_at) VALUES (\(Secret.hash(session)), \(stored?.device ?? ""), 'session', \(expires))
                """, logger: logger)
            try await connection.query("DELETE FROM web_tokens WHERE expires_at < \(at)", logger: logger)
        }
        return session
    }

    public func authenticate(session: String) async throws -> DeviceContext {
        let now = self.now
        var stored: StoredDevice?
        var expiresAt: UInt64?
        for try await (id, node, revoked, name, role, branch, expires) in try await client.query("""
            SELECT d.id, d.node, d.revoked_at, u.name, u.role, u.branch, t.expires_at
            FROM web_tokens t JOIN devices d ON d.id = t.device_id JOIN users u ON u.id = d.user_id
            WHERE t.token_hash = \(Secret.hash(session)) AND t.kind = 'session'
            """, logger: logger).decode((String, String, Int64?, String, String, String?, Int64).self) {
            stored = Self.storedDevice(id: id, node: node, revoked: revoked, name: name, role: role, branch: branch, lastSeen: nil)
            expiresAt = UInt64(clamping: expires)
        }
        return try AccountRules.sessionCaller(stored, expiresAt: expiresAt, now: now)
    }

    /// The device a query of (id, node, revoked_at, user name, role, branch, last_seen) finds.
    private func storedDevice(_ query: PostgresQuery) async throws -> StoredDevice? {
        for try await (id, node, revoked, name, role, branch, lastSeen)
            in try await client.query(query, logger: logger).decode((String, String, Int64?, String, String, String?, Int64?).self) {
            return Self.storedDevice(id: id, node: node, revoked: revoked, name: name, role: role, branch: branch, lastSeen: lastSeen)
        }
        return nil
    }

    private static func storedDevice(id: String, node: String, revoked: Int64?, name: String, role: String, branch: String?, lastSeen: Int64?) -> StoredDevice {
        StoredDevice(context: DeviceContext(device: id, node: NodeID(node) ?? NodeID(rawValue: 0),
                                            user: UserInfo(name: name, role: Role(rawValue: role) ?? .manager, branch: branch)),
                     revoked: revoked != nil, lastSeen: lastSeen.map { UInt64(clamping: $0) })
    }
}

extension PSQLError {
    /// A unique key refused the row (SQLSTATE 23505).
    var isUniqueViolation: Bool { serverInfo?[.sqlState] == "23505" }
}
