/// What a person does to a fault or a complaint.
public enum CaseAction: Sendable, Equatable {
    /// First (or further) progress feedback to the customer.
    case feedback(at: String)
    /// Fault restored / complaint resolved; `result` is what the customer was told.
    case resolve(at: String, result: String?)
    /// Fault report delivered / complaint closed with its handling report.
    case close(at: String, report: String?)
    /// Complaint escalated to the branch supervisor (重点督办).
    case escalate(at: String, reason: String?)
    /// Starts a new round that outranks everything of the old one.
    case reopen
}

/// The field values each action writes, given the record as it stands.
/// Pure, so the CLI and the server apply the same rules.
public enum CaseWorkflow {
    public static func fields(
        for action: CaseAction, on kind: RecordKind, current: [String: FieldValue]
    ) throws(RecordValidationError) -> [(String, FieldValue)] {
        precondition(kind == .fault || kind == .complaint, "only faults and complaints have a workflow")
        let status = current["status"]?.text.flatMap { WorkflowStatus($0, kind: kind) } ?? .opened
        let isFault = kind == .fault
        func moved(to rank: Int) -> (String, FieldValue) {
            ("status", .text(WorkflowStatus(round: status.round, rank: max(status.rank, rank)).text(for: kind)))
        }
        func requireNotClosed(_ verb: String) throws(RecordValidationError) {
            if status.rank == WorkflowStatus.closed {
                throw RecordValidationError(field: "status", "this \(kind.noun) is closed; reopen it before you \(verb)")
            }
        }
        switch action {
        case .feedback(let at):
            try requireNotClosed("record feedback")
            return [("first_feedback_at", .text(at)), moved(to: WorkflowStatus.inProgress)]
        case .resolve(let at, let result):
            try requireNotClosed(isFault ? "restore it" : "resolve it")
            var fields: [(String, FieldValue)] = [(isFault ? "restored_at" : "resolved_at", .text(at))]
            if let result, !isFault { fields.append(("result", .text(result))) }
            // Telling the customer it is restored (resolved) is a feedback (guide §2.4.1(4)):
            // the first one, if none was recorded. An earlier feedback elsewhere still wins the merge.
            if (current["first_feedback_at"] ?? .null) == .null { fields.append(("first_feedback_at", .text(at))) }
            return fields + [moved(to: WorkflowStatus.done)]
        case .close(let at, let report):
            guard status.rank >= WorkflowStatus.done else {
                throw RecordValidationError(field: "status", isFault
                    ? "this fault is not restored yet; run 'fieldsync fault restore' first"
                    : "this complaint is not resolved yet; run 'fieldsync complaint resolve' first")
            }
            try requireNotClosed("close it again")
            var fields: [(String, FieldValue)] = [(isFault ? "report_delivered_at" : "closed_at", .text(at))]
            if let report, !isFault { fields.append(("report", .text(report))) }
            return fields + [moved(to: WorkflowStatus.closed)]
        case .escalate(let at, let reason):
            guard !isFault else { throw RecordValidationError(field: "status", "faults are not escalated; complaints are") }
            try requireNotClosed("escalate it")
            var fields: [(String, FieldValue)] = [("escalated_at", .text(at))]
            if let reason { fields.append(("escalation_reason", .text(reason))) }
            return fields
        case .reopen:
            guard status.rank >= WorkflowStatus.done else {
                throw RecordValidationError(field: "status", "this \(kind.noun) is still open (\(status.state(for: kind))); only a \(isFault ? "restored" : "resolved") or closed one can be reopened")
            }
            let cleared = isFault ? ["restored_at", "report_delivered_at"] : ["resolved_at", "closed_at"]
            return cleared.map { ($0, FieldValue.null) }
                + [("status", .text(WorkflowStatus(round: status.round + 1, rank: 0).text(for: kind)))]
        }
    }
}
