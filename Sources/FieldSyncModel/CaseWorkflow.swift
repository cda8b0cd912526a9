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
        guard let type = CaseType.of(kind) else {
            throw RecordValidationError(field: "status", "a \(kind.noun) has no workflow; faults and complaints do", key: "workflow.none", ["table": kind.rawValue])
        }
        let status = current["status"]?.text.flatMap { WorkflowStatus($0, kind: kind) } ?? .opened
        func moved(to rank: Int) -> (String, FieldValue) {
            ("status", .text(WorkflowStatus(round: status.round, rank: max(status.rank, rank)).text(for: kind)))
        }
        func requireNotClosed(_ verb: String, _ action: String) throws(RecordValidationError) {
            if status.rank == WorkflowStatus.closed {
                throw RecordValidationError(field: "status", "this \(kind.noun) is closed; reopen it before you \(verb)",
                                            key: "workflow.closed.\(action)", ["table": kind.rawValue])
            }
        }
        switch action {
        case .feedback(let at):
            try requireNotClosed("record feedback", "feedback")
            return [("first_feedback_at", .text(at)), moved(to: WorkflowStatus.inProgress)]
        case .resolve(let at, let result):
            try requireNotClosed("\(type.doneVerb) it", type.doneVerb)
            var fields: [(String, FieldValue)] = [(type.doneField, .text(at))]
            if let result, let field = type.resultField { fields.append((field, .text(result))) }
            // Telling the customer it is restored (resolved) is a feedback (guide §2.4.1(4)):
            // the first one, if none was recorded. An earlier feedback elsewhere still wins the merge.
            if (current["first_feedback_at"] ?? .null) == .null { fields.append(("first_feedback_at", .text(at))) }
            return fields + [moved(to: WorkflowStatus.done)]
        case .close(let at, let report):
            guard status.rank >= WorkflowStatus.done else {
                throw RecordValidationError(field: "status",
                    "this \(kind.noun) is not \(type.doneState) yet; run 'fieldsync \(kind.noun) \(type.doneVerb)' first",
                    key: "workflow.not-done", ["table": kind.rawValue, "state": type.doneState, "command": "fieldsync \(kind.noun) \(type.doneVerb)"])
            }
            try requireNotClosed("close it again", "close")
            var fields: [(String, FieldValue)] = [(type.closedField, .text(at))]
            if let report, let field = type.reportField { fields.append((field, .text(report))) }
            return fields + [moved(to: WorkflowStatus.closed)]
        case .escalate(let at, let reason):
            guard type.escalates else { throw RecordValidationError(field: "status", "\(kind.noun)s are not escalated; complaints are", key: "workflow.not-escalated", ["table": kind.rawValue]) }
            try requireNotClosed("escalate it", "escalate")
            var fields: [(String, FieldValue)] = [("escalated_at", .text(at))]
            if let reason { fields.append(("escalation_reason", .text(reason))) }
            return fields
        case .reopen:
            guard status.rank >= WorkflowStatus.done else {
                throw RecordValidationError(field: "status", "this \(kind.noun) is still open (\(status.state(for: kind))); only a \(type.doneState) or closed one can be reopened",
                                            key: "workflow.still-open", ["table": kind.rawValue, "state": status.state(for: kind), "done": type.doneState])
            }
            guard status.round < WorkflowStatus.maxRound else {
                throw RecordValidationError(field: "status", "this \(kind.noun) has been reopened \(WorkflowStatus.maxRound - 1) times, the most a case can be; open a new \(kind.noun) instead",
                                            key: "workflow.too-many-rounds", ["table": kind.rawValue, "times": String(WorkflowStatus.maxRound - 1)])
            }
            let cleared = [type.doneField, type.closedField]
            return cleared.map { ($0, FieldValue.null) }
                + [("status", .text(WorkflowStatus(round: status.round + 1, rank: 0).text(for: kind)))]
        }
    }
}
