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
        } catch let error as ServerError where error.hint != nil || error.text != nil {
            let message = error.text.map { rendered($0) } ?? error.message
            CommandLineFailure.exit(error.hint.map { t("srv.hint.joined", ["message": message, "hint": Self.words($0)]) } ?? message,
                                    code: exitCode(for: error).rawValue)
        } catch let error as StoreError {
            // The replica's "not found" names the laptop's list command: the server names none.
            let text = error.text.map { ($0.key == "store.not-found" ? "admin.no-record-prefix" : $0.key, $0.values) }
            CommandLineFailure.exit(text.map { CommandLanguage.strings.message($0.0, $0.1, otherwise: error.message) } ?? error.message,
                                    code: error.exitCode)
        } catch {
            CommandLineFailure.exit(error, root: self, arguments: arguments)
        }
    }

    /// An administration error's way out, in this command line's words.
    static func words(_ hint: AdministrationHint) -> String {
        switch hint {
        case .registerBranch(let branch): t("srv.hint.register-branch", ["branch": branch])
        case .listBranches: t("srv.hint.list-branches")
        case .listUsers: t("srv.hint.list-users")
        case .listDevices: t("srv.hint.list-devices")
        case .giveBranch: t("srv.hint.give-branch")
        case .newCode: t("srv.hint.new-code")
        }
    }
}

