/// The time limits of the handbook (guide §2.3.3, §2.4.1, §2.4.2), in one
/// place: the KPI engine judges by them, and `--help` and Protocol/KPI.md quote them.
public enum ServiceLimits {
    /// Fault: first progress feedback after the report (§2.4.1(3)).
    public static func faultFeedbackMinutes(vip: Bool) -> Int64 { vip ? 30 : 60 }

    /// Fault: restoration, when neither the fault (`restore_by`) nor an
    /// agreement in force (`restore_hours`) states the limit agreed with the
    /// customer (§2.4.1 工作时限). FieldSync's default, not the handbook's:
    /// the handbook leaves the figure to the agreement.
    public static func faultRestorationHours(vip: Bool) -> Int64 { vip ? 4 : 8 }

    /// Complaint: first progress feedback after receipt (§2.4.2).
    public static func complaintFeedbackHours(vip: Bool) -> Int64 { vip ? 1 : 2 }

    /// Complaint: resolved within this many working days, else a key escalation item (重点督办).
    public static let complaintResolutionWorkingDays = 3

    /// Complaint: the follow-up visit, with the handling report, after the resolution (§2.4.2(6)).
    public static let followUpVisitWorkingDays = 2

    /// Agreement: the expiry notice (服务到期通知) this many months before the end (§2.3.3).
    public static let renewalNoticeMonths = 3

    /// Agreement: re-signed, or the customer's termination notice received, this many months before the end (§2.3.3).
    public static let renewalMonths = 1

    /// The limits as a person reads them, for `--help` and the docs.
    public static let summary = """
        fault first feedback within \(faultFeedbackMinutes(vip: false)) min of the report (VIP \(faultFeedbackMinutes(vip: true))); \
        fault restored by the time agreed with the customer (the fault's --restore-by, else the agreement's restoration hours, \
        else the province's default, else \(faultRestorationHours(vip: false)) h, VIP \(faultRestorationHours(vip: true)) h); \
        complaint first feedback within \(complaintFeedbackHours(vip: false)) h (VIP \(complaintFeedbackHours(vip: true)) h); \
        complaint resolved within \(complaintResolutionWorkingDays) working days; \
        follow-up visit within \(followUpVisitWorkingDays) working days of the resolution; \
        agreement expiry notice \(renewalNoticeMonths) months before the end, re-signed or terminated \(renewalMonths) month before
        """
}
