// Benchmarks of Cairn's primitives: chunking, hashing, compression, encryption.
//
// Each benchmark processes a fixed number of bytes per iteration (named in the benchmark), so
//   bytes per second = throughput (iterations/s) x bytes per iteration.
// Each benchmark also reports that product directly as the custom metric "MB/s" (10^6 bytes/s,
// from the same iteration's wall-clock time).
import Benchmark
import BenchData
import CairnChunking
import CairnCompression
import CairnCore
import CairnCrypto

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

private let megabytesPerSecond = BenchmarkMetric.custom("MB/s", polarity: .prefersLarger, useScalingFactor: false)

/// Runs `body` `benchmark.scaledIterations` times over `bytesPerRun` bytes each, timing the loop
/// itself so the MB/s figure is computed from the same run the other metrics measure.
@inline(__always)
private func measure(_ benchmark: Benchmark, bytesPerRun: Int, _ body: () -> Void) {
    let clock = ContinuousClock()
    let start = clock.now
    for _ in benchmark.scaledIterations { body() }
    let elapsed = start.duration(to: clock.now)
    let ns = Double(elapsed.components.seconds) * 1e9 + Double(elapsed.components.attoseconds) / 1e9
    if ns > 0 {
        let bytes = Double(bytesPerRun) * Double(benchmark.scaledIterations.count)
        benchmark.measurement(megabytesPerSecond, Int((bytes / ns * 1e3).rounded()))
    }
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput, .mallocCountTotal, megabytesPerSecond],
        warmupIterations: 2,
        maxDuration: .seconds(5),
        maxIterations: 1_000
    )

    // FastCDC over 64 MiB of incompressible bytes, default parameters (16/64/256 KiB).
    let chunkInputSize = 64 << 20
    Benchmark("FastCDC chunk 64 MiB (default params)",
              configuration: .init(maxDuration: .seconds(10), maxIterations: 50)) { benchmark, input in
        let cdc = input.cdc
        measure(benchmark, bytesPerRun: chunkInputSize) {
            input.data.withUnsafeBytes { d in
                var pos = 0, n = 0
                while pos < d.count {
                    pos += cdc.cut(UnsafeRawBufferPointer(rebasing: d[pos...]))
                    n += 1
                }
                blackHole(n)
            }
        }
    } setup: {
        ChunkInput(data: BenchData.random(count: chunkInputSize),
                   cdc: FastCDC(parameters: .default, gear: GearTable.derive(chunkerKey: BenchData.chunkerKey)))
    }

    // The same through StreamChunker (the archiver's path: read into a buffer, cut, copy the tail).
    Benchmark("StreamChunker 64 MiB (default params)",
              configuration: .init(maxDuration: .seconds(10), maxIterations: 50)) { benchmark, input in
        let chunker = StreamChunker(cdc: input.cdc)
        measure(benchmark, bytesPerRun: chunkInputSize) {
            input.data.withUnsafeBytes { src in
                var fed = 0, n = 0
                try! chunker.run(read: { dst in
                    let k = min(dst.count, src.count - fed)
                    if k > 0 { dst.baseAddress!.copyMemory(from: src.baseAddress! + fed, byteCount: k) }
                    fed += k
                    return k
                }, chunk: { _ in n += 1 })
                blackHole(n)
            }
        }
    } setup: {
        ChunkInput(data: BenchData.random(count: chunkInputSize),
                   cdc: FastCDC(parameters: .default, gear: GearTable.derive(chunkerKey: BenchData.chunkerKey)))
    }

    // HMAC-SHA-256 (blob IDs) of a 64 KiB blob; 100 blobs (6.25 MiB) per iteration.
    let hmacBlob = 64 << 10
    Benchmark("HMAC-SHA-256 64 KiB blob x100") { benchmark, blobs in
        let mac = HMACSHA256(key: BenchData.key)
        measure(benchmark, bytesPerRun: hmacBlob * blobs.count) {
            for b in blobs { blackHole(mac.mac(b)) }
        }
    } setup: {
        (0..<100).map { BenchData.random(count: hmacBlob, seed: UInt64($0)) }
    }

    // SHA-256 (pack and file names) of 16 MiB.
    let shaSize = 16 << 20
    Benchmark("SHA-256 16 MiB") { benchmark, data in
        measure(benchmark, bytesPerRun: shaSize) { blackHole(SHA256.hash(data)) }
    } setup: {
        BenchData.random(count: shaSize, seed: 7)
    }

    // zstd level 3 (compression "auto") of a 64 KiB text-like blob; 100 blobs per iteration.
    let zstdBlob = 64 << 10
    Benchmark("zstd -3 compress 64 KiB text x100") { benchmark, input in
        let compressor = ZstdCompressor(level: 3)
        var dst = [UInt8](repeating: 0, count: ZstdCompressor.bound(zstdBlob))
        var compressed = 0
        dst.withUnsafeMutableBytes { out in
            measure(benchmark, bytesPerRun: zstdBlob * input.count) {
                for blob in input {
                    blob.withUnsafeBytes { compressed = compressor.compress($0, into: out)! }
                    blackHole(compressed)
                }
            }
        }
    } setup: {
        (0..<100).map { BenchData.text(count: zstdBlob, seed: UInt64($0)) }
    }

    // AES-256-GCM seal (blob encryption) of a 64 KiB blob with a fresh random nonce; 100 per iteration.
    let aesBlob = 64 << 10
    Benchmark("AES-256-GCM seal 64 KiB x100") { benchmark, blobs in
        let aead = AESGCM(key: BenchData.key)
        let random = SystemRandom()
        let aad = Array("cairn.v1.blob".utf8) + [UInt8](repeating: 0, count: 33)
        var out = [UInt8](); out.reserveCapacity(aesBlob + AESGCM.overhead)
        measure(benchmark, bytesPerRun: aesBlob * blobs.count) {
            for b in blobs {
                out.removeAll(keepingCapacity: true)
                b.withUnsafeBytes { aead.seal($0, aad: aad, random: random, into: &out) }
                blackHole(out.count)
            }
        }
    } setup: {
        (0..<100).map { BenchData.random(count: aesBlob, seed: 1000 + UInt64($0)) }
    }
}

struct ChunkInput: Sendable {
    let data: [UInt8]
    let cdc: FastCDC
}