struct DataOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(t("srv.data-folder-default-fieldsync.f0c1"), valueName: "dir"))
    var data: String?

    @Option(name: .long, help: ArgumentHelp(t("srv.options.database"), valueName: "url"))
    var database: String?

    @Flag(name: .long, help: ArgumentHelp(t("srv.print-json.2704")))
    var json = false

    var databaseURL: String? {
        database ?? ProcessInfo.processInfo.environment["FIELDSYNC_DATABASE_URL"].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// The data folder's SQLite store, for the commands PostgreSQL does not serve yet.
    func embeddedStore() throws -> ServerStore {
        if let url = databaseURL {
            throw ValidationError(t("srv.this-command-works-on.b9f8", ["value": "\((try? PostgresLocation(url: url).description) ?? "--database")"]))
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
    @Option(name: .customLong("hostname"), help: ArgumentHelp(t("srv.a-host-name-or.e0d9")))
    var hostnames: [String] = []
    @Option(help: ArgumentHelp(t("srv.the-branch-this-server.34fc"))) var branch: String?
    @Option(name: .customLong("tls-cert"), help: ArgumentHelp(t("srv.pem-certificate-chain-to.0d28"))) var tlsCert: String?
    @Option(name: .customLong("tls-key"), help: ArgumentHelp(t("srv.pem-private-key-of.fa60"))) var tlsKey: String?

    func run() throws {
        guard (tlsCert == nil) == (tlsKey == nil) else { throw ValidationError(t("srv.give-both-tls-cert.2785")) }
        let result = try options.folder.initialize(hosts: hostnames, branch: branch, certificate: tlsCert.map { ($0, tlsKey!) })
        if options.json {
            printJSON(["data": options.folder.path, "node": result.node.description,
                       "ca_file": result.settings.caCertificate as Any? ?? NSNull(),
                       "tls_certificate": result.settings.tlsCertificate])
        } else {
            print(t("srv.initialised-a-server-in.f0f2", ["path": "\(options.folder.path)", "node": "\(result.node)"]))
            if let ca = result.settings.caCertificate {
                print(t("srv.laptops-enrol-with-this.075d", ["ca": "\(ca)"]))
            }
        }
    }
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: CommandLanguage.strings("srv.serve.abstract"),
        discussion: t("srv.limits-protocol-sync-md.3126"))

    @OptionGroup var options: DataOptions
    @Option(help: ArgumentHelp(t("srv.address-to-listen-on.4d98"))) var host = "127.0.0.1"
    @Option(help: ArgumentHelp(t("srv.port-to-listen-on.b01a"))) var port = 8443
    @Option(name: .customLong("metrics-host"), help: ArgumentHelp(t("srv.address-of-the-metrics.aec6"))) var metricsHost = "127.0.0.1"
    @Option(name: .customLong("metrics-port"), help: ArgumentHelp(t("srv.port-of-the-metrics.210a"))) var metricsPort = 9464
    @Option(name: .customLong("max-connections"), help: ArgumentHelp(t("srv.connections-served-at-once.74df"))) var maxConnections = 1_000
    @Option(name: .customLong("max-connections-per-address"),
            help: ArgumentHelp(t("srv.connections-one-ip-address.eee8")))
    var maxConnectionsPerAddress = 128
    @Option(name: .customLong("enrolments-per-minute"), help: ArgumentHelp(t("srv.enrolment-attempts-one-address.7818")))
    var enrolmentsPerMinute = 20
    @Option(name: .customLong("max-snapshots"),
            help: ArgumentHelp(t("srv.snapshots-a-new-device.d3be")))
    var maxSnapshots = 2
    @Option(name: .customLong("pushes-ahead"),
            help: ArgumentHelp(t("srv.pushes-of-one-device.84ce")))
    var pushesAhead = 2
    @Option(name: .customLong("upstream-interval"), help: ArgumentHelp(t("srv.seconds-between-syncs-with.c7d7")))
    var upstreamInterval = 30
    @Option(name: .customLong("upstream-compare"), help: ArgumentHelp(t("srv.help.upstream-compare")))
    var upstreamCompare = 60

    func validate() throws {
        guard (0...65_535).contains(port) else { throw ValidationError(t("srv.port-must-be-to.60c8")) }
        guard (0...65_535).contains(metricsPort) else { throw ValidationError(t("srv.metrics-port-must-be.e12a")) }
        guard maxConnections >= 1 else { throw ValidationError(t("srv.max-connections-must-be.a6c5")) }
        guard maxSnapshots >= 1 else { throw ValidationError(t("srv.max-snapshots-must-be.ff42")) }
        guard maxConnectionsPerAddress >= 1 else { throw ValidationError(t("srv.max-connections-per-address.108b")) }
        guard (1...1_000_000).contains(enrolmentsPerMinute) else { throw ValidationError(t("srv.enrolments-per-minute-must.32ca")) }
        guard (0...16).contains(pushesAhead) else { throw ValidationError(t("srv.pushes-ahead-must-be.ca8b")) }
        guard upstreamInterval >= 1 else { throw ValidationError(t("srv.upstream-interval-must-be.5621")) }
        guard (0...10_080).contains(upstreamCompare) else { throw ValidationError(t("srv.upstream-compare-range")) }
    }

    func run() async throws {
        AllocatorTuning.forServing()
        let folder = options.folder
        if !folder.isInitialized {
            let result = try folder.initialize(hosts: [host], branch: nil, certificate: nil)
            // Unbuffered like the "listening" line below, so a log file shows them in order.
            FileHandle.standardOutput.write(Data((t("srv.initialised-a-server-in.88a5", ["path": "\(folder.path)", "node": "\(result.node)", "value": "\(result.settings.caCertificate ?? "")"]) + "\n").utf8))
        }
        if !Strings.isInstalled {
            // A binary copied without its resource bundle: pages show text keys, nothing else breaks. Said
            // in English: the tables that would say it otherwise are what is missing.
            let missing = "warning: the texts of the dashboard and documents were not found (FieldSync_FieldSyncLocalization.resources beside the executable); pages show their keys\n"
            FileHandle.standardError.write(Data(missing.utf8))
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
                throw ValidationError(t("srv.a-server-on-postgresql.7766", ["upstream-folder": "\(folder.upstreamFolder)", "url": "\(binding.url)"]))
            }
            try await StorageEngine.withPostgres(url, logger: logger) { storage, location in
                let server = SyncHTTPServer(accounts: storage, sync: storage, kpi: storage, snapshots: PostgresSnapshots(storage: storage, dataFolder: folder.path),
                                            clock: { storage.now }, configuration: configuration, logger: logger)
                logger.info("records, people and devices in PostgreSQL", metadata: ["database": "\(location)", "node": "\(storage.node)"])
                try await runServices(server, upstream: nil, tls: tls, logger: logger)
            }
            print(t("srv.fieldsync-server-stopped.4d16"))
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
                                        }, comparisonEvery: UInt64(upstreamCompare) * 60_000)
            server.onChanges = { link.poke() }
            upstream = link
            logger.info("syncing with the provincial server", metadata: ["url": "\(binding.url)", "every": "\(upstreamInterval) s"])
        }
        try await runServices(server, upstream: upstream, tls: tls, logger: logger)
        try store.close()
        print(t("srv.fieldsync-server-stopped-database.fe37"))
    }

    /// Serves HTTPS (and metrics) until SIGINT or SIGTERM, finishing in-flight requests.
    private func runServices(_ server: SyncHTTPServer, upstream: UpstreamSync?, tls: TLSConfiguration, logger: Logger) async throws {
        // A taken port is named before anything is said to be listening, with the option that moves it.
        try ListenerCheck.free(host: host, port: port, what: t("srv.listen.https"), option: "--host/--port")
        if metricsPort != 0 { try ListenerCheck.free(host: metricsHost, port: metricsPort, what: t("srv.listen.metrics"), option: t("srv.listen.metrics-option")) }
        let app = try server.makeApplication(tls: tls) { [host] port in
            // Written unbuffered: scripts and tests wait for this line to learn the port.
            // Read by scripts and supervisors' tools ("listening on https://"): in English whatever the
            // language, and whether or not the texts' bundle is beside the binary.
            let listening = "fieldsync-server listening on https://\(host):\(port)\n"
            FileHandle.standardOutput.write(Data(listening.utf8))
        }
        var services: [any Service] = [app]
        if let upstream { services.append(upstream) }
        if metricsPort != 0 {
            services.append(server.makeMetricsApplication(host: metricsHost, port: metricsPort) { [metricsHost] port in
                let metrics = "metrics on http://\(metricsHost):\(port)/metrics\n"
                FileHandle.standardOutput.write(Data(metrics.utf8))
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
        discussion: t("srv.finds-the-server-by.6f40"))
    @OptionGroup var options: DataOptions
    @Option(help: ArgumentHelp(t("srv.seconds-to-wait-for.62c6"))) var timeout = 30

    func validate() throws {
        guard (1...3_600).contains(timeout) else { throw ValidationError(t("srv.timeout-must-be-to.cda2")) }
    }

    func run() throws {
        let folder = options.folder
        guard let process = ServingLock.holder(of: folder) else {
            print(t("srv.no-fieldsync-server-is.fdb8", ["path": "\(folder.path)"]))
            return
        }
        guard kill(process, SIGTERM) == 0 else {
            throw ServerError.badRequest(t("srv.cannot-signal-the-server.3216", ["process": "\(process)", "path": "\(folder.path)", "value": "\(String(cString: strerror(errno)))"]))
        }
        let deadline = Date().addingTimeInterval(Double(timeout))
        while ServingLock.holder(of: folder) != nil {
            guard Date() < deadline else {
                throw ServerError.badRequest(t("srv.stop.still-finishing", ["process": "\(process)", "path": folder.path, "timeout": "\(timeout)"]))
            }
            usleep(100_000)
        }
        print(t("srv.stopped-the-fieldsync-server.d86a", ["process": "\(process)", "path": "\(folder.path)"]))
    }
}

struct CertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cert", abstract: CommandLanguage.strings("srv.cert.abstract"), subcommands: [Status.self, Renew.self])

    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: t("srv.show-the-hosts-and.6ea0"))
        @OptionGroup var options: DataOptions

        func run() throws {
            let settings = try options.folder.settings()
            let pem = try String(contentsOfFile: settings.tlsCertificate, encoding: .utf8)
            let expiry = try CertificateAuthority.expiry(of: pem)
            let hosts = try CertificateAuthority.hosts(of: pem)
            if options.json {
                printJSON(["certificate": settings.tlsCertificate, "hosts": hosts, "expires_at": ISO8601DateFormatter().string(from: expiry)])
            } else {
                print(t("srv.tls-certificate-value-valid.056f", ["tls-certificate": "\(settings.tlsCertificate)", "value": "\(hosts.joined(separator: ", "))", "value2": shownTime(expiry)]))
            }
        }
    }

    struct Renew: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: t("srv.issue-a-new-server.1389"),
            discussion: t("srv.laptops-keep-working-they.7e72"))
        @OptionGroup var options: DataOptions
        @Option(name: .customLong("hostname"), help: ArgumentHelp(t("srv.host-names-and-addresses.d9d5")))
        var hostnames: [String] = []
        @Flag(name: .customLong("new-ca"), help: ArgumentHelp(t("srv.make-a-new-ca.4f31")))
        var newCA = false

        func run() throws {
            let (hosts, expiry) = try options.folder.renewCertificate(hosts: hostnames, newCA: newCA)
            if options.json {
                printJSON(["hosts": hosts, "expires_at": ISO8601DateFormatter().string(from: expiry), "new_ca": newCA])
            } else {
                print(t("srv.renewed-the-server-certificate.e588", ["value": "\(hosts.joined(separator: ", "))", "value2": shownTime(expiry)]))
                if newCA {
                    print(t("srv.made-a-new-ca.15e5", ["value": "\(options.folder.file("ca.pem"))"]))
                }
            }
        }
    }
}

