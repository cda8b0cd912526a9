import FieldSyncModel
import FieldSyncProtocol
import FieldSyncServerCore
import FieldSyncStore
import Foundation
import GRDB

/// People and devices in the SQLite engine; `AccountRules` decides.
extension ServerStore {
    public static let defaultCodeLifetime = AccountRules.defaultCodeLifetime

    public func addUser(_ info: UserInfo, codeLifetime: UInt64 = ServerStore.defaultCodeLifetime) throws -> (user: UserRecord, code: String, expiresAt: UInt64) {
        let info = try AccountRules.newUser(info, registeredBranches: try branches())
        let now = self.now
        let code = Secret.enrolmentCode()
        let user = UserRecord(id: UUID().uuidString.lowercased(), info: info, createdAt: now)
        try writer.write { db in
            if try Bool.fetchOne(db, sql: "SELECT 1 FROM users WHERE name = ?", arguments: [info.name]) == true {
                throw AccountRules.userExists(info.name)
            }
            try db.execute(sql: "INSERT INTO users (id, name, role, branch, created_at) VALUES (?, ?, ?, ?, ?)",
                           arguments: [user.id, info.name, info.role.rawValue, info.branch, Int64(clamping: now)])
            try db.execute(sql: "INSERT INTO enrolment_codes (code_hash, user_id, expires_at) VALUES (?, ?, ?)",
                           arguments: [Secret.hash(code), user.id, Int64(clamping: now + codeLifetime)])
        }
        return (user, code, now + codeLifetime)
    }

    public func issueCode(forUser name: String, codeLifetime: UInt64 = ServerStore.defaultCodeLifetime) throws -> (code: String, expiresAt: UInt64) {
        let code = Secret.enrolmentCode()
        let now = self.now
        try writer.write { db in
            guard let id = try String.fetchOne(db, sql: "SELECT id FROM users WHERE name = ?", arguments: [name]) else { throw AccountRules.noUser(name) }
            try db.execute(sql: "INSERT INTO enrolment_codes (code_hash, user_id, expires_at) VALUES (?, ?, ?)",
                           arguments: [Secret.hash(code), id, Int64(clamping: now + codeLifetime)])
        }
        return (code, now + codeLifetime)
    }

    public func users() throws -> [UserRecord] {
        try writer.read { db in
            try Row.fetchAll(db, sql: "SELECT id, name, role, branch, created_at FROM users ORDER BY name").map { row in
                UserRecord(id: row[0], info: UserInfo(name: row[1], role: Role(rawValue: row[2]) ?? .manager, branch: row[3]),
                           createdAt: UInt64(clamping: row[4] as Int64))
            }
        }
    }

    public func devices() throws -> [DeviceRecord] {
        try writer.read { db in
            try Row.fetchAll(db, sql: """
                SELECT d.id, u.name, d.node, d.name, d.created_at, d.revoked_at, d.last_seen, d.pending, u.role, u.branch,
                       d.refused, d.refused_reason, d.refused_at
                FROM devices d JOIN users u ON u.id = d.user_id ORDER BY d.created_at, d.id
                """).map { row in
                let refused: Int64? = row[10], reason: String? = row[11], at: Int64? = row[12]
                return DeviceRecord(id: row[0], user: row[1], node: NodeID(row[2] as String) ?? NodeID(rawValue: 0), name: row[3],
                                    createdAt: UInt64(clamping: row[4] as Int64), revokedAt: (row[5] as Int64?).map { UInt64(clamping: $0) },
                                    lastSeen: (row[6] as Int64?).map { UInt64(clamping: $0) }, pending: row[7],
                                    role: Role(rawValue: row[8]) ?? .manager, branch: row[9],
                                    refused: refused.map { RefusedWork(count: Int(clamping: $0), reason: reason ?? "", at: UInt64(clamping: at ?? 0)) })
            }
        }
    }

    public func nodes(for user: UserInfo) throws -> [NodeInfo] {
        let policy = AccessPolicy(user)
        guard policy.mayOpenDashboard else { throw ServerError.forbiddenNodes }
        return try devices().filter { policy.isUnrestricted || $0.branch == user.branch }.map(\.info)
    }

