import FieldSyncKPI
import FieldSyncStore
import Synchronization

/// The KPI facts of the server's replica, kept between requests: a dashboard
/// asks for several reports of the same records, and reading a province's
/// million records takes a second or two. Stale as soon as a commit changes a
/// record (`RecordChangeCounter`); the next request reads them again.
public final class KPIFactsCache: Sendable {
    private let cached = Mutex<(generation: UInt64, facts: KPIFacts)?>(nil)

    public init() {}

    /// The facts as of `generation`, from the cache or from `load`.
    func facts(generation: UInt64, load: () throws -> KPIFacts) rethrows -> KPIFacts {
        if let hit = cached.withLock({ $0?.generation == generation ? $0?.facts : nil }) { return hit }
        // Read outside the lock: a commit during the read leaves these facts marked
        // with the older generation, so the next request reads again.
        let facts = try load()
        cached.withLock { $0 = (generation, facts) }
        return facts
    }
}
