// `swift run -c release fieldsync-bench [--records N] [--page RECORDS] [--rounds N] [--dir DIR] [--only PHASE]`
// `swift run -c release fieldsync-bench --only kpi`: KPIs of a province of a million records.
// `swift run -c release fieldsync-bench --only load [--clients 1000] [--seconds 60] [--interval 3]`: many laptops at once.
// `swift run -c release fieldsync-bench --only sync --database postgres://…`: the sync also with the server on PostgreSQL.
//
// Prints throughput figures of the replica next to the raw SQLite insert rate
// of the same rows, measured in the same run on the same disk, as medians of
// interleaved rounds (this machine's disk is noisy): the ratio is the figure
// that matters, the absolute numbers depend on the machine.

import FieldSyncModel
import FieldSyncPostgres
import FieldSyncStore
import Foundation

// Child roles of the sync benchmark (see SyncBenchmark).
if let role = CommandLine.arguments.firstIndex(of: "--role").map({ CommandLine.arguments[$0 + 1] }) {
    // An error ends the child with a message and status 1: thrown out of the top level, it would
    // crash, and the parent would wait through a backtrace and see a signal instead of the reason.
    do {
        func value(_ name: String) -> String { CommandLine.arguments[CommandLine.arguments.firstIndex(of: name)! + 1] }
        if role == "serve" {
            let database = CommandLine.arguments.contains("--database") ? value("--database") : nil
            try await SyncBenchmark.serve(data: value("--data"), portFile: value("--port-file"), database: database)
        }
        if role == "sync" { try await SyncBenchmark.sync(home: value("--home")) }
        if role == "snapshot" { try await SyncBenchmark.snapshot(home: value("--home")) }
        if role == "kpi" { try KPIBenchmark.compute(replica: value("--replica")) }
        // For profiling the KPI process alone: the province, built once into a plain replica.
        if role == "kpi-province" {
            let replica = try Replica.open(path: value("--replica"))
            try replica.initialize(ReplicaIdentity(node: NodeID(rawValue: 0x9A0), branch: nil, user: nil, createdAt: ""))
            try KPIBenchmark.build(replica)
            try replica.close()
        }
        if role == "upstream" { try await TierBenchmark.relay(data: value("--data")) }
        if role == "load-clients" {
            try await LoadBenchmark.laptops(url: value("--url"), caPath: value("--ca"), codesFile: value("--codes"), seconds: Double(value("--seconds")) ?? 30,
                                            interval: Double(value("--interval")) ?? 3, results: value("--results"),
                                            serverPID: pid_t(value("--server-pid")) ?? 0)
        }
    } catch {
        FileHandle.standardError.write(Data("fieldsync-bench --role \(role): \(error)\n".utf8))
        exit(1)
    }
    exit(0)
}

// A failed phase ends the run with its reason and status 1 (thrown out of the top level, it
// would end in a crash report that buries the reason).
do {
    try await runBenchmarks()
} catch {
    FileHandle.standardError.write(Data("fieldsync-bench: \(error)\n".utf8))
    exit(1)
}

