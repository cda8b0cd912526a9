import Foundation
import Logging
import NIOCore
import NIOSSL
import PostgresNIO

/// Where a PostgreSQL database is, from a URL in libpq's form:
/// `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?sslmode=…&sslrootcert=FILE]`.
///
/// `sslmode` defaults to `verify-full` (TLS, the certificate verified against
/// the system's roots or `sslrootcert`, and the host name checked) for any
/// host but the loopback one, where it defaults to `prefer` (TLS when the
/// server offers it). Unlike libpq's, FieldSync's `require` verifies the
/// certificate too: a database reached over a network is never trusted
/// unverified. The password is best not in the URL (it shows in `ps`): with
/// none there, it is read from `$PGPASSWORD`, or from the first line of the
/// file `$FIELDSYNC_DATABASE_PASSWORD_FILE` names.
public struct PostgresLocation: Sendable, Equatable, CustomStringConvertible {
    public enum TLSMode: String, Sendable, CaseIterable {
        case disable, prefer, require
        case verifyFull = "verify-full"
    }

    public var host: String
    public var port: Int
    public var user: String
    public var password: String?
    public var database: String
    public var tls: TLSMode
    /// A PEM file of the CA to trust instead of the system's roots.
    public var rootCertificate: String?

    public struct Invalid: Error, CustomStringConvertible {
        public let description: String
    }

    /// Loopback hosts, where `prefer` stays the default.
    public static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || host == "[::1]" || host.hasPrefix("127.") || host.hasPrefix("/")
    }

    public init(url text: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws(Invalid) {
        guard let url = URLComponents(string: text), let scheme = url.scheme, ["postgres", "postgresql"].contains(scheme) else {
            throw Invalid(description: "'\(Self.redacted(text))' is not a postgres:// URL (postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE)")
        }
        guard let host = url.host, !host.isEmpty else { throw Invalid(description: "the database URL names no host") }
        guard let user = url.user, !user.isEmpty else { throw Invalid(description: "the database URL names no user (postgres://USER@HOST/DATABASE)") }
        let port = url.port ?? 5432
        guard (1...65_535).contains(port) else { throw Invalid(description: "the database URL's port \(port) is not 1 to 65535") }
        let database = String(url.path.drop(while: { $0 == "/" }))
        guard !database.isEmpty, !database.contains("/") else { throw Invalid(description: "the database URL names no database (…/DATABASE)") }
        var tls = Self.isLoopback(host) ? TLSMode.prefer : .verifyFull
        var rootCertificate: String?
        for item in url.queryItems ?? [] {
            switch item.name {
            case "sslmode":
                guard let mode = item.value.flatMap(TLSMode.init(rawValue:)) else {
                    throw Invalid(description: "sslmode '\(item.value ?? "")' is not one of \(TLSMode.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                tls = mode
            case "sslrootcert":
                guard let file = item.value, !file.isEmpty else { throw Invalid(description: "sslrootcert needs a file name") }
                guard FileManager.default.isReadableFile(atPath: file) else { throw Invalid(description: "sslrootcert '\(file)' is not a readable file") }
                rootCertificate = file
            default:
                throw Invalid(description: "the database URL's option '\(item.name)' is not known (only sslmode and sslrootcert are)")
            }
        }
        var password = url.password
        if password == nil, let fromEnvironment = environment["PGPASSWORD"], !fromEnvironment.isEmpty {
            password = fromEnvironment
        } else if password == nil, let file = environment["FIELDSYNC_DATABASE_PASSWORD_FILE"], !file.isEmpty {
            guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
                throw Invalid(description: "cannot read the database password from $FIELDSYNC_DATABASE_PASSWORD_FILE (\(file))")
            }
            password = text.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init)
        }
        self.init(host: host, port: port, user: user, password: password, database: database, tls: tls)
        self.rootCertificate = rootCertificate
    }

    public init(host: String, port: Int = 5432, user: String, password: String? = nil, database: String, tls: TLSMode? = nil) {
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.database = database
        self.tls = tls ?? (Self.isLoopback(host) ? .prefer : .verifyFull)
    }

    /// TLS that verifies the server's chain (system roots or `rootCertificate`) and host name.
    private var verifyingTLS: TLSConfiguration {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.certificateVerification = .fullVerification
        if let rootCertificate { configuration.trustRoots = .file(rootCertificate) }
        return configuration
    }

    /// The same server, another database.
    public func with(database: String) -> PostgresLocation {
        var copy = self
        copy.database = database
        return copy
    }

    public var configuration: PostgresClient.Configuration {
        let mode: PostgresClient.Configuration.TLS = switch tls {
        case .disable: .disable
        case .prefer: .prefer(verifyingTLS)
        case .require, .verifyFull: .require(verifyingTLS)
        }
        return PostgresClient.Configuration(host: host, port: port, username: user, password: password, database: database, tls: mode)
    }

    /// The URL, password included (to hand to a child process).
    public var url: String {
        var components = URLComponents()
        components.scheme = "postgres"
        components.user = user
        components.password = password
        components.host = host
        components.port = port
        components.path = "/" + database
        components.queryItems = queryItems
        return components.string ?? description
    }

    /// `sslmode` whenever it is not the host's default, and `sslrootcert`.
    private var queryItems: [URLQueryItem]? {
        var items: [URLQueryItem] = []
        if tls != PostgresLocation(host: host, user: user, database: database).tls { items.append(URLQueryItem(name: "sslmode", value: tls.rawValue)) }
        if let rootCertificate { items.append(URLQueryItem(name: "sslrootcert", value: rootCertificate)) }
        return items.isEmpty ? nil : items
    }

    /// The URL without its password: safe for logs and messages.
    public var description: String {
        let query = queryItems.map { "?" + $0.map { "\($0.name)=\($0.value ?? "")" }.joined(separator: "&") } ?? ""
        return "postgres://\(user)\(password == nil ? "" : ":***")@\(host):\(port)/\(database)\(query)"
    }

    /// A URL as typed, its password hidden.
    static func redacted(_ text: String) -> String {
        guard var url = URLComponents(string: text), url.password != nil else { return String(text.prefix(200)) }
        url.password = "***"
        return String((url.string ?? "").prefix(200))
    }
}

extension PostgresLocation {
    /// Makes one connection and closes it: the server answers, accepts the user and has the
    /// database, or says why not, within `connectTimeout` (a pool would retry quietly instead).
    public func probe(logger: Logger, connectTimeout: TimeAmount = .seconds(10)) async throws {
        let mode: PostgresConnection.Configuration.TLS = switch tls {
        case .disable: .disable
        case .prefer: .prefer(try NIOSSLContext(configuration: verifyingTLS))
        case .require, .verifyFull: .require(try NIOSSLContext(configuration: verifyingTLS))
        }
        var configuration = PostgresConnection.Configuration(host: host, port: port, username: user, password: password, database: database, tls: mode)
        configuration.options.connectTimeout = connectTimeout
        let connection = try await PostgresConnection.connect(configuration: configuration, id: 0, logger: logger)
        try await connection.close()
    }
}
