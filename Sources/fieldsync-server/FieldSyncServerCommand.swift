import ArgumentParser
import FieldSyncClient
import FieldSyncCommandLine
import FieldSyncLocalization
import FieldSyncModel
import FieldSyncPostgres
import FieldSyncProtocol
import FieldSyncRelay
import FieldSyncServer
import FieldSyncServerCore
import FieldSyncSQLiteServer
import FieldSyncStore
import Foundation
import Logging
import NIOSSL
import ServiceLifecycle
import UnixSignals

@main
struct FieldSyncServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fieldsync-server",
        abstract: CommandLanguage.strings("srv.abstract"),
        discussion: CommandLanguage.strings("srv.discussion"),
        subcommands: [Init.self, Serve.self, Stop.self, UpstreamCommand.self, BranchCommand.self, UserCommand.self, AssignCommand.self, NodesCommand.self, DeviceCommand.self, StoreCommand.self, BackupCommand.self, RestoreCommand.self, CertCommand.self, CalendarCommand.self, KPIServerCommand.self, SettingsCommand.self, HistoryServerCommand.self, InboxServerCommand.self]
    )

    /// Every file the server creates (database, keys, certificates) is private
    /// from its first byte: the umask is set before any command runs.
    static func main() async {
        umask(0o077)
        let (arguments, _, languageError) = CommandLanguage.split(Array(CommandLine.arguments.dropFirst()))
        if let languageError { CommandLineFailure.exit(languageError, code: 64) }
        do {
            var command = try parseAsRoot(arguments)
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch let error as ServerError where error.hint != nil {
            CommandLineFailure.exit("\(error.message); \(error.hint.map(Self.words) ?? "")", code: exitCode(for: error).rawValue)
        } catch {
            CommandLineFailure.exit(error, root: self, arguments: arguments)
        }
    }

    /// An administration error's way out, in this command line's words.
    static func words(_ hint: AdministrationHint) -> String {
        switch hint {
        case .registerBranch(let branch): "register it with 'fieldsync-server branch add \(branch)'"
        case .listBranches: "list them with 'fieldsync-server branch list'"
        case .listUsers: "list people with 'fieldsync-server user list'"
        case .listDevices: "list them with 'fieldsync-server device list'"
        case .giveBranch: "give --branch NAME"
        case .newCode: "use 'user code' for a new enrolment code"
        }
    }
}

struct DataOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Data folder (default: $FIELDSYNC_DATA, else ./fieldsync-data).", valueName: "dir"))
    var data: String?

    @Option(name: .long, help: ArgumentHelp(
        "Keep people, devices and records in PostgreSQL instead of the data folder's SQLite file (default: $FIELDSYNC_DATABASE_URL): postgres://USER@HOST[:PORT]/DATABASE[?sslmode=disable|prefer|require|verify-full&sslrootcert=CA.pem]. sslmode defaults to verify-full for any host but the loopback one. The password comes from $PGPASSWORD or the file $FIELDSYNC_DATABASE_PASSWORD_FILE names (a password in the URL shows in 'ps'). Several server instances may share one database; each still needs the data folder's TLS certificate and key.",
        valueName: "url"))
    var database: String?

    @Flag(name: .long, help: "Print JSON.")
    var json = false

    var databaseURL: String? {
        database ?? ProcessInfo.processInfo.environment["FIELDSYNC_DATABASE_URL"].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// The data folder's SQLite store, for the commands PostgreSQL does not serve yet.
    func embeddedStore() throws -> ServerStore {
        if let url = databaseURL {
            throw ValidationError("this command works on the embedded SQLite store only so far, not on PostgreSQL (\((try? PostgresLocation(url: url).description) ?? "--database")); unset --database and $FIELDSYNC_DATABASE_URL to use it on a branch server")
        }
        return try folder.openStore()
    }

    var folder: ServerFolder {
        ServerFolder(path: data ?? ProcessInfo.processInfo.environment["FIELDSYNC_DATA"].flatMap { $0.isEmpty ? nil : $0 } ?? "fieldsync-data")
    }
}

func printJSON(_ object: [String: Any]) {
    let data = (try? JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])) ?? Data()
    print(String(decoding: data, as: UTF8.self))
}

func iso(_ milliseconds: UInt64?) -> Any {
    guard let milliseconds else { return NSNull() }
    return Timestamp(epochSeconds: Int64(milliseconds / 1000), offsetMinutes: TimeZone.current.secondsFromGMT() / 60).description
}

