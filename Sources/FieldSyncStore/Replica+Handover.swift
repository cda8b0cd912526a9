import FieldSyncModel
import Foundation
import GRDB

/// Files that left this replica's scope (a handover, a branch move): the server
/// says so (`SyncResponse.left`), and the replica drops each file once nothing
/// it typed on it waits to be sent. Refused work stays in the outbox, with its
/// reason, for `fieldsync status` to show.
extension Replica {
    /// Customers whose files were handed over and are still held here.
    public func handedOver() throws -> [String] {
        try writer.read { db in try String.fetchAll(db, sql: "SELECT customer FROM handed_over ORDER BY customer") }
    }

    /// Notes the files the server says left this replica's scope, forgets those
    /// that came back in this page, and drops the ones nothing unsent touches.
    /// - Returns: the customers whose files were dropped.
    static func settleHandovers(left: [String], pulled changes: [FieldChange], _ db: Database) throws -> [String] {
        for customer in left {
            try db.execute(sql: "INSERT OR IGNORE INTO handed_over (customer) VALUES (?)", arguments: [customer])
        }
        // By index: a closure over the changes copied each one (a page holds thousands).
        var pulledCustomers = Set<String>()
        for index in changes.indices where changes[index].table == .customer { pulledCustomers.insert(changes[index].record) }
        for customer in pulledCustomers where !left.contains(customer) {
            try db.execute(sql: "DELETE FROM handed_over WHERE customer = ?", arguments: [customer])
        }
        let pending = try String.fetchAll(db, sql: "SELECT customer FROM handed_over")
        guard !pending.isEmpty else { return [] }
        // Records the outbox still has to send (refused ones were answered: they do not hold a file back).
        var unsent = Set<String>()
        let bodies = try Data.fetchAll(db, sql: "SELECT body FROM outbox WHERE counter NOT IN (SELECT counter FROM rejections)")
        for body in bodies {
            if let mutation = try? JSONDecoder().decode(Mutation.self, from: body) { unsent.formUnion(mutation.changes.map(\.record)) }
        }
        var dropped: [String] = []
        for customer in pending {
            let file = try Self.file(of: RecordKey(table: .customer, record: customer), db)
            guard file.allSatisfy({ !unsent.contains($0.record) }) else { continue }
            try Self.delete(file, db)
            try db.execute(sql: "DELETE FROM handed_over WHERE customer = ?", arguments: [customer])
            dropped.append(customer)
        }
        return dropped
    }

    /// A record and everything that hangs from it, as held here (for a
    /// customer: its contacts, agreements, visits, faults, complaints, their
    /// notes), and the conflict records about any of them.
    public static func file(of root: RecordKey, _ db: Database) throws -> [RecordKey] {
        let io = RecordIO(db)
        var keys: [RecordKey] = []
        var frontier = [root]
        while let key = frontier.popLast() {
            guard try io.load(key.table, key.record) != nil else { continue }
            keys.append(key)
            for child in key.table.childKinds {
                guard let parent = child.schema.parentField?.name else { continue }
                frontier += try io.scan(child, where: parent, equals: .text(key.record)).map { RecordKey(table: child, record: $0.id) }
            }
        }
        let ids = Set(keys.map(\.record))
        for (id, state) in try io.scan(.conflict) where state.value("record", in: RecordKind.conflict.schema).text.map(ids.contains) == true {
            keys.append(RecordKey(table: .conflict, record: id))
        }
        return keys
    }
}

extension Replica {
    /// Deletes records outright (a file that left this replica's scope), noting the change for `RecordChangeCounter`.
    public static func delete(_ records: [RecordKey], _ db: Database) throws {
        guard !records.isEmpty else { return }
        RecordChangeCounter.noteChange(in: db)
        for key in records { try db.execute(sql: "DELETE FROM \(key.table.rawValue) WHERE id = ?", arguments: [key.record]) }
    }
}
