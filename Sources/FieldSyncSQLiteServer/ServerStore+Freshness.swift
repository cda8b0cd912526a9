import FieldSyncKPI
import FieldSyncProtocol
import FieldSyncServerCore
import Foundation
import GRDB

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
        return BranchFreshness.of(devices: devices, below: below, checks: try digestChecks(), for: user, now: now)
    }

    /// The latest digest comparison each branch server asked of this server, by device id.
    public func digestChecks() throws -> [String: DigestCheck] {
        try writer.read { db in
            var checks: [String: DigestCheck] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT device, checked_at, matched, differing FROM digest_checks") {
                let check = DigestCheck(device: row[0], checkedAt: UInt64(clamping: row[1] as Int64), matched: row[2], differing: row[3])
                checks[check.device] = check
            }
            return checks
        }
    }

    /// Keeps a branch server's latest digest comparison.
    public func noteDigestCheck(_ check: DigestCheck) throws {
        try writer.write { db in
            try db.execute(sql: "INSERT OR REPLACE INTO digest_checks (device, checked_at, matched, differing) VALUES (?, ?, ?, ?)",
                           arguments: [check.device, Int64(clamping: check.checkedAt), check.matched, check.differing])
        }
    }

    /// This server's branches as a report for its upstream: the devices below it.
    public func freshnessReport() throws -> FreshnessReport {
        let all = try freshness(for: UserInfo(name: "", role: .province, branch: nil))
        let complete = all.allSatisfy { $0.completeUpTo != nil } ? all.compactMap(\.completeUpTo).min() : nil
        return FreshnessReport(completeUpTo: all.isEmpty ? nil : complete, devices: all.map(\.devices).saturatingSum(),
                               pending: all.map(\.pending).saturatingSum(), notSeenForThreeDays: all.map(\.notSeenForThreeDays).saturatingSum())
    }
}
