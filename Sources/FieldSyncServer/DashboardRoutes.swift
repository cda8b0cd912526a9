import FieldSyncKPI
import FieldSyncLocalization
import FieldSyncModel
import FieldSyncProtocol
import FieldSyncServerCore
import Foundation
import Hummingbird
import Logging

extension SyncHTTPServer {
    static let sessionCookie = "fieldsync_session"

    /// `POST /v1/dashboard/link`, `GET /dashboard/login`, `GET /dashboard`, `GET /dashboard/report`.
    func addDashboardRoutes(to router: Router<Context>) {
        router.group().add(middleware: DeviceAuthenticator(accounts: accounts)).group(context: DeviceRequestContext.self)
            .post("/v1/dashboard/link") { _, context in try Self.json(try await accounts.issueLoginLink(for: context.device)) }
        // Pages for a browser: errors are a short HTML page, every answer carries the security headers.
        let pages = router.group().add(middleware: SecurityHeadersMiddleware()).add(middleware: HTMLErrorMiddleware(logger: logger))
        pages.get("/dashboard/login") { request, _ in
            guard let link = request.uri.queryParameters["token"].map(String.init), link.utf8.count < 256 else { throw ServerError.loginLinkInvalid }
            let session = try await accounts.openSession(link: link)
            let cookie = "\(Self.sessionCookie)=\(session); Path=/dashboard; Max-Age=\(AccountRules.sessionLifetime / 1000); HttpOnly; Secure; SameSite=Strict"
            // The page's own parameters ride along on the link.
            let passed = ["period", "start", "days", "by", "as_of", "lang"].compactMap { name -> String? in
                guard let value = request.uri.queryParameters[Substring(name)], value.utf8.count <= 64,
                      value.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-.:+".contains($0)) }) else { return nil }
                return "\(name)=\(value.replacingOccurrences(of: "+", with: "%2B"))"
            }
            let location = "/dashboard" + (passed.isEmpty ? "" : "?" + passed.joined(separator: "&"))
            return Response(status: .seeOther, headers: [.location: location, .setCookie: cookie])
        }
        let signedIn = pages.add(middleware: DeviceAuthenticator(accounts: accounts, acceptsSessionCookie: true))
            .group(context: DeviceRequestContext.self)
        // One customer's monthly service report (guide §2.4.3), linked from the dashboard.
        signedIn.get("/dashboard/report") { request, context in
            let device = context.device
            guard AccessPolicy(device.user).mayOpenDashboard else { throw ServerError.forbiddenRole }
            let parameters = request.uri.queryParameters
            guard let customer = parameters["customer"].map(String.init), RecordID.isValid(customer) else {
                throw ServerError.badRequest("customer: give a customer id (36 characters, lowercase hex in groups 8-4-4-4-12)")
            }
            let query = try KPIQuery(query: { name in parameters[Substring(name)].map(String.init) }, now: kpi.localNow)
            guard let report = try await kpi.serviceReport(customer: customer, period: query.period, asOf: query.asOf, for: device.user)
            else { throw ServerError.customerNotFound }
            let strings = Strings.load(Language.ofDocument(asked: Self.chosenLanguage(of: request), customer: report.customer.language,
                                                           reader: Self.language(of: request)))
            return Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store", .contentLanguage: strings.language.htmlTag,
                                                   .vary: "Accept-Language"],
                            body: ResponseBody(byteBuffer: ByteBuffer(string: report.document(strings).html)))
        }
        // A handbook document about one complaint, fault or agreement (`fieldsync report complaint|fault|expiry`), linked from the lists.
        signedIn.get("/dashboard/document") { request, context in
            let device = context.device
            guard AccessPolicy(device.user).mayOpenDashboard else { throw ServerError.forbiddenRole }
            let parameters = request.uri.queryParameters
            guard let kind = parameters["kind"].flatMap({ $0.utf8.count <= 16 ? CaseDocuments.Kind(rawValue: String($0)) : nil }) else {
                throw ServerError.badRequest("kind: give complaint, fault or expiry")
            }
            guard let customer = parameters["customer"].map(String.init), RecordID.isValid(customer),
                  let id = parameters["id"].map(String.init), RecordID.isValid(id) else {
                throw ServerError.badRequest("customer, id: give record ids (36 characters, lowercase hex in groups 8-4-4-4-12)")
            }
            let query = try KPIQuery(query: { name in parameters[Substring(name)].map(String.init) }, now: kpi.localNow)
            let chosen = Self.chosenLanguage(of: request), reader = Self.language(of: request)
            guard let document = try await kpi.caseDocument(kind, id: id, customer: customer, asOf: query.asOf, for: device.user, language: { holder in
                Strings.load(Language.ofDocument(asked: chosen, customer: holder.language, reader: reader))
            }) else { throw ServerError.notFound("no such \(kind.recordKind.noun) of that customer in your scope") }
            return Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store",
                                                   .contentLanguage: document.language.htmlTag, .vary: "Accept-Language"],
                            body: ResponseBody(byteBuffer: ByteBuffer(string: document.html)))
        }
        signedIn.get("/dashboard") { request, context in
            let device = context.device
            guard AccessPolicy(device.user).mayOpenDashboard else { throw ServerError.forbiddenRole }
            let parameters = request.uri.queryParameters
            let grouping = device.user.role == .supervisor ? "manager" : "branch"
            let query = try KPIQuery(query: { name in parameters[Substring(name)].map(String.init) ?? (name == "by" ? grouping : nil) },
                                     now: kpi.localNow)
            var figures = try await kpi.kpiResult("dashboard\u{1F}" + query.cacheKey, for: device.user) { facts in DashboardFigures(query.select(facts), query) }
            figures.recordedLate = try await kpi.withReceipts(figures.recordedLate, cacheKey: "dashboard-late\u{1F}" + query.cacheKey, for: device.user)
            let html = DashboardPage(report: figures.report, customers: figures.customers, trend: figures.trend, todo: figures.todo,
                                     recordedLate: figures.recordedLate, viewer: device.user, freshness: try await kpi.freshness(for: device.user),
                                     inbox: try await kpi.inbox(for: device.user, refused: accounts.refusedActions),
                                     strings: Strings.load(Self.language(of: request)), chosenLanguage: Self.chosenLanguage(of: request)).html()
            return Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store", .vary: "Accept-Language"],
                            body: ResponseBody(byteBuffer: ByteBuffer(string: html)))
        }
    }

    /// The language of a page: `lang=en|zh` if the person chose one, else the browser's `Accept-Language`, else English.
    static func language(of request: Request) -> Language {
        if let chosen = chosenLanguage(of: request) { return chosen }
        if let header = request.headers[.acceptLanguage], header.utf8.count <= 512, let language = Language.of(acceptLanguage: header) { return language }
        return .fallback
    }

    /// The `lang=` of the request, when it names a language FieldSync speaks.
    static func chosenLanguage(of request: Request) -> Language? {
        guard let chosen = request.uri.queryParameters["lang"], chosen.utf8.count <= 16 else { return nil }
        return Language(tag: String(chosen))
    }

    static func errorPage(_ message: String, status: HTTPResponse.Status) -> Response {
        let html = "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>FieldSync</title></head><body><h1>FieldSync dashboard</h1><p>\(escape(message))</p></body></html>\n"
        return Response(status: status, headers: [.contentType: "text/html; charset=utf-8"], body: ResponseBody(byteBuffer: ByteBuffer(string: html)))
    }
}