struct UpstreamCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "upstream",
        abstract: CommandLanguage.strings("srv.upstream.abstract"),
        discussion: t("srv.with-an-upstream-serve.96ce"),
        subcommands: [Set.self, Status.self, Verify.self, Remove.self])

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: t("srv.compare-every-record-of.34cc"),
            discussion: t("srv.downloads-the-province-s.680f"))
        @OptionGroup var options: DataOptions
        @Flag(name: .customLong("dry-run"), help: ArgumentHelp(t("srv.report-only-ask-the.6417"))) var dryRun = false

        func run() async throws {
            guard let (binding, caPEM) = try ServerBinding.load(home: options.folder.upstreamFolder) else {
                throw ValidationError(t("srv.no-upstream-set-one.93ee"))
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
                print(t("srv.identical-to-the-province.ae51", ["url": "\(binding.url)", "value": count(drift.compared, "record"), "value2": "\(binding.user.branch ?? "?")"]))
            } else {
                print(t("srv.upstream.differ", ["n": "\(drift.records.count)", "records": count(drift.compared, "record"), "url": binding.url,
                                                "take": "\(drift.takenFromServer)", "lacks": "\(drift.offeredToServer)"]))
                let strings = CommandLanguage.strings
                for record in drift.records.prefix(20) {
                    let state = record.here == nil ? "srv.upstream.missing-here" : record.server == nil ? "srv.upstream.missing-at-province" : "srv.upstream.differs"
                    print(t("srv.upstream.difference", ["kind": strings.kind(record.key.table), "id": String(record.key.record.prefix(8)), "state": t(state)]))
                }
                print(dryRun ? t("srv.upstream.nothing-changed") : t("srv.upstream.repairs-next"))
            }
            if !drift.isIdentical { throw ExitCode.failure }
        }
    }

    struct Set: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: t("srv.enrol-this-server-with.123b"))
        @OptionGroup var options: DataOptions
        @Argument(help: ArgumentHelp(t("srv.the-provincial-server-s.e38f"))) var url: String
        @Option(help: ArgumentHelp(t("srv.the-one-time-enrolment.0c47"))) var code: String
        @Option(help: ArgumentHelp(t("srv.the-provincial-server-s.964a"))) var ca: String

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
                print(t("srv.enrolled-with-url-as.25d5", ["url": "\(url)", "value": "\(binding.user.branch ?? "?")"]))
            }
        }
    }

    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: t("srv.where-this-server-stands.5c08"))
        @OptionGroup var options: DataOptions

        func run() throws {
            let folder = options.folder
            guard let (binding, _) = try ServerBinding.load(home: folder.upstreamFolder) else {
                return print(options.json ? "null" : t("srv.upstream.none"))
            }
            let store = try options.embeddedStore()
            let state = try store.upstreamState(UpstreamSync.key(binding))
            if options.json {
                printJSON(["url": binding.url, "branch": binding.user.branch as Any? ?? NSNull(), "last_success": iso(state.lastSuccess),
                           "last_error": state.lastError as Any? ?? NSNull(), "unsent": state.unsent, "rejected": state.rejections])
            } else {
                print(t("srv.upstream-url-branch-value.b4bf", ["url": "\(binding.url)", "value": "\(binding.user.branch ?? "?")"]))
                print(t("srv.last-success-value.46aa", ["value": "\(state.lastSuccess.map { "\(iso($0))" } ?? t("srv.never"))"]))
                if let error = state.lastError { print(t("srv.last-error-error.75b8", ["error": "\(error)"])) }
                print(t("srv.waiting-unsent-log-rows.526e", ["unsent": "\(state.unsent)", "rejections": "\(state.rejections)"]))
                for (mutation, reason) in try store.upstreamRejections().prefix(10) {
                    print(t("srv.refused-value-reason.cf64", ["value": mutation.map { t("srv.upstream.action-of-node", ["counter": "\($0.counter)", "node": "\($0.origin)"]) } ?? t("srv.upstream.an-action"), "reason": "\(reason)"]))
                }
            }
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: t("srv.forget-the-provincial-server.b8b3"))
        @OptionGroup var options: DataOptions

        func run() throws {
            let folder = options.folder.upstreamFolder
            guard FileManager.default.fileExists(atPath: folder) else { return print(t("srv.no-upstream.4bba")) }
            try FileManager.default.removeItem(atPath: folder)
            print(t("srv.removed-the-upstream-restart.3ec7"))
        }
    }
}

