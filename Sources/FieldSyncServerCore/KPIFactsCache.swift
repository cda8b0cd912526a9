import FieldSyncKPI
import Synchronization

/// The KPI facts of the server's replica, kept between requests: a dashboard
/// asks for several reports of the same records, and reading a province's
/// million records takes a second or two. Stale as soon as a commit changes a
/// record (`RecordChangeCounter`); the next request reads them again.
///
/// Reports computed from the facts are kept the same way, by what was asked
/// (`result(_:generation:compute:)`): a dashboard reloaded, or opened by a
/// second supervisor, is served without computing again.
public final class KPIFactsCache: Sendable {
    private let cached = Mutex<(generation: UInt64, facts: KPIFacts)?>(nil)
    private let results = Mutex<(generation: UInt64, values: [String: any Sendable])>((0, [:]))
    /// Reports kept at most; the oldest go first when a new one would pass it.
    static let maxResults = 64

    public init() {}

    /// The value kept under `key` for `generation`, else `compute()` kept.
    func result<T: Sendable>(_ key: String, generation: UInt64, compute: () throws -> T) rethrows -> T {
        if let hit = results.withLock({ $0.generation == generation ? $0.values[key] as? T : nil }) { return hit }
        let value = try compute()
        results.withLock { results in
            if results.generation != generation { results = (generation, [:]) }
            if results.values.count >= Self.maxResults { results.values.removeAll() }
            results.values[key] = value
        }
        return value
    }

    /// The same, computing with async work.
    func result<T: Sendable>(_ key: String, generation: UInt64, compute: () async throws -> T) async rethrows -> T {
        if let hit = results.withLock({ $0.generation == generation ? $0.values[key] as? T : nil }) { return hit }
        let value = try await compute()
        results.withLock { results in
            if results.generation != generation { results = (generation, [:]) }
            if results.values.count >= Self.maxResults { results.values.removeAll() }
            results.values[key] = value
        }
        return value
    }

    /// The facts as of `generation`, from the cache or from an async `load`.
    package func facts(generation: UInt64, load: () async throws -> KPIFacts) async rethrows -> KPIFacts {
        if let hit = cached.withLock({ $0?.generation == generation ? $0?.facts : nil }) { return hit }
        let facts = try await load()
        cached.withLock { $0 = (generation, facts) }
        return facts
    }

    /// The facts as of `generation`, from the cache or from `load`.
    package func facts(generation: UInt64, load: () throws -> KPIFacts) rethrows -> KPIFacts {
        if let hit = cached.withLock({ $0?.generation == generation ? $0?.facts : nil }) { return hit }
        // Read outside the lock: a commit during the read leaves these facts marked
        // with the older generation, so the next request reads again.
        let facts = try load()
        cached.withLock { $0 = (generation, facts) }
        return facts
    }
}
