import ArgumentParser
import FieldSyncClient
import FieldSyncCommandLine
import FieldSyncStore
import Foundation

@main
struct FieldSync: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fieldsync",
        abstract: "Keep customer files, visits, faults and complaints in a replica that works offline.",
        discussion: """
            Records live in a SQLite replica in $FIELDSYNC_HOME (default ~/.fieldsync), or the \
            folder given with --home. Every change is recorded offline and queued for the next sync.

            Record ids can be abbreviated to any unique prefix, like git commits. Times are ISO 8601 \
            (2026-11-23T09:30, 2026-11-23T09:30:00+08:00) or 'now'; a time without an offset is local time.

            Exit codes: 0 success; 1 failure (e.g. 'verify' found problems); 64 a malformed \
            option or argument; 65 a value the record cannot take; 66 no such record or replica; 69 the server \
            could not be reached or refused the request (nothing recorded locally is lost); 74 the disk is full or \
            the replica folder cannot be written (nothing of the command was recorded).
            """,
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
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch let error as InputError {
            fail(error.message, code: 64)
        } catch let error as StoreError {
            fail(error.message, code: error.exitCode)
        } catch let error as SyncError {
            fail(error.message, code: 69)
        } catch {
            if let storage = StoreError.storage(error, folder: HomeOption.folder(in: CommandLine.arguments)) {
                fail(storage.message, code: storage.exitCode)
            }
            CommandLineFailure.exit(error, root: self, arguments: Array(CommandLine.arguments.dropFirst()))
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