struct Init: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: CommandLanguage.strings("srv.init.abstract"))

    @OptionGroup var options: DataOptions
    @Option(name: .customLong("hostname"), help: "A host name or IP address laptops will use (repeatable); localhost and 127.0.0.1 are always included.")
    var hostnames: [String] = []
    @Option(help: "The branch this server serves (none for a provincial server).") var branch: String?
    @Option(name: .customLong("tls-cert"), help: "PEM certificate chain to use instead of a private CA.") var tlsCert: String?
    @Option(name: .customLong("tls-key"), help: "PEM private key of --tls-cert.") var tlsKey: String?

    func run() throws {
        guard (tlsCert == nil) == (tlsKey == nil) else { throw ValidationError("give both --tls-cert and --tls-key, or neither") }
        let result = try options.folder.initialize(hosts: hostnames, branch: branch, certificate: tlsCert.map { ($0, tlsKey!) })
        if options.json {
            printJSON(["data": options.folder.path, "node": result.node.description,
                       "ca_file": result.settings.caCertificate as Any? ?? NSNull(),
                       "tls_certificate": result.settings.tlsCertificate])
        } else {
            print("Initialised a server in \(options.folder.path) (node \(result.node)).")
            if let ca = result.settings.caCertificate {
                print("Laptops enrol with this CA file: \(ca)")
            }
        }
    }
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: CommandLanguage.strings("srv.serve.abstract"),
        discussion: """
            Limits (Protocol/SYNC.md): a connection that sends no request head within 10 s of opening (TLS \
            handshake included) or 30 s of its last answer, no whole request within 30 s of its head, or reads \
            nothing of an answer for 30 s, is closed; at most --max-connections are open at once, and \
            --max-connections-per-address from one address. Request bodies in flight share 128 MiB (40 MiB per \
            device); beyond it a sync is answered 503 with Retry-After. Prometheus metrics are served over plain HTTP on --metrics-host:--metrics-port only.
            """)

    @OptionGroup var options: DataOptions
    @Option(help: "Address to listen on.") var host = "127.0.0.1"
    @Option(help: "Port to listen on (0 picks a free one).") var port = 8443
    @Option(name: .customLong("metrics-host"), help: "Address of the metrics listener (plain HTTP; keep it private).") var metricsHost = "127.0.0.1"
    @Option(name: .customLong("metrics-port"), help: "Port of the metrics listener; 0 turns it off.") var metricsPort = 9464
    @Option(name: .customLong("max-connections"), help: "Connections served at once.") var maxConnections = 1_000
    @Option(name: .customLong("max-connections-per-address"),
            help: "Connections one IP address may hold at once (more are closed on accept); raise it for many laptops behind one NAT address.")
    var maxConnectionsPerAddress = 128
    @Option(name: .customLong("enrolments-per-minute"), help: "Enrolment attempts one address may make a minute (a code prefix gets a quarter of it, at least 5).")
    var enrolmentsPerMinute = 20
    @Option(name: .customLong("max-snapshots"),
            help: "Snapshots (a new device's first download) built or sent at once; one per device. Others sync page by page.")
    var maxSnapshots = 2
    @Option(name: .customLong("pushes-ahead"),
            help: """
            Pushes of one device that may wait here for the one before them (a laptop sends its next page before \
            the answer to the last, and this server decodes it meanwhile). 0 has devices send one request at a time: \
            for instances behind a balancer that spreads one device's connections over them.
            """)
    var pushesAhead = 2
    @Option(name: .customLong("upstream-interval"), help: "Seconds between syncs with the provincial server, when one is set ('upstream set').")
    var upstreamInterval = 30

    func validate() throws {
        guard (0...65_535).contains(port) else { throw ValidationError("--port must be 0 to 65535") }
        guard (0...65_535).contains(metricsPort) else { throw ValidationError("--metrics-port must be 0 (off) to 65535") }
        guard maxConnections >= 1 else { throw ValidationError("--max-connections must be at least 1") }
        guard maxSnapshots >= 1 else { throw ValidationError("--max-snapshots must be at least 1") }
        guard maxConnectionsPerAddress >= 1 else { throw ValidationError("--max-connections-per-address must be at least 1") }
        guard (1...1_000_000).contains(enrolmentsPerMinute) else { throw ValidationError("--enrolments-per-minute must be 1 to 1000000") }
        guard (0...16).contains(pushesAhead) else { throw ValidationError("--pushes-ahead must be 0 (off) to 16") }
        guard upstreamInterval >= 1 else { throw ValidationError("--upstream-interval must be at least 1 second") }
    }

    func run() async throws {
        AllocatorTuning.forServing()
        let folder = options.folder
        if !folder.isInitialized {
            let result = try folder.initialize(hosts: [host], branch: nil, certificate: nil)
            // Unbuffered like the "listening" line below, so a log file shows them in order.
            FileHandle.standardOutput.write(Data("Initialised a server in \(folder.path) (node \(result.node)); laptops enrol with the CA file \(result.settings.caCertificate ?? "")\n".utf8))
        }
        if !Strings.isInstalled {
            // A binary copied without its resource bundle: pages show text keys, nothing else breaks.
            FileHandle.standardError.write(Data("warning: the texts of the dashboard and documents were not found (FieldSync_FieldSyncLocalization.resources beside the executable); pages show their keys\n".utf8))
        }
        let settings = try folder.settings()
        let certificatePEM = try String(contentsOfFile: settings.tlsCertificate, encoding: .utf8)
        let tls = try TLSConfiguration.fieldSyncServer(
            certificatePEM: certificatePEM, privateKeyPEM: String(contentsOfFile: settings.tlsKey, encoding: .utf8))
        var logger = Logger(label: "fieldsync-server")
        logger.logLevel = ProcessInfo.processInfo.environment["LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .info
        warnIfExpiring(certificatePEM, logger: logger)
        var configuration = ServerConfiguration(host: host, port: port)
        configuration.maxConnections = maxConnections
        configuration.maxSnapshots = maxSnapshots
        configuration.maxConnectionsPerAddress = maxConnectionsPerAddress
        configuration.enrolmentsPerAddressPerMinute = enrolmentsPerMinute
        configuration.enrolmentsPerCodePrefixPerMinute = max(5, enrolmentsPerMinute / 4)
        configuration.pushesWaitingPerDevice = pushesAhead

        // One server per folder: on SQLite a second one would share the database; on PostgreSQL
        // each instance has its own copy of the folder, and `stop` finds it by this lock.
        let lock = try ServingLock(folder: folder)
        defer { withExtendedLifetime(lock) {} }
        if let url = options.databaseURL {
            // The province: people, devices and records in PostgreSQL, shared with any other instance on it.
            if let (binding, _) = try ServerBinding.load(home: folder.upstreamFolder) {
                throw ValidationError("a server on PostgreSQL is the provincial server and syncs with no upstream, but \(folder.upstreamFolder) names \(binding.url); remove that folder or serve without --database")
            }
            try await StorageEngine.withPostgres(url, logger: logger) { storage, location in
                let server = SyncHTTPServer(accounts: storage, sync: storage, kpi: storage, snapshots: PostgresSnapshots(storage: storage, dataFolder: folder.path),
                                            clock: { storage.now }, configuration: configuration, logger: logger)
                logger.info("records, people and devices in PostgreSQL", metadata: ["database": "\(location)", "node": "\(storage.node)"])
                try await runServices(server, upstream: nil, tls: tls, logger: logger)
            }
            print("fieldsync-server stopped.")
            return
        }

        let store = try folder.openStore()
        var server = SyncHTTPServer(store: store, configuration: configuration, logger: logger)
        // A branch server with an upstream syncs with the province beside serving its laptops.
        var upstream: UpstreamSync?
        if let (binding, caPEM) = try ServerBinding.load(home: folder.upstreamFolder) {
            let metrics = server.metrics
            let link = try UpstreamSync(store: store, binding: binding, caPEM: caPEM, interval: .seconds(upstreamInterval), logger: logger,
                                        metrics: UpstreamSync.Metrics { failed, unsent, lastSuccess, lag in
                                            metrics.recordUpstream(failed: failed, unsent: unsent, lastSuccess: lastSuccess, lag: lag)
                                        })
            server.onChanges = { link.poke() }
            upstream = link
            logger.info("syncing with the provincial server", metadata: ["url": "\(binding.url)", "every": "\(upstreamInterval) s"])
        }
        try await runServices(server, upstream: upstream, tls: tls, logger: logger)
        try store.close()
        print("fieldsync-server stopped; database closed.")
    }

    /// Serves HTTPS (and metrics) until SIGINT or SIGTERM, finishing in-flight requests.
    private func runServices(_ server: SyncHTTPServer, upstream: UpstreamSync?, tls: TLSConfiguration, logger: Logger) async throws {
        // A taken port is named before anything is said to be listening, with the option that moves it.
        try ListenerCheck.free(host: host, port: port, what: "the HTTPS listener", option: "--host/--port")
        if metricsPort != 0 { try ListenerCheck.free(host: metricsHost, port: metricsPort, what: "the metrics listener", option: "--metrics-host/--metrics-port (0 turns it off)") }
        let app = try server.makeApplication(tls: tls) { [host] port in
            // Written unbuffered: scripts and tests wait for this line to learn the port.
            FileHandle.standardOutput.write(Data("fieldsync-server listening on https://\(host):\(port)\n".utf8))
        }
        var services: [any Service] = [app]
        if let upstream { services.append(upstream) }
        if metricsPort != 0 {
            services.append(server.makeMetricsApplication(host: metricsHost, port: metricsPort) { [metricsHost] port in
                FileHandle.standardOutput.write(Data("metrics on http://\(metricsHost):\(port)/metrics\n".utf8))
            })
        }
        let group = ServiceGroup(configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }

    /// A certificate that runs out stops every laptop's sync: say so a month ahead.
    private func warnIfExpiring(_ certificatePEM: String, logger: Logger) {
        guard let expiry = try? CertificateAuthority.expiry(of: certificatePEM) else { return }
        let days = Int(expiry.timeIntervalSinceNow / 86_400)
        if expiry < Date() {
            logger.error("the server certificate expired on \(expiry); laptops refuse it. Run 'fieldsync-server cert renew' and restart")
        } else if days < 30 {
            logger.warning("the server certificate expires in \(days) days (\(expiry)); run 'fieldsync-server cert renew' and restart")
        }
    }
}

/// Stops the server serving a folder, as SIGTERM does: in-flight requests finish,
/// the database is closed. For a server started in the background (`scripts/serve &`).
struct Stop: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: CommandLanguage.strings("srv.stop.abstract"),
        discussion: "Finds the server by the lock it holds on the folder (serve.lock), sends it SIGTERM and waits until it has stopped. Nothing serving the folder is not an error.")
    @OptionGroup var options: DataOptions
    @Option(help: "Seconds to wait for it to finish.") var timeout = 30

    func validate() throws {
        guard (1...3_600).contains(timeout) else { throw ValidationError("--timeout must be 1 to 3600 seconds") }
    }

    func run() throws {
        let folder = options.folder
        guard let process = ServingLock.holder(of: folder) else {
            print("No fieldsync-server is serving \(folder.path).")
            return
        }
        guard kill(process, SIGTERM) == 0 else {
            throw ServerError.badRequest("cannot signal the server (process \(process)) serving \(folder.path): \(String(cString: strerror(errno)))")
        }
        let deadline = Date().addingTimeInterval(Double(timeout))
        while ServingLock.holder(of: folder) != nil {
            guard Date() < deadline else {
                throw ServerError.badRequest(
                    "the server (process \(process)) serving \(folder.path) is still finishing after \(timeout) s; wait, give a longer --timeout, or end it with 'kill -9 \(process)' (nothing acknowledged is lost)")
            }
            usleep(100_000)
        }
        print("Stopped the fieldsync-server (process \(process)) serving \(folder.path).")
    }
}

