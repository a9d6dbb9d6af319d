// libFuzzer target: TarCutter (Sources/CairnChunking/TarCutter.swift, spec §13.4) on arbitrary
// bytes as a stream, with small chunk sizes (min 256 / avg 1024 / max 4096) so headers, data
// and fallbacks all happen within a short input.
//
// Checks: the chunks concatenate to the input exactly; every chunk has 1 … max bytes; the cut
// points do not depend on how the stream was read (whole, and in pieces whose sizes come
// from the input's first byte); a forced `tar` and `auto` never trap, and `raw` equals plain
// FastCDC.
import CairnChunking
import CairnCore
#if canImport(Glibc)
import Glibc
#endif

let tarFuzzCDC = FastCDC(parameters: .init(min: 256, avg: 1024, max: 4096),
                         gear: GearTable.derive(chunkerKey: Array(repeating: 7, count: 32)))

func tarFuzzCuts(_ input: [UInt8], _ format: StreamFormat, piece: Int) -> [Int] {
    var cutter = TarCutter(cdc: tarFuzzCDC, format: format)
    var pos = 0, end = 0
    var cuts: [Int] = []
    do {
        try StreamChunker(cdc: tarFuzzCDC).run(cutter: &cutter, read: { buf in
            let n = Swift.min(buf.count, input.count - pos, piece)
            input.withUnsafeBytes { buf.baseAddress!.copyMemory(from: $0.baseAddress! + pos, byteCount: n) }
            pos += n
            return n
        }, chunk: { c in
            if c.isEmpty || c.count > 4096 { fuzzFail("chunk of \(c.count) bytes") }
            if !c.elementsEqual(input[end..<(end + c.count)]) { fuzzFail("chunk at \(end) differs from the input") }
            end += c.count
            cuts.append(end)
        })
    } catch { fuzzFail("chunking threw \(error)") }
    if end != input.count { fuzzFail("chunks cover \(end) of \(input.count) bytes") }
    return cuts
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTarCuts(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = fuzzBytes(data, size)
    let piece = 1 + Int(input.first ?? 0) * 37
    for format in [StreamFormat.auto, .tar] {
        if tarFuzzCuts(input, format, piece: 1 << 30) != tarFuzzCuts(input, format, piece: piece) {
            fuzzFail("\(format) cuts depend on read sizes")
        }
    }
    if tarFuzzCuts(input, .raw, piece: piece) != StreamChunker(cdc: tarFuzzCDC).cutPoints(input) {
        fuzzFail("raw cuts differ from plain FastCDC")
    }
    return 0
}

@_cdecl("LLVMFuzzerInitialize")
public func fuzzTarCutsInitialize(_ argc: UnsafeMutablePointer<CInt>?, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>?) -> CInt {
    writeSeedsIfAsked(tarSeeds())
    return 0
}

/// Small ustar archives: a file of 600 bytes, a long name record, a directory, the end blocks.
func tarSeeds() -> [[UInt8]] {
    func header(_ name: String, size: Int, type: UInt8) -> [UInt8] {
        var h = [UInt8](repeating: 0, count: 512)
        func put(_ off: Int, _ s: String) { for (i, b) in s.utf8.enumerated() { h[off + i] = b } }
        func octal(_ v: Int, _ width: Int) -> String { let s = String(v, radix: 8); return String(repeating: "0", count: width - s.count) + s }
        put(0, name); put(100, "0000644"); put(108, "0001750"); put(116, "0001750")
        put(124, octal(size, 11)); put(136, octal(0o14000000000, 11))
        h[156] = type
        put(257, "ustar"); put(263, "00")
        for i in 148..<156 { h[i] = 0x20 }
        put(148, octal(h.reduce(0) { $0 + Int($1) }, 6)); h[154] = 0
        return h
    }
    func padded(_ d: [UInt8]) -> [UInt8] { d + [UInt8](repeating: 0, count: (512 - d.count % 512) % 512) }
    let file = header("a.txt", size: 600, type: 0x30) + padded([UInt8](repeating: 0x61, count: 600))
    let long = header("././@LongLink", size: 150, type: 0x4C) + padded([UInt8](repeating: 0x62, count: 149) + [0])
        + header(String(repeating: "b", count: 99), size: 5, type: 0x30) + padded(Array("hello".utf8))
    let dir = header("d/", size: 0, type: 0x35)
    let end = [UInt8](repeating: 0, count: 1024)
    return [file + end, long + dir + end, dir + file + long, file + [1, 2, 3]]
}
