import FieldSyncModel
import GRDB

extension Replica {
    /// The branches the province registered, as this replica last received them.
    public func registeredBranches() throws -> Set<String> {
        try writer.read { db in try Self.registeredBranches(db) }
    }

    public static func registeredBranches(_ db: Database) throws -> Set<String> {
        let schema = RecordKind.branch.schema
        var names = Set<String>()
        try RecordIO(db).scan(.branch) { _, state in
            if !state.value("removed", in: schema).bool, let name = state.value("name", in: schema).text { names.insert(name) }
        }
        return names
    }
}
