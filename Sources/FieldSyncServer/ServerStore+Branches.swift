import FieldSyncModel
import FieldSyncProtocol
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
        let name = try Self.branchName(name)
        guard try !branches().contains(name) else { throw ServerError.badRequest("branch '\(name)' is registered already") }
        try writeLocal([RecordEdit(.branch, RecordID.branch(name), [("name", .text(name)), ("removed", .int(0))])])
    }

    /// Renames a branch: registers the new name, moves its customers and users
    /// to it (their devices receive the files again under the new name) and
    /// retires the old name, in one transaction.
    public func renameBranch(_ old: String, to new: String) throws -> (customers: Int, users: Int) {
        let new = try Self.branchName(new)
        let registered = try branches()
        guard registered.contains(old) else { throw ServerError.badRequest("no branch named '\(old)'; list them with 'fieldsync-server branch list'") }
        guard !registered.contains(new) else { throw ServerError.badRequest("branch '\(new)' is registered already") }
        let customers = try replica.records(.customer, where: "branch", equals: .text(old)).map(\.id)
        var edits = [RecordEdit(.branch, RecordID.branch(new), [("name", .text(new)), ("removed", .int(0))]),
                     RecordEdit(.branch, RecordID.branch(old), [("removed", .int(1))])]
        edits += customers.map { RecordEdit(.customer, $0, [("branch", .text(new))]) }
        try writeLocal(edits)
        let users = try writer.write { db in
            try db.execute(sql: "UPDATE users SET branch = ? WHERE branch = ?", arguments: [new, old])
            return db.changesCount
        }
        return (customers.count, users)
    }

    /// A branch name as typed, checked: 1 to 100 characters, no control characters.
    package static func branchName(_ text: String) throws -> String {
        let name = text.trimmingCharacters(in: .whitespaces)
        guard (1...100).contains(name.unicodeScalars.count), !name.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw ServerError.badRequest("a branch name is 1 to 100 characters, without control characters")
        }
        return name
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
        guard let customer = try replica.record(.customer, id) else { throw ServerError.badRequest("no customer '\(prefix)'") }
        let branch = customer["branch"].text
        guard try users().contains(where: { $0.info.name == manager && $0.info.role == .manager && $0.info.branch == branch }) else {
            throw ServerError.badRequest("'\(manager)' is not a manager of branch \(branch ?? "(none)"); list people with 'fieldsync-server user list'")
        }
        var fields: [(String, FieldValue)] = [("manager", .text(manager))]
        if let team { fields.append(("team", Team.value(team))) }
        try writeLocal([RecordEdit(.customer, id, fields)])
        return id
    }
}
