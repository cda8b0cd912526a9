import Crypto
import FieldSyncStore

/// The key a device signs its pages with (`SignedPage`): made at its first
/// sync and kept in its replica (private: the folder is 0700, the file 0600).
public enum DeviceKey {
    public static func of(_ replica: Replica) throws -> Curve25519.Signing.PrivateKey {
        if let stored = try replica.signingKey(), let key = try? Curve25519.Signing.PrivateKey(rawRepresentation: stored) { return key }
        let made = Curve25519.Signing.PrivateKey()
        return try Curve25519.Signing.PrivateKey(rawRepresentation: try replica.storeSigningKey(Array(made.rawRepresentation)))
    }
}
