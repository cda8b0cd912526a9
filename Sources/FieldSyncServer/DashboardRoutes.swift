import FieldSyncKPI
import FieldSyncModel
import FieldSyncProtocol
import Foundation
import Hummingbird
import Logging

extension SyncHTTPServer {
    static let sessionCookie = "fieldsync_session"

    /// `POST /v1/dashboard/link`, `GET /dashboard/login`, `GET /dashboard`.
    func addDashboardRoutes(to router: Router<BasicRequestContext>) {
        router.post("/v1/dashboard/link") { request, _ in
            try await respond {
                let device = try await authenticate(request)
                return try Self.json(try await offload { try store.issueLoginLink(for: device) })
            }
        }
        router.get("/dashboard/login") { request, _ in
            await page {
                guard let link = request.uri.queryParameters["token"].map(String.init) else { throw ServerError.loginLinkInvalid }
                let session = try await offload { try store.openSession(link: link) }
                let cookie = "\(Self.sessionCookie)=\(session); Path=/dashboard; Max-Age=\(ServerStore.sessionLifetime / 1000); HttpOnly; Secure; SameSite=Strict"
                // The page's own parameters ride along on the link.
                let passed = ["period", "by", "as_of"].compactMap { name -> String? in
                    guard let value = request.uri.queryParameters[Substring(name)],
                          value.allSatisfy({ $0.isLetter || $0.isNumber || "-.:+".contains($0) }) else { return nil }
                    return "\(name)=\(value.replacingOccurrences(of: "+", with: "%2B"))"
                }
                let location = "/dashboard" + (passed.isEmpty ? "" : "?" + passed.joined(separator: "&"))
                return Response(status: .seeOther, headers: [.location: location, .setCookie: cookie])
            }
        }
        router.get("/dashboard") { request, _ in
            await page {
                let device: DeviceContext
                if let session = Self.cookie(Self.sessionCookie, in: request) {
                    device = try await offload { try store.authenticate(session: session) }
                } else {
                    device = try await authenticate(request)
                }
                guard AccessPolicy(device.user).mayOpenDashboard else { throw ServerError.forbiddenRole }
                let parameters = request.uri.queryParameters
                func value(_ name: String) -> String? { parameters[Substring(name)].map(String.init) }
                let query = try KPIQuery(period: value("period"), by: value("by") ?? (device.user.role == .supervisor ? "manager" : "branch"),
                                         branch: value("branch"), manager: value("manager"), asOf: value("as_of"), now: store.localNow)
                let facts = query.select(try await offload { try store.kpiFacts(for: device.user) })
                let html = DashboardPage(
                    report: KPIEngine.report(facts, period: query.period, grouping: query.grouping, asOf: query.asOf),
                    trend: query.period.trailing(6).map { KPIEngine.report(facts, period: $0, grouping: .province, asOf: query.asOf) },
                    todo: KPIEngine.openPastLimit(facts, asOf: query.asOf),
                    viewer: device.user).html()
                return Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store"],
                                body: ResponseBody(byteBuffer: ByteBuffer(string: html)))
            }
        }
    }

    /// A handler for a browser: errors become a short HTML page with the message.
    private func page(_ body: () async throws -> Response) async -> Response {
        do {
            return try await body()
        } catch let error as ServerError {
            return Self.errorPage(error.body.message, status: error.status)
        } catch {
            logger.error("dashboard request failed", metadata: ["error": "\(error)"])
            return Self.errorPage("the server failed to build this page; its log has the details", status: .internalServerError)
        }
    }

    static func errorPage(_ message: String, status: HTTPResponse.Status) -> Response {
        let html = "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>FieldSync</title></head><body><h1>FieldSync dashboard</h1><p>\(escape(message))</p></body></html>\n"
        return Response(status: status, headers: [.contentType: "text/html; charset=utf-8"], body: ResponseBody(byteBuffer: ByteBuffer(string: html)))
    }

    static func cookie(_ name: String, in request: Request) -> String? {
        for header in request.headers[values: .cookie] {
            for pair in header.split(separator: ";") {
                let parts = pair.trimmingCharacters(in: .whitespaces).split(separator: "=", maxSplits: 1)
                if parts.count == 2, parts[0] == name { return String(parts[1]) }
            }
        }
        return nil
    }
}
