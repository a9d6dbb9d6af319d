// libFuzzer target: StreamDecompressor (Sources/CairnCompression/StreamDecompressor.swift), what
// `backup --decompress` runs on a stream it was given. The first byte picks gzip, zstd or xz;
// the rest is the compressed input, fed in pieces into a 64 KiB buffer.
//
// Checks: no trap or sanitizer report on any input; a call never claims more bytes than it was
// given or wrote; output stops at 16 MiB per input (a bomb is not followed further).
import CairnCompression
import CairnCore
#if canImport(Glibc)
import Glibc
#endif

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzStreamDecompress(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = fuzzBytes(data, size)
    guard let first = input.first else { return 0 }
    let formats: [StreamCompression] = [.gzip, .zstd, .xz]
    let format = formats[Int(first) % 3]
    let body = Array(input.dropFirst())
    guard let d = try? StreamDecompressor(format) else { fuzzFail("cannot start a \(format) decoder") }
    var out = [UInt8](repeating: 0, count: 1 << 16)
    var pos = 0, total = 0
    let piece = 1 + Int(first / 3) * 13
    while total < 16 << 20 {
        let take = Swift.min(body.count - pos, piece)
        let end = pos + take == body.count
        let r: (taken: Int, written: Int)
        do {
            r = try body.withUnsafeBytes { b in
                try out.withUnsafeMutableBytes { o in
                    try d.decompress(UnsafeRawBufferPointer(rebasing: b[pos..<(pos + take)]), endOfInput: end, into: o)
                }
            }
        } catch { return 0 }
        if r.taken > take || r.written > out.count || r.taken < 0 || r.written < 0 { fuzzFail("decompress claims \(r)") }
        pos += r.taken; total += r.written
        if end && pos == body.count && r.written == 0 { break }
    }
    return 0
}

@_cdecl("LLVMFuzzerInitialize")
public func fuzzStreamDecompressInitialize(_ argc: UnsafeMutablePointer<CInt>?, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>?) -> CInt {
    writeSeedsIfAsked([
        // gzip of "hello\n" (first byte 0: gzip), zstd of "hello\n" (1), xz of "hello\n" (2).
        [0, 0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0xcb, 0x48, 0xcd, 0xc9, 0xc9, 0xe7, 0x02, 0x00, 0x20, 0x30, 0x3a, 0x36, 0x06, 0x00, 0x00, 0x00],
        [1, 0x28, 0xb5, 0x2f, 0xfd, 0x04, 0x58, 0x31, 0x00, 0x00, 0x68, 0x65, 0x6c, 0x6c, 0x6f, 0x0a, 0x53, 0x88, 0xbd, 0x91],
        [2, 0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, 0x00, 0x04, 0xe6, 0xd6, 0xb4, 0x46, 0x02, 0x00, 0x21, 0x01, 0x16, 0x00, 0x00, 0x00, 0x74, 0x2f, 0xe5, 0xa3, 0x01, 0x00, 0x05, 0x68, 0x65, 0x6c, 0x6c, 0x6f, 0x0a, 0x00, 0x00, 0x00, 0xa5, 0x60, 0x97, 0xf1, 0x94, 0xf6, 0xfd, 0xe0, 0x00, 0x01, 0x1e, 0x06, 0xc1, 0x2f, 0xa4, 0x1d, 0x1f, 0xb6, 0xf3, 0x7d, 0x01, 0x00, 0x00, 0x00, 0x00, 0x04, 0x59, 0x5a],
    ])
    return 0
}
