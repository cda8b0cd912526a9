@testable import FieldSyncServerCore
import Testing

/// Stored token and code hashes must not change between versions: a server that hashed
/// differently after an upgrade would know none of its devices.
@Suite struct SecretTests {
    @Test func theHashIsLowercaseHexSHA256() {
        #expect(Secret.hash("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(Secret.hash("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    }
}
