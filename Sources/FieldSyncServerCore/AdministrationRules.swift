import FieldSyncModel
import FieldSyncProtocol
import Foundation

/// What the server's own commands write — branches, their renaming, handovers
/// — decided from what the engine read, whatever the engine; pure. Each engine
/// writes the edits as one local write (`writeLocal`), which logs moved files again.
public enum AdministrationRules {
    /// The registered branch names among branch records.
    public static func registered(_ branches: [RecordState]) -> [String] {
        let schema = RecordKind.branch.schema
        return branches.compactMap { state in
            state.value("removed", in: schema).bool ? nil : state.value("name", in: schema).text
        }.sorted()
    }

    /// A branch name as typed, checked: 1 to 100 characters, no control characters.
    public static func branchName(_ text: String) throws -> String {
        let name = text.trimmingCharacters(in: .whitespaces)
        guard (1...100).contains(name.unicodeScalars.count), !name.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw ServerError.badRequest("a branch name is 1 to 100 characters, without control characters", text: ErrorText("admin.branch-name"))
        }
        return name
    }

    /// Registering a branch (again, if it was renamed away).
    public static func addBranch(_ text: String, registered: [String]) throws -> [RecordEdit] {
        let name = try branchName(text)
        guard !registered.contains(name) else { throw ServerError.badRequest("branch '\(name)' is registered already", text: ErrorText("admin.branch-exists", ["branch": name])) }
        return [RecordEdit(.branch, RecordID.branch(name), [("name", .text(name)), ("removed", .int(0))])]
    }

    /// Renaming a branch: the new name registered, the old one retired, its customers moved to the new name.
    public static func renameBranch(_ old: String, to text: String, registered: [String], customers: [String]) throws -> (new: String, edits: [RecordEdit]) {
        let new = try branchName(text)
        guard registered.contains(old) else { throw ServerError.badRequest("no branch named '\(old)'", hint: .listBranches, text: ErrorText("admin.no-branch", ["branch": old])) }
        guard !registered.contains(new) else { throw ServerError.badRequest("branch '\(new)' is registered already", text: ErrorText("admin.branch-exists", ["branch": new])) }
        var edits = [RecordEdit(.branch, RecordID.branch(new), [("name", .text(new)), ("removed", .int(0))]),
                     RecordEdit(.branch, RecordID.branch(old), [("removed", .int(1))])]
        edits += customers.map { RecordEdit(.customer, $0, [("branch", .text(new))]) }
        return (new, edits)
    }

    /// The one id among `ids` that starts with `prefix` (a customer named on the command line).
    public static func resolve(_ prefix: String, among ids: [String], kind: RecordKind) throws -> String {
        let wanted = prefix.lowercased()
        guard !wanted.isEmpty, wanted.allSatisfy({ $0.isHexDigit || $0 == "-" }) else {
            throw ServerError.badRequest("'\(prefix)' is not a record id; ids are hex digits, e.g. 3f2a9c1e", text: ErrorText("store.malformed-id", ["id": prefix]))
        }
        let matches = ids.filter { $0.hasPrefix(wanted) }
        switch matches.count {
        case 0: throw ServerError.badRequest("no \(kind.noun) '\(prefix)'", text: ErrorText("admin.no-record", ["table": kind.rawValue, "id": prefix]))
        case 1: return matches[0]
        default: throw ServerError.badRequest("'\(prefix)' names several \(kind.noun)s (\(matches.prefix(5).map { String($0.prefix(12)) }.joined(separator: ", "))); type more of the id",
                                            text: ErrorText("store.ambiguous", ["table": kind.rawValue, "id": prefix, "candidates": matches.prefix(5).map { String($0.prefix(12)) }.joined(separator: ", ")]))
        }
    }

    /// Handing a customer over to a manager of its branch (客户交接), optionally with a new team.
    public static func assign(_ id: String, customer: RecordState?, to manager: String, team: [String]?, users: [UserRecord]) throws -> [RecordEdit] {
        guard let customer else { throw ServerError.badRequest("no customer '\(id)'", text: ErrorText("admin.no-record", ["table": RecordKind.customer.rawValue, "id": id])) }
        let branch = customer.value("branch", in: RecordKind.customer.schema).text
        guard users.contains(where: { $0.info.name == manager && $0.info.role == .manager && $0.info.branch == branch }) else {
            throw ServerError.badRequest("'\(manager)' is not a manager of branch \(branch ?? "(none)")", hint: .listUsers,
                                         text: ErrorText("admin.not-a-manager", ["name": manager, "branch": branch ?? "—"]))
        }
        var fields: [(String, FieldValue)] = [("manager", .text(manager))]
        if let team { fields.append(("team", Team.value(team))) }
        return [RecordEdit(.customer, id, fields)]
    }
}