struct CertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cert", abstract: CommandLanguage.strings("srv.cert.abstract"), subcommands: [Status.self, Renew.self])

    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show the hosts and expiry of the server certificate.")
        @OptionGroup var options: DataOptions

        func run() throws {
            let settings = try options.folder.settings()
            let pem = try String(contentsOfFile: settings.tlsCertificate, encoding: .utf8)
            let expiry = try CertificateAuthority.expiry(of: pem)
            let hosts = try CertificateAuthority.hosts(of: pem)
            if options.json {
                printJSON(["certificate": settings.tlsCertificate, "hosts": hosts, "expires_at": ISO8601DateFormatter().string(from: expiry)])
            } else {
                print("\(settings.tlsCertificate): \(hosts.joined(separator: ", ")); valid until \(ISO8601DateFormatter().string(from: expiry))")
            }
        }
    }

    struct Renew: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Issue a new server certificate from this server's CA (valid 365 days); restart 'serve' to use it.",
            discussion: """
                Laptops keep working: they trust the CA, which does not change. With --new-ca the CA is replaced too \
                (its key was exposed): every laptop and branch server must then enrol again with the new ca.pem.
                """)
        @OptionGroup var options: DataOptions
        @Option(name: .customLong("hostname"), help: "Host names and addresses for the new certificate (repeatable; default: those of the current one).")
        var hostnames: [String] = []
        @Flag(name: .customLong("new-ca"), help: "Make a new CA as well (the old one's key was exposed); devices must enrol again.")
        var newCA = false

        func run() throws {
            let (hosts, expiry) = try options.folder.renewCertificate(hosts: hostnames, newCA: newCA)
            if options.json {
                printJSON(["hosts": hosts, "expires_at": ISO8601DateFormatter().string(from: expiry), "new_ca": newCA])
            } else {
                print("Renewed the server certificate for \(hosts.joined(separator: ", ")); valid until \(ISO8601DateFormatter().string(from: expiry)). Restart 'fieldsync-server serve' to use it.")
                if newCA {
                    print("Made a new CA (\(options.folder.file("ca.pem"))): laptops and branch servers must enrol again with it (new codes from 'fieldsync-server user add'; 'fieldsync enroll URL --code CODE --ca ca.pem --new-node').")
                }
            }
        }
    }
}