struct BranchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "branch", abstract: CommandLanguage.strings("srv.branch.abstract"),
        discussion: t("srv.the-list-is-replicated.6f8b"),
        subcommands: [Add.self, List.self, Rename.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: t("srv.register-a-branch.3b66"))
        @OptionGroup var options: DataOptions
        @Argument(help: ArgumentHelp(t("srv.the-branch-s-name.667e"))) var name: String

        func run() async throws {
            if options.databaseURL == nil { try refuseUnderAProvince(options.folder) }
            try await StorageEngine.with(options) { try await $0.addBranch(name) }
            if options.json { printJSON(["name": name]) } else { print(t("srv.branch.registered", ["branch": name])) }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: t("srv.list-registered-branches.9efe"))
        @OptionGroup var options: DataOptions

        func run() async throws {
            let names = try await StorageEngine.with(options) { try await $0.branches() }
            if options.json {
                let data = (try? JSONSerialization.data(withJSONObject: names, options: [.prettyPrinted])) ?? Data()
                return print(String(decoding: data, as: UTF8.self))
            }
            if names.isEmpty { return print(t("srv.no-branches-register-one.c909")) }
            for name in names { print(name) }
        }
    }

    struct Rename: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: t("srv.rename-a-branch-its.e53b"))
        @OptionGroup var options: DataOptions
        @Argument(help: ArgumentHelp(t("srv.the-current-name.6bfe"))) var old: String
        @Argument(help: ArgumentHelp(t("srv.the-new-name.df85"))) var new: String

        func run() async throws {
            if options.databaseURL == nil { try refuseUnderAProvince(options.folder) }
            let (customers, users) = try await StorageEngine.with(options) { try await $0.renameBranch(old, new) }
            if options.json {
                printJSON(["old": old, "new": new, "customers": customers, "users": users])
            } else {
                print(t("srv.renamed-branch-old-to.8a6b", ["old": "\(old)", "new": "\(new)", "customers": "\(customers)", "users": "\(users)"]))
            }
        }
    }
}

