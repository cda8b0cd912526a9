import FieldSyncModel
import FieldSyncProtocol
import FieldSyncServerCore
import FieldSyncStore
import Foundation
import GRDB

/// The province's list of city branches: `branches` records, written on the
/// server and replicated to every device like the calendar. A customer's and a
/// user's branch must be one of them, so a typo cannot split the KPIs.
extension ServerStore {
    /// Registered branches, by name.
    public func branches() throws -> [String] {
        try replica.registeredBranches().sorted()
    }

    /// Registers a branch (again, if it was renamed away).
    public func addBranch(_ name: String) throws {
        try writeLocal(try AdministrationRules.addBranch(name, registered: try branches()))
    }

    /// Renames a branch: registers the new name, moves its customers and users
    /// to it (their devices receive the files again under the new name) and
    /// retires the old name.
    public func renameBranch(_ old: String, to new: String) throws -> (customers: Int, users: Int) {
        let customers = try replica.records(.customer, where: "branch", equals: .text(old)).map(\.id)
        let (name, edits) = try AdministrationRules.renameBranch(old, to: new, registered: try branches(), customers: customers)
        try writeLocal(edits)
        let users = try writer.write { db in
            try db.execute(sql: "UPDATE users SET branch = ? WHERE branch = ?", arguments: [name, old])
            let moved = db.changesCount
            // The retired name keeps no history: a branch registered later under it inherits nothing of these files' past.
            try db.execute(sql: "UPDATE scope_history SET branch = ? WHERE branch = ?", arguments: [name, old])
            return moved
        }
        return (customers.count, users)
    }

    /// A server from before registration: its users' and customers' branches
    /// become the registered list, once, so nothing that worked stops working.
    func registerBranchesInUse() throws {
        let inUse: Set<String> = try writer.read { db in
            guard try !(Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM branches)") ?? false) else { return [] }
            let users = try String.fetchAll(db, sql: "SELECT DISTINCT branch FROM users WHERE branch IS NOT NULL")
            let customers = try String.fetchAll(db, sql: "SELECT DISTINCT branch FROM customers WHERE typeof(branch) = 'text'")
            return Set(users + customers)
        }
        guard !inUse.isEmpty else { return }
        try writeLocal(inUse.sorted().map { RecordEdit(.branch, RecordID.branch($0), [("name", .text($0))]) })
    }

    /// Hands a customer (id or unique prefix) over to a manager of its branch.
    public func assign(_ prefix: String, manager: String, team: [String]?) throws -> String {
        let id = try replica.resolve(.customer, prefix)
        try writeLocal(try AdministrationRules.assign(id, customer: try replica.record(.customer, id)?.state, to: manager, team: team, users: try users()))
        return id
    }
}
