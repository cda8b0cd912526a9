import FieldSyncModel
import FieldSyncProtocol

/// The earliest stamp a device's own node may use to claim a file's past
/// scope (`PushScopeCheck`): work on a file it no longer holds passes as typed
/// while it held it only if stamped at or after this.
///
/// It starts at the device's enrolment and only rises: to the newest stamp
/// the server accepted from the node, and to the time of the last sync that
/// carried the device's whole outbox and had nothing refused (less twice the
/// clock-skew limit: a laptop's clock is corrected to the server's at every
/// sync, so nothing it types later is stamped earlier). An honest laptop's
/// stamps never go below it; a device that backdates its stamps cannot reach
/// past what the server has already seen of it. A node a branch server relays
/// has its own floor too, the newest stamp accepted from it, and never below
/// the relaying device's enrolment.
///
/// Whatever a device reports (`pending` is its own word), no floor lies more
/// than `offlineLimit` (30 days) behind the server's clock: past-scope work is
/// accepted for at most 30 days of being offline, which bounds what a lying
/// device or a stolen branch token can reach back to.
package struct StampFloor: Sendable {
    package static let offlineLimit: UInt64 = 30 * 86_400_000
    package var node: NodeID
    /// The device's own node's floor, as stored.
    package var own: HLC
    /// The device's enrolment: the lowest floor of the nodes it relays.
    package var enrolled: HLC
    /// The floors stored for the nodes it relays in this push.
    package var relayed: [NodeID: HLC] = [:]

    package init(node: NodeID, own: HLC, enrolled: HLC, now: UInt64) {
        let recent = Self.at(now > Self.offlineLimit ? now - Self.offlineLimit : 0)
        self.node = node
        self.own = max(own, enrolled, recent)
        self.enrolled = max(enrolled, recent)
    }

    package func of(_ origin: NodeID) -> HLC { origin == node ? own : max(enrolled, relayed[origin] ?? .zero) }

    /// The relayed nodes' floors after a push: the newest stamp of each one's accepted mutations, where it rose.
    package func raisedRelayed(by accepted: [Mutation]) -> [NodeID: HLC] {
        var raised: [NodeID: HLC] = [:]
        for mutation in accepted where mutation.origin != node {
            let floor = raised[mutation.origin] ?? relayed[mutation.origin] ?? .zero
            var newest = floor
            for index in mutation.changes.indices where mutation.changes[index].hlc > newest { newest = mutation.changes[index].hlc }
            if newest > floor { raised[mutation.origin] = newest }
        }
        return raised
    }

    /// An HLC at `milliseconds` of wall time (bounded, so the shift cannot overflow).
    package static func at(_ milliseconds: UInt64) -> HLC { HLC(milliseconds: min(milliseconds, 1 << 47), counter: 0) }

    /// The floor after a push, if it rose: the newest stamp of the node's own
    /// accepted mutations, and `now` less twice `skew` when the request carried
    /// the whole outbox (`pending`) and nothing of it was refused.
    package func raised(by request: SyncRequest, accepted: [Mutation], refusals: Int, now: UInt64, skew: UInt64) -> HLC? {
        var floor = own
        for mutation in accepted where mutation.origin == node {
            for index in mutation.changes.indices where mutation.changes[index].hlc > floor { floor = mutation.changes[index].hlc }
        }
        // At most once a minute from the clock alone (as `last_seen`): a pull that writes nothing else needs no disk flush.
        if refusals == 0, let pending = request.pending, pending == request.mutations.count, now > 2 * skew,
           Self.at(now - 2 * skew) > floor, now - 2 * skew > floor.milliseconds + 60_000 {
            floor = Self.at(now - 2 * skew)
        }
        return floor > own ? floor : nil
    }
}

/// Who may push for a node another branch device relayed.
package enum RelayedNode {
    /// A node relayed by a device since revoked passes to the next branch device
    /// of the same branch that relays it (a replacement account after a stolen
    /// token): its laptops are not stranded, and no other branch can take them.
    package static func passes(revoked: Bool, role: String?, branch: String?, to device: DeviceContext) -> Bool {
        revoked && role == Role.branch.rawValue && branch != nil && branch == device.user.branch
    }
}
