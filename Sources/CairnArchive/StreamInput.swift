import CairnCompression

/// The bytes a stream backup reads: the first few looked at for a compression format
/// (gzip, zstd, xz, bzip2), then handed on as they came or, with `--decompress`, decompressed.
struct StreamInput {
    typealias Source = (UnsafeMutableRawBufferPointer) throws -> Int
    /// Compressed input waiting to be decompressed, or the first bytes waiting to be handed on.
    private var pending: [UInt8]
    private var start = 0, end: Int
    private var sourceEnded = false
    private let decompressor: StreamDecompressor?
    /// What the first bytes say the stream is.
    let compression: StreamCompression?

    /// Reads the first bytes from `source`; decompresses when `decompress` and the format
    /// allows it.
    init(source: Source, decompress: Bool) throws {
        pending = [UInt8](repeating: 0, count: 1 << 20)
        var n = 0
        while n < 6 {
            let r = try pending.withUnsafeMutableBytes { try source(UnsafeMutableRawBufferPointer(rebasing: $0[n...])) }
            if r == 0 { sourceEnded = true; break }
            n += r
        }
        end = n
        compression = pending.withUnsafeBytes { StreamCompression.detect(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
        decompressor = decompress ? try compression.map { try StreamDecompressor($0) } : nil
    }

    var decompressing: Bool { decompressor != nil }

    mutating func read(_ out: UnsafeMutableRawBufferPointer, source: Source) throws -> Int {
        guard let d = decompressor else {
            if start < end {
                let n = Swift.min(out.count, end - start)
                pending.withUnsafeBytes { out.baseAddress!.copyMemory(from: $0.baseAddress! + start, byteCount: n) }
                start += n
                return n
            }
            return sourceEnded ? 0 : try source(out)
        }
        while true {
            if start == end && !sourceEnded {
                start = 0
                end = try pending.withUnsafeMutableBytes { try source($0) }
                if end == 0 { sourceEnded = true }
            }
            let (taken, written) = try pending.withUnsafeBytes { p in
                try d.decompress(UnsafeRawBufferPointer(rebasing: p[start..<end]), endOfInput: sourceEnded, into: out)
            }
            start += taken
            if written > 0 { return written }
            if sourceEnded && start == end { return 0 }
        }
    }
}
