/// Little-endian writer used by every binary encoding in the format.
public struct ByteWriter: Sendable {
    public var bytes: [UInt8]
    public init(capacity: Int = 0) { bytes = []; bytes.reserveCapacity(capacity) }

    public mutating func u8(_ v: UInt8) { bytes.append(v) }
    public mutating func u16(_ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    public mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    public mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    public mutating func i64(_ v: Int64) { u64(UInt64(bitPattern: v)) }
    public mutating func id(_ v: ID) {
        let n = bytes.count
        bytes.append(contentsOf: repeatElement(0, count: 32))
        bytes.withUnsafeMutableBytes { v.write(to: $0.baseAddress! + n) }
    }
    public mutating func raw(_ b: some Sequence<UInt8>) { bytes.append(contentsOf: b) }
    /// A u32 length followed by the bytes.
    public mutating func lengthPrefixed(_ b: [UInt8]) { u32(UInt32(b.count)); bytes.append(contentsOf: b) }
}

/// Bounds-checked little-endian reader. Every read throws `FormatError.truncated` on short
/// input, so parsers of untrusted bytes never trap.
public struct ByteReader {
    public let bytes: [UInt8]
    public private(set) var offset: Int
    public init(_ bytes: [UInt8], offset: Int = 0) { self.bytes = bytes; self.offset = offset }

    public var remaining: Int { bytes.count - offset }
    public var atEnd: Bool { offset == bytes.count }

    @inline(__always) mutating func need(_ n: Int, _ what: String) throws {
        if n < 0 || remaining < n { throw FormatError.truncated(what) }
    }
    public mutating func u8(_ what: String = "u8") throws -> UInt8 {
        try need(1, what); defer { offset += 1 }; return bytes[offset]
    }
    public mutating func u16(_ what: String = "u16") throws -> UInt16 {
        try need(2, what); defer { offset += 2 }
        return bytes.withUnsafeBytes { UInt16(littleEndian: $0.loadUnaligned(fromByteOffset: offset, as: UInt16.self)) }
    }
    public mutating func u32(_ what: String = "u32") throws -> UInt32 {
        try need(4, what); defer { offset += 4 }
        return bytes.withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: offset, as: UInt32.self)) }
    }
    public mutating func u64(_ what: String = "u64") throws -> UInt64 {
        try need(8, what); defer { offset += 8 }
        return bytes.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: offset, as: UInt64.self)) }
    }
    public mutating func i64(_ what: String = "i64") throws -> Int64 { Int64(bitPattern: try u64(what)) }
    public mutating func id(_ what: String = "id") throws -> ID {
        try need(32, what); defer { offset += 32 }
        return bytes.withUnsafeBytes { ID(bytes: UnsafeRawBufferPointer(rebasing: $0[offset..<offset + 32])) }
    }
    public mutating func raw(_ n: Int, _ what: String = "bytes") throws -> [UInt8] {
        try need(n, what); defer { offset += n }; return Array(bytes[offset..<offset + n])
    }
    /// A u32 length then that many bytes; the length is checked against what remains before
    /// anything is allocated.
    public mutating func lengthPrefixed(_ what: String = "field") throws -> [UInt8] {
        let n = Int(try u32(what))
        return try raw(n, what)
    }
}

public enum FormatError: Error, Equatable, Sendable, CustomStringConvertible {
    case truncated(String)
    case invalid(String)
    case unsupportedVersion(String, Int)
    case authenticationFailed(String)

    public var description: String {
        switch self {
        case .truncated(let w): return "truncated data while reading \(w)"
        case .invalid(let w): return "invalid data: \(w)"
        case .unsupportedVersion(let w, let v): return "unsupported \(w) version \(v)"
        case .authenticationFailed(let w): return "\(w) failed authentication (wrong key or damaged data)"
        }
    }
}