struct AssignCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "assign",
        abstract: CommandLanguage.strings("srv.assign.abstract"),
        discussion: t("srv.the-new-manager-s.fdd7"))

    @OptionGroup var options: DataOptions
    @Argument(help: ArgumentHelp(t("srv.customer-id-or-a.bee6"))) var customer: String
    @Option(help: ArgumentHelp(t("srv.the-new-account-manager.e7b3"))) var manager: String
    @Option(help: ArgumentHelp(t("srv.backup-or-joint-managers.c7e0"), valueName: "names")) var team: String?

    func run() async throws {
        let team = self.team.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
        let id = try await StorageEngine.with(options) { try await $0.assign(customer, manager, team) }
        if options.json { printJSON(["customer": id, "manager": manager]) } else { print(t("srv.assign.done", ["id": String(id.prefix(8)), "manager": manager])) }
    }
}

/// A branch server receives the branch list from its provincial server.
func refuseUnderAProvince(_ folder: ServerFolder) throws {
    if let (binding, _) = try ServerBinding.load(home: folder.upstreamFolder) {
        throw ValidationError(t("srv.this-server-syncs-with.bf24", ["url": "\(binding.url)"]))
    }
}

struct UserCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "user", abstract: CommandLanguage.strings("srv.user.abstract"),
        subcommands: [Add.self, Code.self, List.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: t("srv.add-a-person-and.a9d8"))

        @OptionGroup var options: DataOptions
        @Option(help: ArgumentHelp(t("srv.their-name-as-they.a6b9"))) var name: String
        @Option(help: ArgumentHelp(t("srv.manager-supervisor-province-admin.9ac4"))) var role: String
        @Option(help: ArgumentHelp(t("srv.their-registered-branch-managers.cfd0"))) var branch: String?
        @Option(help: ArgumentHelp(t("srv.days-the-code-stays.1cd0"))) var days = 7

        func run() async throws {
            guard let role = Role(rawValue: role.lowercased()) else {
                throw ValidationError(t("srv.role-role-is-not.e9a0", ["role": "\(role)", "value": "\(Role.allCases.map(\.rawValue).joined(separator: ", "))"]))
            }
            guard (1...3_650).contains(days) else { throw ValidationError(t("srv.days-must-be-to.6496")) }
            let (user, code, expires) = try await StorageEngine.with(options) { engine in
                try await engine.accounts.addUser(UserInfo(name: name, role: role, branch: branch), codeLifetime: UInt64(days) * 86_400_000)
            }
            if options.json {
                printJSON(["id": user.id, "name": user.info.name, "role": role.rawValue, "branch": branch as Any? ?? NSNull(),
                           "enrolment_code": code, "expires_at": iso(expires)])
            } else {
                print(t("srv.added-name-role-value.1a1c", ["name": user.info.name, "role": branch.map { t("srv.nodes.role-branch", ["role": t("role.\(role.rawValue)"), "branch": $0]) } ?? t("role.\(role.rawValue)")]))
                print(t("srv.enrolment-code-code-one.9017", ["code": "\(code)", "value": shownTime(milliseconds: expires)]))
            }
        }
    }

    struct Code: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: t("srv.print-a-new-one.fbdf"))

        @OptionGroup var options: DataOptions
        @Option(help: ArgumentHelp(t("srv.the-person-s-name.e2e8"))) var name: String
        @Option(help: ArgumentHelp(t("srv.days-the-code-stays.1cd0"))) var days = 7

        func validate() throws {
            guard (1...3_650).contains(days) else { throw ValidationError(t("srv.days-must-be-to.6496")) }
        }

        func run() async throws {
            let (code, expires) = try await StorageEngine.with(options) { engine in
                try await engine.accounts.issueCode(forUser: name, codeLifetime: UInt64(days) * 86_400_000)
            }
            if options.json { printJSON(["name": name, "enrolment_code": code, "expires_at": iso(expires)]) } else { print(t("srv.user.code", ["code": code, "expires": shownTime(milliseconds: expires)])) }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: t("srv.list-people.af81"))
        @OptionGroup var options: DataOptions

        func run() async throws {
            let users = try await StorageEngine.with(options) { try await $0.accounts.users() }
            if options.json {
                let rows: [[String: Any]] = users.map { ["id": $0.id, "name": $0.info.name, "role": $0.info.role.rawValue, "branch": $0.info.branch as Any? ?? NSNull()] }
                let data = (try? JSONSerialization.data(withJSONObject: rows, options: [.prettyPrinted, .sortedKeys])) ?? Data()
                return print(String(decoding: data, as: UTF8.self))
            }
            if users.isEmpty { return print(t("srv.no-users-add-one.c5d7")) }
            var table = TextTable(t("column.id"), t("column.name"), t("column.role"), t("column.branch"))
            for user in users { table.add(String(user.id.prefix(8)), user.info.name, t("role.\(user.info.role.rawValue)"), user.info.branch ?? "") }
            print(table.rendered(empty: ""), terminator: "")
        }
    }
}

