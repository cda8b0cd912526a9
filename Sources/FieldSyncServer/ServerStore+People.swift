import FieldSyncModel
import FieldSyncProtocol
import FieldSyncStore
import Foundation
import GRDB

extension ServerStore {
    public static let defaultCodeLifetime: UInt64 = 7 * 86_400_000

    /// Creates a person and a one-time enrolment code for their first device.
    public func addUser(_ info: UserInfo, codeLifetime: UInt64 = ServerStore.defaultCodeLifetime) throws -> (user: UserRecord, code: String, expiresAt: UInt64) {
        let name = info.name.trimmingCharacters(in: .whitespaces)
        guard !name.isEmpty else { throw ServerError.badRequest("--name must not be empty") }
        if [.manager, .supervisor, .branch].contains(info.role), info.branch == nil {
            throw ServerError.badRequest("a \(info.role.rawValue) works for a branch; give --branch NAME")
        }
        if let branch = info.branch, try !branches().contains(branch) {
            let known = try branches()
            throw ServerError.badRequest("branch '\(branch)' is not registered (\(known.isEmpty ? "none is" : "registered: " + known.joined(separator: ", "))); register it with 'fieldsync-server branch add \(branch)'")
        }
        let now = self.now
        let code = Secret.enrolmentCode()
        let user = UserRecord(id: UUID().uuidString.lowercased(), info: UserInfo(name: name, role: info.role, branch: info.branch), createdAt: now)
        try writer.write { db in
            if try Bool.fetchOne(db, sql: "SELECT 1 FROM users WHERE name = ?", arguments: [name]) == true {
                throw ServerError.badRequest("a user named '\(name)' exists; use 'user code' for a new enrolment code")
            }
            try db.execute(sql: "INSERT INTO users (id, name, role, branch, created_at) VALUES (?, ?, ?, ?, ?)",
                           arguments: [user.id, name, info.role.rawValue, info.branch, Int64(now)])
            try db.execute(sql: "INSERT INTO enrolment_codes (code_hash, user_id, expires_at) VALUES (?, ?, ?)",
                           arguments: [Secret.hash(code), user.id, Int64(now + codeLifetime)])
        }
        return (user, code, now + codeLifetime)
    }

    /// A new enrolment code for an existing person (a second or replacement device).
    public func issueCode(forUser name: String, codeLifetime: UInt64 = ServerStore.defaultCodeLifetime) throws -> (code: String, expiresAt: UInt64) {
        let code = Secret.enrolmentCode()
        let now = self.now
        try writer.write { db in
            guard let id = try String.fetchOne(db, sql: "SELECT id FROM users WHERE name = ?", arguments: [name]) else {
                throw ServerError.badRequest("no user named '\(name)'; list them with 'fieldsync-server user list'")
            }
            try db.execute(sql: "INSERT INTO enrolment_codes (code_hash, user_id, expires_at) VALUES (?, ?, ?)",
                           arguments: [Secret.hash(code), id, Int64(now + codeLifetime)])
        }
        return (code, now + codeLifetime)
    }

    public func users() throws -> [UserRecord] {
        try writer.read { db in
            try Row.fetchAll(db, sql: "SELECT id, name, role, branch, created_at FROM users ORDER BY name").map { row in
                UserRecord(id: row[0], info: UserInfo(name: row[1], role: Role(rawValue: row[2]) ?? .manager, branch: row[3]),
                           createdAt: UInt64(row[4] as Int64))
            }
        }
    }

    public func devices() throws -> [DeviceRecord] {
        try writer.read { db in
            try Row.fetchAll(db, sql: """
                SELECT d.id, u.name, d.node, d.name, d.created_at, d.revoked_at, d.last_seen, d.pending, u.role, u.branch
                FROM devices d JOIN users u ON u.id = d.user_id ORDER BY d.created_at
                """).map { row in
                DeviceRecord(id: row[0], user: row[1], node: NodeID(row[2] as String) ?? NodeID(rawValue: 0), name: row[3],
                             createdAt: UInt64(clamping: row[4] as Int64), revokedAt: (row[5] as Int64?).map { UInt64(clamping: $0) },
                             lastSeen: (row[6] as Int64?).map { UInt64(clamping: $0) }, pending: row[7],
                             role: Role(rawValue: row[8]) ?? .manager, branch: row[9])
            }
        }
    }

    /// The devices below this server a user may see (`GET /v1/nodes`): a
    /// supervisor those of their branch, the province and administrators all.
    public func nodes(for user: UserInfo) throws -> [NodeInfo] {
        let policy = AccessPolicy(user)
        guard policy.mayOpenDashboard else { throw ServerError.forbiddenNodes }
        return try devices().filter { policy.isUnrestricted || $0.branch == user.branch }.map(\.info)
    }

