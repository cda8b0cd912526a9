import FieldSyncTestSupport
import Foundation
import Testing

/// Issue 25, item 4: both programs end an error the same way, one line starting
/// with `error: `, and a mistyped command names the closest real one instead of
/// "2 unexpected arguments".
@Suite struct MessageStyleTests {
    @Test func aMistypedCommandSuggestsTheClosestOne() throws {
        let folder = try TemporaryFolder()
        let laptop = try CommandRunner(product: "fieldsync", environment: ["FIELDSYNC_HOME": folder.path("laptop")])
        let server = try CommandRunner(product: "fieldsync-server", environment: ["FIELDSYNC_DATA": folder.path("data")])

        let top = try laptop.run(["custmer", "list"])
        #expect(top.status == 64)
        #expect(top.stderr == "error: 'custmer' is not a fieldsync command; did you mean 'fieldsync customer'? (see 'fieldsync --help')\n", "\(top.stderr)")
        let nested = try laptop.run(["customer", "lst"])
        #expect(nested.status == 64 && nested.stderr.contains("did you mean 'fieldsync customer list'?"), "\(nested.stderr)")
        let far = try laptop.run(["zzzzzz"])
        // Nothing close: the commands a person can use, not the hidden debugging ones.
        #expect(far.status == 64 && far.stderr.contains("one of: init, enroll, sync") && !far.stderr.contains("write-loop"), "\(far.stderr)")
        let admin = try server.run(["usr", "list"])
        #expect(admin.status == 64 && admin.stderr.contains("'usr' is not a fieldsync-server command; did you mean 'fieldsync-server user'?"), "\(admin.stderr)")
        #expect(!FileManager.default.fileExists(atPath: folder.path("laptop")), "a mistyped command creates nothing")
    }

    @Test func everyErrorIsOneLineInOneStyle() throws {
        let folder = try TemporaryFolder()
        let laptop = try CommandRunner(product: "fieldsync", environment: ["FIELDSYNC_HOME": folder.path("laptop")])
        let server = try CommandRunner(product: "fieldsync-server", environment: ["FIELDSYNC_DATA": folder.path("data")])
        let failures: [(CommandRunner, [String], String)] = [
            (laptop, ["visit", "log"], "see 'fieldsync visit log --help'"),           // a missing argument, ArgumentParser's
            (laptop, ["contact", "add", "x", "--nam", "y"], "--name"),                 // an unknown option
            (laptop, ["status"], "fieldsync init"),                                    // no replica: the command's own error
            (server, ["serve", "--prot", "9"], "see 'fieldsync-server serve --help'"),
            (server, ["user", "add", "--name", "x", "--role", "boss"], "manager, supervisor"),
        ]
        for (runner, arguments, fix) in failures {
            let result = try runner.run(arguments)
            #expect(result.status != 0, "\(arguments)")
            #expect(result.stderr.hasPrefix("error: ") && result.stderr.filter { $0 == "\n" }.count == 1, "\(arguments): \(result.stderr)")
            #expect(result.stderr.contains(fix), "\(arguments): \(result.stderr)")
        }
    }
}