struct NodesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nodes", abstract: CommandLanguage.strings("srv.nodes.abstract"))
    @OptionGroup var options: DataOptions

    func run() async throws {
        let (devices, below, checks) = try await StorageEngine.with(options) { engine in
            (try await engine.accounts.devices(), try await engine.kpi.freshnessInputs().below, try await engine.kpi.digestChecks())
        }
        let nodes = devices.map(\.info)
        if options.json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            return print(String(decoding: try encoder.encode(nodes), as: UTF8.self))
        }
        if nodes.isEmpty { return print(t("srv.no-devices-enrolled.cfa1")) }
        let now = UInt64(max(0, Date().timeIntervalSince1970 * 1000))
        for node in nodes {
            let seen = node.lastSeen.map { t("srv.nodes.last-synced", ["ago": Self.ago(now > $0 ? now - $0 : 0)]) } ?? t("srv.nodes.never-synced")
            let pending = node.pending.map { t("srv.nodes.waiting", ["actions": count($0, "action")]) } ?? t("srv.nodes.waiting-unknown")
            let role = t("role.\(node.role.rawValue)")
            let who = node.branch.map { t("srv.nodes.role-branch", ["role": role, "branch": $0]) } ?? role
            print(t(node.revokedAt != nil ? "srv.nodes.line-revoked" : "srv.nodes.line",
                    ["user": node.user, "who": who, "device": node.name, "seen": seen, "pending": pending]))
            if let refused = node.refused, refused > 0 {
                let actions = count(refused, "action"), reason = Wording.printable(node.refusedReason ?? "")
                if let at = node.refusedAt {
                    print(t("srv.nodes.refused-ago", ["actions": actions, "ago": Self.ago(now > at ? now - at : 0), "reason": reason]))
                } else {
                    print(t("srv.nodes.refused", ["actions": actions, "reason": reason]))
                }
            }
        }
        // A branch server's laptops are its own to list; it reports how many there are and what they hold back.
        for (device, report) in devices.compactMap({ device in below[device.id].map { (device, $0) } }) where device.revokedAt == nil {
            let complete = report.completeUpTo.map { t("srv.nodes.complete-up-to", ["ago": Self.ago(now > $0 ? now - $0 : 0)]) } ?? t("srv.nodes.not-complete")
            print(t("srv.nodes.below", ["device": device.name, "devices": count(report.devices, "device"), "actions": count(report.pending, "action"),
                                        "silent": "\(report.notSeenForThreeDays)", "complete": complete]))
        }
        // What the branch servers' latest comparisons by digests found.
        for device in devices where device.revokedAt == nil {
            guard let check = checks[device.id] else { continue }
            let ago = Self.ago(now > check.checkedAt ? now - check.checkedAt : 0)
            print(check.matched ? t("srv.nodes.digest-identical", ["device": device.name, "ago": ago])
                                : t("srv.nodes.digest-differed", ["device": device.name, "ago": ago, "groups": String(check.differing)]))
        }
    }

    static func ago(_ milliseconds: UInt64) -> String {
        let minutes = Int(clamping: milliseconds / 60_000)
        if minutes < 60 { return t("srv.ago.minutes", ["n": "\(minutes)"]) }
        if minutes < 48 * 60 { return t("srv.ago.hours", ["n": "\(minutes / 60)"]) }
        return t("srv.ago.days", ["n": "\(minutes / 1_440)"])
    }
}

