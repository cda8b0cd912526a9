/// Where a fault or complaint stands: a round (1, then +1 at each reopening)
/// and a state that only moves forward within the round.
///
/// On the wire and in SQLite it is the text `round:state`, e.g. `2:in-progress`.
public struct WorkflowStatus: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var round: Int
    /// 0 reported/received, 1 in progress, 2 restored/resolved, 3 closed.
    public var rank: Int

    public init(round: Int, rank: Int) {
        self.round = round
        self.rank = rank
    }

    public static let opened = WorkflowStatus(round: 1, rank: 0)
    /// The most rounds a case can have: reopened 999 times. A larger round is
    /// not a status (refused where typed or pushed, and never the one a merge
    /// keeps), so no value of it reaches arithmetic that could trap, and no
    /// device can lock a case closed with a round nobody can go past.
    public static let maxRound = 1_000
    public static let inProgress = 1, done = 2, closed = 3

    public static func < (lhs: WorkflowStatus, rhs: WorkflowStatus) -> Bool {
        (lhs.round, lhs.rank) < (rhs.round, rhs.rank)
    }

    public static func states(for kind: RecordKind) -> [String] {
        (CaseType.of(kind) ?? .complaint).states
    }

    public init?(_ text: String, kind: RecordKind) {
        guard let colon = text.firstIndex(of: ":"),
              text[..<colon].utf8.count <= 4, let round = Int(text[..<colon]), (1...Self.maxRound).contains(round),
              let rank = Self.states(for: kind).firstIndex(of: String(text[text.index(after: colon)...]))
        else { return nil }
        self.init(round: round, rank: rank)
    }

    /// Orders a status without knowing its record kind (merge hot path): the
    /// state words of both kinds share their ranks.
    static func orderKey(_ text: String) -> (Int, Int) {
        for kind in [RecordKind.fault, .complaint] {
            if let status = WorkflowStatus(text, kind: kind) { return (status.round, status.rank) }
        }
        return (0, -1)
    }

    public func text(for kind: RecordKind) -> String { "\(round):\(Self.states(for: kind)[rank])" }

    public func state(for kind: RecordKind) -> String { Self.states(for: kind)[rank] }

    public var description: String { "\(round):\(rank)" }

    public var isOpen: Bool { rank < Self.done }
}
