import FieldSyncModel
import FieldSyncProtocol
import FieldSyncServerCore
import FieldSyncStore
import Foundation
import GRDB

/// Appends to the change log, after the changes are applied: one row per
/// record per mutation, with the next sequence number and the customer whose
/// file holds the record as now stored (pulls filter on that customer's
/// current scope). Never on what the logged changes say about parents.
struct ChangeLogWriter {
    private let db: Database
    private let io: RecordIO
    /// Stored states read so far (the writer runs after the merge and changes no record).
    private var states: [RecordKey: RecordState?] = [:]
    /// Every row written is marked as come down from the upstream server (never relayed back up).
    var marksFromUpstream = false
    /// Prepared once per writer, not looked up by its SQL for every row (a push writes one per
    /// record), and bound by `SQLiteBind`.
    private var insertStatement: Statement?
    /// The last origin's text: a push's rows mostly share one.
    private var originText: (node: NodeID, text: String)?

    /// When the server received what this writer logs (its clock), kept once as a `LogReceipts` row.
    private let receivedAt: UInt64
    private var receiptWritten = false

    /// `known`: records as stored after the merge, already at hand (not read again).
    init(_ db: Database, io: RecordIO, receivedAt: UInt64, known: [RecordKey: RecordState?] = [:]) {
        self.db = db
        self.io = io
        self.receivedAt = receivedAt
        self.states = known
    }

    /// Before the first row: the receipt of everything this writer appends (one row per transaction, not per log row).
    private mutating func writeReceipt() throws {
        guard !receiptWritten else { return }
        receiptWritten = true
        try db.cachedStatement(sql: """
            INSERT OR REPLACE INTO log_receipts (first_seq, at)
            VALUES ((SELECT COALESCE(MAX(seq), 0) + 1 FROM change_log), ?)
            """).execute(arguments: [Int64(clamping: receivedAt)])
    }

    /// Logs one mutation's changes, grouped by record in order of first appearance.
    /// `counter` identifies the mutation when it is relayed to an upstream server;
    /// `fromUpstream` marks changes that came down from it (never relayed back).
    mutating func append(_ changes: [FieldChange], origin: NodeID, counter: UInt64? = nil, fromUpstream: Bool = false) throws {
        try append(Self.entries(changes), origin: origin, counter: counter, fromUpstream: fromUpstream)
    }

    /// Logs entries made by `entries(_:)`, perhaps earlier and on another thread.
    mutating func append(_ entries: [Entry], origin: NodeID, counter: UInt64? = nil, fromUpstream: Bool = false) throws {
        for entry in entries {
            try insert(entry.table, entry.record, encoded: entry.changes, origin: origin, counter: counter, fromUpstream: fromUpstream)
        }
    }

    /// One log row's record and encoded changes.
    struct Entry: Sendable {
        var table: RecordKind
        var record: String
        var changes: Data
    }

    /// A mutation's changes as log rows, grouped by record in order of first appearance.
    /// Pure: a push encodes its mutations before it waits for the writer.
    static func entries(_ changes: [FieldChange]) throws -> [Entry] {
        try ChangeGroups(changes[...]).groups.map { group in
            let own = group.ranges.count == 1 ? changes[group.ranges[0]] : ArraySlice(group.ranges.flatMap { changes[$0] })
            return Entry(table: group.table, record: group.record, changes: Data(try ChangeLogCodec.encode(own, schema: group.table.schema)))
        }
    }

    /// Logs a mutation the server made itself (conflict records, `fieldsync-server calendar`):
    /// the log is how it travels, so it is marked applied and leaves the server's unused outbox.
    mutating func appendOwn(_ mutation: Mutation) throws {
        try append(mutation.changes, origin: mutation.origin, counter: mutation.counter)
        try AppliedMarks.mark(MutationID(origin: mutation.origin, counter: mutation.counter), db)
        try db.execute(sql: "DELETE FROM outbox WHERE counter = ?", arguments: [Int64(clamping: mutation.counter)])
    }

    /// Logs the current state of a record and everything that hangs from it
    /// (a customer's contacts, agreements, visits, faults, complaints, their
    /// notes, and the conflicts about any of them) again, with the stamps it
    /// has: a device that enters the new owner's scope receives all of it, and
    /// a device that had it applies nothing new, since merging the same write
    /// twice is a no-op.
    mutating func appendTree(of root: RecordKey, origin: NodeID) throws {
        for key in try Replica.file(of: root, db) {
            guard let state = try io.load(key.table, key.record) else { continue }
            let changes = state.changes(table: key.table, record: key.record)
            if !changes.isEmpty {
                try insert(key.table, key.record, encoded: Data(try ChangeLogCodec.encode(changes, schema: key.table.schema)), origin: origin)
            }
        }
    }

    /// Logs that a customer's file left `scope`: devices of that scope which no
    /// longer reach the file are told to drop it (`SyncResponse.left`).
    mutating func appendExit(of customer: String, from scope: CustomerScope, origin: NodeID) throws {
        try writeReceipt()
        try db.cachedStatement(sql: """
            INSERT INTO change_log (tbl, record, origin, customer, changes, exit_branch, exit_manager, exit_team, from_upstream)
            VALUES (?, ?, ?, NULL, ?, ?, ?, ?, ?)
            """).execute(arguments: [RecordKind.customer.rawValue, customer, origin.description,
                                       Data(try ChangeLogCodec.encode([FieldChange](), schema: RecordKind.customer.schema)),
                                       scope.branch ?? "", scope.manager, Team.value(scope.team).text, marksFromUpstream ? 1 : 0])
    }

    private mutating func insert(_ table: RecordKind, _ record: String, encoded changes: Data, origin: NodeID,
                                 counter: UInt64? = nil, fromUpstream: Bool = false) throws {
        try writeReceipt()
        let customer = try RecordOwner.file(of: RecordKey(table: table, record: record), in: { try stored($0) })?.customer
        // The customer's branch as stored now (the records are written before their log rows): what a
        // branch's pull finds the row by (`server-v15-pull-by-branch`).
        let statement = try insertStatement ?? db.cachedStatement(sql: """
            INSERT INTO change_log (tbl, record, origin, customer, changes, counter, from_upstream, branch)
            VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, (SELECT branch FROM customers WHERE id = ?4))
            """)
        insertStatement = statement
        if originText?.node != origin { originText = (origin, origin.description) }
        let raw = statement.sqliteStatement
        SQLiteBind.text(table.rawValue, at: 1, in: raw)
        SQLiteBind.text(record, at: 2, in: raw)
        SQLiteBind.text(originText?.text ?? origin.description, at: 3, in: raw)
        SQLiteBind.text(customer, at: 4, in: raw)
        changes.withUnsafeBytes { SQLiteBind.blob($0, at: 5, in: raw) }
        SQLiteBind.integer(counter.flatMap { Int64(exactly: $0) }, at: 6, in: raw)
        SQLiteBind.integer(fromUpstream || marksFromUpstream ? 1 : 0, at: 7, in: raw)
        try SQLiteBind.execute(raw)
    }

    private mutating func stored(_ key: RecordKey) throws -> RecordState? {
        if let known = states[key] { return known }
        let state = try io.load(key.table, key.record)
        states[key] = state
        return state
    }
}