struct UpstreamCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "upstream",
        abstract: CommandLanguage.strings("srv.upstream.abstract"),
        discussion: "With an upstream, 'serve' relays up everything this branch's laptops push and brings down what the province changes in the branch.",
        subcommands: [Set.self, Status.self, Verify.self, Remove.self])

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Compare every record of this branch with the province's copy; the serving server then repairs what differs.",
            discussion: """
                Downloads the province's copy of the branch (checked by SHA-256) and compares every record field by field. \
                Unless --dry-run, the serving server repairs at its next exchange with the province: it takes what it lacks \
                (logged for its laptops) and, when the province lacks some of the branch, relays its whole log again. A \
                restored branch server does this by itself once it serves. Exits 1 when something differs.
                """)
        @OptionGroup var options: DataOptions
        @Flag(name: .customLong("dry-run"), help: "Report only; ask the serving server for no repair.") var dryRun = false

        func run() async throws {
            guard let (binding, caPEM) = try ServerBinding.load(home: options.folder.upstreamFolder) else {
                throw ValidationError("no upstream; set one with: fieldsync-server upstream set URL --code CODE --ca FILE")
            }
            let store = try options.embeddedStore()
            let upstream = try UpstreamSync(store: store, binding: binding, caPEM: caPEM, logger: Logger(label: "fieldsync-server"))
            let verification: UpstreamSync.UpstreamVerification
            do {
                verification = try await upstream.verifyAgainstUpstream(repair: false)
                await upstream.shutdown()
            } catch {
                await upstream.shutdown()
                throw error
            }
            let drift = verification.drift
            if !drift.isIdentical && !dryRun { try store.requestUpstreamCheck() }
            if options.json {
                printJSON(["upstream": binding.url, "identical": drift.isIdentical, "compared": drift.compared, "differing": drift.records.count,
                           "taken_from_province": drift.takenFromServer, "province_lacks": drift.offeredToServer,
                           "repair_requested": !drift.isIdentical && !dryRun])
            } else if drift.isIdentical {
                print("Identical to the province (\(binding.url)): \(Wording.count(drift.compared, "record")) of branch \(binding.user.branch ?? "?") compared.")
            } else {
                print("\(drift.records.count) of \(Wording.count(drift.compared, "record")) differ from the province (\(binding.url)): "
                      + "\(drift.takenFromServer) to take from it, \(drift.offeredToServer) it lacks.")
                for record in drift.records.prefix(20) {
                    print("  \(record.key.table.noun) \(record.key.record.prefix(8)): \(record.here == nil ? "missing here" : record.server == nil ? "missing at the province" : "differs")")
                }
                print(dryRun ? "Nothing changed (--dry-run)."
                             : "The serving server repairs it at its next exchange with the province (start 'serve' if it is stopped).")
            }
            if !drift.isIdentical { throw ExitCode.failure }
        }
    }

    struct Set: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Enrol this server with a provincial server, using a code the province made with 'user add --role branch --branch B'.")
        @OptionGroup var options: DataOptions
        @Argument(help: "The provincial server's https:// URL.") var url: String
        @Option(help: "The one-time enrolment code.") var code: String
        @Option(help: "The provincial server's CA file (PEM).") var ca: String

        func run() async throws {
            let folder = options.folder
            let store = try options.embeddedStore()
            let caPEM = try String(contentsOfFile: ca, encoding: .utf8)
            let binding = try await UpstreamSync.enrol(store, at: url, code: code, caPEM: caPEM,
                                                       deviceName: "branch server \(try store.replica.identity()?.branch ?? "")")
            try FileManager.default.createDirectory(atPath: folder.upstreamFolder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            try binding.save(home: folder.upstreamFolder, caPEM: caPEM)
            if options.json {
                printJSON(["url": url, "branch": binding.user.branch as Any? ?? NSNull(), "device": binding.device])
            } else {
                print("Enrolled with \(url) as the server of branch \(binding.user.branch ?? "?"); 'serve' now syncs with it.")
            }
        }
    }

    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Where this server stands with its provincial server.")
        @OptionGroup var options: DataOptions

        func run() throws {
            let folder = options.folder
            guard let (binding, _) = try ServerBinding.load(home: folder.upstreamFolder) else {
                return print(options.json ? "null" : "No upstream. Set one with: fieldsync-server upstream set URL --code CODE --ca FILE")
            }
            let store = try options.embeddedStore()
            let state = try store.upstreamState(UpstreamSync.key(binding))
            if options.json {
                printJSON(["url": binding.url, "branch": binding.user.branch as Any? ?? NSNull(), "last_success": iso(state.lastSuccess),
                           "last_error": state.lastError as Any? ?? NSNull(), "unsent": state.unsent, "rejected": state.rejections])
            } else {
                print("Upstream:     \(binding.url) (branch \(binding.user.branch ?? "?"))")
                print("Last success: \(state.lastSuccess.map { "\(iso($0))" } ?? "never")")
                if let error = state.lastError { print("Last error:   \(error)") }
                print("Waiting:      \(state.unsent) log rows to relay; \(state.rejections) actions refused by the province")
                for (mutation, reason) in try store.upstreamRejections().prefix(10) {
                    print("  refused: \(mutation.map { "action #\($0.counter) of node \($0.origin)" } ?? "an action"): \(reason)")
                }
            }
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Forget the provincial server (the province should revoke this server's device too).")
        @OptionGroup var options: DataOptions

        func run() throws {
            let folder = options.folder.upstreamFolder
            guard FileManager.default.fileExists(atPath: folder) else { return print("No upstream.") }
            try FileManager.default.removeItem(atPath: folder)
            print("Removed the upstream; restart 'serve'.")
        }
    }
}

struct BranchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "branch", abstract: CommandLanguage.strings("srv.branch.abstract"),
        discussion: "The list is replicated to every device, like the calendar; a customer whose branch is not registered is refused.",
        subcommands: [Add.self, List.self, Rename.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Register a branch.")
        @OptionGroup var options: DataOptions
        @Argument(help: "The branch's name, as users and customers will carry it (e.g. Hangzhou).") var name: String

        func run() async throws {
            if options.databaseURL == nil { try refuseUnderAProvince(options.folder) }
            try await StorageEngine.with(options) { try await $0.addBranch(name) }
            if options.json { printJSON(["name": name]) } else { print("Registered branch \(name).") }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List registered branches.")
        @OptionGroup var options: DataOptions

        func run() async throws {
            let names = try await StorageEngine.with(options) { try await $0.branches() }
            if options.json {
                let data = (try? JSONSerialization.data(withJSONObject: names, options: [.prettyPrinted])) ?? Data()
                return print(String(decoding: data, as: UTF8.self))
            }
            if names.isEmpty { return print("No branches. Register one with: fieldsync-server branch add NAME") }
            for name in names { print(name) }
        }
    }

    struct Rename: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Rename a branch: its customers and users move to the new name, every device receives them again.")
        @OptionGroup var options: DataOptions
        @Argument(help: "The current name.") var old: String
        @Argument(help: "The new name.") var new: String

        func run() async throws {
            if options.databaseURL == nil { try refuseUnderAProvince(options.folder) }
            let (customers, users) = try await StorageEngine.with(options) { try await $0.renameBranch(old, new) }
            if options.json {
                printJSON(["old": old, "new": new, "customers": customers, "users": users])
            } else {
                print("Renamed branch \(old) to \(new): \(customers) customers and \(users) users moved.")
            }
        }
    }
}

