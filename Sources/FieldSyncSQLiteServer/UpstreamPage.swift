import FieldSyncModel

/// A page of mutations relayed upstream, gathered from change-log rows in order
/// (`ServerStore.upstreamPage`). A mutation joins the page once its last row is
/// read and only whole: the bounds are checked against whole mutations, so a
/// page never ends inside one. Pure: no I/O.
struct UpstreamPage {
    let maxMutations: Int
    let maxChanges: Int
    let maxBytes: Int
    private(set) var mutations: [Mutation] = []
    /// The log sequence the page covers up to: the last row of its last whole mutation.
    private(set) var through: Int64
    private var changes = 0
    private var bytes = 0
    /// The mutations of the rows being read (one mutation, or one row's per writer), their changes, bytes and last row.
    private var gathered: (mutations: [Mutation], changes: Int, bytes: Int, through: Int64)?

    init(after seq: Int64, maxMutations: Int, maxChanges: Int, maxBytes: Int) {
        through = seq
        (self.maxMutations, self.maxChanges, self.maxBytes) = (maxMutations, maxChanges, maxBytes)
    }

    /// Takes the next log row (its writer and counter, its changes and size); false when the page is
    /// full: the row, and the mutation it starts, wait for the next page. A row without a counter
    /// (logged before the tier, or a file logged again after a move) goes as one mutation per writer
    /// under `synthesized` (`ServerStore.synthesizedCounter`).
    mutating func add(seq: Int64, origin: NodeID, counter: UInt64?, changes rowChanges: [FieldChange], bytes rowBytes: Int,
                      synthesized: UInt64) -> Bool {
        // A mutation's rows are consecutive: a row extends the mutation gathered, or starts the next.
        if let counter, var current = gathered, current.mutations.count == 1,
           current.mutations[0].origin == origin, current.mutations[0].counter == counter {
            current.mutations[0].changes += rowChanges
            current.changes += rowChanges.count
            current.bytes += rowBytes
            current.through = seq
            gathered = current
            return true
        }
        guard closeGathered() else { return false }
        let rowMutations = counter.map { [Mutation(origin: origin, counter: $0, changes: rowChanges)] }
            ?? Self.writers(of: rowChanges).map { node in Mutation(origin: node, counter: synthesized, changes: rowChanges.filter { $0.node == node }) }
        gathered = (rowMutations, rowChanges.count, rowBytes, seq)
        return true
    }

    /// Ends the page after the last row read: the mutation gathered joins it if it fits.
    mutating func finish() { _ = closeGathered() }

    /// The nodes that wrote `changes`, in order of first appearance.
    static func writers(of changes: [FieldChange]) -> [NodeID] {
        var seen = Set<NodeID>()
        return changes.map(\.node).filter { seen.insert($0).inserted }
    }

    /// Adds the gathered mutations to the page if they fit (the first always does);
    /// false when they do not: the page is full and they wait for the next one.
    private mutating func closeGathered() -> Bool {
        guard let current = gathered else { return true }
        gathered = nil
        if !mutations.isEmpty, mutations.count + current.mutations.count > maxMutations
            || changes + current.changes > maxChanges || bytes + current.bytes > maxBytes {
            return false
        }
        mutations += current.mutations
        changes += current.changes
        bytes += current.bytes
        through = current.through
        return true
    }
}