struct DeviceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "device", abstract: CommandLanguage.strings("srv.device.abstract"), subcommands: [List.self, Revoke.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: t("srv.list-enrolled-devices.1114"))
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
            if devices.isEmpty { return print(t("srv.no-devices-enrolled.cfa1")) }
            for device in devices {
                print(t(device.revokedAt != nil ? "srv.device.line-revoked" : "srv.device.line",
                        ["id": "\(device.id.prefix(8))", "user": device.user, "name": device.name, "node": "\(device.node)"]))
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: t("srv.revoke-a-device-its.a475"))
        @OptionGroup var options: DataOptions
        @Argument(help: ArgumentHelp(t("srv.device-id-or-a.3b39"))) var device: String

        func run() async throws {
            let revoked = try await StorageEngine.with(options) { try await $0.accounts.revokeDevice(device) }
            if options.json {
                printJSON(["id": revoked.id, "user": revoked.user, "revoked_at": iso(revoked.revokedAt)])
            } else {
                print(t("srv.revoked-device-value-of.4e28", ["value": "\(revoked.id.prefix(8))", "user": "\(revoked.user)"]))
                if revoked.role == .branch {
                    // A stolen branch server's token: its laptops' work is not stranded.
                    print(t("srv.the-laptops-it-relayed.4aa2", ["value": revoked.branch ?? t("srv.revoke.its-branch"), "value2": revoked.branch ?? "B"]))
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
            throw ValidationError(t("srv.what-cannot-listen-on.fec8", ["what": "\(what)", "host": "\(host)", "port": "\(port)", "option": "\(option)"]))
        }
        defer { freeaddrinfo(found) }
        let socket = Glibc.socket(first.pointee.ai_family, first.pointee.ai_socktype, first.pointee.ai_protocol)
        guard socket >= 0 else { return }
        defer { close(socket) }
        var reuse: Int32 = 1
        setsockopt(socket, SOL_SOCKET, SO_REUSEADDR, &reuse, socklen_t(MemoryLayout<Int32>.size))
        if bind(socket, first.pointee.ai_addr, first.pointee.ai_addrlen) != 0 {
            let reason = errno == EADDRINUSE ? t("srv.listen.in-use")
                : errno == EADDRNOTAVAIL ? t("srv.listen.not-here", ["host": host]) : String(cString: strerror(errno))
            throw ValidationError(t("srv.what-cannot-listen-on.fe97", ["what": "\(what)", "host": "\(host)", "port": "\(port)", "reason": "\(reason)", "option": "\(option)"]))
        }
    }
}
