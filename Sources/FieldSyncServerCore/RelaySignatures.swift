import FieldSyncModel
import FieldSyncProtocol

/// What a push's signed pages (`SignedPage`) say of the mutations a branch
/// server relays, decided for each one. Pure: the engine supplies the keys it
/// has pinned and stores what this decides.
///
/// The first valid page a node's mutations arrive with pins its key here (on
/// first use, as SSH pins a host key); from then on every mutation relayed
/// under that node must be covered by a page signed with that key, so a
/// stolen branch token cannot write under a laptop's node. Rows a branch
/// re-logs after a move travel under synthesized counters no device signed:
/// from a pinned node they are taken only if they change nothing here (the
/// province holds the originals). A node no page was ever seen for (a laptop
/// on an older version) is taken unsigned, as before.
package struct RelaySignatures {
    let device: NodeID
    private var pages: [NodeID: [SignedPage]] = [:]
    /// Per node, each counter's digest and the page it is in: a lookup per mutation, not a scan of every page.
    private var index: [NodeID: [UInt64: (digest: ArraySlice<UInt8>, page: Int)]] = [:]
    private(set) var pinned: [NodeID: [UInt8]]
    /// The pushing device's own pages, not checked yet: no verdict needs them (its own work is its
    /// own), only a relay up does, so a server without one never spends a signature check on them.
    private var ownPages: [SignedPage] = []
    /// Keys to pin: nodes first seen signed in this push, with an accepted mutation.
    package private(set) var newPins: [NodeID: [UInt8]] = [:]

    package enum Verdict: Equatable {
        case accept
        case refuse(String)
        /// Taken only if merging it changes nothing stored.
        case acceptIfUnchanged
    }

    package init(_ request: SyncRequest, device: NodeID, pinned: [NodeID: [UInt8]]) {
        self.device = device
        self.pinned = pinned
        for page in request.signed {
            guard page.node != device else {
                ownPages.append(page)
                continue
            }
            guard page.isValid else { continue }
            let position = pages[page.node, default: []].count
            pages[page.node, default: []].append(page)
            var offset = 0
            while offset + SignedPage.entrySize <= page.entries.count {
                let counter = page.entries[offset..<offset + 8].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
                index[page.node, default: [:]][counter] = (page.entries[offset + 8..<offset + SignedPage.entrySize], position)
                offset += SignedPage.entrySize
            }
        }
    }

    /// The relayed nodes whose keys the engine must read (those with a page, or any relayed origin).
    package static func origins(of request: SyncRequest, device: NodeID) -> Set<NodeID> {
        Set(request.mutations.lazy.map(\.origin).filter { $0 != device })
    }

    /// Whether a counter is one a branch server made up for rows it re-logged (`ServerStore.synthesizedCounter`).
    package static func isSynthesized(_ counter: UInt64) -> Bool { counter & (1 << 62) != 0 }

    /// What to do with `mutation`, and the page that vouches for it (if one does).
    package func verdict(_ mutation: Mutation) -> (Verdict, SignedPage?) {
        guard mutation.origin != device else { return (.accept, nil) }
        let page = covering(mutation)
        guard let key = pinned[mutation.origin] ?? newPins[mutation.origin] else { return (.accept, page) }
        if let page, page.key == key { return (.accept, page) }
        if Self.isSynthesized(mutation.counter) { return (.acceptIfUnchanged, nil) }
        return (.refuse("mutation \(mutation.counter) of node \(mutation.origin) is not signed by the key that node signs with; a relaying server cannot write under a device's node"), nil)
    }

    /// The refusal `verdict` makes of `mutation`, or nil to go on with the push's other checks. A
    /// re-logged row of a pinned node is merged once without keeping (`scope`) to see that it changes nothing.
    package func refusal(of mutation: Mutation, _ verdict: Verdict, scope: PushScopeCheck, branchRefusal: Refusal?) throws -> Refusal? {
        switch verdict {
        case .accept: return nil
        case .refuse(let reason): return Refusal(reason)
        case .acceptIfUnchanged:
            if let reason = try scope.check(mutation, keep: false) ?? branchRefusal { return reason }
            return scope.lastCheckChanged
                ? "re-logged changes of node \(mutation.origin) that this server does not hold are not signed by that node" : nil
        }
    }

    /// The valid page that vouches for `mutation` (its counter, with this content), if one does.
    private func covering(_ mutation: Mutation) -> SignedPage? {
        guard let entry = index[mutation.origin]?[mutation.counter], let page = pages[mutation.origin]?[entry.page],
              entry.digest.elementsEqual(MutationDigest.of(mutation)) else { return nil }
        return page
    }

    /// After a relayed mutation was accepted with `page`: the key it pins, if its node had none.
    package mutating func accepted(_ mutation: Mutation, page: SignedPage?) {
        guard let page, mutation.origin != device, pinned[mutation.origin] == nil, newPins[mutation.origin] == nil else { return }
        newPins[mutation.origin] = page.key
    }

    /// The valid pages of nodes with an accepted mutation in this push, kept for relaying further up
    /// (whether each covers what was accepted is the upstream's to check, off this server's writer).
    package func pagesToKeep(acceptedOrigins: Set<NodeID>) -> [SignedPage] {
        acceptedOrigins.flatMap { $0 == device ? ownPages.filter(\.isValid) : pages[$0] ?? [] }
    }
}
