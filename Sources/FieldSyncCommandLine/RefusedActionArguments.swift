import ArgumentParser
import FieldSyncModel

/// Which refused action a supervisor decides about, and their note: the same words on the
/// laptop (`fieldsync inbox discard|hand-back`) and on the server (`fieldsync-server inbox …`).
public struct RefusedActionArguments: ParsableArguments {
    @Argument(help: "The device's node (16 hex digits), as the inbox shows it.") public var node: String
    @Argument(help: "The action's number, as the inbox shows it.") public var counter: UInt64
    @Option(help: "Why it is discarded (kept with it on the writer's laptop), or what to correct.") public var note: String

    public init() {}

    /// The node, checked.
    public func nodeID(inbox command: String) throws -> NodeID {
        guard let parsed = NodeID(node) else { throw ValidationError("'\(node)' is not a node: 16 hex digits, as '\(command)' shows it") }
        return parsed
    }

    public static let discardAbstract = "Discard a refused action: taken out of its writer's outbox at their next sync, your note kept as the reason."
    public static let handBackAbstract = "Hand a refused action back to its writer with a note: it stays in their outbox, your note beside it."
}
