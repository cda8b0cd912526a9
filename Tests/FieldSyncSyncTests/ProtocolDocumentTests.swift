import FieldSyncKPI
import FieldSyncModel
import FieldSyncProtocol
@testable import FieldSyncSQLiteServer
@testable import FieldSyncServer
import Foundation
import HTTPTypes
import Testing

/// `Protocol/openapi.yaml` names every endpoint, error code, table and wire key the code uses.
@Suite struct ProtocolDocumentTests {
    static let protocolFolder = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Protocol")

    /// Issue 29, item 2: the glossary names every record kind, every field a person types or reads,
    /// every choice and every KPI, in Chinese and in English (three non-empty cells).
    @Test func theGlossaryNamesEveryKindFieldChoiceAndKPI() throws {
        let glossary = try String(contentsOf: Self.protocolFolder.appendingPathComponent("GLOSSARY.md"), encoding: .utf8)
        let rows = glossary.split(separator: "\n").filter { $0.hasPrefix("| `") }
        // The names in backticks in each row's first cell ("`vip` / `standard`" names two).
        var named = Set<String>()
        for row in rows {
            let cells = row.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            #expect(cells.count >= 3 && !cells[1].isEmpty && !cells[2].isEmpty, "\(row)")
            guard let key = cells.first else { continue }
            let parts = key.split(separator: "`", omittingEmptySubsequences: false)
            for (index, part) in parts.enumerated() where index % 2 == 1 { named.insert(String(part)) }
        }
        // The kinds people work with, and the machinery's own (conflicts are read as their own lines).
        for kind in RecordKind.allCases { #expect(named.contains(kind.rawValue), "kind \(kind.rawValue)") }
        for kind in RecordKind.allCases where ![.conflict, .branch, .setting, .handover, .calendarDay].contains(kind) {
            for field in kind.schema.fields { #expect(named.contains(field.name), "\(kind.rawValue).\(field.name)") }
        }
        for choice in RecordSchema.serviceLevels + RecordSchema.visitKinds + RecordSchema.complaintChannels + RecordSchema.dispatchStates
            + RecordSchema.calendarDayKinds + RecordSchema.documentLanguages { #expect(named.contains(choice), "choice \(choice)") }
        for kpi in KPI.allCases { #expect(named.contains(kpi.rawValue), "KPI \(kpi.rawValue)") }
    }

    @Test func openAPIDocumentMatchesTheCode() throws {
        let document = try String(contentsOf: Self.protocolFolder.appendingPathComponent("openapi.yaml"), encoding: .utf8)
        // Exactly the paths and methods the server routes (405 for the others relies on it).
        var documented: [String: [String]] = [:]
        var current: String?
        for line in document.split(separator: "\n") {
            if line.hasPrefix("  /"), line.hasSuffix(":") { current = String(line.dropFirst(2).dropLast()); documented[current!] = [] }
            else if let path = current, line.hasPrefix("    "), !line.hasPrefix("     "), line.hasSuffix(":") {
                documented[path]?.append(line.trimmingCharacters(in: .whitespaces).dropLast().uppercased())
            } else if !line.hasPrefix(" ") { current = nil }
        }
        #expect(documented == SyncHTTPServer.routes.mapValues { $0.map(\.rawValue) })
        for code in [ErrorCode.badRequest, ErrorCode.unauthorized, ErrorCode.deviceRevoked, ErrorCode.codeInvalid,
                     ErrorCode.codeExpired, ErrorCode.codeUsed, ErrorCode.nodeTaken, ErrorCode.forbidden, ErrorCode.clockSkew,
                     ErrorCode.tooLarge, ErrorCode.notFound, ErrorCode.methodNotAllowed, ErrorCode.internalError, ErrorCode.storageFull,
                     ErrorCode.busy, ErrorCode.outOfOrder] {
            #expect(document.contains(code), "error code \(code) missing")
        }
        for kind in RecordKind.allCases { #expect(document.contains(kind.rawValue)) }

        let change = FieldChange(table: .customer, record: "r", field: "name", value: .text("x"), hlc: HLC(rawValue: 1), node: NodeID(rawValue: 1), base: .zero)
        let samples: [any Encodable] = [
            SyncRequest(cursor: 0, mutations: [Mutation(origin: NodeID(rawValue: 1), counter: 1, user: "u", changes: [change])], clientTime: 1, maxChanges: 10,
                        follows: 1, pending: 1),
            SyncResponse(accepted: [MutationID(origin: NodeID(rawValue: 1), counter: 1)],
                         rejected: [Rejection(origin: NodeID(rawValue: 1), counter: 2, reason: "r")],
                         changes: [change], cursor: 1, more: false, serverTime: 1),
            EnrollRequest(code: "c", node: NodeID(rawValue: 1), deviceName: "d"),
            EnrollResponse(token: "t", device: "d", user: UserInfo(name: "n", role: .manager, branch: "b"), serverNode: NodeID(rawValue: 1)),
            ErrorBody(error: "e", message: "m", serverTime: 1),
            Self.kpiSample(),
            DashboardLink(path: "/dashboard/login?token=t", expiresInSeconds: 600),
        ]
        for sample in samples {
            for key in try Self.keys(of: sample) {
                #expect(document.contains("\(key):") || document.contains("[\(key)") || document.contains(" \(key),"), "\(type(of: sample)).\(key) not in openapi.yaml")
            }
        }
    }

    /// KPI.md names every KPI and states the limits the engine judges by (`ServiceLimits`).
    @Test func kpiDocumentStatesTheEnginesLimits() throws {
        let document = try String(contentsOf: Self.protocolFolder.appendingPathComponent("KPI.md"), encoding: .utf8)
        for kpi in KPI.allCases { #expect(document.contains("`\(kpi.rawValue)`"), "\(kpi.rawValue) missing") }
        for figure in [
            "\(ServiceLimits.faultFeedbackMinutes(vip: false)) min (VIP \(ServiceLimits.faultFeedbackMinutes(vip: true)))",
            "\(ServiceLimits.faultRestorationHours(vip: false)) h (VIP \(ServiceLimits.faultRestorationHours(vip: true)) h)",
            "\(ServiceLimits.complaintFeedbackHours(vip: false)) h (VIP \(ServiceLimits.complaintFeedbackHours(vip: true)) h)",
            "end of the \(ServiceLimits.complaintResolutionWorkingDays)rd working day",
            "end of the \(ServiceLimits.followUpVisitWorkingDays)nd working day",
            "\(ServiceLimits.renewalNoticeMonths) months before the end", "\(ServiceLimits.renewalMonths) month before the end",
        ] {
            #expect(document.contains(figure), "KPI.md does not say '\(figure)'")
        }
    }

    /// A report with one miss, so every key of every KPI type appears.
    static func kpiSample() -> KPIReport {
        var facts = KPIFacts()
        facts.customers["c"] = KPIFacts.Customer(id: "c", name: "n", branch: "b", manager: "m", level: "vip")
        facts.faults = [KPIFacts.Fault(id: "f", customer: "c", reportedAt: Timestamp(iso: "2026-11-16T09:00:00+08:00")!)]
        return KPIEngine.report(facts, period: try! ReportingPeriod("2026-W47"), grouping: .manager, asOf: Timestamp(iso: "2026-11-23T09:00:00+08:00")!)
    }

    static func keys(of value: any Encodable) throws -> Set<String> {
        func collect(_ any: Any) -> Set<String> {
            if let object = any as? [String: Any] { return Set(object.keys).union(object.values.flatMap(collect)) }
            if let array = any as? [Any] { return Set(array.flatMap(collect)) }
            return []
        }
        return collect(try JSONSerialization.jsonObject(with: try JSONEncoder().encode(value)))
    }
}
