import FieldSyncModel
import FieldSyncSQLiteServer
import FieldSyncServerCore
import FieldSyncStore
import Foundation

/// The server's data folder: `server.sqlite`, the private CA and the TLS
/// certificate (or the paths of the ones given at init), `config.json`.
public struct ServerFolder: Sendable {
    public let path: String

    public init(path: String) { self.path = path }

    public struct Settings: Codable, Sendable {
        public var tlsCertificate: String
        public var tlsKey: String
        /// The CA laptops must trust, when the server made its own.
        public var caCertificate: String?

        enum CodingKeys: String, CodingKey {
            case tlsCertificate = "tls_certificate"
            case tlsKey = "tls_key"
            case caCertificate = "ca_certificate"
        }
    }

    public func file(_ name: String) -> String { (path as NSString).appendingPathComponent(name) }

    public var isInitialized: Bool { FileManager.default.fileExists(atPath: file("config.json")) }

    /// Where a branch server keeps its binding to the provincial server (`server.json`, `ca.pem`).
    public var upstreamFolder: String { file("upstream") }

    public func settings() throws -> Settings {
        try JSONDecoder().decode(Settings.self, from: Data(contentsOf: URL(fileURLWithPath: file("config.json"))))
    }

    /// Creates the server replica and, unless a certificate is given, a private
    /// CA and a server certificate for `hosts` (+ localhost, 127.0.0.1).
    public func initialize(hosts: [String], branch: String?, certificate: (cert: String, key: String)?) throws -> (settings: Settings, node: NodeID) {
        if isInitialized { throw ServerError.badRequest("\(path) already holds a server; use another --data folder") }
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        try secure()
        let settings: Settings
        if let certificate {
            for file in [certificate.cert, certificate.key] where !FileManager.default.fileExists(atPath: file) {
                throw ServerError.badRequest("no such file: \(file)")
            }
            settings = Settings(tlsCertificate: absolute(certificate.cert), tlsKey: absolute(certificate.key), caCertificate: nil)
        } else {
            let ca = try CertificateAuthority.makeCA(name: "FieldSync CA \(branch ?? "")".trimmingCharacters(in: .whitespaces))
            let server = try CertificateAuthority.makeServerCertificate(hosts: hosts, ca: ca)
            try write(ca.certificate, to: file("ca.pem"))
            try write(ca.privateKey, to: file("ca-key.pem"))
            try write(server.certificate, to: file("server.pem"))
            try write(server.privateKey, to: file("server-key.pem"))
            settings = Settings(tlsCertificate: file("server.pem"), tlsKey: file("server-key.pem"), caCertificate: file("ca.pem"))
        }
        let store = try ServerStore.open(folder: path)
        var generator = SystemRandomNumberGenerator()
        let node = NodeID.random(using: &generator)
        try store.replica.initialize(ReplicaIdentity(node: node, branch: branch, user: "server",
                                                     createdAt: Timestamp(epochSeconds: Int64(Date().timeIntervalSince1970), offsetMinutes: 0).description))
        // config.json last: its presence means "initialised".
        try write(String(decoding: try JSONEncoder().encode(settings), as: UTF8.self), to: file("config.json"))
        try secure()
        return (settings, node)
    }

    public func openStore() throws -> ServerStore {
        guard isInitialized else { throw ServerError.badRequest("no server in \(path); run 'fieldsync-server init' (or 'serve', which initialises an empty folder)",
                                                            text: ErrorText("admin.no-server", ["path": path])) }
        try secure()
        return try ServerStore.open(folder: path)
    }

    private func absolute(_ file: String) -> String {
        file.hasPrefix("/") ? file : (FileManager.default.currentDirectoryPath as NSString).appendingPathComponent(file)
    }

    /// The folder holds customer data, token hashes and the CA key: 0700, and
    /// every file in it 0600 (SQLite gives its -wal and -shm files the mode of
    /// the database). Run on init and on every start, so a folder made or
    /// copied by other means is closed too.
    public func secure() throws {
        guard chmod(path, 0o700) == 0 else { throw ServerError.badRequest("cannot set the mode of \(path) to 0700: \(String(cString: strerror(errno)))") }
        for name in try FileManager.default.contentsOfDirectory(atPath: path) {
            let attributes = try FileManager.default.attributesOfItem(atPath: file(name))
            guard attributes[.type] as? FileAttributeType == .typeRegular else { continue }
            if ((attributes[.posixPermissions] as? Int) ?? 0o777) & 0o077 != 0, chmod(file(name), 0o600) != 0 {
                throw ServerError.badRequest("cannot set the mode of \(file(name)) to 0600: \(String(cString: strerror(errno)))")
            }
        }
    }

    /// Issues a new server certificate from the folder's own CA, for the hosts
    /// given or else the ones the current certificate names. A server must be
    /// restarted to serve it.
    /// With `newCA` the CA is replaced first (its key was exposed): devices enrolled with the old one must enrol again.
    public func renewCertificate(hosts: [String], newCA: Bool = false, now: Date = Date()) throws -> (hosts: [String], expires: Date) {
        let settings = try self.settings()
        guard settings.caCertificate != nil, FileManager.default.fileExists(atPath: file("ca-key.pem")) else {
            throw ServerError.badRequest("this server uses a certificate it did not issue (\(settings.tlsCertificate)); renew it where it came from")
        }
        let ca: CertificateAuthority.PEMPair
        if newCA {
            ca = try CertificateAuthority.makeCA(name: "FieldSync CA", now: now)
            // The key first: a crash between the two leaves a pair that does not match, which 'serve' reports.
            try write(ca.privateKey, to: file("ca-key.pem"))
            try write(ca.certificate, to: file("ca.pem"))
        } else {
            ca = CertificateAuthority.PEMPair(certificate: try String(contentsOfFile: file("ca.pem"), encoding: .utf8),
                                              privateKey: try String(contentsOfFile: file("ca-key.pem"), encoding: .utf8))
        }
        let current = try String(contentsOfFile: settings.tlsCertificate, encoding: .utf8)
        let names = hosts.isEmpty ? try CertificateAuthority.hosts(of: current) : hosts
        let server = try CertificateAuthority.makeServerCertificate(hosts: names, ca: ca, now: now)
        // Key first, then the certificate, each replaced whole: a crash between leaves a pair that a restart reports.
        try write(server.privateKey, to: file("server-key.pem"))
        try write(server.certificate, to: file("server.pem"))
        return (try CertificateAuthority.hosts(of: server.certificate), try CertificateAuthority.expiry(of: server.certificate))
    }

    /// Writes a file created 0600 from its first byte (never created wider and
    /// narrowed later), replacing any file of that name whole.
    private func write(_ text: String, to file: String) throws {
        let temporary = file + ".new"
        unlink(temporary)
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw ServerError.badRequest("cannot write \(file): \(String(cString: strerror(errno)))") }
        let bytes = Array(text.utf8)
        let written = bytes.withUnsafeBytes { Foundation.write(descriptor, $0.baseAddress, $0.count) }
        let synced = fsync(descriptor) == 0
        close(descriptor)
        guard written == bytes.count, synced, rename(temporary, file) == 0 else {
            unlink(temporary)
            throw ServerError.badRequest("cannot write \(file): \(String(cString: strerror(errno)))")
        }
    }
}
