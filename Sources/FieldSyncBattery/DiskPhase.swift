import Foundation
import GRDB

/// Full and read-only disks, on a small tmpfs: the server's data folder fills
/// up under a push, then turns read-only; a laptop's replica fills up. Each must
/// fail with a clear message, corrupt nothing, and recover once space returns.
/// Needs to mount tmpfs (root); elsewhere it says it was skipped.
extension Battery {
    typealias Check = (name: String, passed: Bool, detail: String)

    func mount(_ options: String, _ path: String, remount: Bool = false) -> Bool {
        let arguments = remount ? ["-o", "remount,\(options)", path] : ["-t", "tmpfs", "-o", options, "tmpfs", path]
        guard let child = try? Child(URL(fileURLWithPath: "/bin/mount"), arguments, environment: [:], scratch: scratch) else { return false }
        return child.wait(timeout: 20).status == 0
    }

    func unmount(_ path: String) {
        _ = try? Child(URL(fileURLWithPath: "/bin/umount"), [path], environment: [:], scratch: scratch).wait(timeout: 20)
    }

    func diskPhase() throws -> (checks: [Check], note: String) {
        let small = folder.appendingPathComponent("small-server-disk").path
        let laptopDisk = folder.appendingPathComponent("small-laptop-disk").path
        try FileManager.default.createDirectory(atPath: small, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: laptopDisk, withIntermediateDirectories: true)
        guard mount("size=3m", small) else { return ([], "disk phase skipped: cannot mount a tmpfs here (needs root)") }
        defer { unmount(small) }
        var checks: [Check] = []
        let data = small + "/server"
        let environment = ["FIELDSYNC_DATA": data]
        func server(_ arguments: [String]) throws -> Child.Result {
            try Child(binaries.appendingPathComponent("fieldsync-server"), arguments + ["--data", data], environment: environment, scratch: scratch).wait(timeout: 60)
        }
        let home = folder.appendingPathComponent("disk-laptop").path
        func laptop(_ arguments: [String], home: String = home) throws -> Child.Result {
            try Child(binaries.appendingPathComponent("fieldsync"), arguments, environment: ["FIELDSYNC_HOME": home], scratch: scratch).wait(timeout: 60)
        }
        try require(server(["init"]), "init on the small disk")
        try require(server(["branch", "add", "Hangzhou"]), "branch add")
        let user = try require(server(["user", "add", "--name", "Disk Manager", "--role", "manager", "--branch", "Hangzhou", "--json"]), "user add")
        let code = (try JSONSerialization.jsonObject(with: Data(user.utf8)) as? [String: Any])?["enrolment_code"] as? String ?? ""
        let port = try freePort()
        let serving = try Child(binaries.appendingPathComponent("fieldsync-server"), ["serve", "--data", data, "--port", String(port), "--metrics-port", "0"],
                                environment: [:], scratch: scratch)
        defer {
            serving.kill(SIGTERM)
            _ = serving.wait(timeout: 20)
        }
        while !accepts(port: port) && serving.process.isRunning { usleep(20_000) }
        try require(laptop(["enroll", "https://127.0.0.1:\(port)", "--code", code, "--ca", data + "/ca.pem"]), "enroll")
        try require(laptop(["sync"]), "first sync")
        let customer = try require(laptop(["customer", "add", "--name", "Disk Tower", "--branch", "Hangzhou"]), "customer add")
        let filler = String(repeating: "x", count: 3_000)
        var written = 0
        func write(_ count: Int) throws {
            for _ in 0..<count {
                written += 1
                try require(laptop(["visit", "log", customer, "--kind", "routine", "--summary", "disk visit \(written) \(filler)"]), "visit log")
            }
        }
        func serverVisits() throws -> (integrity: [String], visits: Int) {
            let database = try DatabaseQueue(path: data + "/server.sqlite", configuration: { var c = Configuration(); c.readonly = true; return c }())
            defer { try? database.close() }
            return try database.read { db in
                (try String.fetchAll(db, sql: "PRAGMA integrity_check"), try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM visits") ?? -1)
            }
        }
        // The server's disk fills up under the push.
        try write(1_200)
        let full = try laptop(["sync"])
        checks.append(("full server disk: the sync is refused with a clear message",
                       full.status == 69 && full.stderr.contains("disk is full or read-only"), full.stderr))
        let duringFull = try serverVisits()
        checks.append(("full server disk: integrity_check, and nothing of the refused push kept",
                       duringFull.integrity == ["ok"] && duringFull.visits < written, "\(duringFull)"))
        _ = mount("size=64m", small, remount: true)
        try require(laptop(["sync"]), "sync once there is space")
        let recovered = try serverVisits()
        checks.append(("full server disk: once there is space the push is taken whole (\(recovered.visits) of \(written))",
                       recovered.integrity == ["ok"] && recovered.visits == written, "\(recovered)"))
        // The data folder turns read-only (Linux refuses while the server holds its database open for writing: then it is not tried).
        var readOnlyNote = ""
        if mount("ro", small, remount: true) {
            try write(3)
            let readOnly = try laptop(["sync"])
            checks.append(("read-only server folder: the sync is refused with a clear message",
                           readOnly.status == 69 && readOnly.stderr.contains("disk is full or read-only"), readOnly.stderr))
            _ = mount("rw", small, remount: true)
            try require(laptop(["sync"]), "sync once writable")
            let writable = try serverVisits()
            checks.append(("read-only server folder: once writable the push is taken whole", writable.integrity == ["ok"] && writable.visits == written,
                           "\(writable)"))
        } else {
            readOnlyNote = " (a read-only remount under the running server is refused by the kernel: not tried)"
        }

        // A laptop whose disk fills up.
        guard mount("size=700k", laptopDisk) else { return (checks, "laptop disk phase skipped: cannot mount") }
        defer { unmount(laptopDisk) }
        let tinyHome = laptopDisk + "/home"
        try require(laptop(["init", "--user", "Disk Manager", "--branch", "Hangzhou"], home: tinyHome), "init on the small laptop disk")
        let local = try require(laptop(["customer", "add", "--name", "Local"], home: tinyHome), "customer add")
        var refusal: Child.Result?
        var recorded = 0
        for number in 1...400 {
            let result = try laptop(["visit", "log", local, "--kind", "routine", "--summary", "visit \(number) \(filler)"], home: tinyHome)
            if result.status != 0 {
                refusal = result
                break
            }
            recorded += 1
        }
        checks.append(("full laptop disk: the write is refused with exit 74 and a clear message",
                       refusal?.status == 74 && refusal?.stderr.contains("is full: nothing of this was recorded") == true, refusal?.stderr ?? "never refused"))
        let verify = try laptop(["verify"], home: tinyHome)
        checks.append(("full laptop disk: the replica passes verify", verify.status == 0, verify.stderr))
        _ = mount("size=8m", laptopDisk, remount: true)
        let after = try laptop(["visit", "log", local, "--kind", "routine", "--summary", "after"], home: tinyHome)
        let list = try laptop(["visit", "list", "--json"], home: tinyHome)
        let count = ((try? JSONSerialization.jsonObject(with: Data(list.stdout.utf8))) as? [Any])?.count ?? -1
        checks.append(("full laptop disk: once there is space, writing works and every recorded visit is there (\(count) of \(recorded + 1))",
                       after.status == 0 && count == recorded + 1, after.stderr))
        return (checks, "disk phase: a 3 MiB tmpfs under the server, 700 KiB under a laptop" + readOnlyNote)
    }
}
