import FieldSyncModel
import FieldSyncServerCore
import FieldSyncStore
import GRDB

/// The SQLite engine's scope histories (table `scope_history`).
extension ScopeHistory {
    /// The histories of `customers`, oldest entry first (a customer without one is left out).
    static func histories(of customers: some Collection<String>, _ db: Database) throws -> [String: [Entry]] {
        var histories: [String: [Entry]] = [:]
        let statement = try db.cachedStatement(sql: "SELECT from_hlc, branch, manager, team FROM scope_history WHERE customer = ? ORDER BY from_hlc")
        for customer in customers {
            for row in try Row.fetchAll(statement, arguments: [customer]) {
                histories[customer, default: []].append(Entry(
                    from: HLC(rawValue: UInt64(bitPattern: row[0] as Int64)),
                    scope: CustomerScope(branch: row[1], manager: row[2], team: Team.members((row[3] as String?).map(FieldValue.text) ?? .null))))
            }
        }
        return histories
    }

    /// The scope `customer` had at `hlc`, or nil if it never changed (the current one applies).
    static func scope(of customer: String, at hlc: HLC, _ db: Database) throws -> CustomerScope? {
        guard let row = try Row.fetchOne(db.cachedStatement(sql: """
            SELECT branch, manager, team FROM scope_history WHERE customer = ? AND from_hlc <= ? ORDER BY from_hlc DESC LIMIT 1
            """), arguments: [customer, Int64(bitPattern: hlc.rawValue)]) else { return nil }
        return CustomerScope(branch: row[0], manager: row[1], team: Team.members((row[2] as String?).map(FieldValue.text) ?? .null))
    }

    /// Records that `customer` went from `old` to `new` at `hlc` (the first
    /// change also records `old` as the scope it had from the beginning).
    static func record(_ customer: String, from old: CustomerScope, to new: CustomerScope, at hlc: HLC, _ db: Database) throws {
        let insert = try db.cachedStatement(sql: "INSERT OR REPLACE INTO scope_history (customer, from_hlc, branch, manager, team) VALUES (?, ?, ?, ?, ?)")
        if try !(Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM scope_history WHERE customer = ?)", arguments: [customer]) ?? false) {
            try insert.execute(arguments: [customer, 0, old.branch, old.manager, Team.value(old.team).text])
        }
        try insert.execute(arguments: [customer, Int64(bitPattern: hlc.rawValue), new.branch, new.manager, Team.value(new.team).text])
    }

}