    /// Revokes a device (id or unique prefix); its next request is refused.
    public func revokeDevice(_ prefix: String) throws -> DeviceRecord {
        let now = self.now
        let id: String = try writer.write { db in
            let matches = try String.fetchAll(db, sql: "SELECT id FROM devices WHERE id LIKE ? || '%'", arguments: [prefix.lowercased()])
            guard matches.count == 1 else {
                throw ServerError.badRequest(matches.isEmpty
                    ? "no device with an id starting '\(prefix)'; list them with 'fieldsync-server device list'"
                    : "'\(prefix)' names several devices; type more of the id")
            }
            try db.execute(sql: "UPDATE devices SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?", arguments: [Int64(now), matches[0]])
            return matches[0]
        }
        return try devices().first { $0.id == id }!
    }

    /// Trades a one-time code for a device token; only the token's hash is stored.
    public func enroll(_ request: EnrollRequest) throws -> EnrollResponse {
        let now = self.now
        let token = Secret.token()
        let device = UUID().uuidString.lowercased()
        let serverNode = try replica.identity()?.node ?? NodeID(rawValue: 0)
        guard request.code.unicodeScalars.count <= 64, (1...200).contains(request.deviceName.unicodeScalars.count) else {
            throw ServerError.badRequest("code is at most 64 characters and device_name 1 to 200")
        }
        let codeHash = Secret.hash(Secret.normalizeCode(request.code))
        let user: UserInfo = try writer.write { db in
            guard let row = try Row.fetchOne(db, sql: """
                SELECT c.user_id, c.expires_at, c.used_at, u.name, u.role, u.branch
                FROM enrolment_codes c JOIN users u ON u.id = c.user_id WHERE c.code_hash = ?
                """, arguments: [codeHash]) else { throw ServerError.codeInvalid }
            if (row[2] as Int64?) != nil { throw ServerError.codeUsed }
            if (row[1] as Int64) < Int64(clamping: now) { throw ServerError.codeExpired }
            // A node belongs to exactly one device, for good: idempotency and echo
            // suppression are keyed by it. The code is not used up by a refusal.
            if let expected = request.expectRole, let role = Role(rawValue: row[4]), role != expected {
                throw ServerError.badRequest("this code is for a \(role.rawValue); a \(expected.rawValue) device needs one made with 'user add --role \(expected.rawValue)'")
            }
            let held = try Bool.fetchOne(db, sql: "SELECT 1 FROM devices WHERE node = ? UNION ALL SELECT 1 FROM relayed_nodes WHERE node = ?",
                                         arguments: [request.node.description, request.node.description]) ?? false
            if held || request.node == serverNode { throw ServerError.nodeTaken(request.node) }
            try db.execute(sql: "UPDATE enrolment_codes SET used_at = ? WHERE code_hash = ?",
                           arguments: [Int64(now), codeHash])
            try db.execute(sql: "INSERT INTO devices (id, user_id, node, name, token_hash, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                           arguments: [device, row[0] as String, request.node.description, request.deviceName,
                                       Secret.hash(token), Int64(clamping: now)])
            return UserInfo(name: row[3], role: Role(rawValue: row[4]) ?? .manager, branch: row[5])
        }
        return EnrollResponse(token: token, device: device, user: user, serverNode: serverNode)
    }

    /// The device behind a bearer token, refused if unknown or revoked.
    public func authenticate(token: String) throws -> DeviceContext {
        let now = self.now
        // A read: a write here would cost a disk flush on every request.
        let (context, lastSeen) = try writer.read { db -> (DeviceContext, Int64?) in
            guard let row = try Row.fetchOne(db.cachedStatement(sql: """
                SELECT d.id, d.node, d.revoked_at, u.name, u.role, u.branch, d.last_seen
                FROM devices d JOIN users u ON u.id = d.user_id WHERE d.token_hash = ?
                """), arguments: [Secret.hash(token)]) else { throw ServerError.unauthorized }
            if (row[2] as Int64?) != nil { throw ServerError.revoked }
            return (DeviceContext(device: row[0], node: NodeID(row[1] as String) ?? NodeID(rawValue: 0),
                                  user: UserInfo(name: row[3], role: Role(rawValue: row[4]) ?? .manager, branch: row[5])), row[6])
        }
        // `device list` shows when a device was last seen, to the minute.
        if (lastSeen ?? 0) < Int64(now) - 60_000 {
            try writer.write { db in
                try db.execute(sql: "UPDATE devices SET last_seen = ? WHERE id = ?", arguments: [Int64(now), context.device])
            }
        }
        return context
    }
}

extension DeviceRecord {
    public var info: NodeInfo {
        NodeInfo(device: id, user: user, role: role, branch: branch, node: node, name: name, enrolledAt: createdAt,
                 lastSeen: lastSeen, pending: pending, revokedAt: revokedAt)
    }
}
