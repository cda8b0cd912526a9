import FieldSyncModel

/// An event a time limit judges whose time was typed well after the time it
/// gives: met as claimed, but recorded after its limit had passed. The KPIs
/// count the time given (the handbook's limits are about the customer); this
/// is the evidence beside them (`kpi late`, the dashboard, the service report).
///
/// "Typed" is the stamp of the field holding the time: the writer's clock,
/// corrected to the server's at every sync and never accepted below what the
/// server has already seen of that device (Protocol/SYNC.md, stamp floors).
/// Work typed on a laptop whose clock was more than 5 minutes off is
/// re-stamped when it syncs, so it reads as typed then: it cannot prove earlier.
public struct KPILateRecord: Sendable, Equatable {
    /// The event as a miss would describe it: the KPI, the record, whose it is, the limit and its deadline.
    public var event: KPIMiss
    /// The time given for the event.
    public var claimed: Timestamp
    /// When that time was typed, in the offset of the time given.
    public var recorded: Timestamp
    /// When the server first received the write that typed it (its log receipt), in the same offset;
    /// nil on a laptop, and for writes logged before receipts were kept.
    public var received: Timestamp?

    public init(event: KPIMiss, claimed: Timestamp, recorded: Timestamp, received: Timestamp? = nil) {
        self.event = event
        self.claimed = claimed
        self.recorded = recorded
        self.received = received
    }

    /// How long after the time given it was typed.
    public var delaySeconds: Int64 { recorded.epochSeconds - claimed.epochSeconds }
    /// How long after the deadline it was typed.
    public var afterDeadlineSeconds: Int64 { recorded.epochSeconds - event.deadline.epochSeconds }
}

extension ServiceLimits {
    /// A time typed more than this after the time it gives counts as recorded
    /// late: room for a clock a little off and for typing it in after a call.
    public static let recordingToleranceMinutes: Int64 = 10

    /// `recorded` is later than `claimed` by more than the tolerance.
    public static func isRecordedLate(_ recorded: Timestamp, claimed: Timestamp) -> Bool {
        recorded.epochSeconds - claimed.epochSeconds > recordingToleranceMinutes * 60
    }
}

extension Timestamp {
    /// A stamp's clock reading (milliseconds since the epoch) as a time in `offsetMinutes`.
    public static func recorded(milliseconds: UInt64, offsetMinutes: Int) -> Timestamp {
        Timestamp(epochSeconds: Int64(clamping: milliseconds / 1_000), offsetMinutes: offsetMinutes)
    }

    /// The same instant in another offset.
    func inOffset(_ offsetMinutes: Int) -> Timestamp { Timestamp(epochSeconds: epochSeconds, offsetMinutes: offsetMinutes) }
}
