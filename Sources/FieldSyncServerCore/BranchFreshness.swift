import FieldSyncProtocol
import Foundation

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
    /// Devices not seen for three days or more (enrolled three days ago or more and never synced included).
    public var notSeenForThreeDays: Int
    /// Devices enrolled in the last three days that have not synced yet: new, not missing.
    public var notSyncedYet: Int = 0
    /// Actions of the branch's devices this server refused at their latest pushes (`RefusedWork`):
    /// they wait on the laptops until retried or discarded.
    public var refused: Int = 0
    /// Up to when every device of the branch (laptops, and branch servers for those below them) found,
    /// at its latest comparison by digests with this server (`DigestCheck`), its records identical to
    /// this server's copy of its scope: the oldest of those times. "Complete up to" then rests on
    /// matching records, not only on times reported. Nil: a device never compared, or its latest
    /// comparison differed (`differedAt`).
    public var identicalAt: UInt64?
    /// The newest latest comparison of a device of the branch that found its copy different (the device repairs what it can).
    public var differedAt: UInt64?
    /// Counted devices of the branch that never compared by digests with this server (an older laptop,
    /// one that has not synced for a day since it was enrolled): each holds `identicalAt` back.
    public var notCompared = 0

    enum CodingKeys: String, CodingKey {
        case branch, devices, pending, refused
        case identicalAt = "identical_at"
        case differedAt = "differed_at"
        case notCompared = "not_compared"
        case completeUpTo = "complete_up_to"
        case notSeenForThreeDays = "not_seen_for_3_days"
        case notSyncedYet = "not_synced_yet"
    }
}

extension BranchFreshness {
    /// The freshness of the branches `user` may see, from the devices and what branch servers reported below them.
    /// `checks`: the latest digest comparison of each device (by device id).
    public static func of(devices: [DeviceRecord], below: [String: FreshnessReport], checks: [String: DigestCheck] = [:],
                          for user: UserInfo, now: UInt64) -> [BranchFreshness] {
        let policy = AccessPolicy(user)
        let devices = devices.filter { $0.revokedAt == nil && $0.branch != nil && $0.role != .province && $0.role != .admin }
        let byBranch = Dictionary(grouping: devices, by: { $0.branch ?? "" })
        return byBranch.keys.sorted().compactMap { branch in
            guard policy.isUnrestricted || branch == user.branch, let members = byBranch[branch] else { return nil }
            let reports = members.compactMap { below[$0.id] }
            // Counts devices reported about themselves: summed without a trap, at most `Int.max`.
            let pending = (members.map { $0.pending ?? 0 } + reports.map(\.pending)).saturatingSum()
            let threeDays: UInt64 = 3 * 86_400_000
            // A device enrolled in the last three days that has not synced yet is new, not missing:
            // it neither counts as unseen nor holds its branch's data back.
            let new = members.filter { $0.lastSeen == nil && $0.createdAt + threeDays >= now }
            let counted = members.filter { $0.lastSeen != nil || $0.createdAt + threeDays < now }
            let seen = counted.compactMap(\.lastSeen)
            // Complete up to the oldest sync anywhere below, when nothing waits anywhere.
            let complete = seen.count == counted.count && !(counted.isEmpty && reports.isEmpty) && pending == 0
                && reports.allSatisfy({ $0.completeUpTo != nil || $0.devices == 0 })
                ? (seen + reports.compactMap(\.completeUpTo)).min() : nil
            let stale = ([counted.filter { ($0.lastSeen ?? $0.createdAt) + threeDays < now }.count] + reports.map(\.notSeenForThreeDays)).saturatingSum()
            let latest = counted.map { checks[$0.id] }
            let differed = latest.compactMap { $0 }.filter { !$0.matched }.map(\.checkedAt).max()
            let identical = !latest.isEmpty && differed == nil && latest.allSatisfy { $0 != nil } ? latest.compactMap { $0?.checkedAt }.min() : nil
            return BranchFreshness(branch: branch, completeUpTo: complete, devices: ([members.count] + reports.map(\.devices)).saturatingSum(),
                                   pending: pending, notSeenForThreeDays: stale, notSyncedYet: new.count,
                                   refused: members.map { $0.refused?.count ?? 0 }.saturatingSum(),
                                   identicalAt: identical, differedAt: differed, notCompared: latest.count { $0 == nil })
        }
    }
}

/// The latest comparison by digests (`POST /v1/digest`) a branch server asked of this server:
/// its copy of the branch against the branch server's records.
public struct DigestCheck: Sendable, Equatable {
    /// The branch server's device id.
    public var device: String
    /// This server's clock when it answered (ms).
    public var checkedAt: UInt64
    public var matched: Bool
    /// Buckets (of 256) that differed.
    public var differing: Int

    public init(device: String, checkedAt: UInt64, matched: Bool, differing: Int) {
        (self.device, self.checkedAt, self.matched, self.differing) = (device, checkedAt, matched, differing)
    }
}

extension Sequence<Int> {
    /// The sum, held at `Int.max` (or `Int.min`) instead of trapping: for counts devices report about themselves.
    package func saturatingSum() -> Int {
        reduce(0) { sum, value in
            let (result, overflow) = sum.addingReportingOverflow(value)
            return overflow ? (value > 0 ? .max : .min) : result
        }
    }
}