/// What the dashboard computes from the facts: kept between requests (`ServerStore.kpiResult`).
struct DashboardFigures: Sendable {
    var report: KPIReport
    var trend: [KPIReport]
    var todo: [KPIMiss]
    var recordedLate: [KPILateRecord]
    /// Customer ids by their `by=customer` group name, for the links to their reports.
    var customers: [String: String]

    init(_ facts: KPIFacts, _ query: KPIQuery) {
        report = KPIEngine.report(facts, period: query.period, grouping: query.grouping, asOf: query.asOf)
        trend = query.period.trailing(6).map { KPIEngine.report(facts, period: $0, grouping: .province, asOf: query.asOf) }
        todo = KPIEngine.openPastLimit(facts, asOf: query.asOf)
        recordedLate = KPIEngine.recordedLate(facts, period: query.period, asOf: query.asOf)
        customers = Dictionary(facts.customers.values.map { (KPIEngine.groupName(of: $0), $0.id) }, uniquingKeysWith: { first, _ in first })
    }
}

/// Errors of the browser pages as a short HTML page with the message.
struct HTMLErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    let logger: Logger

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as ServerError {
            return SyncHTTPServer.errorPage(error.body.message, status: error.status)
        } catch {
            logger.error("dashboard request failed", metadata: ["error": "\(error)"])
            return SyncHTTPServer.errorPage("the server failed to build this page; its log has the details", status: .internalServerError)
        }
    }
}
