import FieldSyncModel
import Foundation
import GRDB

/// A record as read from the replica.
public struct StoredRecord: Sendable, Equatable {
    public let table: RecordKind
    public let id: String
    public let state: RecordState

    public subscript(_ field: String) -> FieldValue { state.value(field, in: table.schema) }

    public func stamp(_ field: String) -> FieldStamp? {
        table.schema.index(of: field).flatMap { state.stamps[$0] }
    }

    public var values: [String: FieldValue] { state.dictionary(in: table.schema) }
}

/// What `fieldsync status` shows.
public struct ReplicaStatus: Sendable, Equatable {
    public var identity: ReplicaIdentity
    public var outboxMutations: Int
    public var outboxChanges: Int
    public var unresolvedConflicts: Int
    public var lastSync: String?
    public var clock: HLC
}

extension Replica {
    public func record(_ table: RecordKind, _ id: String) throws -> StoredRecord? {
        try writer.read { db in
            try RecordIO(db).load(table, id).map { StoredRecord(table: table, id: id, state: $0) }
        }
    }

    /// Which of `ids` this replica holds as records of `table`; `unresolvedOnly`: conflict records not resolved.
    public func held(_ table: RecordKind, among ids: Set<String>, unresolvedOnly: Bool = false) throws -> Set<String> {
        guard !ids.isEmpty else { return [] }
        let resolved = table.schema.index(of: "resolved")
        return try writer.read { db in
            let io = RecordIO(db)
            return try ids.filter { id in
                guard let state = try io.load(table, id) else { return false }
                guard unresolvedOnly, let resolved else { return true }
                return !state.values[resolved].bool
            }
        }
    }

    /// All records of a kind, or those whose `field` equals `value`.
    public func records(_ table: RecordKind, where field: String? = nil, equals value: FieldValue = .null) throws -> [StoredRecord] {
        if let field, table.schema.index(of: field) == nil {
            throw StoreError.invalid("\(table.noun) has no field '\(field)'")
        }
        return try writer.read { db in
            try RecordIO(db).scan(table, where: field, equals: value).map { StoredRecord(table: table, id: $0.id, state: $0.state) }
        }
    }

    /// The full id of the record whose id starts with `prefix`, like git's
    /// abbreviated commit names.
    public func resolve(_ table: RecordKind, _ prefix: String) throws -> String {
        let trimmed = prefix.lowercased()
        guard !trimmed.isEmpty, trimmed.allSatisfy({ $0.isHexDigit || $0 == "-" }) else {
            throw StoreError.malformed("'\(prefix)' is not a record id; ids are hex digits, e.g. 3f2a9c1e", text: ("store.malformed-id", ["id": prefix]))
        }
        let matches = try writer.read { db in
            try String.fetchAll(db, sql: "SELECT id FROM \(table.rawValue) WHERE id >= ? AND id < ? ORDER BY id LIMIT 6",
                                arguments: [trimmed, trimmed + "\u{FFFF}"])
        }
        switch matches.count {
        case 0: throw StoreError.notFound(table, prefix)
        case 1: return matches[0]
        default: throw StoreError.ambiguous(table, prefix, candidates: matches.prefix(5).map { String($0.prefix(12)) })
        }
    }

    public func status() throws -> ReplicaStatus {
        try writer.read { db in
            guard let identity = try Self.identity(db) else { throw StoreError.notInitialized("this folder") }
            // Counted by SQLite's JSON functions rather than decoding every pending mutation:
            // the fields of each record group, or the older one-object-per-change list.
            let changes = try Int.fetchOne(db, sql: """
                SELECT COALESCE(SUM(
                    COALESCE((SELECT SUM(json_array_length(record.value, '$.fields')) FROM json_each(CAST(body AS TEXT), '$.records') AS record), 0)
                    + COALESCE(json_array_length(CAST(body AS TEXT), '$.changes'), 0)), 0)
                FROM outbox
                """) ?? 0
            let conflicts = try Int.fetchOne(db, sql: """
                SELECT COUNT(*) FROM conflicts WHERE resolved IS NULL OR resolved = 0
                """) ?? 0
            return ReplicaStatus(
                identity: identity,
                outboxMutations: try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM outbox") ?? 0,
                outboxChanges: changes,
                unresolvedConflicts: conflicts,
                lastSync: try Self.meta(MetaKey.lastSync, db),
                clock: try Self.clock(db).last)
        }
    }

    /// The local mutations not yet acknowledged, oldest first.
    public func outbox() throws -> [Mutation] {
        try writer.read { db in
            try Data.fetchAll(db, sql: "SELECT body FROM outbox ORDER BY counter").map {
                try JSONDecoder().decode(Mutation.self, from: $0)
            }
        }
    }
}
