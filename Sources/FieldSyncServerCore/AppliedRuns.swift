import FieldSyncModel
import FieldSyncProtocol

/// The mutations a server has applied, per origin as runs of consecutive counters (table
/// `applied_ranges` on both engines): a retried push applies none twice.
///
/// Pure bookkeeping, the same for every engine. The engine reads the stored runs that hold or
/// touch the counters a push names (`spans`, `bounds`, then `received`), the push marks what it
/// applies (`mark`), and the engine writes the runs that changed (`writes`) in the same
/// transaction: about one row per origin per push instead of one per mutation. Only runs near the
/// push's counters are read, however far apart they are, so a push costs reads in proportion to
/// its own size, never to the origin's history. Counters above `Int64.max` are never applied (the
/// rules refuse them), so never looked up nor marked.
///
/// Reading and writing an origin's runs must happen under that origin's lock (a push locks its
/// node and the nodes it relays; the server's own mutations are numbered under its clock's lock).
package struct AppliedRuns: Sendable {
    /// What to change in the stored runs of one origin.
    package struct Write: Sendable, Equatable {
        package var origin: String
        /// The stored runs (by their lower bound) replaced by `insert`.
        package var delete: [Int64]
        package var insert: [ClosedRange<Int64>]
    }

    private struct Origin: Sendable {
        let text: String
        var counters = CounterRanges()
        /// The counters whose neighbourhood was read: every stored run holding or touching one is in `counters`.
        var read = CounterRanges()
        /// Lower bounds of the stored runs read: replaced when `counters` changes.
        var storedLows: Set<Int64> = []
        var changed = false
    }

    private var origins: [NodeID: Origin] = [:]

    package init() {}

    /// Where a push's counters lie, per origin: one span per cluster of counters (fewer than 64 apart),
    /// so a push of consecutive counters reads one span per origin, and counters far apart read apart.
    package static func spans(of ids: some Sequence<MutationID>) -> [(origin: NodeID, span: ClosedRange<UInt64>)] {
        var counters: [NodeID: [UInt64]] = [:]
        for id in ids where id.counter <= UInt64(Int64.max) { counters[id.origin, default: []].append(id.counter) }
        return counters.sorted { $0.key.description < $1.key.description }.flatMap { origin, list in
            CounterRanges(list.map { $0...$0 }).clusters(gap: 64).map { (origin, $0) }
        }
    }

    /// The stored runs to read for `span`: those with `low <= top` and `high >= bottom` (holding or touching it).
    /// Runs are disjoint, so they are the one starting below `bottom` nearest to it, and those starting in `bottom...top`.
    package static func bounds(of span: ClosedRange<UInt64>) -> (bottom: Int64, top: Int64) {
        let top = Int64(clamping: span.upperBound == .max ? span.upperBound : span.upperBound + 1)
        let bottom = span.lowerBound == 0 ? Int64.min : Int64(clamping: span.lowerBound - 1)
        return (bottom, top)
    }

    /// Whether the stored runs around `id`'s counter were read.
    package func hasRead(_ id: MutationID) -> Bool {
        origins[id.origin]?.read.contains(id.counter) ?? false
    }

    /// The stored runs of `origin` read for `span` (any order; runs outside its bounds, malformed ones, and
    /// ones received before are passed over).
    package mutating func received(_ runs: some Sequence<(low: Int64, high: Int64)>, origin: NodeID, span: ClosedRange<UInt64>) {
        var entry = origins[origin] ?? Origin(text: origin.description)
        let (bottom, top) = Self.bounds(of: span)
        var found: [ClosedRange<UInt64>] = []
        for run in runs where run.low <= top && run.high >= bottom && !entry.storedLows.contains(run.low) {
            guard let lower = UInt64(exactly: run.low), let upper = UInt64(exactly: run.high), lower <= upper else { continue }
            entry.storedLows.insert(run.low)
            found.append(lower...upper)
        }
        if !found.isEmpty { entry.counters = CounterRanges(entry.counters.ranges + found) }
        entry.read = CounterRanges(entry.read.ranges + [span])
        origins[origin] = entry
    }

    /// Whether the mutation was applied: as stored, or marked since. False for an origin not read.
    package func contains(_ id: MutationID) -> Bool {
        origins[id.origin]?.counters.contains(id.counter) ?? false
    }

    /// Marks a mutation applied; false if it was already. The runs around it must have been read (`hasRead`).
    @discardableResult
    package mutating func mark(_ id: MutationID) -> Bool {
        guard id.counter <= UInt64(Int64.max), hasRead(id), origins[id.origin]?.counters.insert(id.counter) == true else { return false }
        origins[id.origin]?.changed = true
        return true
    }

    /// How many stored runs were read (tests: a push reads near its counters only).
    package var storedRunsRead: Int { origins.values.reduce(0) { $0 + $1.storedLows.count } }

    /// The runs that changed, in place of the stored runs they came from, by origin.
    package var writes: [Write] {
        origins.values.filter(\.changed).sorted { $0.text < $1.text }.map { origin in
            // Bounded by Int64.max: `mark` and `received` admit nothing larger.
            Write(origin: origin.text, delete: origin.storedLows.sorted(),
                  insert: origin.counters.ranges.map { Int64(clamping: $0.lowerBound)...Int64(clamping: $0.upperBound) })
        }
    }
}
