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

    /// Whether a row of `origin`'s mutation `counter` continues the one being gathered.
    func extends(origin: NodeID, counter: UInt64) -> Bool {
        guard let last = gathered?.mutations.last, gathered?.mutations.count == 1 else { return false }
        return last.origin == origin && last.counter == counter
    }

    mutating func extend(with rowChanges: [FieldChange], bytes rowBytes: Int, seq: Int64) {
        guard var current = gathered else { return }
        current.mutations[current.mutations.count - 1].changes += rowChanges
        current.changes += rowChanges.count
        current.bytes += rowBytes
        current.through = seq
        gathered = current
    }

    /// Starts gathering the next row's mutations (after `closeGathered`).
    mutating func gather(_ rowMutations: [Mutation], bytes rowBytes: Int, seq: Int64) {
        gathered = (rowMutations, rowMutations.reduce(0) { $0 + $1.changes.count }, rowBytes, seq)
    }

    /// Adds the gathered mutations to the page if they fit (the first always does);
    /// false when they do not: the page is full and they wait for the next one.
    mutating func closeGathered() -> Bool {
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
