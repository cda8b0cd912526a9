import FieldSyncKPI
import FieldSyncModel
import FieldSyncProtocol
import FieldSyncServerCore
import Foundation
import Hummingbird
import Logging


extension SyncHTTPServer {
    /// `GET /v1/kpi`, `/v1/kpi/misses`, `/v1/kpi/todo`, `/v1/kpi/late`: the KPI engine on the
    /// server's replica, limited to what the device's user may see.
    func kpiRoutes() -> RouteCollection<DeviceRequestContext> {
        let devices = RouteCollection(context: DeviceRequestContext.self)
        // Answers are written as bytes and kept with the facts: a province's month of misses is megabytes of JSON.
        devices.get("/v1/kpi") { request, context in
            let device = context.device
            let query = try kpiQuery(request)
            let freshness = try await kpi.freshness(for: device.user)
            let report = try await kpi.kpiResult("report\u{1F}" + query.cacheKey, for: device.user) { facts in
                KPIEngine.report(query.select(facts), period: query.period, grouping: query.grouping, asOf: query.asOf).jsonBytes()
            }
            return Self.json(bytes: KPIAnswer.splice(report, freshness: try JSONEncoder().encode(freshness)))
        }
        devices.get("/v1/kpi/misses") { request, context in
            let device = context.device
            let query = try kpiQuery(request)
            let only = request.uri.queryParameters["kpi"].map(String.init)
            if let only, KPI(rawValue: only) == nil {
                throw ServerError.badRequest("kpi: '\(only.prefix(40))' is not one of \(KPI.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            return Self.json(bytes: try await kpi.kpiResult("misses\u{1F}" + query.cacheKey + "\u{1F}" + (only ?? ""), for: device.user) { facts in
                let report = KPIEngine.report(query.select(facts), period: query.period, grouping: .province, asOf: query.asOf)
                return KPIMiss.jsonBytes(report.total.misses.filter { only == nil || $0.kpi.rawValue == only })
            })
        }
        devices.get("/v1/kpi/late") { request, context in
            let device = context.device
            let query = try kpiQuery(request)
            return Self.json(bytes: KPILateRecord.jsonBytes(try await kpi.recordedLate(query, for: device.user)))
        }
        // The evidence behind a figure: every value a record's fields have had, named (`RecordHistory`).
        devices.get("/v1/history") { request, context in
            let device = context.device
            let parameters = request.uri.queryParameters
            let query = try HistoryQuery { parameters[Substring($0)].map(String.init) }
            guard var history = try await kpi.history(of: query.key, for: device.user) else { throw ServerError.recordNotFound }
            if let field = query.field { history = history.only(field: field) }
            let directory = try await accounts.directory(for: device.user)
            history.name(Dictionary(directory.nodes.map { ($0.node, (person: $0.user, device: $0.device)) }, uniquingKeysWith: { first, _ in first }))
            return try Self.json(history)
        }
        // A supervisor's one list of what needs a person (`Inbox`).
        devices.get("/v1/inbox") { _, context in
            try Self.json(try await kpi.inbox(for: context.device.user, refused: accounts.refusedActions))
        }
        // A supervisor's decision about a refused action: it reaches the writer's laptop at its next sync.
        devices.post("/v1/inbox/refused") { request, context in
            var request = request
            let decision = try Self.decode(RefusedActionDecision.self, try await request.collectBody(upTo: 16 << 10))
            let action = try await accounts.decide(decision, by: context.device.user, now: clock())
            logger.info("refused action decided", metadata: ["node": "\(action.node)", "counter": "\(action.counter)",
                                                             "decision": "\(decision.action.rawValue)", "by": "\(context.device.user.name)"])
            return try Self.json(RefusedActionAnswer(action))
        }
        devices.get("/v1/kpi/todo") { request, context in
            let device = context.device
            let query = try kpiQuery(request)
            return Self.json(bytes: KPIMiss.jsonBytes(try await kpi.todo(query, for: device.user)))
        }
        return devices
    }

    func kpiQuery(_ request: Request) throws -> KPIQuery {
        let parameters = request.uri.queryParameters
        return try KPIQuery(query: { parameters[Substring($0)].map(String.init) }, now: kpi.localNow)
    }
}

/// A KPI report with the freshness of the branches it covers (`GET /v1/kpi`).
enum KPIAnswer {
    /// The report's JSON bytes with `"freshness": …` as the object's first key.
    static func splice(_ report: [UInt8], freshness: Data) -> [UInt8] {
        Array("{\"freshness\":".utf8) + freshness + [UInt8(ascii: ",")] + report.dropFirst()
    }
}
