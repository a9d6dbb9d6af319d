internal import CZstd
import CairnCore

/// The compression a blob was stored with (recorded per blob in the pack header).
public enum Compression: UInt8, Sendable {
    case none = 0
    case zstd = 1
}

/// How hard to compress: the repository default or `--compression`.
public enum CompressionMode: String, Sendable, CaseIterable, Codable {
    case auto, off, fastest, max
    /// zstd level used for this mode (nil = store raw).
    public var level: Int32? {
        switch self {
        case .off: return nil
        case .fastest: return 1
        case .auto: return 3
        case .max: return 19
        }
    }
}

/// A zstd compression context; one per worker (not shared between threads).
public final class ZstdCompressor: @unchecked Sendable {  // one thread at a time
    private let cctx: OpaquePointer
    public let level: Int32
    public init(level: Int32) {
        cctx = ZSTD_createCCtx()
        self.level = level
    }
    deinit { ZSTD_freeCCtx(cctx) }

    public static func bound(_ n: Int) -> Int { ZSTD_compressBound(n) }

    /// Compresses `src` into `dst` (which must hold `bound(src.count)` bytes); returns the size.
    public func compress(_ src: UnsafeRawBufferPointer, into dst: UnsafeMutableRawBufferPointer) -> Int? {
        let r = ZSTD_compressCCtx(cctx, dst.baseAddress, dst.count, src.baseAddress, src.count, level)
        return ZSTD_isError(r) != 0 ? nil : r
    }
}

public final class ZstdDecompressor: @unchecked Sendable {  // one thread at a time
    private let dctx: OpaquePointer
    public init() { dctx = ZSTD_createDCtx() }
    deinit { ZSTD_freeDCtx(dctx) }

    private static let pool = Locked([ZstdDecompressor]())

    /// Runs `body` with a context from a shared pool (creating one costs more than
    /// decompressing a small blob).
    public static func withPooled<T>(_ body: (ZstdDecompressor) throws -> T) rethrows -> T {
        let d = pool.withLock { $0.popLast() } ?? ZstdDecompressor()
        defer { pool.withLock { if $0.count < 64 { $0.append(d) } } }
        return try body(d)
    }

    /// Decompresses a frame that must expand to exactly `expected` bytes. The caller's expected
    /// size bounds the allocation, so hostile input cannot make it allocate more.
    public func decompress(_ src: UnsafeRawBufferPointer, expected: Int) throws -> [UInt8] {
        guard expected >= 0, expected <= 1 << 30 else { throw FormatError.invalid("plain length \(expected) too large") }
        var r = 0
        let out = [UInt8](unsafeUninitializedCapacity: expected) { buf, count in
            r = ZSTD_decompressDCtx(dctx, buf.baseAddress, expected, src.baseAddress, src.count)
            // Only a frame that filled the buffer exactly is kept (checked below).
            count = ZSTD_isError(r) == 0 && r == expected ? expected : 0
        }
        guard ZSTD_isError(r) == 0 else { throw FormatError.invalid("zstd: " + String(cString: ZSTD_getErrorName(r))) }
        guard r == expected else { throw FormatError.invalid("zstd frame expands to \(r) bytes, expected \(expected)") }
        return out
    }

    /// Decompresses a frame of unknown size up to `limit` bytes (for repository files).
    public func decompress(_ src: UnsafeRawBufferPointer, limit: Int) throws -> [UInt8] {
        let size = ZSTD_getFrameContentSize(src.baseAddress, src.count)
        if size != ZSTD_CONTENTSIZE_UNKNOWN && size != ZSTD_CONTENTSIZE_ERROR {
            guard size <= UInt64(limit) else { throw FormatError.invalid("compressed file expands beyond \(limit) bytes") }
            return try decompress(src, expected: Int(size))
        }
        throw FormatError.invalid("zstd frame without content size")
    }
}