struct AssignCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "assign",
        abstract: CommandLanguage.strings("srv.assign.abstract"),
        discussion: "The new manager's next sync brings the whole file; the old manager's laptop drops it once their work on it is sent.")

    @OptionGroup var options: DataOptions
    @Argument(help: "Customer id or a unique prefix of it.") var customer: String
    @Option(help: "The new account manager (a manager of the customer's branch).") var manager: String
    @Option(help: ArgumentHelp("Backup or joint managers, comma-separated (replaces the team).", valueName: "names")) var team: String?

    func run() async throws {
        let team = self.team.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
        let id = try await StorageEngine.with(options) { try await $0.assign(customer, manager, team) }
        if options.json { printJSON(["customer": id, "manager": manager]) } else { print("Customer \(id.prefix(8)) is now managed by \(manager).") }
    }
}

/// A branch server receives the branch list from its provincial server.
func refuseUnderAProvince(_ folder: ServerFolder) throws {
    if let (binding, _) = try ServerBinding.load(home: folder.upstreamFolder) {
        throw ValidationError("this server syncs with the provincial server \(binding.url): branches are registered there, and reach this server at its next sync")
    }
}

struct UserCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "user", abstract: CommandLanguage.strings("srv.user.abstract"),
        subcommands: [Add.self, Code.self, List.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a person and print a one-time enrolment code for their device.")

        @OptionGroup var options: DataOptions
        @Option(help: "Their name, as they record it in 'fieldsync init --user'.") var name: String
        @Option(help: "manager, supervisor, province, admin, or branch (a branch server enrolling at the province).") var role: String
        @Option(help: "Their registered branch (managers, supervisors, branch servers).") var branch: String?
        @Option(help: "Days the code stays valid.") var days = 7

        func run() async throws {
            guard let role = Role(rawValue: role.lowercased()) else {
                throw ValidationError("--role: '\(role)' is not allowed; use one of: \(Role.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            guard (1...3_650).contains(days) else { throw ValidationError("--days must be 1 to 3650") }
            let (user, code, expires) = try await StorageEngine.with(options) { engine in
                try await engine.accounts.addUser(UserInfo(name: name, role: role, branch: branch), codeLifetime: UInt64(days) * 86_400_000)
            }
            if options.json {
                printJSON(["id": user.id, "name": user.info.name, "role": role.rawValue, "branch": branch as Any? ?? NSNull(),
                           "enrolment_code": code, "expires_at": iso(expires)])
            } else {
                print("Added \(user.info.name) (\(role.rawValue)\(branch.map { ", \($0)" } ?? "")).")
                print("Enrolment code: \(code)   (one device, valid until \(iso(expires)))")
            }
        }
    }

    struct Code: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print a new one-time enrolment code for an existing person.")

        @OptionGroup var options: DataOptions
        @Option(help: "The person's name.") var name: String
        @Option(help: "Days the code stays valid.") var days = 7

        func validate() throws {
            guard (1...3_650).contains(days) else { throw ValidationError("--days must be 1 to 3650") }
        }

        func run() async throws {
            let (code, expires) = try await StorageEngine.with(options) { engine in
                try await engine.accounts.issueCode(forUser: name, codeLifetime: UInt64(days) * 86_400_000)
            }
            if options.json { printJSON(["name": name, "enrolment_code": code, "expires_at": iso(expires)]) } else { print("Enrolment code: \(code)   (valid until \(iso(expires)))") }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List people.")
        @OptionGroup var options: DataOptions

        func run() async throws {
            let users = try await StorageEngine.with(options) { try await $0.accounts.users() }
            if options.json {
                let rows: [[String: Any]] = users.map { ["id": $0.id, "name": $0.info.name, "role": $0.info.role.rawValue, "branch": $0.info.branch as Any? ?? NSNull()] }
                let data = (try? JSONSerialization.data(withJSONObject: rows, options: [.prettyPrinted, .sortedKeys])) ?? Data()
                return print(String(decoding: data, as: UTF8.self))
            }
            if users.isEmpty { return print("No users. Add one with: fieldsync-server user add --name NAME --role manager --branch BRANCH") }
            for user in users { print("\(user.id.prefix(8))  \(user.info.name)  \(user.info.role.rawValue)  \(user.info.branch ?? "")") }
        }
    }
}

struct NodesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nodes", abstract: CommandLanguage.strings("srv.nodes.abstract"))
    @OptionGroup var options: DataOptions

    func run() async throws {
        let (devices, below) = try await StorageEngine.with(options) { engine in
            (try await engine.accounts.devices(), try await engine.kpi.freshnessInputs().below)
        }
        let nodes = devices.map(\.info)
        if options.json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            return print(String(decoding: try encoder.encode(nodes), as: UTF8.self))
        }
        if nodes.isEmpty { return print("No devices enrolled.") }
        let now = UInt64(max(0, Date().timeIntervalSince1970 * 1000))
        for node in nodes {
            let seen = node.lastSeen.map { "last synced \(Self.ago(now > $0 ? now - $0 : 0)) ago" } ?? "never synced"
            let pending = node.pending.map { "\(Wording.count($0, "action")) waiting" } ?? "waiting: unknown"
            print("\(node.user) (\(node.role.rawValue)\(node.branch.map { ", \($0)" } ?? "")), \(node.name): \(seen), \(pending)\(node.revokedAt != nil ? ", REVOKED" : "")")
            if let refused = node.refused, refused > 0 {
                let when = node.refusedAt.map { " (last \(Self.ago(now > $0 ? now - $0 : 0)) ago)" } ?? ""
                print("  \(Wording.count(refused, "action")) refused\(when), sent again at each sync: \(Wording.printable(node.refusedReason ?? ""))")
            }
        }
        // A branch server's laptops are its own to list; it reports how many there are and what they hold back.
        for (device, report) in devices.compactMap({ device in below[device.id].map { (device, $0) } }) where device.revokedAt == nil {
            let complete = report.completeUpTo.map { "complete up to \(Self.ago(now > $0 ? now - $0 : 0)) ago" } ?? "not complete"
            print("  below \(device.name): \(Wording.count(report.devices, "device")), \(Wording.count(report.pending, "action")) waiting, "
                  + "\(report.notSeenForThreeDays) not seen for 3 days, \(complete) ('fieldsync-server nodes' on that server lists them)")
        }
    }

    static func ago(_ milliseconds: UInt64) -> String {
        let minutes = milliseconds / 60_000
        if minutes < 60 { return "\(minutes) min" }
        if minutes < 48 * 60 { return "\(minutes / 60) h" }
        return "\(minutes / 1_440) days"
    }
}

