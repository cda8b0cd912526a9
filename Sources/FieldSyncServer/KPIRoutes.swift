import FieldSyncKPI
import FieldSyncModel
import FieldSyncProtocol
import Foundation
import Hummingbird

/// What a KPI request asks for: `period`, `by`, `branch`, `manager`, `as_of`
/// (query parameters, all optional), parsed with a message for each bad one.
public struct KPIQuery: Sendable {
    public var period: ReportingPeriod
    public var grouping: KPIGrouping
    public var branch: String?
    public var manager: String?
    public var asOf: Timestamp

    public init(period: String?, by: String?, branch: String?, manager: String?, asOf: String?, now: Timestamp) throws(ServerError) {
        if let asOf {
            guard let time = Timestamp(iso: asOf, defaultOffsetMinutes: now.offsetMinutes) else {
                throw ServerError.badRequest("as_of: '\(asOf.prefix(40))' is not an ISO 8601 time")
            }
            guard ReportingPeriod.years.contains(time.localDay.components.year) else {
                throw ServerError.badRequest("as_of: '\(asOf.prefix(40))' is outside the years \(ReportingPeriod.years.lowerBound) to \(ReportingPeriod.years.upperBound)")
            }
            self.asOf = time
        } else {
            self.asOf = now
        }
        if let period {
            do {
                self.period = try ReportingPeriod(period)
            } catch {
                throw ServerError.badRequest("period: \(error.description)")
            }
        } else {
            self.period = .containing(self.asOf.localDay, kind: .month)
        }
        if let by {
            guard let grouping = KPIGrouping(rawValue: by) else {
                throw ServerError.badRequest("by: '\(by.prefix(40))' is not one of \(KPIGrouping.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            self.grouping = grouping
        } else {
            self.grouping = .manager
        }
        self.branch = branch
        self.manager = manager
    }

    /// Narrows facts already limited to what the caller may see.
    public func select(_ facts: KPIFacts) -> KPIFacts {
        var selected = facts
        if let branch { selected = selected.restricted(toBranch: branch) }
        if let manager { selected = selected.restricted(toManager: manager) }
        return selected
    }
}

extension SyncHTTPServer {
    /// `GET /v1/kpi`, `/v1/kpi/misses`, `/v1/kpi/todo`: the KPI engine on the
    /// server's replica, limited to what the device's user may see.
    func addKPIRoutes(to devices: RouterGroup<Context>) {
        devices.get("/v1/kpi") { request, context in
            let (query, facts) = try await kpiInputs(request, context.requireDevice())
            return try Self.json(KPIEngine.report(facts, period: query.period, grouping: query.grouping, asOf: query.asOf))
        }
        devices.get("/v1/kpi/misses") { request, context in
            let (query, facts) = try await kpiInputs(request, context.requireDevice())
            let only = request.uri.queryParameters["kpi"].map(String.init)
            if let only, KPI(rawValue: only) == nil {
                throw ServerError.badRequest("kpi: '\(only.prefix(40))' is not one of \(KPI.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            let report = KPIEngine.report(facts, period: query.period, grouping: .province, asOf: query.asOf)
            return try Self.json(report.total.misses.filter { only == nil || $0.kpi.rawValue == only })
        }
        devices.get("/v1/kpi/todo") { request, context in
            let (query, facts) = try await kpiInputs(request, context.requireDevice())
            return try Self.json(KPIEngine.openPastLimit(facts, asOf: query.asOf))
        }
    }

    private func kpiInputs(_ request: Request, _ device: DeviceContext) async throws -> (KPIQuery, KPIFacts) {
        let parameters = request.uri.queryParameters
        func value(_ name: String) -> String? { parameters[Substring(name)].map(String.init) }
        let query = try KPIQuery(period: value("period"), by: value("by"), branch: value("branch"), manager: value("manager"),
                                 asOf: value("as_of"), now: store.localNow)
        let facts = try await offload { try store.kpiFacts(for: device.user) }
        return (query, query.select(facts))
    }
}
