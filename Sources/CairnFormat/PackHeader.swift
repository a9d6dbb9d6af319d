import CairnCore
import CairnCrypto

/// A pack file:
///
///     blob_1 || ... || blob_n || sealed header || header_length (u32 LE)
///
/// sealed header = nonce (12) || AES-256-GCM(header, aad "cairn.v1.pack-header") || tag (16);
/// header = version u8 (1) | count u32 | count x BlobEntry (52 bytes each).
/// header_length is the length of the sealed header. Blobs are contiguous from offset 0 and
/// the header follows the last one. The pack's name is the SHA-256 of all its bytes.
public struct PackHeader: Sendable, Equatable {
    public var entries: [BlobEntry]
    public init(entries: [BlobEntry]) { self.entries = entries }

    public static let aad = Array("cairn.v1.pack-header".utf8)
    public static let maxEntries = 1 << 22

    public func encodePlain() -> [UInt8] {
        var w = ByteWriter(capacity: 5 + entries.count * BlobEntry.encodedSize)
        w.u8(1); w.u32(UInt32(entries.count))
        for e in entries { e.encode(into: &w) }
        return w.bytes
    }

    public static func decodePlain(_ b: [UInt8]) throws -> PackHeader {
        var r = ByteReader(b)
        let v = try r.u8("pack header version")
        guard v == 1 else { throw FormatError.unsupportedVersion("pack header", Int(v)) }
        let n = Int(try r.u32("pack header count"))
        guard n <= maxEntries, n * BlobEntry.encodedSize == r.remaining else {
            throw FormatError.invalid("pack header count \(n) does not match its length")
        }
        var entries = [BlobEntry](); entries.reserveCapacity(n)
        for _ in 0..<n { entries.append(try BlobEntry.decode(from: &r)) }
        return PackHeader(entries: entries)
    }

    /// Appends the sealed header and its length to a pack under construction.
    public func seal(key: MasterKey, random: any RandomSource, into pack: inout [UInt8]) {
        let sealed = key.aead.seal(encodePlain(), aad: Self.aad, random: random)
        pack.append(contentsOf: sealed)
        var w = ByteWriter(); w.u32(UInt32(sealed.count)); pack.append(contentsOf: w.bytes)
    }

    /// How many bytes at the end of a pack of `packSize` bytes to read to get the header, and
    /// the header length, given the last 4 bytes.
    public static func headerLength(trailer: [UInt8], packSize: UInt64) throws -> Int {
        guard trailer.count == 4 else { throw FormatError.truncated("pack trailer") }
        var r = ByteReader(trailer)
        let n = UInt64(try r.u32())
        guard n >= UInt64(AESGCM.overhead + 5), n + 4 <= packSize else {
            throw FormatError.invalid("pack header length \(n) does not fit a pack of \(packSize) bytes")
        }
        return Int(n)
    }

    /// Opens a sealed header and checks that its entries tile the pack exactly.
    public static func open(sealed: [UInt8], packSize: UInt64, key: MasterKey) throws -> PackHeader {
        let plain = try key.aead.open(sealed, aad: aad, what: "pack header")
        let h = try decodePlain(plain)
        try h.validate(blobArea: packSize - UInt64(sealed.count) - 4)
        return h
    }

    public func validate(blobArea: UInt64) throws {
        var expect: UInt64 = 0
        for e in entries {
            guard e.offset == expect else { throw FormatError.invalid("blob \(e.id.short) at offset \(e.offset), expected \(expect)") }
            expect += UInt64(e.storedLength)
        }
        guard expect == blobArea else { throw FormatError.invalid("blobs cover \(expect) bytes, pack holds \(blobArea)") }
    }

    /// Parses a whole pack held in memory.
    public static func parse(pack: [UInt8], key: MasterKey) throws -> PackHeader {
        guard pack.count >= 4 else { throw FormatError.truncated("pack") }
        let n = try headerLength(trailer: Array(pack[(pack.count - 4)...]), packSize: UInt64(pack.count))
        return try open(sealed: Array(pack[(pack.count - 4 - n)..<(pack.count - 4)]), packSize: UInt64(pack.count), key: key)
    }
}
