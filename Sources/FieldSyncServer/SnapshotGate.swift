import Foundation
import Synchronization

/// Bounds the snapshots being built or streamed at once: each one reads the
/// caller's whole scope and holds a file of it on disk until it is sent, so an
/// unbounded number would let a few devices exhaust the server's disk and CPU.
/// At most one per device and `capacity` in all; a refused device syncs page by
/// page instead (the client falls back on any failure).
///
/// A slot is released when its body has been sent or has failed. One whose
/// release never came (a response the server never wrote) lapses after `lapse`.
public final class SnapshotGate: Sendable {
    public struct Ticket: Sendable, Hashable {
        fileprivate let id: UInt64
    }

    private struct Slot {
        var device: String
        var since: ContinuousClock.Instant
    }

    private struct State {
        var next: UInt64 = 0
        var slots: [UInt64: Slot] = [:]
    }

    public let capacity: Int
    public let lapse: Duration
    private let now: @Sendable () -> ContinuousClock.Instant
    private let state = Mutex(State())

    public init(capacity: Int, lapse: Duration = .seconds(1_800), now: @escaping @Sendable () -> ContinuousClock.Instant = { .now }) {
        self.capacity = max(1, capacity)
        self.lapse = lapse
        self.now = now
    }

    public enum Refusal: Error, Equatable {
        /// This device has a snapshot on its way already.
        case deviceBusy
        /// `capacity` snapshots are on their way to other devices.
        case full
    }

    /// A slot for `device`, or why there is none.
    public func enter(device: String) -> Result<Ticket, Refusal> {
        let instant = now()
        return state.withLock { state in
            let lapse = self.lapse
            state.slots = state.slots.filter { instant - $0.value.since < lapse }
            if state.slots.values.contains(where: { $0.device == device }) { return .failure(.deviceBusy) }
            guard state.slots.count < capacity else { return .failure(.full) }
            state.next += 1
            state.slots[state.next] = Slot(device: device, since: instant)
            return .success(Ticket(id: state.next))
        }
    }

    public func leave(_ ticket: Ticket) {
        _ = state.withLock { $0.slots.removeValue(forKey: ticket.id) }
    }

    /// Slots held now.
    public var held: Int { state.withLock { $0.slots.count } }
}
