import FieldSyncModel
import FieldSyncProtocol

/// Which origins of a push a branch server may relay (its laptops' nodes), decided over what the
/// engine read; the engine writes the claims and takeovers that an accepted mutation confirms.
///
/// A node may be relayed by the branch device that holds it in `relayed_nodes`; a node held by
/// a revoked branch device of the same branch passes to this one (a replacement account after a
/// stolen token: `RelayedNode.passes`); a node no device holds (neither a relay nor an enrolled
/// device) is claimed by the first relay. Not this device's own node, not the server's.
package struct RelayClaims: Sendable, Equatable {
    /// The holder of a relayed node as stored.
    package struct Holder: Sendable, Equatable {
        package var device: String
        package var revoked: Bool
        package var role: String?
        package var branch: String?

        package init(device: String, revoked: Bool, role: String?, branch: String?) {
            self.device = device
            self.revoked = revoked
            self.role = role
            self.branch = branch
        }
    }

    /// The nodes this push may carry besides the device's own.
    package var allowed: Set<NodeID> = []
    /// Nodes no device holds: this device holds them from now on if one of their mutations is accepted.
    package var claimed: Set<NodeID> = []
    /// Nodes of a revoked device of this branch, with that device: this one holds them if one of their mutations is accepted.
    package var takenOver: [NodeID: String] = [:]

    package init() {}

    /// The origins whose holders the engine reads: none unless the device is a branch server.
    package static func origins(of request: SyncRequest, for device: DeviceContext, server: NodeID?) -> Set<NodeID> {
        guard device.user.role == .branch else { return [] }
        var origins = Set<NodeID>()
        for mutation in request.mutations where mutation.origin != device.node && mutation.origin != server { origins.insert(mutation.origin) }
        return origins
    }

    /// - Parameters:
    ///   - holders: the stored holder of each of `origins` that has one.
    ///   - enrolled: those of `origins` that are an enrolled device's node.
    package init(origins: Set<NodeID>, holders: [NodeID: Holder], enrolled: Set<NodeID>, for device: DeviceContext) {
        for origin in origins {
            if let holder = holders[origin] {
                if holder.device == device.device {
                    allowed.insert(origin)
                } else if RelayedNode.passes(revoked: holder.revoked, role: holder.role, branch: holder.branch, to: device) {
                    allowed.insert(origin)
                    takenOver[origin] = holder.device
                }
            } else if !enrolled.contains(origin) {
                allowed.insert(origin)
                claimed.insert(origin)
            }
        }
    }

    /// The claims and takeovers to write: those of nodes with a mutation accepted in this push.
    package func confirmed(by accepted: [MutationID]) -> (claims: [NodeID], takeovers: [NodeID]) {
        guard !claimed.isEmpty || !takenOver.isEmpty else { return ([], []) }
        let origins = Set(accepted.map(\.origin))
        return (claimed.filter(origins.contains).sorted(), takenOver.keys.filter(origins.contains).sorted())
    }
}
