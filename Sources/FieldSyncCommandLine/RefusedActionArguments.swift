import ArgumentParser
import FieldSyncLocalization
import FieldSyncModel

/// Which refused action a supervisor decides about, and their note: the same words on the
/// laptop (`fieldsync inbox discard|hand-back`) and on the server (`fieldsync-server inbox …`).
public struct RefusedActionArguments: ParsableArguments {
    @Argument(help: ArgumentHelp(CommandLanguage.strings("cli.inbox.node-help"))) public var node: String
    @Argument(help: ArgumentHelp(CommandLanguage.strings("cli.inbox.counter-help"))) public var counter: UInt64
    @Option(help: ArgumentHelp(CommandLanguage.strings("cli.inbox.note-help"))) public var note: String

    public init() {}

    /// The node, checked.
    public func nodeID(inbox command: String) throws -> NodeID {
        guard let parsed = NodeID(node) else { throw ValidationError(CommandLanguage.strings("cli.inbox.bad-node", ["node": node, "command": command])) }
        return parsed
    }

    public static var discardAbstract: String { CommandLanguage.strings("cli.inbox.discard-abstract") }
    public static var handBackAbstract: String { CommandLanguage.strings("cli.inbox.hand-back-abstract") }
}
