import Crypto
import Foundation
import NIOSSL
import SwiftASN1
import X509

/// The server's own private CA and the TLS certificate it signs, so a
/// newcomer gets HTTPS with one command and laptops trust exactly this CA.
public enum CertificateAuthority {
    public struct PEMPair: Sendable {
        public var certificate: String
        public var privateKey: String
    }

    /// A P-256 CA valid for 10 years.
    public static func makeCA(name: String, now: Date = Date()) throws -> PEMPair {
        let key = P256.Signing.PrivateKey()
        let subject = try DistinguishedName {
            OrganizationName("FieldSync")
            CommonName(name)
        }
        let certificate = try Certificate(
            version: .v3,
            serialNumber: Certificate.SerialNumber(),
            publicKey: .init(key.publicKey),
            notValidBefore: now.addingTimeInterval(-3600),
            notValidAfter: now.addingTimeInterval(10 * 365 * 86_400),
            issuer: subject,
            subject: subject,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
            },
            issuerPrivateKey: .init(key))
        return PEMPair(certificate: try certificate.serializeAsPEM().pemString, privateKey: key.pemRepresentation)
    }

    /// How long a server certificate is valid. Browsers and Mozilla's
    /// intermediate profile refuse 366 days and more; renew with `fieldsync-server cert renew`.
    public static let serverCertificateDays = 365

    /// A P-256 server certificate for the host names and IP addresses given
    /// (127.0.0.1 and localhost are always included), valid for `serverCertificateDays`
    /// counted from an hour ago (clock slack).
    public static func makeServerCertificate(hosts: [String], ca: PEMPair, now: Date = Date(), includeLoopback: Bool = true) throws -> PEMPair {
        let caKey = try P256.Signing.PrivateKey(pemRepresentation: ca.privateKey)
        let caCertificate = try Certificate(pemEncoded: ca.certificate)
        let key = P256.Signing.PrivateKey()
        var names: [GeneralName] = []
        for host in Set(hosts + (includeLoopback ? ["localhost", "127.0.0.1"] : [])).sorted() {
            if let address = ipv4Bytes(host) {
                names.append(.ipAddress(ASN1OctetString(contentBytes: ArraySlice(address))))
            } else {
                names.append(.dnsName(host))
            }
        }
        let certificate = try Certificate(
            version: .v3,
            serialNumber: Certificate.SerialNumber(),
            publicKey: .init(key.publicKey),
            notValidBefore: now.addingTimeInterval(-3600),
            notValidAfter: now.addingTimeInterval(Double(serverCertificateDays * 86_400 - 3600)),
            issuer: caCertificate.subject,
            subject: try DistinguishedName {
                OrganizationName("FieldSync")
                CommonName(hosts.first ?? "localhost")
            },
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true))
                try ExtendedKeyUsage([.serverAuth])
                SubjectAlternativeNames(names)
            },
            issuerPrivateKey: .init(caKey))
        return PEMPair(certificate: try certificate.serializeAsPEM().pemString, privateKey: key.pemRepresentation)
    }

    /// The host names and IPv4 addresses a certificate is for.
    public static func hosts(of certificatePEM: String) throws -> [String] {
        let certificate = try Certificate(pemEncoded: certificatePEM)
        guard let names = try certificate.extensions.subjectAlternativeNames else { return [] }
        return names.compactMap { name in
            switch name {
            case .dnsName(let host): return host
            case .ipAddress(let bytes) where bytes.bytes.count == 4: return bytes.bytes.map(String.init).joined(separator: ".")
            default: return nil
            }
        }
    }

    /// When a certificate stops being valid.
    public static func expiry(of certificatePEM: String) throws -> Date {
        try validity(of: certificatePEM).until
    }

    public static func validity(of certificatePEM: String) throws -> (from: Date, until: Date) {
        let certificate = try Certificate(pemEncoded: certificatePEM)
        return (certificate.notValidBefore, certificate.notValidAfter)
    }

    private static func ipv4Bytes(_ text: String) -> [UInt8]? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        let bytes = parts.compactMap { UInt8($0) }
        return bytes.count == 4 ? bytes : nil
    }
}

extension TLSConfiguration {
    /// HTTPS only, TLS 1.2 minimum (1.3 preferred), AEAD suites only.
    /// swift-nio-ssl's server defaults allow TLS 1.0 and CBC suites: both are set here on purpose.
    public static func fieldSyncServer(certificatePEM: String, privateKeyPEM: String) throws -> TLSConfiguration {
        let chain = try NIOSSLCertificate.fromPEMBytes(Array(certificatePEM.utf8)).map { NIOSSLCertificateSource.certificate($0) }
        let key = try NIOSSLPrivateKey(bytes: Array(privateKeyPEM.utf8), format: .pem)
        var configuration = TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(key))
        configuration.minimumTLSVersion = .tlsv12
        configuration.cipherSuiteValues = [
            .TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
            .TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
            .TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
            .TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
            .TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
            .TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
        ]
        return configuration
    }
}
