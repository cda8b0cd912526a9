import FieldSyncModel
import Foundation
import GRDB

extension Replica {
    /// The incarnation of the server this replica last synced with (`SyncResponse.incarnation`), if known.
    public func serverIncarnation() throws -> String? {
        try writer.read { db in try Self.meta(MetaKey.serverIncarnation, db) }
    }

    /// Keeps the server's incarnation, when it changed.
    public func noteServerIncarnation(_ incarnation: String) throws {
        // Read first: most answers bring the incarnation already kept, and need no write.
        guard try serverIncarnation() != incarnation else { return }
        try writer.write { db in
            if try Self.meta(MetaKey.serverIncarnation, db) != incarnation { try Self.setMeta(MetaKey.serverIncarnation, incarnation, db) }
        }
    }

    /// Moves this replica's mutation counter `gap` ahead (a server put back from a backup: the counters
    /// it handed out after the backup are taken elsewhere). Bounded: never past Int64.max.
    public static func skipCounters(by gap: Int64, _ db: Database) throws {
        let counter = Int64(try meta(MetaKey.counter, db) ?? "0") ?? 0
        try setMeta(MetaKey.counter, String(counter > Int64.max - gap ? Int64.max : counter + gap), db)
    }

    /// Records per re-offer mutation, at most (and about 4 MiB: each travels whole in one request).
    public static let reofferedRecordsPerMutation = 500

    /// The server lost part of its history (restored from a backup, or made anew): this replica
    /// starts reading its log again from the beginning, keeps the server's new incarnation, and
    /// offers back everything of its own it holds that a server acknowledged — every field this
    /// node wrote, with the stamp it had — as new mutations in the outbox (what no server has
    /// acknowledged yet is in the outbox already, and is sent as it is). Merging a change already stored changes nothing,
    /// so what the server kept is untouched and what it lost comes back as it was; conflicts are
    /// found as they were the first time, since stamps and bases are the original ones.
    /// Returns how many records were offered back. One transaction.
    public func reofferAfterServerRestore(incarnation: String) throws -> Int {
        let now = wallClock()
        return try writer.write { db in
            let node = try Self.requireNode(db)
            let user = try Self.meta(MetaKey.user, db)
            var counter = UInt64(try Self.meta(MetaKey.counter, db) ?? "0") ?? 0
            let io = RecordIO(db)
            let acknowledged = HLC(rawValue: UInt64(try Self.meta(MetaKey.ackedHLC, db) ?? "0") ?? 0)
            // What waits in the outbox (unsent, or refused) is sent as it is: never offered twice, and a
            // refused change does not take the acknowledged work offered with it down.
            var waiting = Set<FieldWrite>()
            // The outbox goes after the offers (renumbered, in its order, with its refusals): unsent work
            // often builds on acknowledged work the server lost (a visit on a customer created before),
            // and the server decides a push's mutations in order. No server holds these numbers since
            // the one that answered is the restored one, and a repeat would merge as a no-op anyway.
            let held = try Row.fetchAll(db, sql: "SELECT counter, hlc, body FROM outbox ORDER BY counter")
            let refusals = try RefusalNote.all(db)
            let wereOffers = Set(try Int64.fetchAll(db, sql: "SELECT counter FROM offers"))
            var unsent: [(hlc: Int64, mutation: Mutation, reason: RefusalNote?, offer: Bool)] = []
            for row in held {
                let mutation = try JSONDecoder().decode(Mutation.self, from: row[2] as Data)
                for change in mutation.changes {
                    waiting.insert(FieldWrite(change))
                }
                unsent.append((row[1], mutation, refusals[row[0]], wereOffers.contains(row[0])))
            }
            try db.execute(sql: "DELETE FROM outbox")
            try db.execute(sql: "DELETE FROM rejections")
            try db.execute(sql: "DELETE FROM offers")
            var clock = try Self.clock(db)
            let offset = try Self.clockOffset(db)
            var offers = OfferBatch(node: node, user: user, counter: counter)
            var offered = 0
            // Kinds in storage order (customers first), so a file's parent comes before what hangs from it.
            for kind in RecordKind.allCases {
                for id in try String.fetchAll(db, sql: "SELECT id FROM \(kind.rawValue) ORDER BY id") {
                    guard var state = try io.load(kind, id) else { continue }
                    var own = state.changes(table: kind, record: id).filter {
                        $0.node == node && $0.hlc <= acknowledged && !waiting.contains(FieldWrite($0))
                    }
                    if kind == .conflict, state.stamps.contains(where: { $0 != nil && $0?.node != node }) {
                        // A conflict record another node made (the server, usually) may be lost with the server's
                        // tail, and nobody else offers it back: this replica writes it again as its own (its values
                        // as they are; conflict records merge by the latest write, never as conflicts themselves).
                        let hlc = clock.tick(nowMilliseconds: UInt64(max(0, Int64(clamping: now) &+ offset)))
                        own = OfferBatch.rewrittenAsOwn(state.changes(table: kind, record: id), node: node, hlc: hlc)
                        var ignored: [Overwrite] = []
                        _ = RecordMerge.apply(own, to: &state, schema: RecordKind.conflict.schema, overwrites: &ignored)
                        try io.save(kind, id, state)
                    }
                    guard !own.isEmpty else { continue }
                    offered += 1
                    try offers.add(own, db)
                }
            }
            try offers.flush(db)
            counter = offers.counter
            for var entry in unsent {
                counter += 1
                entry.mutation.counter = counter
                try db.cachedStatement(sql: "INSERT INTO outbox (counter, hlc, body) VALUES (?, ?, ?)")
                    .execute(arguments: [Int64(clamping: counter), entry.hlc, Data(entry.mutation.jsonBytes())])
                try entry.reason?.insert(counter: Int64(clamping: counter), db)
                if entry.offer { try db.execute(sql: "INSERT INTO offers (counter) VALUES (?)", arguments: [Int64(clamping: counter)]) }
            }
            try Self.saveClock(clock, db)
            try Self.setMeta(MetaKey.counter, String(counter), db)
            try Self.setMeta(MetaKey.cursor, "0", db)
            try Self.setMeta(MetaKey.serverIncarnation, incarnation, db)
            return offered
        }
    }
}

