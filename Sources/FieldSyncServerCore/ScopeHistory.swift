import FieldSyncModel

/// When each customer's scope (branch, manager, team) changed, so that work
/// done while a file was a manager's and pushed after a handover is accepted,
/// and the devices that lost the file are told so (an exit row in the log).
package enum ScopeHistory {
    /// From `from` on, the customer's scope was `scope`.
    package struct Entry: Sendable, Equatable {
        package var from: HLC
        package var scope: CustomerScope

        package init(from: HLC, scope: CustomerScope) {
            self.from = from
            self.scope = scope
        }
    }

    /// When the customer's current scope was written: its newest branch, manager or team stamp.
    package static func since(_ customer: RecordState) -> HLC {
        let schema = RecordKind.customer.schema
        return ["branch", "manager", "team"].compactMap { schema.index(of: $0).flatMap { customer.stamps[$0]?.hlc } }.max() ?? .zero
    }
}