    public func revokeDevice(_ prefix: String) throws -> DeviceRecord {
        let now = self.now
        let id: String = try writer.write { db in
            let matches = try String.fetchAll(db, sql: "SELECT id FROM devices WHERE id LIKE ? || '%' ESCAPE '\\'",
                                              arguments: [Self.likePrefix(prefix.lowercased())])
            let id = try AccountRules.revocation(of: prefix, matches: matches)
            try db.execute(sql: "UPDATE devices SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?", arguments: [Int64(clamping: now), id])
            return id
        }
        guard let device = try devices().first(where: { $0.id == id }) else { throw ServerError.badRequest("device \(id) vanished while being revoked") }
        return device
    }

    /// `prefix` matched literally by LIKE (its `%` and `_` escaped).
    static func likePrefix(_ prefix: String) -> String {
        prefix.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "%", with: "\\%").replacingOccurrences(of: "_", with: "\\_")
    }

    public func enroll(_ request: EnrollRequest) throws -> EnrollResponse {
        try AccountRules.checkEnrolment(request)
        let now = self.now
        let token = Secret.token()
        let device = UUID().uuidString.lowercased()
        let serverNode = try replica.identity()?.node ?? NodeID(rawValue: 0)
        let codeHash = AccountRules.codeHash(request.code)
        let user: UserInfo = try writer.write { db in
            let code = try Row.fetchOne(db, sql: """
                SELECT c.user_id, c.expires_at, c.used_at, u.name, u.role, u.branch
                FROM enrolment_codes c JOIN users u ON u.id = c.user_id WHERE c.code_hash = ?
                """, arguments: [codeHash]).map { row in
                StoredCode(userID: row[0], user: UserInfo(name: row[3], role: Role(rawValue: row[4]) ?? .manager, branch: row[5]),
                           expiresAt: UInt64(clamping: row[1] as Int64), usedAt: (row[2] as Int64?).map { UInt64(clamping: $0) })
            }
            let held = try Bool.fetchOne(db, sql: "SELECT 1 FROM devices WHERE node = ? UNION ALL SELECT 1 FROM relayed_nodes WHERE node = ?",
                                         arguments: [request.node.description, request.node.description]) ?? false
            let user = try AccountRules.enrolment(request, code: code, nodeHeld: held, serverNode: serverNode, now: now)
            try db.execute(sql: "UPDATE enrolment_codes SET used_at = ? WHERE code_hash = ?", arguments: [Int64(clamping: now), codeHash])
            try db.execute(sql: "INSERT INTO devices (id, user_id, node, name, token_hash, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                           arguments: [device, code?.userID, request.node.description, request.deviceName, Secret.hash(token), Int64(clamping: now)])
            return user
        }
        return EnrollResponse(token: token, device: device, user: user, serverNode: serverNode)
    }

    public func authenticate(token: String) throws -> DeviceContext {
        let now = self.now
        // A read: a write here would cost a disk flush on every request. One statement is atomic by
        // itself: without GRDB's transaction around it, which cost a tenth of the request's CPU
        // (a savepoint and a read-only switch, each a statement prepared anew).
        let stored = try writer.unsafeRead { db in
            try Row.fetchOne(db.cachedStatement(sql: """
                SELECT d.id, d.node, d.revoked_at, u.name, u.role, u.branch, d.last_seen
                FROM devices d JOIN users u ON u.id = d.user_id WHERE d.token_hash = ?
                """), arguments: [Secret.hash(token)]).map(Self.storedDevice)
        }
        let context = try AccountRules.caller(stored)
        if AccountRules.touches(lastSeen: stored?.lastSeen, now: now) {
            try writer.write { db in
                try db.execute(sql: "UPDATE devices SET last_seen = ? WHERE id = ?", arguments: [Int64(clamping: now), context.device])
            }
        }
        return context
    }

    /// A row of (id, node, revoked_at, user name, role, branch, last_seen or another integer).
    static func storedDevice(_ row: Row) -> StoredDevice {
        StoredDevice(context: DeviceContext(device: row[0], node: NodeID(row[1] as String) ?? NodeID(rawValue: 0),
                                            user: UserInfo(name: row[3], role: Role(rawValue: row[4]) ?? .manager, branch: row[5])),
                     revoked: (row[2] as Int64?) != nil, lastSeen: (row[6] as Int64?).map { UInt64(clamping: $0) })
    }
}
