import FieldSyncModel
import Foundation
import GRDB

extension Replica {
    /// Validates and records one user action in one transaction: the records,
    /// the clock and the outbox change together.
    /// - Returns: the mutation, or nil if the action changed nothing.
    @discardableResult
    public func write(_ edits: [RecordEdit]) throws -> Mutation? {
        let now = wallClock()
        return try writer.write { db in try Self.write(edits, validate: true, now: now, io: RecordIO(db), db) }
    }

    /// Records many user actions in one transaction, each its own mutation
    /// (bulk import, benchmarks).
    public func write(actions: [[RecordEdit]]) throws -> Int {
        let now = wallClock()
        return try writer.write { db in
            let io = RecordIO(db)
            var written = 0
            for edits in actions where try Self.write(edits, validate: true, now: now, io: io, db) != nil { written += 1 }
            return written
        }
    }

    @discardableResult
    public static func write(_ edits: [RecordEdit], validate: Bool, now: UInt64, io: RecordIO, _ db: Database) throws -> Mutation? {
        let node = try requireNode(db)
        var clock = try clock(db)
        // The offset learnt from the server corrects a laptop clock that is off.
        let offset = try clockOffset(db)
        let hlc = clock.tick(nowMilliseconds: UInt64(max(0, Int64(now) + offset)))
        var states: [RecordKey: RecordState] = [:]
        var order: [RecordKey] = []
        var changes: [FieldChange] = []
        for edit in try HandoverRecords.adding(to: edits, at: hlc.milliseconds, stored: { try io.load(.customer, $0) }) {
            let table = RecordTable.of(edit.table)
            let key = RecordKey(table: edit.table, record: edit.record)
            let current = try states[key] ?? io.load(edit.table, edit.record)
            if validate {
                try check(edit, current: current) { key in try states[key] != nil || io.load(key.table, key.record) != nil }
            }
            let editChanges = LocalEdit.changes(
                table: edit.table, record: edit.record, current: current,
                fields: edit.fields, hlc: hlc, node: node)
            guard !editChanges.isEmpty else { continue }
            var state = current ?? RecordState(fieldCount: table.schema.fields.count)
            var overwrites: [Overwrite] = []  // a local write is based on what it replaces: never concurrent
            _ = RecordMerge.apply(editChanges, to: &state, schema: table.schema, overwrites: &overwrites)
            if states.updateValue(state, forKey: key) == nil { order.append(key) }
            changes += editChanges
        }
        guard !changes.isEmpty else { return nil }
        for key in order {
            if let state = states[key] { try io.save(key.table, key.record, state) }
        }
        let counter = (UInt64(try meta(MetaKey.counter, db) ?? "0") ?? 0) + 1
        let mutation = Mutation(origin: node, counter: counter, user: try meta(MetaKey.user, db), changes: changes)
        try db.cachedStatement(sql: "INSERT INTO outbox (counter, hlc, body) VALUES (?, ?, ?)")
            .execute(arguments: [Int64(counter), Int64(bitPattern: hlc.rawValue), Data(mutation.jsonBytes())])
        try setMeta(MetaKey.counter, String(counter), db)
        try saveClock(clock, db)
        return mutation
    }

    /// The record as it would stand after the edit must be valid, and every
    /// reference it sets must name an existing record (or one the same action creates):
    /// `exists` says which, however the caller's engine stores them.
    public static func check(_ edit: RecordEdit, current: RecordState?, exists: (RecordKey) throws -> Bool) throws {
        let schema = edit.table.schema
        var proposed = current?.dictionary(in: schema) ?? [:]
        do {
            for (name, value) in edit.fields {
                try schema.check(field: name, value: value)
                proposed[name] = value == .null ? nil : value
            }
            try schema.check(record: proposed)
        } catch {
            throw StoreError.invalid(error)
        }
        for (name, value) in edit.fields {
            guard case .reference(let target)? = schema.spec(name)?.type, case .text(let id) = value else { continue }
            guard try exists(RecordKey(table: target, record: id)) else {
                throw StoreError.invalid("unknown \(target.noun) '\(id)' in \(name)",
                                         text: ("record.unknown-reference", ["table": edit.table.rawValue, "field": name, "target": target.rawValue, "id": id]))
            }
        }
    }
}
