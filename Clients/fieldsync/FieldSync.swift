import ArgumentParser
import FieldSyncClient
import FieldSyncCommandLine
import FieldSyncLocalization
import FieldSyncModel
import FieldSyncStore
import Foundation

@main
struct FieldSync: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fieldsync",
        abstract: t("cli.fieldsync.abstract"),
        discussion: t("cli.fieldsync.discussion"),
        subcommands: [
            InitCommand.self, EnrollCommand.self, SyncCommand.self, StatusCommand.self, VerifyCommand.self,
            CustomerCommand.self, ContactCommand.self, AgreementCommand.self,
            VisitCommand.self, FaultCommand.self, ComplaintCommand.self, ConflictsCommand.self, InboxCommand.self, HistoryCommand.self, OutboxCommand.self, KPICommand.self, ReportCommand.self, DashboardCommand.self,
            WriteLoopCommand.self,
        ]
    )

    /// Runs the command; errors a person caused print one line on stderr and
    /// exit with a code saying which kind of mistake it was.
    static func main() async {
        // Replica, token and reports are private from their first byte.
        umask(0o077)
        let (arguments, _, languageError) = CommandLanguage.split(Array(CommandLine.arguments.dropFirst()))
        if let languageError { fail(languageError, code: 64) }
        do {
            var command = try parseAsRoot(arguments)
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch let error as InputError {
            fail(error.message, code: 64)
        } catch let error as StoreError {
            fail(error.text.map { rendered($0.key, $0.values) } ?? error.message, code: error.exitCode)
        } catch let error as SyncError {
            fail(said(error), code: 69)
        } catch {
            if let storage = StoreError.storage(error, folder: HomeOption.folder(in: CommandLine.arguments)) {
                fail(storage.text.map { rendered($0.key, $0.values) } ?? storage.message, code: storage.exitCode)
            }
            CommandLineFailure.exit(error, root: self, arguments: arguments)
        }
    }

    private static func fail(_ message: String, code: Int32) -> Never {
        CommandLineFailure.exit(message, code: code)
    }
}

/// A malformed option or argument, found after parsing (a bad time, an unknown choice).
struct InputError: Error, CustomStringConvertible {
    let message: String
    init(_ message: String) { self.message = message }
    var description: String { message }
}