struct DeviceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "device", abstract: CommandLanguage.strings("srv.device.abstract"), subcommands: [List.self, Revoke.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List enrolled devices.")
        @OptionGroup var options: DataOptions

        func run() async throws {
            let devices = try await StorageEngine.with(options) { try await $0.accounts.devices() }
            if options.json {
                let rows: [[String: Any]] = devices.map {
                    ["id": $0.id, "user": $0.user, "node": $0.node.description, "name": $0.name, "enrolled_at": iso($0.createdAt),
                     "revoked_at": iso($0.revokedAt), "last_seen": iso($0.lastSeen)]
                }
                let data = (try? JSONSerialization.data(withJSONObject: rows, options: [.prettyPrinted, .sortedKeys])) ?? Data()
                return print(String(decoding: data, as: UTF8.self))
            }
            if devices.isEmpty { return print("No devices enrolled.") }
            for device in devices {
                print("\(device.id.prefix(8))  \(device.user)  \(device.name)  node \(device.node)\(device.revokedAt != nil ? "  REVOKED" : "")")
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a device; its next request is refused.")
        @OptionGroup var options: DataOptions
        @Argument(help: "Device id or a unique prefix of it.") var device: String

        func run() async throws {
            let revoked = try await StorageEngine.with(options) { try await $0.accounts.revokeDevice(device) }
            if options.json {
                printJSON(["id": revoked.id, "user": revoked.user, "revoked_at": iso(revoked.revokedAt)])
            } else {
                print("Revoked device \(revoked.id.prefix(8)) of \(revoked.user).")
                if revoked.role == .branch {
                    // A stolen branch server's token: its laptops' work is not stranded.
                    print("The laptops it relayed pass to the next branch server account of \(revoked.branch ?? "its branch") that relays them: add one ('user add --role branch --branch \(revoked.branch ?? "B")') and run 'fieldsync-server upstream set' with its code on the branch server.")
                }
            }
        }
    }
}

/// Whether an address can be listened on, asked before the server starts so
/// that a port in use is reported as such, naming the listener and the option.
enum ListenerCheck {
    static func free(host: String, port: Int, what: String, option: String) throws {
        guard port != 0 else { return }
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_PASSIVE
        var found: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &found) == 0, let first = found else {
            throw ValidationError("\(what) cannot listen on \(host):\(port): '\(host)' is not an address of this machine; choose another with \(option)")
        }
        defer { freeaddrinfo(found) }
        let socket = Glibc.socket(first.pointee.ai_family, first.pointee.ai_socktype, first.pointee.ai_protocol)
        guard socket >= 0 else { return }
        defer { close(socket) }
        var reuse: Int32 = 1
        setsockopt(socket, SOL_SOCKET, SO_REUSEADDR, &reuse, socklen_t(MemoryLayout<Int32>.size))
        if bind(socket, first.pointee.ai_addr, first.pointee.ai_addrlen) != 0 {
            let reason = errno == EADDRINUSE ? "the address is in use (another fieldsync-server, or another program, listens there)"
                : errno == EADDRNOTAVAIL ? "'\(host)' is not an address of this machine" : String(cString: strerror(errno))
            throw ValidationError("\(what) cannot listen on \(host):\(port): \(reason); choose another with \(option)")
        }
    }
}
