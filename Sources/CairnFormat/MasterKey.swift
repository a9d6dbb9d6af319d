import CairnCore
import CairnCrypto

/// The repository's secret keys, generated at `init` and wrapped in every key file.
/// Plaintext form (96 bytes): encryptionKey (32) || idKey (32) || chunkerKey (32).
public struct MasterKey: Sendable, Equatable {
    public let encryptionKey: [UInt8]
    public let idKey: [UInt8]
    public let chunkerKey: [UInt8]

    public init(encryptionKey: [UInt8], idKey: [UInt8], chunkerKey: [UInt8]) {
        precondition(encryptionKey.count == 32 && idKey.count == 32 && chunkerKey.count == 32)
        self.encryptionKey = encryptionKey; self.idKey = idKey; self.chunkerKey = chunkerKey
    }

    public static func generate(random: any RandomSource) -> MasterKey {
        MasterKey(encryptionKey: random.bytes(32), idKey: random.bytes(32), chunkerKey: random.bytes(32))
    }

    public var encoded: [UInt8] { encryptionKey + idKey + chunkerKey }

    public init(decoding b: [UInt8]) throws {
        guard b.count == 96 else { throw FormatError.invalid("master key must be 96 bytes, got \(b.count)") }
        self.init(encryptionKey: Array(b[0..<32]), idKey: Array(b[32..<64]), chunkerKey: Array(b[64..<96]))
    }

    public var aead: AESGCM { AESGCM(key: encryptionKey) }
    public var blobMAC: HMACSHA256 { HMACSHA256(key: idKey) }
}
