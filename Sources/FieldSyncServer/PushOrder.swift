import FieldSyncProtocol
import FieldSyncServerCore
import HTTPTypes
import Synchronization

/// Applies a device's pushes in the order it sent them when it sends one
/// before the answer to the one before it has arrived (`SyncRequest.follows`).
///
/// A push sent ahead is decoded as soon as it arrives, while the one it follows
/// is being applied (the two cores share the work), and waits here until a push
/// of the same device that reached the counter it follows has committed. Order
/// matters: a visit in the second page may name a customer created in the first.
///
/// It waits at most `wait`, and gives up sooner when no other sync of the device
/// is under way in this process (`begin`/`end`) for `grace`: the push it follows
/// went to another instance or to a process since restarted, or ended without
/// reaching it. It is then refused with `out_of_order` and the device sends the
/// rest one request at a time. A refused push stored nothing, so the order is
/// never broken. (The grace covers a push that overtook its predecessor on the
/// way: both are sent at once, each on its own connection.)
package final class PushOrder: Sendable {
    private struct Waiter {
        var id: UInt64
        var follows: UInt64
        var continuation: CheckedContinuation<Void, any Error>
    }

    private struct Device {
        /// The highest own counter of a push of this device committed in this process.
        var committed: UInt64 = 0
        /// Syncs of this device under way (waiting ones included).
        var active = 0
        var waiters: [Waiter] = []

        /// Whether no sync of the device but the waiting ones is under way.
        var alone: Bool { active <= waiters.count }

        /// The waiters nothing can satisfy any more, taken out: the last other sync of the device has ended.
        mutating func stranded() -> [Waiter] {
            guard alone else { return [] }
            defer { waiters = [] }
            return waiters
        }
    }

    private struct State {
        var next: UInt64 = 0
        var devices: [String: Device] = [:]
    }

    /// How long a push sent ahead waits for the one it follows.
    let wait: Duration
    /// How long it waits while no other sync of its device is under way.
    let grace: Duration
    /// Pushes of one device waiting at once; a device sends one ahead, so more is not a device following the protocol.
    /// 0: every push sent ahead is refused.
    let maxWaitingPerDevice: Int
    private let state = Mutex(State())

    package init(wait: Duration = .seconds(10), grace: Duration = .milliseconds(250), maxWaitingPerDevice: Int = 2) {
        self.wait = wait
        self.grace = grace
        self.maxWaitingPerDevice = maxWaitingPerDevice
    }

    package static func refusal(_ why: String) -> ServerError {
        ServerError(.conflict, ErrorCode.outOfOrder, "this push was sent ahead of the one it follows, and \(why); nothing of it was stored, send it again")
    }

    /// A sync of `device` has begun (before its body is read); `end` once it has ended, whatever the outcome.
    package func begin(device: String) {
        state.withLock { $0.devices[device, default: Device()].active += 1 }
    }

    package func end(device: String) {
        let stranded = state.withLock { state -> [Waiter] in
            guard var entry = state.devices[device] else { return [] }
            entry.active = max(0, entry.active - 1)
            let stranded = entry.stranded()
            state.devices[device] = entry
            return stranded
        }
        for waiter in stranded { waiter.continuation.resume(throwing: Self.refusal("the one it follows is not under way here")) }
    }

    /// Returns once `device`'s push that reached counter `follows` has committed; throws `out_of_order`
    /// when it cannot (see the type's comment). Called between `begin` and `end` of the same sync.
    package func admit(device: String, follows: UInt64) async throws {
        // Turned off (`--pushes-ahead 0`): the device learns it at its first push sent ahead.
        guard maxWaitingPerDevice > 0 else { throw Self.refusal("this server takes pushes one at a time") }
        let id = state.withLock { state in
            state.next += 1
            return state.next
        }
        let timer = Task { [wait, grace] in
            var waited = Duration.zero
            while waited < wait {
                let step = min(grace, wait - waited)
                try await Task.sleep(for: step)
                waited += step
                if self.alone(device, id) {
                    self.release(device, id, Self.refusal("the one it follows is not under way here"))
                    return
                }
            }
            self.release(device, id, Self.refusal("the one it follows did not commit within \(wait.components.seconds) s"))
        }
        defer { timer.cancel() }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let now: Result<Void, any Error>? = state.withLock { state in
                    var entry = state.devices[device, default: Device()]
                    if entry.committed >= follows { return .success(()) }
                    guard entry.waiters.count < maxWaitingPerDevice else {
                        return .failure(Self.refusal("\(maxWaitingPerDevice) pushes of this device wait already"))
                    }
                    entry.waiters.append(Waiter(id: id, follows: follows, continuation: continuation))
                    state.devices[device] = entry
                    return nil
                }
                if let now { continuation.resume(with: now) }
            }
        } onCancel: {
            release(device, id, CancellationError())
        }
    }

    /// A push of `device` holding its own counters up to `through` has committed: the pushes that follow it go on.
    package func committed(device: String, through: UInt64) {
        let ready = state.withLock { state -> [Waiter] in
            var entry = state.devices[device, default: Device()]
            entry.committed = max(entry.committed, through)
            let committed = entry.committed
            let ready = entry.waiters.filter { $0.follows <= committed }
            entry.waiters.removeAll { $0.follows <= committed }
            state.devices[device] = entry
            return ready
        }
        for waiter in ready { waiter.continuation.resume() }
    }

    /// A push of `device` holding its own counters `counters` was refused or failed:
    /// the pushes that follow one of them will not see it committed.
    package func failed(device: String, counters: ClosedRange<UInt64>) {
        let broken = state.withLock { state -> [Waiter] in
            guard var entry = state.devices[device] else { return [] }
            let broken = entry.waiters.filter { counters.contains($0.follows) }
            entry.waiters.removeAll { counters.contains($0.follows) }
            state.devices[device] = entry
            return broken
        }
        for waiter in broken { waiter.continuation.resume(throwing: Self.refusal("the one it follows was refused")) }
    }

    /// Pushes of `device` waiting now (tests).
    package func waiting(device: String) -> Int {
        state.withLock { $0.devices[device]?.waiters.count ?? 0 }
    }

    /// Whether waiter `id` still waits with no other sync of its device under way.
    private func alone(_ device: String, _ id: UInt64) -> Bool {
        state.withLock { state in
            guard let entry = state.devices[device], entry.waiters.contains(where: { $0.id == id }) else { return false }
            return entry.alone
        }
    }

    private func release(_ device: String, _ id: UInt64, _ error: any Error) {
        let waiter = state.withLock { state -> Waiter? in
            guard var entry = state.devices[device], let index = entry.waiters.firstIndex(where: { $0.id == id }) else { return nil }
            let waiter = entry.waiters.remove(at: index)
            state.devices[device] = entry
            return waiter
        }
        waiter?.continuation.resume(throwing: error)
    }
}
