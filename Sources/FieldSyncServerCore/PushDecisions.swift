import FieldSyncModel
import FieldSyncProtocol

/// Which of a push's mutations are applied, acknowledged or refused, and why:
/// the per-mutation sequence both engines follow, written once (issue 26, step 1).
///
/// For each mutation, in the order sent: whose it is and what it holds
/// (`PushRules.validateOrigin`, the content refusal computed beforehand); this
/// device's work refused by the provincial server after this server accepted it
/// (refused again, with that reason); already applied (acknowledged, not applied
/// again, also when repeated within the push); a registered branch; a relayed
/// node's signature; the scope (`PushScopeCheck`, which also merges what it
/// lets through). The engine reads what these need and writes what they decide.
package struct PushDecisions {
    package var accepted: [MutationID] = []
    package var rejected: [Rejection] = []
    /// Positions in the push of the mutations to apply, in the order sent.
    package var toApply: [Int] = []
    /// Counters of this device refused upstream that it sent again: marked as given back.
    package var returnedUpstream: [UInt64] = []
    /// The signatures as this push leaves them (keys pinned, pages to keep).
    package var signatures: RelaySignatures

    /// Decides every mutation of `request`. When reads were missing (`PushReadMiss`, from `PushReads`),
    /// it still tries every mutation, then throws one miss with all of them: the caller reads them
    /// and decides again from the start (nothing of a pass with a miss is kept).
    /// - Parameters:
    ///   - contentRefusals: per mutation, `PushRules.validateContent`'s answer (computed when the push arrived).
    ///   - refusedUpstream: this device's counters the provincial server refused, with the reason.
    ///   - isApplied: whether the server applied a mutation before this push.
    ///   - registered: the registered branches, read the first time a mutation names one.
    package static func decide(_ request: SyncRequest, from device: DeviceContext, relaying relayed: Set<NodeID>,
                               contentRefusals: [Refusal?], refusedUpstream: [UInt64: String] = [:],
                               isApplied: (MutationID) -> Bool, registered: () throws -> Set<String>,
                               signatures: RelaySignatures, scope: PushScopeCheck) throws -> PushDecisions {
        precondition(contentRefusals.count == request.mutations.count, "one content refusal (or nil) per mutation")
        var decisions = PushDecisions(signatures: signatures)
        var branches: Set<String>?
        var appliedHere = Set<MutationID>()
        var missed = PushReadNeeds()
        // A branch server offering again what the province lacks (`SyncRequest.reapply`): its mutations are merged
        // again though marked applied; one the checks now refuse (its file moved on since) is acknowledged, as before.
        let reapplying = request.reapply && device.user.role == .branch
        for (index, mutation) in request.mutations.enumerated() {
            let id = MutationID(origin: mutation.origin, counter: mutation.counter)
            if let refusal = PushRules.validateOrigin(mutation, from: device, relaying: relayed) ?? contentRefusals[index] {
                decisions.rejected.append(Rejection(origin: mutation.origin, counter: mutation.counter, reason: refusal.message, text: refusal.text))
                continue
            }
            // Accepted here earlier, then refused by the provincial server: the device keeps it, with the reason.
            if mutation.origin == device.node, let reason = refusedUpstream[mutation.counter] {
                decisions.returnedUpstream.append(mutation.counter)
                decisions.rejected.append(Rejection(origin: mutation.origin, counter: mutation.counter, reason: reason))
                continue
            }
            let appliedBefore = isApplied(id)
            if appliedHere.contains(id) || (appliedBefore && !reapplying) {
                decisions.accepted.append(id)
                continue
            }
            let page: SignedPage?
            do {
                // Applied before and offered again: merged again only where it changes what is stored (a record the
                // server lost). A write replayed onto what holds it already is acknowledged: nothing applied, nothing logged.
                if appliedBefore, try !Self.changesSomething(mutation, load: scope.load) {
                    decisions.accepted.append(id)
                    continue
                }
                // The scope check's refusal is the one reported; it keeps what it allowed only if the branch check passed too.
                let branchRefusal = try PushRules.branchCheck(mutation, registered: &branches, registered)
                // A relayed node's mutation must carry its device's signature once its key is known.
                let verdict: RelaySignatures.Verdict
                (verdict, page) = decisions.signatures.verdict(mutation)
                if let refusal = try decisions.signatures.refusal(of: mutation, verdict, scope: scope, branchRefusal: branchRefusal)
                    ?? scope.check(mutation, keep: branchRefusal == nil) ?? branchRefusal {
                    if appliedBefore {
                        decisions.accepted.append(id)
                    } else {
                        decisions.rejected.append(Rejection(origin: mutation.origin, counter: mutation.counter, reason: refusal.message, text: refusal.text))
                    }
                    continue
                }
            } catch let miss as PushReadMiss {
                // Go on with the others to learn everything this pass lacks (the mutations after this one are
                // decided without it, so this pass is thrown away): one read and one more pass for all of it,
                // not one per record missed.
                missed.formUnion(miss.needs)
                continue
            }
            decisions.signatures.accepted(mutation, page: page)
            decisions.toApply.append(index)
            appliedHere.insert(id)  // a mutation repeated within this push is applied once
            decisions.accepted.append(id)
        }
        if !missed.isEmpty { throw PushReadMiss(needs: missed) }
        return decisions
    }

    /// Whether merging `mutation` into the records as `load` gives them changes any (a missing record does).
    static func changesSomething(_ mutation: Mutation, load: (RecordKey) throws -> RecordState?) throws -> Bool {
        var byRecord: [RecordKey: [FieldChange]] = [:]
        for change in mutation.changes { byRecord[RecordKey(table: change.table, record: change.record), default: []].append(change) }
        for (key, changes) in byRecord {
            guard var state = try load(key) else { return true }
            var ignored: [Overwrite] = []
            if RecordMerge.apply(changes, to: &state, schema: key.table.schema, overwrites: &ignored) { return true }
        }
        return false
    }
}
