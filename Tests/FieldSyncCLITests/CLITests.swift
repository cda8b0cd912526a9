import FieldSyncStore
import FieldSyncTestSupport
import Foundation
import Testing

/// The `fieldsync` binary, run as a person would, on a replica in a temporary folder.
@Suite struct CLITests {
    let folder: TemporaryFolder
    let cli: CommandRunner

    init() throws {
        folder = try TemporaryFolder()
        cli = try CommandRunner(product: "fieldsync", environment: [
            "FIELDSYNC_HOME": folder.path("home"),
            "FIELDSYNC_NOW": "2026-11-23T10:00:00+08:00",
        ])
    }

    /// Runs a command that must succeed; returns its trimmed stdout.
    @discardableResult
    func ok(_ arguments: String...) throws -> String {
        let result = try cli.run(arguments)
        #expect(result.status == 0, "\(arguments.joined(separator: " ")) failed: \(result.stderr)")
        return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func json(_ arguments: String...) throws -> Any {
        let result = try cli.run(arguments + ["--json"])
        #expect(result.status == 0, "\(arguments.joined(separator: " ")) failed: \(result.stderr)")
        return try JSONSerialization.jsonObject(with: Data(result.stdout.utf8))
    }

    @Test func newUserRecordsAVisitAFaultAndAComplaintOffline() throws {
        try ok("init", "--branch", "Hangzhou", "--user", "Li Wei")
        let customer = try ok("customer", "add", "--name", "Zhejiang Mobile", "--level", "vip", "--note", "tower sharing")
        let short = String(customer.prefix(6))
        try ok("contact", "add", short, "--name", "Wang Fang", "--role", "network ops", "--phone", "13800000000")
        try ok("contact", "add", short, "--name", "Chen Jie", "--role", "finance", "--email", "chen@example.com", "--billing")
        let visit = try ok("visit", "log", short, "--kind", "routine", "--summary", "Quarterly review", "--at", "2026-11-23T09:30+08:00")
        let fault = try ok("fault", "report", short, "--symptom", "Site 3 power alarm", "--occurred-at", "2026-11-23T08:00+08:00", "--reported-at", "2026-11-23T08:10+08:00")
        try ok("fault", "feedback", String(fault.prefix(6)), "--at", "2026-11-23T08:30+08:00", "--note", "crew dispatched")
        try ok("fault", "restore", String(fault.prefix(6)), "--at", "2026-11-23T09:40+08:00")
        try ok("fault", "close", String(fault.prefix(6)))
        let complaint = try ok("complaint", "open", short, "--channel", "phone", "--content", "Slow repair")
        try ok("complaint", "escalate", String(complaint.prefix(6)), "--reason", "repeated outage")

        let customers = try #require(try json("customer", "list") as? [[String: Any]])
        #expect(customers.count == 1)
        #expect(customers.first?["name"] as? String == "Zhejiang Mobile")
        #expect(customers.first?["level"] as? String == "vip")
        #expect(customers.first?["branch"] as? String == "Hangzhou")
        #expect(customers.first?["archived"] as? Bool == false)

        let contacts = try #require(try json("contact", "list", short) as? [[String: Any]])
        #expect(contacts.count == 2)
        #expect(contacts.filter { $0["billing"] as? Bool == true }.map { $0["name"] as? String } == ["Chen Jie"])

        let shownFault = try #require(try json("fault", "show", String(fault.prefix(8))) as? [String: Any])
        #expect(shownFault["status"] as? String == "closed")
        #expect(shownFault["round"] as? Int == 1)
        #expect(shownFault["first_feedback_at"] as? String == "2026-11-23T08:30:00+08:00")
        #expect(shownFault["restored_at"] as? String == "2026-11-23T09:40:00+08:00")
        #expect(shownFault["report_delivered_at"] as? String == "2026-11-23T10:00:00+08:00")
        #expect((shownFault["notes"] as? [[String: Any]])?.first?["text"] as? String == "crew dispatched")

        let shownComplaint = try #require(try json("complaint", "show", complaint) as? [String: Any])
        #expect(shownComplaint["escalated_at"] as? String == "2026-11-23T10:00:00+08:00")
        #expect(shownComplaint["escalation_reason"] as? String == "repeated outage")
        #expect(shownComplaint["status"] as? String == "received")

        let visitJSON = try #require(try json("visit", "show", visit) as? [String: Any])
        #expect(visitJSON["manager"] as? String == "Li Wei")
        #expect(visitJSON["kind"] as? String == "routine")

        let table = try ok("fault", "list")
        #expect(table.contains("Site 3 power alarm") && table.contains("closed") && table.contains("Zhejiang Mobile"))
        let status = try #require(try json("status") as? [String: Any])
        #expect(status["outbox_mutations"] as? Int == 10)
        #expect(status["unresolved_conflicts"] as? Int == 0)
        #expect(try ok("verify") == "ok")
    }

    @Test func badInputNamesTheFieldAndWhatIsAllowed() throws {
        try ok("init")
        let customer = try ok("customer", "add", "--name", "Acme")
        let fault = try ok("fault", "report", customer, "--symptom", "down", "--occurred-at", "2026-11-23T08:00+08:00")
        let cases: [([String], Int32, [String])] = [
            (["customer", "add", "--name", " "], 65, ["name", "empty"]),
            (["customer", "add", "--name", "X", "--level", "gold"], 64, ["--level", "'vip' and 'standard'"]),
            (["visit", "log", customer, "--kind", "walk", "--summary", "x"], 64, ["--kind", "'routine', 'complaint-follow-up', 'joint-meeting' or 'other'"]),
            (["visit", "log", customer, "--kind", "routine", "--summary", "x", "--at", "23/11/2026"], 64, ["--at", "ISO 8601"]),
            (["complaint", "open", customer, "--channel", "fax", "--content", "x"], 64, ["--channel", "'phone', 'in-person', 'email' or 'hotline'"]),
            (["agreement", "add", customer, "--number", "A-1", "--restore-hours", "0"], 64, ["--restore-hours", "from 1 to 8760"]),
            (["contact", "add", "0000dead", "--name", "A"], 66, ["customer", "0000dead"]),
            (["fault", "restore", fault, "--at", "2026-11-23T07:00+08:00"], 65, ["restored_at", "occurred_at"]),
            (["fault", "close", fault], 65, ["not restored"]),
            (["customer", "show", "xyz!"], 64, ["not a record id"]),
            (["customer", "edit", customer], 64, ["nothing to change"]),
        ]
        for (arguments, code, words) in cases {
            let result = try cli.run(arguments)
            #expect(result.status == code, "\(arguments): exit \(result.status), \(result.stderr)")
            // The first line says what is wrong; swift-argument-parser adds the usage after it.
            let first = String(result.stderr.split(separator: "\n").first ?? "")
            for word in words { #expect(first.contains(word), "\(arguments): \(result.stderr)") }
        }
        #expect(try ok("verify") == "ok")
    }

    /// Without --home or $FIELDSYNC_HOME the replica is in $HOME/.fieldsync, as a shell's ~ would say.
    /// Issue 24, item 6: in an existing `--home` folder the replica's files
    /// were 0644 (readable by every account on the laptop). They are 0600 and
    /// the folder 0700, made so on init and again by every command.
    @Test func replicaFilesArePrivateInAnExistingFolder() throws {
        let home = folder.path("home")
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        try ok("init", "--branch", "Hangzhou", "--user", "Li Wei")
        try ok("customer", "add", "--name", "Tower Co")
        func modes() throws -> [String: Int] {
            var modes = ["": try FileManager.default.attributesOfItem(atPath: home)[.posixPermissions] as? Int ?? -1]
            for name in try FileManager.default.contentsOfDirectory(atPath: home) {
                modes[name] = try FileManager.default.attributesOfItem(atPath: folder.path("home/\(name)"))[.posixPermissions] as? Int ?? -1
            }
            return modes
        }
        let made = try modes()
        #expect(made[""] == 0o700 && made.count > 1)
        #expect(made.filter { $0.key != "" && $0.value != 0o600 }.isEmpty, "\(made)")
        // A replica an older version left open is closed by the next command.
        chmod(home, 0o755)
        for name in made.keys where !name.isEmpty { chmod(folder.path("home/\(name)"), 0o644) }
        try ok("status")
        let closed = try modes()
        #expect(closed[""] == 0o700)
        #expect(closed.filter { $0.key != "" && $0.value != 0o600 }.isEmpty, "\(closed)")
    }

    @Test func defaultReplicaFolderFollowsHOME() throws {
        let home = folder.path("user-home")
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        let plain = try CommandRunner(product: "fieldsync", environment: ["FIELDSYNC_HOME": "", "HOME": home])
        let result = try plain.run(["init", "--user", "Li Wei"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(FileManager.default.fileExists(atPath: home + "/.fieldsync/" + Replica.fileName))
    }

    @Test func noReplicaSaysHowToCreateOne() throws {
        let result = try cli.run(["status"])
        #expect(result.status == 66)
        #expect(result.stderr.contains("fieldsync init"))
    }

    @Test func idsAbbreviateToAUniquePrefix() throws {
        try ok("init")
        var ids: [String] = []
        for index in 0..<24 { ids.append(try ok("customer", "add", "--name", "C\(index)")) }
        let first = Dictionary(grouping: ids) { $0.prefix(1) }.first { $0.value.count > 1 }!
        let ambiguous = try cli.run(["customer", "show", String(first.key)])
        #expect(ambiguous.status == 66 && ambiguous.stderr.contains("several"))
        let unique = try ok("customer", "show", String(ids[3].prefix(8)), "--json")
        #expect(unique.contains(ids[3]))
    }

    @Test func editArchiveAndReopenFlow() throws {
        try ok("init")
        let customer = try ok("customer", "add", "--name", "Acme")
        try ok("customer", "edit", customer, "--level", "vip", "--note", "new note")
        try ok("customer", "archive", customer)
        #expect(try ok("customer", "list", "--json") == "[\n\n]" || (try json("customer", "list") as? [Any])?.isEmpty == true)
        #expect((try json("customer", "list", "--all") as? [Any])?.count == 1)
        let complaint = try ok("complaint", "open", customer, "--channel", "email", "--content", "billing error")
        try ok("complaint", "feedback", complaint)
        try ok("complaint", "resolve", complaint, "--result", "refund issued")
        try ok("complaint", "close", complaint, "--report", "handled")
        try ok("complaint", "reopen", complaint, "--note", "customer disagrees")
        let shown = try #require(try json("complaint", "show", complaint) as? [String: Any])
        #expect(shown["status"] as? String == "received")
        #expect(shown["round"] as? Int == 2)
        #expect(shown["closed_at"] is NSNull)
        #expect(shown["first_feedback_at"] as? String == "2026-11-23T10:00:00+08:00")
    }

    /// Kill the CLI with SIGKILL at random points of a write loop, many times:
    /// the replica stays sound and every record written is in the outbox.
    @Test func killedMidWriteLeavesTheReplicaConsistent() throws {
        try ok("init")
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<12 {
            let process = try cli.start(["write-loop", "--count", "100000"])
            usleep(UInt32.random(in: 30_000...250_000, using: &generator))
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        #expect(try ok("verify") == "ok")
        let status = try #require(try json("status") as? [String: Any])
        let customers = try #require(try json("customer", "list") as? [Any])
        #expect(customers.count > 0)
        #expect(status["outbox_mutations"] as? Int == customers.count)
        #expect(status["outbox_changes"] as? Int == customers.count * 4)
    }
}
