/// What sets faults and complaints apart, said once: the workflow, the CLI
/// and the server read it here instead of asking `kind == .fault` each time.
public struct CaseType: Sendable {
    public let kind: RecordKind
    /// Progress notes of this case type, and their field naming the case.
    public let noteKind: RecordKind
    public let noteParent: String
    /// When the case came in: `reported_at`, `received_at`.
    public let openedField: String
    /// When it was restored or resolved.
    public let doneField: String
    /// When its report was handed over and the case closed.
    public let closedField: String
    /// What it is about, for lists: `symptom`, `content`.
    public let subjectField: String
    /// The status words of ranks 0 to 3.
    public let states: [String]
    /// "restore" / "resolve", for messages.
    public let doneVerb: String
    /// What the customer was told at the resolution, and the closing report, where the case type keeps them.
    public let resultField: String?
    public let reportField: String?
    /// Complaints are escalated to the branch supervisor (重点督办); faults are not.
    public let escalates: Bool

    public var doneState: String { states[WorkflowStatus.done] }

    public static let fault = CaseType(
        kind: .fault, noteKind: .faultNote, noteParent: "fault", openedField: "reported_at", doneField: "restored_at",
        closedField: "report_delivered_at", subjectField: "symptom", states: ["reported", "in-progress", "restored", "closed"],
        doneVerb: "restore", resultField: nil, reportField: nil, escalates: false)

    public static let complaint = CaseType(
        kind: .complaint, noteKind: .complaintNote, noteParent: "complaint", openedField: "received_at", doneField: "resolved_at",
        closedField: "closed_at", subjectField: "content", states: ["received", "in-progress", "resolved", "closed"],
        doneVerb: "resolve", resultField: "result", reportField: "report", escalates: true)

    public static let all = [fault, complaint]

    /// The case type of a record kind; nil for kinds without a workflow.
    public static func of(_ kind: RecordKind) -> CaseType? {
        switch kind {
        case .fault: fault
        case .complaint: complaint
        default: nil
        }
    }
}
