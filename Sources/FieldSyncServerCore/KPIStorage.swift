import FieldSyncKPI
import FieldSyncLocalization
import FieldSyncModel
import FieldSyncProtocol
import Foundation

/// What KPI answers, the dashboard and freshness read, one implementation per
/// engine; who may see what, caching and the figures themselves are the same for all
/// (the extension below, over `AccessPolicy`, `KPIFactsCache` and `KPIEngine`).
public protocol KPIStorage: Sendable {
    /// Reports kept between requests.
    var kpiCache: KPIFactsCache { get }
    /// The server's clock.
    var now: UInt64 { get }
    /// Changes whenever a record does (on any instance): what the cache's entries are valid for.
    func recordGeneration() async throws -> UInt64
    /// Every KPI input as stored now.
    func loadKPIFacts() async throws -> KPIFacts
    /// A customer's visits, faults and complaints, for its monthly service report.
    func serviceRecords(customer: String) async throws -> [RecordKind: [(id: String, fields: ServiceReport.Fields)]]
    /// What a document about one of a customer's records reads (`CaseDocuments.documentKinds`).
    func documentRecords(customer: String) async throws -> [RecordKind: [(id: String, fields: ServiceReport.Fields)]]
    /// Devices and what branch servers reported about those below them.
    func freshnessInputs() async throws -> (devices: [DeviceRecord], below: [String: FreshnessReport])
    /// One record and the customer whose file holds it (`history(of:for:)`); nil if not held.
    func historyRecord(of key: RecordKey) async throws -> HistoryRecord?
    /// Its own log rows with receipts (the newest, bounded) and the ids of the conflicts about it;
    /// found by the customer they were logged under, or (province lists) their table.
    func historyRows(of key: RecordKey, customer: String?) async throws -> HistoryRows
    /// Unresolved conflict records with their files' customers, and what the upstream handed back (`Inbox`).
    func inboxInputs() async throws -> InboxInputs
    /// The latest digest comparison each branch server asked of this server, by device id.
    func digestChecks() async throws -> [String: DigestCheck]
    /// Keeps a branch server's latest digest comparison (replacing its previous one).
    func noteDigestCheck(_ check: DigestCheck) async throws
}

extension KPIStorage {
    /// The server's clock as a time in its own zone: the default `as_of` of KPI reports.
    public var localNow: Timestamp {
        Timestamp(epochSeconds: Int64(now / 1000), offsetMinutes: TimeZone.current.secondsFromGMT() / 60)
    }

    /// The KPI inputs `user` may see (`AccessPolicy.visible`).
    public func kpiFacts(for user: UserInfo) async throws -> KPIFacts {
        let generation = try await recordGeneration()
        // Indexed once per set of facts (visits by customer and week…): every report from them reuses it.
        let facts = try await kpiCache.facts(generation: generation) {
            let loaded = try await loadKPIFacts()
            return loaded.index == nil ? loaded.indexed() : loaded
        }
        return AccessPolicy(user).visible(facts)
    }

    /// `compute` on the facts `user` may see, or its result kept from an earlier
    /// request with the same `key` while no record changed since. The key must
    /// name everything the result depends on besides the facts and the user.
    /// The prefix of a cached answer's key: answers differ by who asks.
    static func cacheScope(of user: UserInfo) -> String { "\(user.role.rawValue)\u{1F}\(user.name)\u{1F}\(user.branch ?? "")\u{1F}" }

    public func kpiResult<T: Sendable>(_ key: String, for user: UserInfo, compute: @escaping @Sendable (KPIFacts) throws -> T) async throws -> T {
        let generation = try await recordGeneration()
        return try await kpiCache.result(Self.cacheScope(of: user) + key, generation: generation) {
            let facts = try await kpiFacts(for: user)
            // The figures are CPU work: off the concurrency pool, as SQLite's reads are.
            return try await offload { try compute(facts) }
        }
    }

    /// What is open past a limit for `user` (cached as the reports are).
    public func todo(_ query: KPIQuery, for user: UserInfo) async throws -> [KPIMiss] {
        try await kpiResult("todo\u{1F}" + query.cacheKey, for: user) { facts in KPIEngine.openPastLimit(query.select(facts), asOf: query.asOf) }
    }

    /// One customer's monthly service report, or nil when the customer is not in `user`'s scope.
    public func serviceReport(customer: String, period: ReportingPeriod, asOf: Timestamp, for user: UserInfo) async throws -> ServiceReport? {
        let facts = try await kpiFacts(for: user)
        guard facts.customers[customer] != nil else { return nil }
        let records = try await serviceRecords(customer: customer)
        return ServiceReport(customer: customer, facts: facts, records: records, period: period, asOf: asOf)
    }

    /// A handbook document about record `id` of `customer`, as `user` may see it; nil when the
    /// customer is outside their scope or does not hold such a record (not found either way).
    public func caseDocument(_ kind: CaseDocuments.Kind, id: String, customer: String, asOf: Timestamp, for user: UserInfo,
                             language: (KPIFacts.Customer) -> Strings) async throws -> HandbookDocument? {
        let facts = try await kpiFacts(for: user)
        guard let holder = facts.customers[customer] else { return nil }
        let records = try await documentRecords(customer: customer)
        do {
            return try CaseDocuments.document(kind, id: id, customer: customer, facts: facts, records: records, asOf: asOf, language(holder))
        } catch .notFound {
            return nil
        } catch {
            throw ServerError.badRequest("\(kind.recordKind.noun) \(id.prefix(8)) has no \(Self.missingField(error))")
        }
    }

    private static func missingField(_ failure: CaseDocuments.Failure) -> String {
        if case .missing(let field) = failure { return field.replacingOccurrences(of: "_", with: " ") }
        return "record"
    }

    /// The freshness of the branches `user` may see.
    public func freshness(for user: UserInfo) async throws -> [BranchFreshness] {
        let (devices, below) = try await freshnessInputs()
        return BranchFreshness.of(devices: devices, below: below, checks: try await digestChecks(), for: user, now: now)
    }
}
