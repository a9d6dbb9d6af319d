// Chunks 1 GiB of pseudo-random bytes on one thread with the default parameters
// (16/64/256 KiB) and prints the speed. The input is one 64 MiB buffer generated once and fed
// repeatedly through StreamChunker (copied into the chunker's buffer, as a file read would be),
// so generating it is not timed.
//
//     swift run -c release chunker-speed [total-MiB]
//
// MB is 10^6 bytes. The first line is the whole run; the per-64-MiB figures show how steady the
// machine was (on a shared machine, trust the best one more than the mean).
import BenchData
import CairnChunking
#if canImport(Glibc)
import Glibc
#endif

let totalMiB = CommandLine.arguments.count > 1 ? max(64, Int(CommandLine.arguments[1]) ?? 1024) : 1024
let segment = 64 << 20
let total = (totalMiB << 20) / segment * segment

let source = BenchData.random(count: segment)
let cdc = FastCDC(parameters: .default, gear: GearTable.derive(chunkerKey: BenchData.chunkerKey))
let clock = ContinuousClock()

func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }
func mbps(_ bytes: Int, _ s: Double) -> Int { Int((Double(bytes) / s / 1e6).rounded()) }
func summary(_ rates: [Int]) -> String {
    let s = rates.sorted()
    return "best \(s.last!), median \(s[s.count / 2]), worst \(s.first!) MB/s per 64 MiB"
}

/// Machine-wide CPU ticks from /proc/stat (Linux): busy (user+nice+system+irq+softirq), steal,
/// and total; plus this process's CPU time. Used to say how much else was running.
struct CPUSample {
    var busy = 0.0, steal = 0.0, total = 0.0, own = 0.0
    static func now() -> CPUSample? {
        #if os(Linux)
        guard let f = fopen("/proc/stat", "r") else { return nil }
        defer { fclose(f) }
        var line = [CChar](repeating: 0, count: 512)
        guard fgets(&line, 512, f) != nil else { return nil }
        let text = String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let v = text.split(separator: " ").dropFirst().compactMap { Double($0) }
        guard v.count >= 8 else { return nil }
        var ts = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)
        let hz = Double(sysconf(Int32(_SC_CLK_TCK)))
        return CPUSample(busy: (v[0] + v[1] + v[2] + v[5] + v[6]) / hz, steal: v[7] / hz,
                         total: v.prefix(8).reduce(0, +) / hz, own: Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9)
        #else
        return nil
        #endif
    }
}
let cpuBefore = CPUSample.now()

// 1. The archiver's path: StreamChunker pulling from a reader.
var chunks = 0
var chunkBytes = 0
var segmentRates: [Int] = []
var fed = 0
var segmentStart = clock.now
let start = clock.now
try source.withUnsafeBytes { src in
    try StreamChunker(cdc: cdc).run(read: { dst in
        guard fed < total else { return 0 }
        let at = fed % segment
        if at == 0 && fed > 0 {
            let now = clock.now
            segmentRates.append(mbps(segment, seconds(segmentStart.duration(to: now))))
            segmentStart = now
        }
        let n = min(dst.count, segment - at, total - fed)
        dst.baseAddress!.copyMemory(from: src.baseAddress! + at, byteCount: n)
        fed += n
        return n
    }, chunk: { c in
        chunks += 1; chunkBytes += c.count
    })
}
let streamTime = seconds(start.duration(to: clock.now))
precondition(chunkBytes == total, "chunks cover \(chunkBytes) bytes, fed \(total)")

// 2. FastCDC.cut alone over the in-memory buffer (no copying), the same number of bytes.
var cutRates: [Int] = []
var cutChunks = 0
source.withUnsafeBytes { d in
    for _ in 0..<(total / segment) {
        let t = clock.now
        var pos = 0
        while pos < d.count {
            pos += cdc.cut(UnsafeRawBufferPointer(rebasing: d[pos...]))
            cutChunks += 1
        }
        cutRates.append(mbps(segment, seconds(t.duration(to: clock.now))))
    }
}

let cpuAfter = CPUSample.now()
print("chunker: \(mbps(total, streamTime)) MB/s")
print("  StreamChunker, \(total >> 20) MiB in \(Double(Int(streamTime * 1000)) / 1000) s: \(chunks) chunks, mean \(total / max(chunks, 1)) B; \(segmentRates.isEmpty ? "" : summary(segmentRates))")
print("  FastCDC.cut alone (no copy): \(summary(cutRates)), \(cutChunks) chunks")
if let a = cpuBefore, let b = cpuAfter {
    let wall = seconds(start.duration(to: clock.now))
    let others = max(0, (b.busy - a.busy) - (b.own - a.own)) / wall
    let steal = (b.steal - a.steal) / wall
    func f(_ x: Double) -> String { String(Double(Int(x * 10)) / 10) }
    print("  meanwhile: other processes used \(f(others)) cores, the hypervisor stole \(f(steal)) cores" +
          (others + steal > 0.3 ? " (the numbers above are low; rerun on a quiet machine)" : ""))
}