func runBenchmarks() async throws {
    let arguments = BenchmarkArguments(CommandLine.arguments.dropFirst())
    let folder = URL(fileURLWithPath: arguments.dir ?? NSTemporaryDirectory()).appendingPathComponent("fieldsync-bench-\(getpid())")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: folder) }

    // The provincial tier: its own data, run alone with --only tier.
    if arguments.only == "tier" {
        print("FieldSync tier benchmark: \(arguments.records) records from \(TierBenchmark.branchCount) branch servers")
        var failure: (any Error)?
        do {
            try await TierBenchmark.run(records: arguments.records, folder: folder.appendingPathComponent("tier"))
            // The same with the province on PostgreSQL (two instances on one database), in the same run.
            if let server = arguments.database {
                let database = try await PostgresBench.createDatabase(on: server)
                do {
                    try await TierBenchmark.run(records: arguments.records, folder: folder.appendingPathComponent("tier-postgres"), database: database)
                } catch { failure = error }
                await PostgresBench.dropDatabase(database)
            }
        } catch { failure = error }
        if let failure { throw failure }
        return
    }

    // Many laptops at once: run alone with --only load.
    if arguments.only == "load" {
        try await LoadBenchmark.run(folder: folder.appendingPathComponent("load"), clients: arguments.clients, seconds: arguments.seconds,
                                    interval: arguments.interval)
        return
    }

    // KPIs of a province of a million records: its own data, run alone with --only kpi.
    if arguments.only == "kpi" {
        var failure: (any Error)?
        var database: String?
        if let server = arguments.database { database = try await PostgresBench.createDatabase(on: server) }
        do { try await KPIBenchmark.run(folder: folder.appendingPathComponent("kpi"), database: database) } catch { failure = error }
        if let database { await PostgresBench.dropDatabase(database) }
        if let failure { throw failure }
        return
    }

    let records = arguments.records
    let rows = VisitRows(count: records, seed: 42)
    let changes = rows.fieldChanges(node: NodeID(rawValue: 0xA11CE))
    let customer = "c0000000-0000-4000-8000-000000000001"
    let actions = rows.edits(customer: customer)
    print("FieldSync benchmark: \(records) visit records, \(VisitRows.fieldCount) fields, ~\(rows.averageBytes) bytes each, median of \(arguments.rounds) rounds")
    print("")

    var raw: [Double] = [], rawIndexed: [Double] = [], merge: [Double] = [], local: [Double] = [], hop: [Double] = []
    var problems: [String] = []
    for round in 0..<arguments.rounds {
        func path(_ name: String) -> String { folder.appendingPathComponent("\(name)-\(round).sqlite").path }
        defer {
            for name in ["raw", "raw-indexed", "merge", "local"] {
                for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path(name) + suffix) }
            }
        }

        // Raw SQLite: one transaction, one prepared INSERT, same pragmas as a replica.
        if arguments.runs("raw") {
            quietDisk()
            raw.append(Double(records) / (try measure { try RawSQLite.insert(rows, path: path("raw")) }))
            quietDisk()
            rawIndexed.append(Double(records) / (try measure { try RawSQLite.insert(rows, path: path("raw-indexed"), withParentIndex: true) }))
        }

        // The reference hop: the same rows from one SQLite file to another over TLS 1.3, as plainly as can be.
        if arguments.runs("sync") || arguments.runs("hop") {
            let result = try await ReferenceHop.run(rows, folder: folder.appendingPathComponent("hop"))
            guard result.received == records else { throw BenchError("the reference hop delivered \(result.received) of \(records) rows") }
            hop.append(result.seconds)
        }

        // Merge-apply: the same rows arriving as field changes from another node, in sync-sized pages.
        if arguments.runs("merge") {
            // Opened as `fieldsync sync` opens a replica: the log copied back on a thread of its own.
            let target = try Replica.open(path: path("merge"), checkpointInBackground: true)
            try target.initialize(ReplicaIdentity(node: NodeID(rawValue: 0xB0B), branch: nil, user: nil, createdAt: ""))
            let page = VisitRows.fieldCount * arguments.pageRecords
            quietDisk()
            merge.append(Double(records) / (try measure {
                var start = 0
                while start < changes.count {
                    try target.apply(remote: changes[start..<min(start + page, changes.count)])
                    start += page
                }
            }))
            if round == 0 { problems += try target.verify() }
            try target.close()
        }

        // Local writes with change capture: validation, HLC, record, outbox; 10,000 actions per transaction.
        if arguments.runs("local") {
            let replica = try Replica.open(path: path("local"))
            try replica.initialize(ReplicaIdentity(node: NodeID(rawValue: 0xC0C), branch: nil, user: "bench", createdAt: ""))
            try replica.write([RecordEdit(.customer, customer, [("name", .text("Bench customer")), ("level", .text("standard"))])])
            quietDisk()
            local.append(Double(records) / (try measure {
                var start = 0
                while start < actions.count {
                    _ = try replica.write(actions: Array(actions[start..<min(start + 10_000, actions.count)]))
                    start += 10_000
                }
            }))
            if round == 0 { problems += try replica.verify() }
        }
    }

    let rawRate = raw.isEmpty ? .nan : median(raw)
    func ratio(_ rate: Double) -> String {
        rawRate.isNaN ? "raw insert not measured in this run" : String(format: "%.0f%% of raw insert", 100 * rate / rawRate)
    }
    if !raw.isEmpty {
        report("raw SQLite insert (1 transaction, prepared statement)", rate: rawRate, unit: "rows/s")
        report("raw SQLite insert, replica's table shape (+ index on customer)", rate: median(rawIndexed), unit: "rows/s", extra: ratio(median(rawIndexed)))
    }
    let hopSeconds = hop.isEmpty ? .nan : median(hop)
    if !hop.isEmpty {
        report("reference hop: SQLite -> TLS 1.3 -> SQLite, plain rows, one transaction", rate: Double(records) / hopSeconds, unit: "rows/s",
               extra: String(format: "%.2f s", hopSeconds) + (raw.isEmpty ? "" : ", " + ratio(Double(records) / hopSeconds)))
    }
    if !merge.isEmpty {
        report("merge-apply of remote field changes (pages of \(arguments.pageRecords) records)", rate: median(merge), unit: "records/s",
               extra: String(format: "%.0f changes/s, ", median(merge) * Double(VisitRows.fieldCount)) + ratio(median(merge)))
    }
    if !local.isEmpty {
        report("local writes with change capture (10,000 actions per transaction)", rate: median(local), unit: "records/s", extra: ratio(median(local)))
    }

    // What a person sees: one durable transaction per CLI action.
    if arguments.runs("single") {
        let replica = try Replica.open(path: folder.appendingPathComponent("single.sqlite").path)
        try replica.initialize(ReplicaIdentity(node: NodeID(rawValue: 0xD0D), branch: nil, user: "bench", createdAt: ""))
        try replica.write([RecordEdit(.customer, customer, [("name", .text("Bench customer")), ("level", .text("standard"))])])
        let single = min(records, 2_000)
        quietDisk()
        let time = try measure { for action in actions.prefix(single) { try replica.write(action) } }
        report("local writes, one durable transaction per action", rate: Double(single) / time, unit: "actions/s")
        problems += try replica.verify()
    }

    // End-to-end sync: laptop A -> server -> laptop B over TLS on loopback, as separate processes.
    if arguments.runs("sync") {
        let result = try await SyncBenchmark.run(rows: rows, folder: folder.appendingPathComponent("sync"))
        let total = result.pushSeconds + result.pullSeconds
        report("sync A -> server -> B over TLS (push + pull, separate processes)", rate: Double(records) / total, unit: "records/s",
               extra: String(format: "push %.1f s + pull %.1f s, ", result.pushSeconds, result.pullSeconds) + ratio(Double(records) / total))
        print(String(format: "    peak memory: server %.0f MiB, pushing laptop %.0f MiB, pulling laptop %.0f MiB; replicas identical: %@",
                     Double(result.serverPeak) / 1_048_576, Double(result.pushPeak) / 1_048_576, Double(result.pullPeak) / 1_048_576,
                     result.identical ? "yes" : "NO"))
        print(String(format: "    CPU time: server %.1f s during the push + %.1f s during the pull; pushing laptop %.1f s, pulling laptop %.1f s",
                     result.serverPushCPU, result.serverPullCPU, result.pushCPU, result.pullCPU))
        if !hop.isEmpty {
            print(String(format: "    against the reference hop: push %.1f× its time (aim: 2×), pull %.1f× (aim: 1.5×)",
                         result.pushSeconds / hopSeconds, result.pullSeconds / hopSeconds))
        }
        print(String(format: "    the server's one writer was busy %.1f s of the push's %.1f s (%.0f%%: near 100%% it bounds the push)",
                     result.serverPushWriter, result.pushSeconds, 100 * result.serverPushWriter / result.pushSeconds))
        let latencies = result.noOpLatencies
        print(String(format: "    sync with nothing to do (300 runs): p50 %.2f ms, p99 %.2f ms",
                     latencies[latencies.count / 2], latencies[min(latencies.count - 1, latencies.count * 99 / 100)]))
        if !merge.isEmpty {
            // Every record is merged twice (server, then laptop B), one after the other.
            let bound = median(merge) / 2
            report("    bound of this design: two merge-applies in series, all else free", rate: bound, unit: "records/s", extra: ratio(bound))
        }
        print(String(format: "    a new laptop C from a snapshot: %.1f s (%.0f records/s, %.1f× the paged first sync of B), %.1f s CPU, peak %.0f MiB; identical and verified: %@",
                     result.snapshotSeconds, Double(records) / result.snapshotSeconds, result.pullSeconds / result.snapshotSeconds, result.snapshotCPU,
                     Double(result.snapshotPeak) / 1_048_576, result.snapshotIdentical ? "yes" : "NO"))
        if !result.identical { problems.append("laptop B does not hold laptop A's records") }
        if !result.snapshotIdentical { problems.append("laptop C (snapshot) does not hold laptop A's records") }

        // The same with the server on PostgreSQL, when one is given.
        if let server = arguments.database {
            let database = try await PostgresBench.createDatabase(on: server)
            var failure: (any Error)?
            do {
                let onPostgres = try await SyncBenchmark.run(rows: rows, folder: folder.appendingPathComponent("sync-postgres"), database: database)
                let pgTotal = onPostgres.pushSeconds + onPostgres.pullSeconds
                report("the same, the server on PostgreSQL (\(try PostgresLocation(url: server).host))", rate: Double(records) / pgTotal, unit: "records/s",
                       extra: String(format: "push %.1f s + pull %.1f s, %.0f%% of the SQLite server's rate", onPostgres.pushSeconds, onPostgres.pullSeconds,
                                     100 * total / pgTotal))
                print(String(format: "    CPU time: server %.1f s during the push + %.1f s during the pull (PostgreSQL's own processes not counted); peak memory: server %.0f MiB; replicas identical: %@",
                             onPostgres.serverPushCPU, onPostgres.serverPullCPU, Double(onPostgres.serverPeak) / 1_048_576, onPostgres.identical ? "yes" : "NO"))
                if let seconds = onPostgres.kpiLoadSeconds {
                    print(String(format: "    KPI facts of %d records read back from PostgreSQL: %.2f s", records + 1, seconds))
                }
                if !onPostgres.identical { problems.append("on PostgreSQL, laptop B does not hold laptop A's records") }
            } catch { failure = error }
            await PostgresBench.dropDatabase(database)
            if let failure { throw failure }
        }
    }

    print("")
    print("replicas verified: \(problems.isEmpty ? "ok" : problems.prefix(3).joined(separator: "; "))")
    print(String(format: "peak memory (max RSS): %.0f MiB", Double(peakResidentBytes()) / 1_048_576))
}
