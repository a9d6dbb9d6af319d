import CairnCore
import CairnCrypto
internal import FoundationEssentials

/// A key file (`keys/<sha256>`): plaintext JSON holding the master key sealed under a key
/// derived from a password with scrypt.
public struct KeyFile: Sendable, Codable, Equatable {
    public var version: Int
    public var created: String
    public var hostname: String
    public var username: String
    public var kdf: String
    public var scrypt: ScryptParameters
    public var salt: String   // base64, 32 bytes
    public var data: String   // base64: nonce || AES-256-GCM(master key) || tag

    public static let aad = Array("cairn.v1.key".utf8)

    public static func create(master: MasterKey, password: [UInt8], parameters: ScryptParameters,
                              hostname: String, username: String, created: Timestamp,
                              random: any RandomSource) throws -> KeyFile {
        let salt = random.bytes(32)
        let kek = try Scrypt.derive(password: password, salt: salt, parameters: parameters)
        let sealed = AESGCM(key: kek).seal(master.encoded, aad: aad, random: random)
        return KeyFile(version: 1, created: created.rfc3339, hostname: hostname, username: username,
                       kdf: "scrypt", scrypt: parameters, salt: Data(salt).base64EncodedString(),
                       data: Data(sealed).base64EncodedString())
    }

    /// Returns the master key, or throws `authenticationFailed` for a wrong password.
    public func open(password: [UInt8]) throws -> MasterKey {
        guard version == 1 else { throw FormatError.unsupportedVersion("key file", version) }
        guard kdf == "scrypt" else { throw FormatError.invalid("unknown KDF \(kdf)") }
        guard let salt = Data(base64Encoded: salt), let sealed = Data(base64Encoded: data) else {
            throw FormatError.invalid("key file is not valid base64")
        }
        let kek = try Scrypt.derive(password: password, salt: Array(salt), parameters: scrypt)
        return try MasterKey(decoding: try AESGCM(key: kek).open(Array(sealed), aad: Self.aad, what: "key file"))
    }

    public func encoded() throws -> [UInt8] {
        let e = JSONEncoder(); e.outputFormatting = [.sortedKeys, .prettyPrinted]
        return Array(try e.encode(self)) + [10]
    }

    public static func decode(_ bytes: [UInt8]) throws -> KeyFile {
        guard bytes.count < 1 << 16 else { throw FormatError.invalid("key file larger than 64 KiB") }
        let k: KeyFile
        do { k = try JSONDecoder().decode(KeyFile.self, from: Data(bytes)) }
        catch { throw FormatError.invalid("key file is not valid JSON: \(error)") }
        // The parameters decide what open allocates (128 * r * N bytes): refuse what the format
        // does not allow here, not only when deriving, so check and key list see it too.
        guard k.scrypt.isSane else {
            throw FormatError.invalid("key file scrypt parameters out of range: N=\(k.scrypt.n) r=\(k.scrypt.r) p=\(k.scrypt.p) "
                + "(need N a power of two in 2...2^24, 1 <= r <= 64, 1 <= p <= 16, 128*r*N <= 2 GiB)")
        }
        return k
    }
}
