import Crypto
import FieldSyncModel
import Foundation

/// Hashes of secrets: the server never stores a token or code as given.
package enum Secret {
    package static func hash(_ text: String) -> String {
        Hex.encode(SHA256.hash(data: Data(text.utf8)))
    }

    /// 256 random bits, base64url without padding.
    package static func token() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        return Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    /// An enrolment code a person can read out and type: 15 characters of an
    /// alphabet without look-alikes (75 bits), grouped as XXXXX-XXXXX-XXXXX.
    package static func enrolmentCode() -> String {
        let alphabet = Array("23456789ABCDEFGHJKLMNPQRSTUVWXYZ")
        var generator = SystemRandomNumberGenerator()
        let characters = (0..<15).map { _ in alphabet[Int.random(in: 0..<alphabet.count, using: &generator)] }
        return [0, 5, 10].map { String(characters[$0..<$0 + 5]) }.joined(separator: "-")
    }

    package static func normalizeCode(_ code: String) -> String {
        let compact = code.uppercased().filter { $0.isLetter || $0.isNumber }
        guard compact.count == 15 else { return code.uppercased() }
        let characters = Array(compact)
        return [0, 5, 10].map { String(characters[$0..<$0 + 5]) }.joined(separator: "-")
    }
}
