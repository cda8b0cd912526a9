import Synchronization

/// Memory for request bodies in flight, in all and per device.
///
/// A sync body may be 32 MiB as sent and again once gzip is undone, so a few
/// concurrent small gzip pushes from one token could inflate to gigabytes. Each
/// body reserves its bytes here before they are read or inflated, and returns
/// them when its request ends; a request that finds no room is answered `503
/// busy` with `Retry-After`, before anything of it is read into memory.
public final class BodyBudget: Sendable {
    public let total: Int
    public let perDevice: Int
    private struct State {
        var used = 0
        var byDevice: [String: Int] = [:]
    }
    private let state = Mutex(State())

    public init(total: Int, perDevice: Int) {
        self.total = max(1, total)
        self.perDevice = max(1, min(perDevice, total))
    }

    /// Reserves `bytes` for `device`, all or nothing.
    public func reserve(_ bytes: Int, device: String) -> Bool {
        reserve(upTo: bytes, atLeast: bytes, device: device) != nil
    }

    /// Reserves as much of `bytes` as there is room for, if that is at least `minimum`; what was reserved.
    public func reserve(upTo bytes: Int, atLeast minimum: Int, device: String) -> Int? {
        state.withLock { state in
            let mine = state.byDevice[device, default: 0]
            let room = min(total - state.used, perDevice - mine, max(0, bytes))
            guard room >= max(0, minimum) else { return nil }
            state.used += room
            state.byDevice[device] = mine + room
            return room
        }
    }

    public func release(_ bytes: Int, device: String) {
        guard bytes > 0 else { return }
        state.withLock { state in
            state.used = max(0, state.used - bytes)
            let left = state.byDevice[device, default: 0] - bytes
            state.byDevice[device] = left > 0 ? left : nil
        }
    }

    /// Bytes reserved now, in all and for `device`.
    public func used(device: String? = nil) -> Int {
        state.withLock { state in device.map { state.byDevice[$0, default: 0] } ?? state.used }
    }
}

/// Counts attempts per key in a sliding window (enrolment per address and per
/// code prefix): `limit` attempts per `window` milliseconds, the clock injected.
public final class AttemptLimiter: Sendable {
    public let limit: Int
    public let window: UInt64
    private let clock: @Sendable () -> UInt64
    private let attempts = Mutex<[String: [UInt64]]>([:])

    public init(limit: Int, window: UInt64, clock: @escaping @Sendable () -> UInt64) {
        self.limit = max(1, limit)
        self.window = max(1, window)
        self.clock = clock
    }

    /// Nil if every key has room for another attempt, else the seconds until the last of them has.
    public func wait(_ keys: [String]) -> Int? {
        let now = clock()
        return attempts.withLock { attempts in
            var wait: UInt64 = 0
            for key in keys {
                let recent = attempts[key, default: []].filter { now < $0 &+ window }
                attempts[key] = recent.isEmpty ? nil : recent
                if recent.count >= limit, let oldest = recent.first { wait = max(wait, oldest &+ window &- now) }
            }
            return wait == 0 ? nil : Int(min((wait + 999) / 1000, 3_600))
        }
    }

    /// Counts an attempt against every key.
    public func record(_ keys: [String]) {
        let now = clock()
        attempts.withLock { attempts in
            // Keys whose attempts all left the window are forgotten now and then (the table stays small).
            if attempts.count > 10_000 { attempts = attempts.filter { $0.value.contains { now < $0 &+ window } } }
            for key in keys { attempts[key, default: []].append(now) }
        }
    }

    /// `wait`, then `record` when allowed: nil if allowed.
    public func attempt(_ keys: [String]) -> Int? {
        if let wait = wait(keys) { return wait }
        record(keys)
        return nil
    }
}
