/// A 32-byte identifier: blob IDs (keyed HMAC-SHA-256 of the plaintext) and file IDs
/// (SHA-256 of a stored file's bytes). Stored inline as four words: no heap allocation.
public struct ID: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var w0: UInt64, w1: UInt64, w2: UInt64, w3: UInt64

    public static let zero = ID(w0: 0, w1: 0, w2: 0, w3: 0)
    public static let byteCount = 32

    public init(w0: UInt64, w1: UInt64, w2: UInt64, w3: UInt64) {
        self.w0 = w0; self.w1 = w1; self.w2 = w2; self.w3 = w3
    }

    /// Reads 32 bytes; the words hold the bytes in big-endian order so that comparing words
    /// compares the IDs byte by byte.
    public init(bytes: UnsafeRawBufferPointer) {
        precondition(bytes.count >= 32)
        w0 = UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: 0, as: UInt64.self))
        w1 = UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
        w2 = UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: 16, as: UInt64.self))
        w3 = UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: 24, as: UInt64.self))
    }

    public init<C: Collection>(_ bytes: C) where C.Element == UInt8 {
        let array = Array(bytes)
        precondition(array.count == 32, "an ID is 32 bytes")
        self = array.withUnsafeBytes { ID(bytes: $0) }
    }

    public init?(hex: some StringProtocol) {
        guard hex.utf8.count == 64, let bytes = Hex.decode(hex) else { return nil }
        self.init(bytes)
    }

    public var bytes: [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        out.withUnsafeMutableBytes { write(to: $0.baseAddress!) }
        return out
    }

    public func write(to p: UnsafeMutableRawPointer) {
        p.storeBytes(of: w0.bigEndian, toByteOffset: 0, as: UInt64.self)
        p.storeBytes(of: w1.bigEndian, toByteOffset: 8, as: UInt64.self)
        p.storeBytes(of: w2.bigEndian, toByteOffset: 16, as: UInt64.self)
        p.storeBytes(of: w3.bigEndian, toByteOffset: 24, as: UInt64.self)
    }

    public var hex: String { Hex.encode(bytes) }
    public var short: String { String(hex.prefix(8)) }
    public var description: String { hex }

    public static func < (a: ID, b: ID) -> Bool {
        if a.w0 != b.w0 { return a.w0 < b.w0 }
        if a.w1 != b.w1 { return a.w1 < b.w1 }
        if a.w2 != b.w2 { return a.w2 < b.w2 }
        return a.w3 < b.w3
    }
}

public enum Hex {
    private static let digits: [UInt8] = Array("0123456789abcdef".utf8)

    public static func encode(_ bytes: some Sequence<UInt8>) -> String {
        var out = [UInt8]()
        for b in bytes { out.append(digits[Int(b >> 4)]); out.append(digits[Int(b & 15)]) }
        return String(decoding: out, as: UTF8.self)
    }

    public static func decode(_ s: some StringProtocol) -> [UInt8]? {
        let u = Array(s.utf8)
        guard u.count % 2 == 0 else { return nil }
        func v(_ c: UInt8) -> UInt8? {
            switch c {
            case 48...57: return c - 48
            case 97...102: return c - 87
            case 65...70: return c - 55
            default: return nil
            }
        }
        var out = [UInt8](); out.reserveCapacity(u.count / 2)
        var i = 0
        while i < u.count {
            guard let h = v(u[i]), let l = v(u[i + 1]) else { return nil }
            out.append(h << 4 | l); i += 2
        }
        return out
    }
}

/// The kinds of blob a pack holds. Tree and data blobs never share a pack.
public enum BlobType: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    case data = 0
    case tree = 1
    public var description: String { self == .data ? "data" : "tree" }
}

/// The kinds of file a repository holds, with the folder each lives in.
public enum FileType: String, Sendable, CaseIterable {
    case config, key, pack, index, snapshot, lock
    public var folder: String {
        switch self {
        case .config: return ""
        case .key: return "keys"
        case .pack: return "data"
        case .index: return "index"
        case .snapshot: return "snapshots"
        case .lock: return "locks"
        }
    }
}
