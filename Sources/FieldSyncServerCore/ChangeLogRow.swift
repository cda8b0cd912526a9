import Foundation

/// One row of the change log, as every engine stores it: the changes of one
/// mutation to one record, or an exit (a customer's file left a scope).
public struct ChangeLogRow: Sendable, Equatable {
    /// Its position; given by the engine when the row is appended.
    public var seq: Int64
    public var table: String
    public var record: String
    public var origin: String
    /// The customer whose file holds the record as stored (pulls filter on that customer's scope).
    public var customer: String?
    /// The changes, encoded as the SQLite engine's change log encodes them.
    public var changes: [UInt8]
    /// The mutation's counter, to relay it upstream.
    public var counter: Int64?
    public var fromUpstream: Bool
    /// An exit row: the customer file `record` left this scope (branch, manager, team as written).
    public var exit: Exit?

    public struct Exit: Sendable, Equatable {
        public var branch: String
        public var manager: String?
        public var team: String?

        public init(branch: String, manager: String?, team: String?) {
            self.branch = branch
            self.manager = manager
            self.team = team
        }
    }

    public init(seq: Int64 = 0, table: String, record: String, origin: String, customer: String?, changes: [UInt8],
                counter: Int64? = nil, fromUpstream: Bool = false, exit: Exit? = nil) {
        self.seq = seq
        self.table = table
        self.record = record
        self.origin = origin
        self.customer = customer
        self.changes = changes
        self.counter = counter
        self.fromUpstream = fromUpstream
        self.exit = exit
    }
}