/// Offers of records a server lacks, as new outbox mutations with the changes' original stamps:
/// one record's changes stay in one mutation, and a mutation is bounded in records and bytes,
/// since it travels whole in one request.
struct OfferBatch {
    let node: NodeID
    let user: String?
    /// The last counter used.
    private(set) var counter: UInt64
    private var pending: [FieldChange] = []
    private var records = 0
    private var bytes = 0
    private let recordsPerMutation: Int

    init(node: NodeID, user: String?, counter: UInt64, recordsPerMutation: Int = Replica.reofferedRecordsPerMutation) {
        (self.node, self.user, self.counter, self.recordsPerMutation) = (node, user, counter, max(1, recordsPerMutation))
    }

    /// Adds one record's changes; a full mutation goes to the outbox.
    mutating func add(_ changes: [FieldChange], _ db: Database) throws {
        guard !changes.isEmpty else { return }
        pending += changes
        records += 1
        bytes += changes.reduce(0) { $0 + 64 + ($1.value.text?.utf8.count ?? 8) }
        // The server takes 32 MiB a request.
        if records >= recordsPerMutation || bytes > 4 << 20 { try flush(db) }
    }

    mutating func flush(_ db: Database) throws {
        guard !pending.isEmpty else { return }
        counter += 1
        let mutation = Mutation(origin: node, counter: counter, user: user, changes: pending)
        let newest = pending.map(\.hlc).max() ?? .zero
        try db.cachedStatement(sql: "INSERT INTO outbox (counter, hlc, body) VALUES (?, ?, ?)")
            .execute(arguments: [Int64(clamping: counter), Int64(bitPattern: newest.rawValue), Data(mutation.jsonBytes())])
        try db.cachedStatement(sql: "INSERT OR IGNORE INTO offers (counter) VALUES (?)").execute(arguments: [Int64(clamping: counter)])
        pending = []
        records = 0
        bytes = 0
    }

    /// Other nodes' writes that only this replica can offer, written again as this node's at
    /// `hlc` (values as they are, each based on the write it replaces): a device pushes its own
    /// writes only.
    static func rewrittenAsOwn(_ changes: [FieldChange], node: NodeID, hlc: HLC) -> [FieldChange] {
        changes.map { FieldChange(table: $0.table, record: $0.record, field: $0.field, value: $0.value, hlc: hlc, node: node, base: $0.hlc) }
    }
}

/// One field written by one change: what an outbox holds, compared with what a record's stamps say.
struct FieldWrite: Hashable {
    var table: RecordKind
    var record: String
    var field: String
    var hlc: HLC

    init(_ change: FieldChange) {
        (table, record, field, hlc) = (change.table, change.record, change.field, change.hlc)
    }

    init(table: RecordKind, record: String, field: String, hlc: HLC) {
        (self.table, self.record, self.field, self.hlc) = (table, record, field, hlc)
    }

    /// A field of a record, whoever wrote it.
    struct Field: Hashable {
        var table: RecordKind
        var record: String
        var field: String
    }
}
