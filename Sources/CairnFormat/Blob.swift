import CairnCore
import CairnCrypto
import CairnCompression

/// Sealing and opening of one blob. Stored form:
///
///     nonce (12) || AES-256-GCM(payload) || tag (16)
///
/// payload is the plaintext, or its zstd frame when the header entry says compression 1.
/// Associated data: `"cairn.v1.blob" || type (1) || id (32)`, so a blob cannot be swapped for
/// another or its type changed without failing authentication.
public enum BlobCodec {
    public static let label = Array("cairn.v1.blob".utf8)

    public static func aad(type: BlobType, id: ID) -> [UInt8] {
        var w = ByteWriter(capacity: 46); w.raw(label); w.u8(type.rawValue); w.id(id); return w.bytes
    }

    /// Compresses (unless it saves less than 1/32 of the size, or mode is off) and seals.
    /// Appends the stored bytes to `out` and returns the compression used.
    public static func seal(_ plain: UnsafeRawBufferPointer, type: BlobType, id: ID, key: MasterKey,
                            compressor: ZstdCompressor?, scratch: inout [UInt8],
                            random: any RandomSource, into out: inout [UInt8]) -> Compression {
        let a = aad(type: type, id: id)
        if let compressor, plain.count >= 64 {
            let bound = ZstdCompressor.bound(plain.count)
            if scratch.count < bound { scratch = [UInt8](repeating: 0, count: bound) }
            let n = scratch.withUnsafeMutableBytes { compressor.compress(plain, into: $0) }
            if let n, n < plain.count - plain.count / 32 {
                scratch.withUnsafeBytes { key.aead.seal(UnsafeRawBufferPointer(rebasing: $0[0..<n]), aad: a, random: random, into: &out) }
                return .zstd
            }
        }
        key.aead.seal(plain, aad: a, random: random, into: &out)
        return .none
    }

    /// Opens a stored blob and returns its plaintext, checking the plain length.
    public static func open(_ stored: UnsafeRawBufferPointer, entry: BlobEntry, key: MasterKey) throws -> [UInt8] {
        let payload = try key.aead.open(stored, aad: aad(type: entry.type, id: entry.id), what: "\(entry.type) blob \(entry.id.short)")
        switch entry.compression {
        case .none:
            guard payload.count == Int(entry.plainLength) else {
                throw FormatError.invalid("blob \(entry.id.short) has \(payload.count) bytes, header says \(entry.plainLength)")
            }
            return payload
        case .zstd:
            return try payload.withUnsafeBytes { src in try ZstdDecompressor.withPooled { try $0.decompress(src, expected: Int(entry.plainLength)) } }
        }
    }
}

/// One blob's entry in a pack header and in an index file (52 bytes):
///
///     type u8 | compression u8 | reserved u16 = 0 | stored_length u32 | offset u64 |
///     plain_length u32 | id [32]
public struct BlobEntry: Sendable, Equatable, Hashable {
    public var type: BlobType
    public var compression: Compression
    public var storedLength: UInt32
    public var offset: UInt64
    public var plainLength: UInt32
    public var id: ID

    public static let encodedSize = 52

    public init(type: BlobType, compression: Compression, storedLength: UInt32, offset: UInt64, plainLength: UInt32, id: ID) {
        self.type = type; self.compression = compression; self.storedLength = storedLength
        self.offset = offset; self.plainLength = plainLength; self.id = id
    }

    public func encode(into w: inout ByteWriter) {
        w.u8(type.rawValue); w.u8(compression.rawValue); w.u16(0)
        w.u32(storedLength); w.u64(offset); w.u32(plainLength); w.id(id)
    }

    public static func decode(from r: inout ByteReader) throws -> BlobEntry {
        let t = try r.u8("blob type"), c = try r.u8("compression"), reserved = try r.u16("reserved")
        guard let type = BlobType(rawValue: t) else { throw FormatError.invalid("unknown blob type \(t)") }
        guard let comp = Compression(rawValue: c) else { throw FormatError.invalid("unknown compression \(c)") }
        guard reserved == 0 else { throw FormatError.invalid("reserved field is \(reserved), not 0") }
        let stored = try r.u32("stored length"), offset = try r.u64("offset"), plain = try r.u32("plain length")
        let id = try r.id("blob id")
        guard stored >= UInt32(AESGCM.overhead) else { throw FormatError.invalid("stored length \(stored) below the AEAD overhead") }
        guard plain <= 1 << 30 else { throw FormatError.invalid("plain length \(plain) above 1 GiB") }
        return BlobEntry(type: type, compression: comp, storedLength: stored, offset: offset, plainLength: plain, id: id)
    }
}
