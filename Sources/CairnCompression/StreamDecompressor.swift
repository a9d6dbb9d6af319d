internal import CZlib
internal import CLzma
internal import CZstd

/// A compression format a backed-up stream may arrive in, told by its first bytes.
public enum StreamCompression: String, Sendable, CaseIterable {
    case gzip, zstd, xz, bzip2

    /// The format whose magic number starts `prefix` (at least 6 bytes, or the whole stream).
    public static func detect(_ prefix: UnsafeRawBufferPointer) -> StreamCompression? {
        func starts(_ magic: [UInt8]) -> Bool { prefix.count >= magic.count && zip(prefix, magic).allSatisfy { $0 == $1 } }
        if starts([0x1F, 0x8B, 0x08]) { return .gzip }
        if starts([0x28, 0xB5, 0x2F, 0xFD]) { return .zstd }
        if starts([0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00]) { return .xz }
        if prefix.count >= 4 && starts([0x42, 0x5A, 0x68]) && (0x31...0x39).contains(prefix[3]) { return .bzip2 }
        return nil
    }

    /// True when `--decompress` can undo it here.
    public var canDecompress: Bool { self != .bzip2 }

    /// `name` without this format's suffix: `a.tar.gz` → `a.tar`, `a.tgz` → `a.tar`; unchanged
    /// when it has no such suffix.
    public func decompressedName(_ name: String) -> String {
        let suffixes: [(String, String)]
        switch self {
        case .gzip: suffixes = [(".tgz", ".tar"), (".gz", "")]
        case .zstd: suffixes = [(".tzst", ".tar"), (".zst", ""), (".zstd", "")]
        case .xz: suffixes = [(".txz", ".tar"), (".xz", "")]
        case .bzip2: suffixes = [(".tbz2", ".tar"), (".bz2", "")]
        }
        for (s, r) in suffixes where name.count > s.count && name.hasSuffix(s) { return String(name.dropLast(s.count)) + r }
        return name
    }
}

public struct StreamDecompressionError: Error, CustomStringConvertible, Sendable {
    public let description: String
    init(_ d: String) { description = d }
}

/// Undoes gzip (several members in a row too), zstd (several frames) or xz (several streams)
/// incrementally, with bounded memory. Anything after the compressed data that is not another
/// member, frame or stream is an error: `--decompress` must not drop bytes silently.
public final class StreamDecompressor {
    public let format: StreamCompression
    private var z = z_stream()
    private var lz = lzma_stream()
    private let zd: OpaquePointer?
    /// gzip: a member ended and the next has not started.
    private var betweenMembers = false
    /// The last call ended exactly at the end of a member, frame or stream.
    public private(set) var atEnd = false
    /// Compressed bytes taken so far (for error messages).
    public private(set) var consumed: UInt64 = 0

    public init(_ format: StreamCompression) throws {
        self.format = format
        switch format {
        case .gzip:
            zd = nil
            // 15 + 16: a gzip wrapper only, with the largest window.
            guard inflateInit2_(&z, 15 + 16, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
                throw StreamDecompressionError("cannot start a gzip decoder")
            }
        case .xz:
            zd = nil
            // 0x08 is LZMA_CONCATENATED (a macro Swift does not import): several .xz streams in a row.
            guard lzma_stream_decoder(&lz, UInt64.max, 0x08) == LZMA_OK else {
                throw StreamDecompressionError("cannot start an xz decoder")
            }
        case .zstd:
            guard let d = ZSTD_createDStream() else { throw StreamDecompressionError("cannot start a zstd decoder") }
            zd = d
            ZSTD_initDStream(d)
        case .bzip2:
            throw StreamDecompressionError("bzip2 streams are not decompressed by cairn: pipe them through `bzip2 -dc`, or back up without --decompress")
        }
    }

    deinit {
        switch format {
        case .gzip: inflateEnd(&z)
        case .xz: lzma_end(&lz)
        case .zstd: ZSTD_freeDStream(zd)
        case .bzip2: break
        }
    }

