import FieldSyncModel
import FieldSyncProtocol

/// A push's decisions as a machine that does no I/O: it says what it needs read, the engine
/// reads it (its own SQL, in one batch per kind) and hands it back, until it has decided.
/// Both engines drive it with the same few lines:
///
/// ```swift
/// var decider = PushDecider(…)
/// while true {
///     switch try decider.next() {
///     case .read(let needs): decider.receive(try read(needs))
///     case .decided(let decisions, let scope): …
///     }
/// }
/// ```
///
/// It reads ahead (`PushReads.ahead`: the touched records, what their values point at, level by
/// level up to the customers), then decides (`PushDecisions`). The rules read only through
/// `PushReads`, so a record or history not read ahead is a miss: the machine asks for it and
/// decides again from the start — the rules are pure, so nothing of the failed round is kept.
package struct PushDecider {
    package enum Step {
        /// Read these and pass them to `receive`.
        case read(PushReadNeeds)
        /// Every mutation decided; the scope check holds the records as merged (`PushScopeCheck.merged`).
        case decided(PushDecisions, PushScopeCheck)
    }

    /// Most rounds of reading after a miss: misses follow references and parents, so a few
    /// suffice; more means a rule reads something it never gets, an error in this code.
    static let maxRounds = 16

    package private(set) var reads = PushReads()
    private var pending: PushReadNeeds
    private var rounds = 0
    private let decide: (PushReads) throws -> (PushDecisions, PushScopeCheck)

    /// - Parameters:
    ///   - relayed: the origins this device may relay (`RelayClaims.allowed`).
    ///   - contentRefusals: per mutation, `PushRules.validateContent`'s answer.
    ///   - refusedUpstream: this device's counters the provincial server refused, with the reason.
    ///   - isApplied: whether the server applied a mutation before this push.
    ///   - departed: whether a customer's file left this server's scope upstream.
    package init(_ request: SyncRequest, from device: DeviceContext, relaying relayed: Set<NodeID>, contentRefusals: [Refusal?],
                 refusedUpstream: [UInt64: String] = [:], isApplied: @escaping (MutationID) -> Bool,
                 departed: @escaping (String) -> Bool = { _ in false }, floor: StampFloor, signatures: RelaySignatures) {
        let policy = AccessPolicy(device.user)
        pending = PushReads.ahead(of: request, policy: policy)
        decide = { reads in
            let scope = PushScopeCheck(load: { try reads.stored($0) }, policy: policy, scopeAt: { try reads.scope(of: $0, at: $1) },
                                       departed: departed, floor: floor.of, device: device.node, people: { try reads.registeredPeople() })
            let decisions = try PushDecisions.decide(request, from: device, relaying: relayed, contentRefusals: contentRefusals,
                                                     refusedUpstream: refusedUpstream, isApplied: isApplied,
                                                     registered: { try reads.registeredBranches() }, signatures: signatures, scope: scope)
            return (decisions, scope)
        }
    }

    /// What to read next, or the decisions once nothing more is needed.
    package mutating func next() throws -> Step {
        if !pending.isEmpty { return .read(pending) }
        do {
            let (decisions, scope) = try decide(reads)
            return .decided(decisions, scope)
        } catch let miss as PushReadMiss {
            rounds += 1
            guard rounds <= Self.maxRounds else { throw PushDeciderError() }
            pending = miss.needs
            return .read(pending)
        }
    }

    /// What the engine read for the needs `next` returned last.
    package mutating func receive(_ result: PushReadResult) {
        let next = reads.add(result, asked: pending)
        pending = PushReadNeeds(records: next)
    }
}

/// The decisions kept asking for reads: an error in the rules, reported rather than looped on.
package struct PushDeciderError: Error, CustomStringConvertible {
    package var description: String { "a push's records could not be read ahead (\(PushDecider.maxRounds) rounds)" }
}
