import CairnCore
import CairnCrypto
import CairnCompression

/// Encrypted repository files (config, index, snapshot, lock) share one envelope:
///
///     nonce (12) || AES-256-GCM(plaintext = compression (1) || payload) || tag (16)
///
/// with associated data `"cairn.v1." + type` so a file of one type can never be passed off as
/// another. compression 0 = payload as is, 1 = a zstd frame that records its content size.
public enum Envelope {
    public static let maxPlaintext = 1 << 30

    public static func aad(_ type: FileType) -> [UInt8] { Array("cairn.v1.\(type.rawValue)".utf8) }

    public static func seal(_ payload: [UInt8], type: FileType, key: MasterKey, compress: Bool,
                            random: any RandomSource) -> [UInt8] {
        var plain = [UInt8]()
        if compress, payload.count > 64 {
            let c = ZstdCompressor(level: 3)
            var buf = [UInt8](repeating: 0, count: ZstdCompressor.bound(payload.count) + 1)
            let n = buf.withUnsafeMutableBytes { o in
                payload.withUnsafeBytes { c.compress($0, into: UnsafeMutableRawBufferPointer(rebasing: o[1...])) }
            }
            if let n, n < payload.count {
                buf[0] = Compression.zstd.rawValue
                plain = Array(buf[0..<n + 1])
            }
        }
        if plain.isEmpty { plain = [Compression.none.rawValue] + payload }
        return key.aead.seal(plain, aad: aad(type), random: random)
    }

    public static func open(_ sealed: [UInt8], type: FileType, key: MasterKey) throws -> [UInt8] {
        let plain = try key.aead.open(sealed, aad: aad(type), what: "\(type.rawValue) file")
        guard let flag = plain.first else { throw FormatError.truncated("\(type.rawValue) compression flag") }
        switch flag {
        case Compression.none.rawValue: return Array(plain[1...])
        case Compression.zstd.rawValue:
            return try plain.withUnsafeBytes {
                let src = UnsafeRawBufferPointer(rebasing: $0[1...])
                return try ZstdDecompressor.withPooled { try $0.decompress(src, limit: maxPlaintext) }
            }
        default: throw FormatError.invalid("unknown compression \(flag) in \(type.rawValue) file")
        }
    }
}