    /// Decompresses from `input` into `output`; returns the bytes taken and the bytes written.
    /// `endOfInput` says `input` holds the last compressed bytes. Makes progress whenever
    /// either buffer allows; with `endOfInput`, call until nothing is written.
    public func decompress(_ input: UnsafeRawBufferPointer, endOfInput: Bool,
                           into output: UnsafeMutableRawBufferPointer) throws -> (taken: Int, written: Int) {
        let r: (Int, Int)
        switch format {
        case .gzip: r = try gzip(input, output)
        case .xz: r = try xz(input, endOfInput, output)
        case .zstd: r = try zstd(input, output)
        case .bzip2: r = (0, 0)
        }
        consumed += UInt64(r.0)
        if endOfInput && r.0 == input.count && r.1 == 0 && !atEnd {
            throw StreamDecompressionError("the \(format.rawValue) stream is truncated (ends after \(consumed) compressed bytes)")
        }
        return r
    }

    private func gzip(_ input: UnsafeRawBufferPointer, _ output: UnsafeMutableRawBufferPointer) throws -> (Int, Int) {
        var taken = 0
        if betweenMembers {
            guard !input.isEmpty else { return (0, 0) }
            guard input[0] == 0x1F else { throw trailing() }
            inflateReset(&z)
            betweenMembers = false
        }
        z.next_in = UnsafeMutablePointer(mutating: input.baseAddress?.assumingMemoryBound(to: Bytef.self))
        z.avail_in = uInt(input.count)
        z.next_out = output.baseAddress?.assumingMemoryBound(to: Bytef.self)
        z.avail_out = uInt(output.count)
        let rc = inflate(&z, Z_NO_FLUSH)
        taken = input.count - Int(z.avail_in)
        let written = output.count - Int(z.avail_out)
        switch rc {
        case Z_OK, Z_BUF_ERROR: atEnd = false
        case Z_STREAM_END: atEnd = true; betweenMembers = true
        default:
            let msg = z.msg.map { String(cString: $0) } ?? "error \(rc)"
            throw StreamDecompressionError("the gzip stream is damaged after \(consumed + UInt64(taken)) compressed bytes: \(msg)")
        }
        return (taken, written)
    }

    private func xz(_ input: UnsafeRawBufferPointer, _ end: Bool, _ output: UnsafeMutableRawBufferPointer) throws -> (Int, Int) {
        if atEnd { return (0, 0) }   // LZMA_FINISH reached the end: the decoder takes nothing more
        lz.next_in = input.baseAddress?.assumingMemoryBound(to: UInt8.self)
        lz.avail_in = input.count
        lz.next_out = output.baseAddress?.assumingMemoryBound(to: UInt8.self)
        lz.avail_out = output.count
        let rc = lzma_code(&lz, end ? LZMA_FINISH : LZMA_RUN)
        let taken = input.count - lz.avail_in, written = output.count - lz.avail_out
        switch rc {
        case LZMA_OK, LZMA_BUF_ERROR: atEnd = false
        case LZMA_STREAM_END: atEnd = true
        case LZMA_DATA_ERROR, LZMA_FORMAT_ERROR:
            throw StreamDecompressionError("the xz stream is damaged or followed by other bytes after \(consumed + UInt64(taken)) compressed bytes: back up without --decompress")
        default:
            throw StreamDecompressionError("the xz stream cannot be decoded after \(consumed + UInt64(taken)) compressed bytes (lzma error \(rc.rawValue))")
        }
        return (taken, written)
    }

    private func zstd(_ input: UnsafeRawBufferPointer, _ output: UnsafeMutableRawBufferPointer) throws -> (Int, Int) {
        var inb = ZSTD_inBuffer(src: input.baseAddress, size: input.count, pos: 0)
        var outb = ZSTD_outBuffer(dst: output.baseAddress, size: output.count, pos: 0)
        let rc = ZSTD_decompressStream(zd, &outb, &inb)
        if ZSTD_isError(rc) != 0 {
            throw StreamDecompressionError("the zstd stream is damaged or followed by other bytes after \(consumed + UInt64(inb.pos)) compressed bytes: \(String(cString: ZSTD_getErrorName(rc)))")
        }
        // 0: a frame is complete and flushed (the next bytes, if any, start another frame).
        // A call that moved nothing says nothing new (after a frame it asks for a header).
        if inb.pos > 0 || outb.pos > 0 { atEnd = rc == 0 }
        return (inb.pos, outb.pos)
    }

    private func trailing() -> StreamDecompressionError {
        StreamDecompressionError("bytes that are not gzip follow the gzip stream at compressed offset \(consumed): back up without --decompress to keep them")
    }
}
