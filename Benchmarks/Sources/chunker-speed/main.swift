// Chunks 1 GiB of pseudo-random bytes on one thread with the default parameters and prints the
// speed. The input is one 64 MiB buffer generated once and fed 16 times through StreamChunker
// (copied into the chunker's buffer as a file read would be), so generation is not timed.
//
//     swift run -c release chunker-speed [total-MiB]
//
// MB here is 10^6 bytes.
import BenchData
import CairnChunking

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

let totalMiB = CommandLine.arguments.count > 1 ? Int(CommandLine.arguments[1]) ?? 1024 : 1024
let bufferSize = 64 << 20
let total = totalMiB << 20

let source = BenchData.random(count: bufferSize)
let gear = GearTable.derive(chunkerKey: BenchData.chunkerKey)
let cdc = FastCDC(parameters: .default, gear: gear)

func seconds(_ body: () throws -> Void) rethrows -> Double {
    let clock = ContinuousClock()
    let d = try clock.measure(body)
    return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
}

// 1. The streaming path: StreamChunker pulling from a reader.
var chunks = 0
var chunkBytes = 0
let streamTime = try seconds {
    var fed = 0
    try source.withUnsafeBytes { src in
        try StreamChunker(cdc: cdc).run(read: { dst in
            guard fed < total else { return 0 }
            let at = fed % bufferSize
            let n = min(dst.count, bufferSize - at, total - fed)
            dst.baseAddress!.copyMemory(from: src.baseAddress! + at, byteCount: n)
            fed += n
            return n
        }, chunk: { c in
            chunks += 1; chunkBytes += c.count
        })
    }
}
precondition(chunkBytes == total, "chunks cover \(chunkBytes) bytes, fed \(total)")

// 2. FastCDC.cut alone over the in-memory buffer (no copying), same number of bytes.
var cutChunks = 0
let cutTime = seconds {
    source.withUnsafeBytes { d in
        var done = 0
        while done < total {
            var pos = 0
            while pos < d.count {
                pos += cdc.cut(UnsafeRawBufferPointer(rebasing: d[pos...]))
                cutChunks += 1
            }
            done += d.count
        }
    }
}

func mbps(_ bytes: Int, _ s: Double) -> Int { Int((Double(bytes) / s / 1e6).rounded()) }
print("chunker: \(mbps(total, streamTime)) MB/s")
print("  StreamChunker: \(totalMiB) MiB in \(String(format3(streamTime))) s, \(chunks) chunks, mean \(total / max(chunks, 1)) B")
print("  FastCDC.cut only (no copy): \(mbps(total, cutTime)) MB/s, \(cutChunks) chunks")

func format3(_ v: Double) -> String {
    let ms = Int((v * 1000).rounded())
    let frac = String(ms % 1000)
    return "\(ms / 1000).\(String(repeating: "0", count: 3 - frac.count))\(frac)"
}
