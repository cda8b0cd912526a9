import FieldSyncModel
import FieldSyncProtocol
import FieldSyncServerCore
import GRDB

/// The mutations this server has applied (SQLite engine), per origin as runs of
/// consecutive counters (`applied_ranges`): a retried push applies none twice.
///
/// A push reads the stored runs that hold or touch its counters, marks what it
/// applies in memory and writes the runs that changed back once, in its own
/// transaction: about one row per origin per push instead of one per mutation.
/// Only runs near the push's counters are read, however far apart they are, so a
/// push costs reads in proportion to its own size, never to the origin's history.
struct AppliedMarks {
    private struct Origin {
        let text: String
        var counters = CounterRanges()
        /// The counters whose neighbourhood was read: every stored run holding or touching one is in `counters`.
        var read = CounterRanges()
        /// Lower bounds of the stored runs read: rewritten when `counters` changes.
        var storedLows: Set<Int64> = []
        var changed = false

        mutating func mark(_ counter: UInt64) -> Bool {
            guard counters.insert(counter) else { return false }
            changed = true
            return true
        }
    }

    private var origins: [NodeID: Origin] = [:]

    init() {}

    /// Reads the stored runs for these mutations' counters: one query per origin for
    /// a push of consecutive counters, one per cluster for counters far apart.
    init(for mutations: some Sequence<Mutation>, _ db: Database) throws {
        var counters: [NodeID: [UInt64]] = [:]
        // Counters are at most Int64.max (PushRules); any other is never applied, so never looked up.
        for mutation in mutations where mutation.counter <= UInt64(Int64.max) {
            counters[mutation.origin, default: []].append(mutation.counter)
        }
        for (origin, list) in counters {
            for span in CounterRanges(list.map { $0...$0 }).clusters(gap: 64) { try read(origin, span, db) }
        }
    }

    /// Whether the mutation was applied: as stored, or marked since. False for an origin not read.
    func contains(_ id: MutationID) -> Bool {
        origins[id.origin]?.counters.contains(id.counter) ?? false
    }

    /// Marks a mutation applied (reading the stored runs around it first if needed); false if it was already.
    @discardableResult
    mutating func insert(_ id: MutationID, _ db: Database) throws -> Bool {
        guard id.counter <= UInt64(Int64.max) else { throw DatabaseError(message: "mutation counter \(id.counter) is out of range") }
        if origins[id.origin]?.read.contains(id.counter) != true { try read(id.origin, id.counter...id.counter, db) }
        return origins[id.origin]?.mark(id.counter) ?? false
    }

    /// How many stored runs were read (tests: a push reads near its counters only).
    var storedRunsRead: Int { origins.values.reduce(0) { $0 + $1.storedLows.count } }

    /// Writes the runs that changed in place of the stored runs they came from.
    func save(_ db: Database) throws {
        let delete = try db.cachedStatement(sql: "DELETE FROM applied_ranges WHERE origin = ? AND low = ?")
        let insert = try db.cachedStatement(sql: "INSERT INTO applied_ranges (origin, low, high) VALUES (?, ?, ?)")
        for origin in origins.values where origin.changed {
            for low in origin.storedLows { try delete.execute(arguments: [origin.text, low]) }
            for range in origin.counters.ranges {
                // Bounded by Int64.max: `insert` and `read` admit nothing larger.
                try insert.execute(arguments: [origin.text, Int64(clamping: range.lowerBound), Int64(clamping: range.upperBound)])
            }
        }
    }

    /// Marks one mutation applied in its own read-and-write (the server's own mutations).
    static func mark(_ id: MutationID, _ db: Database) throws {
        var marks = AppliedMarks()
        try marks.insert(id, db)
        try marks.save(db)
    }

    /// Reads the stored runs of `origin` that overlap or touch `span`.
    private mutating func read(_ origin: NodeID, _ span: ClosedRange<UInt64>, _ db: Database) throws {
        var entry = origins[origin] ?? Origin(text: origin.description)
        // Runs are disjoint and sorted, so walking down from the span's top, the first run that ends below it ends the walk.
        let top = Int64(clamping: span.upperBound == .max ? span.upperBound : span.upperBound + 1)
        let bottom = span.lowerBound == 0 ? Int64.min : Int64(clamping: span.lowerBound - 1)
        let rows = try Row.fetchCursor(
            db.cachedStatement(sql: "SELECT low, high FROM applied_ranges WHERE origin = ? AND low <= ? ORDER BY low DESC"),
            arguments: [entry.text, top])
        var found: [ClosedRange<UInt64>] = []
        while let row = try rows.next() {
            let (low, high): (Int64, Int64) = (row[0], row[1])
            guard high >= bottom else { break }
            guard !entry.storedLows.contains(low), let lower = UInt64(exactly: low), let upper = UInt64(exactly: high), lower <= upper else { continue }
            entry.storedLows.insert(low)
            found.append(lower...upper)
        }
        if !found.isEmpty { entry.counters = CounterRanges(entry.counters.ranges + found) }
        entry.read = CounterRanges(entry.read.ranges + [span])
        origins[origin] = entry
    }
}
