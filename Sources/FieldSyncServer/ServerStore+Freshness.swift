import FieldSyncKPI
import FieldSyncProtocol
import Foundation
import GRDB

/// Up to when a branch's data is complete on this server: every device of
/// the branch (its laptops, or its branch server) has synced with nothing left
/// to send. KPI answers and the dashboard carry it, so a supervisor knows
/// whether yesterday's figures can still change.
public struct BranchFreshness: Encodable, Sendable, Equatable {
    public var branch: String
    /// The oldest last sync of the branch's devices (ms), when none has work waiting; nil otherwise.
    public var completeUpTo: UInt64?
    public var devices: Int
    /// Actions the branch's devices reported as waiting at their last sync.
    public var pending: Int
    /// Devices not seen for three days or more (or never).
    public var notSeenForThreeDays: Int

    enum CodingKeys: String, CodingKey {
        case branch, devices, pending
        case completeUpTo = "complete_up_to"
        case notSeenForThreeDays = "not_seen_for_3_days"
    }
}

extension BranchFreshness {
    /// The freshness of the branches `user` may see, from the devices and what branch servers reported below them.
    public static func of(devices: [DeviceRecord], below: [String: FreshnessReport], for user: UserInfo, now: UInt64) -> [BranchFreshness] {
        let policy = AccessPolicy(user)
        let devices = devices.filter { $0.revokedAt == nil && $0.branch != nil && $0.role != .province && $0.role != .admin }
        let byBranch = Dictionary(grouping: devices, by: { $0.branch ?? "" })
        return byBranch.keys.sorted().compactMap { branch in
            guard policy.isUnrestricted || branch == user.branch, let members = byBranch[branch] else { return nil }
            let reports = members.compactMap { below[$0.id] }
            let pending = members.reduce(0) { $0 + ($1.pending ?? 0) } + reports.reduce(0) { $0 + $1.pending }
            let seen = members.compactMap(\.lastSeen)
            // Complete up to the oldest sync anywhere below, when nothing waits anywhere.
            let complete = seen.count == members.count && pending == 0 && reports.allSatisfy({ $0.completeUpTo != nil || $0.devices == 0 })
                ? (seen + reports.compactMap(\.completeUpTo)).min() : nil
            let stale = members.filter { ($0.lastSeen ?? 0) + 3 * 86_400_000 < now }.count + reports.reduce(0) { $0 + $1.notSeenForThreeDays }
            return BranchFreshness(branch: branch, completeUpTo: complete, devices: members.count + reports.reduce(0) { $0 + $1.devices },
                                   pending: pending, notSeenForThreeDays: stale)
        }
    }
}

extension ServerStore {
    /// The devices, and what branch servers reported about the laptops below them.
    public func freshnessInputs() throws -> (devices: [DeviceRecord], below: [String: FreshnessReport]) {
        let below: [String: FreshnessReport] = try writer.read { db in
            var reports: [String: FreshnessReport] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT device, complete_up_to, devices, pending, stale FROM reported_below") {
                reports[row[0]] = FreshnessReport(completeUpTo: (row[1] as Int64?).map { UInt64(clamping: $0) }, devices: row[2], pending: row[3],
                                                  notSeenForThreeDays: row[4])
            }
            return reports
        }
        return (try devices(), below)
    }

    /// The freshness of the branches a user may see.
    public func freshness(for user: UserInfo) throws -> [BranchFreshness] {
        let (devices, below) = try freshnessInputs()
        return BranchFreshness.of(devices: devices, below: below, for: user, now: now)
    }

    /// This server's branches as a report for its upstream: the devices below it.
    public func freshnessReport() throws -> FreshnessReport {
        let all = try freshness(for: UserInfo(name: "", role: .province, branch: nil))
        let pending = all.reduce(0) { $0 + $1.pending }
        let complete = all.allSatisfy { $0.completeUpTo != nil } ? all.compactMap(\.completeUpTo).min() : nil
        return FreshnessReport(completeUpTo: all.isEmpty ? nil : complete, devices: all.reduce(0) { $0 + $1.devices }, pending: pending,
                               notSeenForThreeDays: all.reduce(0) { $0 + $1.notSeenForThreeDays })
    }
}

/// A KPI report with the freshness of the branches it covers (`GET /v1/kpi`).
enum KPIAnswer {
    /// The report's JSON bytes with `"freshness": …` as the object's first key.
    static func splice(_ report: [UInt8], freshness: Data) -> [UInt8] {
        Array("{\"freshness\":".utf8) + freshness + [UInt8(ascii: ",")] + report.dropFirst()
    }
}
